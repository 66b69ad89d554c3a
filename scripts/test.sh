#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs the package with its test
# dependencies, then Rust checks and tests, the Python suite against real
# clients, the type stubs, and the Autobahn conformance run.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "install ferrosocket with test dependencies (builds the Rust engine)"
python -m pip install --quiet --disable-pip-version-check ".[test]"

step "cargo fmt / clippy"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "Rust tests (unit, RFC vectors, proptests, fuzz bodies, integration)"
cargo test --workspace --exclude ferrosocket-python --quiet

step "ruff / stubtest"
ruff check python tests scripts bench
ruff format --check python tests scripts bench
python -m mypy.stubtest ferrosocket._native

step "Python tests"
(cd tests && python -m pytest -q -p no:cacheprovider .)

step "Autobahn conformance (kosoku)"
python scripts/conformance.py
