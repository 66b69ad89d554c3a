"""Fixtures of the reliability suite (the parent conftest's `serve`, `raw`
and `held` fixtures apply here too) and an end-of-run table of the server
RSS figures each test measured."""

from __future__ import annotations

import resource

import pytest
from relsupport import RSS_RECORDS


@pytest.fixture
def nofile() -> int:
    """Raise this process's RLIMIT_NOFILE soft limit to the hard limit (and
    put it back after the test); returns the new limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    yield hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not RSS_RECORDS:
        return
    terminalreporter.section("server RSS (MiB)")
    for test, label, figures in RSS_RECORDS:
        values = ", ".join(f"{k}={v:.1f}" for k, v in figures.items())
        terminalreporter.write_line(f"{test} [{label}]: {values}")
