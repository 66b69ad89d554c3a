"""What the CLI logs: the start-up line (with the page's http:// URL when
there are pages), handshakes the handler refuses logged as refusals with
their status and counted, --no-access-log, and the worker id field."""

from __future__ import annotations

import asyncio
import re

import ferrosocket
import pytest
import websockets
from support import TIMEOUT
from websockets.asyncio.client import connect

REFUSING_APP = """
import ferrosocket


async def deny(ws):
    await ws.reject(401, "no token")


async def shut(ws):
    await ws.close()  # before accept: 403


async def echo(ws):
    await ws.accept()
    async for message in ws:
        await ws.send_text(message)


routes = {"/deny": deny, "/shut": shut, "/echo": echo}
"""


@pytest.fixture
def app_dir(tmp_path):
    (tmp_path / "refusing.py").write_text(REFUSING_APP)
    return tmp_path


async def refused_status(port: int, path: str) -> int:
    with pytest.raises(websockets.InvalidStatus) as info:
        async with connect(f"ws://127.0.0.1:{port}{path}", open_timeout=TIMEOUT):
            pass
    return info.value.response.status_code


async def echo_once(port: int) -> None:
    async with connect(f"ws://127.0.0.1:{port}/echo", open_timeout=TIMEOUT) as client:
        await client.send("hi")
        assert await asyncio.wait_for(client.recv(), TIMEOUT) == "hi"


async def test_demo_start_up_line_has_the_page_url(cli):
    running = await cli("--log-level", "info")
    output = await running.stop_and_read()
    line = next(line for line in output.splitlines() if "serving on" in line)
    assert f"ws://127.0.0.1:{running.port}" in line
    assert f"http://127.0.0.1:{running.port}/" in line


async def test_no_page_url_without_pages(cli):
    running = await cli("ferrosocket.examples:echo", "--log-level", "info")
    output = await running.stop_and_read()
    line = next(line for line in output.splitlines() if "serving on" in line)
    assert f"ws://127.0.0.1:{running.port}" in line
    assert "http://" not in line


async def test_page_url_names_a_concrete_host_when_bound_to_all_interfaces(cli):
    running = await cli("--host", "0.0.0.0", "--log-level", "info")
    output = await running.stop_and_read()
    assert f"http://127.0.0.1:{running.port}/" in output


async def test_handler_refusals_are_logged_as_refusals(cli, app_dir):
    running = await cli("refusing:routes", "--log-level", "info", cwd=app_dir)
    assert await refused_status(running.port, "/deny") == 401
    assert await refused_status(running.port, "/shut") == 403
    assert await refused_status(running.port, "/nowhere") == 404
    await echo_once(running.port)
    output = await running.stop_and_read()
    refusals = [line for line in output.splitlines() if "handshake refused" in line]
    assert any("HTTP 401" in line and "handler" in line and "/deny" in line for line in refusals), output
    assert any("HTTP 403" in line and "handler" in line and "/shut" in line for line in refusals), output
    assert any("HTTP 404" in line and "/nowhere" in line for line in refusals), output
    for path in ("/deny", "/shut"):
        assert not [line for line in output.splitlines() if "connection" in line and path in line], output
    assert "code=1006" not in output
    assert re.search(r"connection open: 127\.0\.0\.1:\d+ /echo", output), output
    assert re.search(r"connection closed: 127\.0\.0\.1:\d+ /echo code=1000", output), output


async def test_no_access_log_keeps_start_up_and_drops_connection_lines(cli, app_dir):
    running = await cli("refusing:routes", "--log-level", "info", "--no-access-log", cwd=app_dir)
    assert await refused_status(running.port, "/deny") == 401
    await echo_once(running.port)
    output = await running.stop_and_read()
    assert "serving on" in output and "stopped" in output
    assert "connection open" not in output and "connection closed" not in output, output
    assert "handshake refused" not in output, output


async def test_every_line_carries_the_worker_id(cli, app_dir):
    running = await cli("refusing:routes", "--log-level", "info", cwd=app_dir)
    await echo_once(running.port)
    lines = (await running.stop_and_read()).strip().splitlines()
    assert len(lines) >= 4, lines  # serving, open, closed, shutting down, stopped
    for line in lines:
        assert re.match(r"\S+ \S+ (INFO|WARNING|ERROR) ferrosocket(\.access)?\[0\]: ", line), line


async def test_handler_refusals_are_counted():
    routes = {}
    exec(compile(REFUSING_APP, "refusing", "exec"), routes)
    async with ferrosocket.serve(routes["routes"], "127.0.0.1", 0) as server:
        assert server.stats()["handshakes_refused"]["handler"] == 0
        assert await refused_status(server.port, "/deny") == 401
        assert await refused_status(server.port, "/shut") == 403
        await echo_once(server.port)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + TIMEOUT
        while server.stats()["handshakes_refused"]["handler"] < 2 and loop.time() < deadline:
            await asyncio.sleep(0.02)
        stats = server.stats()
    assert stats["handshakes_refused"]["handler"] == 2
    assert stats["handshakes_refused"]["not_found"] == 0
    assert stats["connections_total"] == 3, "refused ones were handed to the handler, so they count as connections"
