"""`ferrosocket.testing.TestClient`, used the way an application's tests use
it: async and sync, request data reaching the handler, timeouts instead of
hangs, refusals and handler exceptions surfacing in the test."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path

import pytest
from ferrosocket import WebSocket, WebSocketDisconnect
from ferrosocket.testing import TestClient, WebSocketRejected


async def echo(ws: WebSocket) -> None:
    await ws.accept()
    async for message in ws:
        await ws.send(message)


async def whoami(ws: WebSocket) -> None:
    await ws.accept(subprotocol="v2" if "v2" in ws.subprotocols else None)
    await ws.send_json(
        {
            "path": ws.url.path,
            "room": ws.query_params.get("room"),
            "token": ws.headers.get("x-token"),
            "session": ws.cookies.get("session"),
        }
    )
    await ws.close(4000, "bye")


async def silent(ws: WebSocket) -> None:
    await ws.accept()
    await ws.receive()  # waits for the client, never sends


async def never_accepts(ws: WebSocket) -> None:
    await asyncio.sleep(3600)


async def gatekeeper(ws: WebSocket) -> None:
    await ws.reject(403, b"members only")


async def crashes(ws: WebSocket) -> None:
    await ws.accept()
    await ws.receive_text()
    raise ValueError("handler bug")


APP = {
    "/echo": echo,
    "/whoami": whoami,
    "/silent": silent,
    "/slow": never_accepts,
    "/private": gatekeeper,
    "/crash": crashes,
}


async def test_async_echo_text_bytes_json() -> None:
    async with TestClient(APP) as client, client.websocket_connect("/echo") as ws:
        await ws.send_text("héllo")
        assert await ws.receive_text() == "héllo"
        await ws.send_bytes(b"\x00\xff")
        assert await ws.receive_bytes() == b"\x00\xff"
        await ws.send_json({"n": [1, 2]})
        assert await ws.receive_json() == {"n": [1, 2]}
        assert ws.extensions and ws.extensions[0].startswith("permessage-deflate")


async def test_request_data_reaches_the_handler_and_its_close_code_the_test() -> None:
    async with TestClient(APP) as client:
        session = client.websocket_connect(
            "/whoami?room=7", subprotocols=["v1", "v2"], headers={"X-Token": "t0k"}, cookies={"session": "abc"}
        )
        async with session as ws:
            assert ws.subprotocol == "v2"
            assert await ws.receive_json() == {"path": "/whoami", "room": "7", "token": "t0k", "session": "abc"}
            with pytest.raises(WebSocketDisconnect) as info:
                await ws.receive_text()
            assert (info.value.code, info.value.reason) == (4000, "bye")


async def test_a_receive_that_gets_nothing_times_out_naming_the_path() -> None:
    async with TestClient(APP, timeout=0.5) as client, client.websocket_connect("/silent") as ws:
        with pytest.raises(TimeoutError, match="/silent"):
            await ws.receive_text()
        with pytest.raises(TimeoutError, match=r"within 0\.1 s"):
            await ws.receive_json(timeout=0.1)
        # The connection is still usable after a timed-out receive.
        await ws.send_text("done")


async def test_a_handshake_the_handler_never_answers_times_out() -> None:
    async with TestClient(APP, timeout=0.5) as client:
        with pytest.raises(TimeoutError, match="/slow did not complete the opening handshake"):
            await client.websocket_connect("/slow")


async def test_a_refusal_raises_with_status_and_body() -> None:
    async with TestClient(APP) as client:
        with pytest.raises(WebSocketRejected, match="HTTP 403: 'members only'") as info:
            async with client.websocket_connect("/private"):
                pass
        assert (info.value.status, info.value.body) == (403, b"members only")
        with pytest.raises(WebSocketRejected) as info:
            await client.websocket_connect("/nowhere")
        assert info.value.status == 404


async def test_a_handler_exception_is_raised_in_the_test() -> None:
    async with TestClient(APP) as client:
        with pytest.raises(ValueError, match="handler bug"):
            async with client.websocket_connect("/crash") as ws:
                await ws.send_text("go")
                with pytest.raises(WebSocketDisconnect) as info:
                    await ws.receive_text()
                assert info.value.code == 1011
        # ... once: the next session on the same client is clean.
        async with client.websocket_connect("/echo") as ws:
            await ws.send_text("still fine")
            assert await ws.receive_text() == "still fine"


async def test_handler_exceptions_can_be_left_to_the_log() -> None:
    async with TestClient(APP, raise_server_exceptions=False) as client:
        async with client.websocket_connect("/crash") as ws:
            await ws.send_text("go")
            with pytest.raises(WebSocketDisconnect):
                await ws.receive_text()


def test_sync_facade_with_starlette_names() -> None:
    with TestClient(APP) as client:
        with client.websocket_connect("ws://testserver/echo") as ws:
            ws.send_text("a")
            assert ws.receive_text() == "a"
            ws.send_json([1])
            assert ws.receive_json() == [1]
            ws.send_bytes(b"b")
            assert ws.receive_bytes() == b"b"
            ws.send({"type": "websocket.send", "text": "c"})
            assert ws.receive()["text"] == "c"
        with client.websocket_connect("/whoami", subprotocols=["v2"]) as ws:
            assert ws.accepted_subprotocol == "v2"
            assert ws.receive_json()["path"] == "/whoami"
            with pytest.raises(WebSocketDisconnect):
                ws.receive_text()
        with pytest.raises(WebSocketRejected, match="403"), client.websocket_connect("/private"):
            pass


def test_sync_session_on_a_client_not_entered_and_its_timeout() -> None:
    client = TestClient(APP, timeout=0.5)
    with client.websocket_connect("/silent") as ws, pytest.raises(TimeoutError, match="/silent"):
        ws.receive_text()
    with client.websocket_connect("/echo") as ws:
        ws.send_text("again")
        assert ws.receive_text() == "again"


def test_a_sync_session_on_an_async_client_is_refused_clearly() -> None:
    async def main() -> None:
        async with TestClient(APP) as client:
            with pytest.raises(RuntimeError, match="async with"), client.websocket_connect("/echo"):
                pass

    asyncio.run(main())


def test_the_readme_example_passes_under_pytest(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Testing your handlers", 1)[1]
    example = re.search(r"```python\n(.*?)```", section, re.S)
    assert example, "the section has a Python example"
    (tmp_path / "myapp.py").write_text("from ferrosocket.examples import echo as app\n")
    (tmp_path / "test_app.py").write_text(example.group(1))
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "asyncio_mode=auto", "test_app.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "2 passed" in run.stdout, run.stdout + run.stderr
