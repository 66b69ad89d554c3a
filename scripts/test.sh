#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs the package with its test
# dependencies (and, with apt-get, headless Chromium for the demo page's
# browser test and redis-server for the broker tests), then Rust checks and
# tests, the Python suite against real clients and a real Redis, the type
# stubs, and the Autobahn conformance run. The browser
# test's screenshots stay in tests/artifacts/browser/.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each step says when it started (seconds into the run): CI has a time budget.
step() { printf '\n==> [%4d s] %s\n' "$SECONDS" "$*"; }

step "install ferrosocket with test dependencies (builds the Rust engine)"
python -m pip install --quiet --disable-pip-version-check ".[test]"

step "headless Chromium for the demo page's browser test"
if ! command -v chromium >/dev/null; then
  if ! apt-get install -y chromium >/dev/null 2>&1; then
    apt-get update >/dev/null && apt-get install -y chromium >/dev/null
  fi
fi
chromium --version
export FERROSOCKET_REQUIRE_BROWSER=1  # the browser test may not skip here

step "redis-server for the broker tests (each test starts its own, on a free port)"
if ! command -v redis-server >/dev/null; then
  if ! apt-get install -y redis-server >/dev/null 2>&1; then
    apt-get update >/dev/null && apt-get install -y redis-server >/dev/null
  fi
fi
redis-server --version

step "cargo fmt / clippy"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "Rust tests (unit, RFC vectors, proptests, fuzz bodies, integration)"
cargo test --workspace --exclude ferrosocket-python --quiet

step "fuzz the frame decoder (plain and deflate), handshake and deflate negotiation (${FUZZ_SECONDS:-20} s each)"
command -v cargo-fuzz >/dev/null || cargo install --quiet --locked cargo-fuzz
for target in decode_frames decode_frames_deflate parse_handshake negotiate_deflate; do
  log=$(mktemp)
  if ! (cd rust/fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir . "$target" -- \
        -max_total_time="${FUZZ_SECONDS:-20}" -print_final_stats=1) >"$log" 2>&1; then
    tail -n 40 "$log"
    echo "fuzz target $target failed" >&2
    exit 1
  fi
  grep -E "stat::number_of_executed_units" "$log" | sed "s/^/  $target: /"
  rm -f "$log"
done

step "ruff / stubtest"
ruff check python tests scripts bench
ruff format --check python tests scripts bench
python -m mypy.stubtest ferrosocket._native

# Once per bridge mode (tests/conftest.py): the engine on the loop's thread
# (ferrosocket.EventLoop, the default), then on I/O threads (the stock loop).
step "Python tests, engine on the loop's thread"
(cd tests && FERROSOCKET_BRIDGE=loop python -m pytest -q -p no:cacheprovider .)

step "Python tests, engine on I/O threads"
(cd tests && FERROSOCKET_BRIDGE=thread python -m pytest -q -p no:cacheprovider .)

step "Autobahn conformance (kosoku): Rust echo, Python echo, both clients"
python scripts/conformance.py --timing
step "done"
