"""The README's first-run promises: exactly two set-up command blocks (run
the demo; run the tests), and a Develop section for contributors whose
commands point at things that exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    match = re.search(rf"^## {title}\n(.*?)(?=^## |\Z)", README, re.S | re.M)
    assert match, f"no '## {title}' section"
    return match.group(1)


def test_exactly_two_set_up_commands():
    blocks = re.findall(r"```sh\n(.*?)```", README, re.S)
    assert [b.strip() for b in blocks] == ["pip install . && python -m ferrosocket", "bash scripts/test.sh"]


def test_develop_section_covers_the_contributor_loop():
    develop = _section("Develop")
    assert "```" not in develop, "the Develop section must not add a third command block"
    for needle in ("venv", "maturin develop --release", "cargo test --workspace", "python -m pytest", "bench/run.py"):
        assert needle in develop, needle
    assert len(develop.splitlines()) <= 15, "kept as short as the rest"


def test_develop_commands_point_at_real_files_and_tests():
    develop = _section("Develop")
    for path in re.findall(r"\b((?:scripts|bench)/[\w./]+\.py)\b", develop):
        assert (ROOT / path).is_file(), path
    for module, test in re.findall(r"(test_\w+\.py)::(\w+)", develop):
        assert (
            f"def {test}(" in (ROOT / "tests" / module).read_text()
            or f"async def {test}(" in (ROOT / "tests" / module).read_text()
        ), f"{module}::{test}"
    assert "scripts/conformance.py" in develop
