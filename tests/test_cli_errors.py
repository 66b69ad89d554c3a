"""The CLI's mistakes, as a new user makes them: each ends with one line on
stderr naming what is wrong and where, no traceback, and exit code 2 (the
command line names something unusable) or 1 (serving failed); and --help
says what every flag means, in which unit, grouped."""

from __future__ import annotations

import dataclasses
import re
import socket
import subprocess
import sys

import pytest
from clisupport import run_cli
from ferrosocket import WebSocketConfig

APP = """
import ferrosocket


async def good(ws):
    await ws.accept()


def plain(ws):
    await_me = None


routes = {"/": ferrosocket.HTTPResponse("hi"), "/good": good, "/plain": plain}
answer = 42
"""


@pytest.fixture
def app_dir(tmp_path):
    (tmp_path / "myapp.py").write_text(APP)
    (tmp_path / "broken.py").write_text("import os\nimport no_such_dependency_here\n")
    return tmp_path


def one_error_line(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("python -m ferrosocket: error: "), lines[0]
    return lines[0]


def test_busy_port_names_the_address_and_exits_1():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli("ferrosocket.examples:echo", "--port", str(port))
    line = one_error_line(result, 1)
    assert f"127.0.0.1:{port}" in line
    assert "address already in use" in line
    assert "--port" in line, "the line says how to get out of it"


def test_missing_uvloop_is_one_line_exit_2():
    # Hidden in this process whether or not it is installed.
    hide = "import sys; sys.modules['uvloop'] = None"
    result = run_cli("--loop", "uvloop", "ferrosocket.examples:echo", prelude=hide)
    line = one_error_line(result, 2)
    assert "--loop uvloop" in line and "pip install uvloop" in line


def test_non_async_handler_is_caught_before_serving(app_dir):
    result = run_cli("myapp:plain", "--port", "0", cwd=app_dir)
    line = one_error_line(result, 2)
    assert "myapp:plain" in line
    assert re.search(r"myapp\.py:\d+", line), line
    assert "async def plain(ws)" in line


def test_non_async_handler_in_a_route_mapping_names_the_route(app_dir):
    result = run_cli("myapp:routes", "--port", "0", cwd=app_dir)
    line = one_error_line(result, 2)
    assert "'/plain'" in line and "myapp:routes" in line and "async def plain" in line


def test_non_handler_attribute(app_dir):
    line = one_error_line(run_cli("myapp:answer", cwd=app_dir), 2)
    assert "myapp:answer is 42" in line


def test_unknown_module(app_dir):
    line = one_error_line(run_cli("no_such_module_xyz:app", cwd=app_dir), 2)
    assert "no module named 'no_such_module_xyz'" in line
    assert "current directory" in line


def test_unknown_attribute_names_the_module_file(app_dir):
    line = one_error_line(run_cli("myapp:nothing_here", cwd=app_dir), 2)
    assert "'nothing_here'" in line
    assert str(app_dir / "myapp.py") in line


def test_module_whose_own_import_fails_names_file_and_line(app_dir):
    line = one_error_line(run_cli("broken:app", cwd=app_dir), 1)
    assert "no_such_dependency_here" in line
    assert f"{app_dir / 'broken.py'}:2" in line


def test_malformed_app_spec():
    line = one_error_line(run_cli("justamodule"), 2)
    assert "module:handler" in line and "'justamodule'" in line


def test_half_a_tls_pair():
    line = one_error_line(run_cli("--ssl-certfile", "/nonexistent.pem"), 2)
    assert "--ssl-keyfile" in line


# -- --help -------------------------------------------------------------------

GROUPS = ["server", "limits", "timeouts", "compression", "TLS", "logging"]


def _help_sections() -> dict[str, str]:
    text = subprocess.run(
        [sys.executable, "-m", "ferrosocket", "--help"], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    sections: dict[str, str] = {}
    current = None
    for line in text.splitlines():
        if re.fullmatch(r"[A-Za-z ]+:", line):
            current = line[:-1]
            sections[current] = ""
        elif current is not None:
            sections[current] += line + "\n"
    return sections


def _entry(section: str, flag: str) -> str:
    """The help text of `flag` in a section, joined onto one line."""
    match = re.search(rf"^  {re.escape(flag)}(?=[ ,\n])(.*?)(?=^  -|\Z)", section, re.S | re.M)
    assert match, f"{flag} not in section:\n{section}"
    return " ".join(match.group(1).split())


def test_help_groups_flags_in_order():
    sections = _help_sections()
    assert [name for name in sections if name in GROUPS] == GROUPS
    assert "other settings" not in sections, "a WebSocketConfig field has no entry in __main__._HELP"


@pytest.mark.parametrize(
    ("group", "flag", "words"),
    [
        ("server", "--port", ["port", "0 picks"]),
        ("server", "--threads", ["threads", "none, on the loop's thread"]),
        ("limits", "--max-message-size", ["bytes", "1009", "16 MiB"]),
        ("limits", "--write-high-water", ["bytes", "64 KiB"]),
        ("timeouts", "--ping-interval", ["seconds", "0 disables", "[20.0]"]),
        ("timeouts", "--idle-timeout", ["seconds", "[0]"]),
        ("compression", "--compression-level", ["zlib", "0-9", "[6]"]),
        ("compression", "--compression", ["permessage-deflate", "[on]"]),
        ("TLS", "--ssl-certfile", ["wss://"]),
        ("logging", "--access-log", ["connection", "[on]"]),
        ("logging", "--log-level", ["[info]"]),
    ],
)
def test_help_says_meaning_and_unit(group, flag, words):
    entry = _entry(_help_sections()[group], flag)
    for word in words:
        assert word in entry, f"{flag}: {word!r} missing from {entry!r}"


def test_every_setting_flag_has_a_meaning_not_just_a_default():
    sections = _help_sections()
    for field in dataclasses.fields(WebSocketConfig):
        flag = "--origin" if field.name == "allowed_origins" else "--" + field.name.replace("_", "-")
        section = next(s for s in sections.values() if re.search(rf"^  {re.escape(flag)}(?=[ ,\n])", s, re.M))
        entry = _entry(section, flag)
        meaning = re.sub(r"\[[^\]]*\]|^(N|S|URL)\b|--\S+|,", "", entry).strip()
        assert len(meaning.split()) >= 3, f"{flag} has no meaning in --help: {entry!r}"
