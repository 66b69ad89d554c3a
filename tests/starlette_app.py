"""WebSocket endpoints written for Starlette, the way its documentation
writes them. test_starlette.py loads this file twice: as it is (served by
uvicorn + Starlette) and with only its imports changed to ferrosocket's
(served by ferrosocket), and checks that a websockets client sees the same.

Each endpoint reports what it saw either to the client (as JSON) or, once
the client is gone, into RECORDS under the connection's ``tag`` query
parameter.
"""

from __future__ import annotations

import json
from typing import Any

from starlette import status
from starlette.exceptions import WebSocketException
from starlette.responses import PlainTextResponse
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

RECORDS: dict[str, list[Any]] = {}


def record(websocket: WebSocket, value: Any) -> None:
    RECORDS.setdefault(websocket.query_params.get("tag", ""), []).append(value)


def states(websocket: WebSocket) -> list[str]:
    return [websocket.client_state.name, websocket.application_state.name]


async def room(websocket: WebSocket) -> None:
    initial = states(websocket)
    first = await websocket.receive()
    before = states(websocket)
    await websocket.accept(headers=[(b"x-server", b"demo")])
    assert websocket.client_state == WebSocketState.CONNECTED
    mutable = websocket.headers.mutablecopy()
    mutable["x-added"] = "1"
    scope = websocket.scope
    report = {
        "room": websocket.path_params["room_id"],
        "cookies": websocket.cookies,
        "path": websocket.url.path,
        "query": websocket.url.query,
        "scheme": websocket.url.scheme,
        "hostname": websocket.url.hostname,
        "port_is_server_port": websocket.url.port == scope["server"][1],
        "url": str(websocket.url).replace(str(websocket.url.port), "PORT"),
        "base_url": str(websocket.base_url).replace(str(websocket.url.port), "PORT"),
        "client_host": websocket.client.host if websocket.client else None,
        "client_port_is_int": isinstance(websocket.client.port, int) if websocket.client else None,
        "raw_x": [[k.decode(), v.decode()] for k, v in websocket.headers.raw if k.startswith(b"x-")],
        "getlist": websocket.headers.getlist("x-demo"),
        "mutable": [mutable["x-added"], "x-added" in websocket.headers],
        "tags": websocket.query_params.getlist("t"),
        "multi": websocket.query_params.multi_items(),
        "last": websocket.query_params["t"],
        "first": first["type"],
        "states": [initial, before, states(websocket)],
        "scope": {
            "type": scope["type"],
            "scheme": scope["scheme"],
            "path": scope["path"],
            "raw_path": scope["raw_path"].decode(),
            "query_string": scope["query_string"].decode(),
            "root_path": scope["root_path"],
            "subprotocols": scope["subprotocols"],
            "path_params": scope["path_params"],
            "asgi": scope["asgi"]["version"],
            "cookie_header": [v.decode() for k, v in scope["headers"] if k == b"cookie"],
        },
    }
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            record(websocket, {"code": message["code"], "states": states(websocket)})
            break
        if message.get("text") == "report":
            await websocket.send({"type": "websocket.send", "text": json.dumps(report)})
        elif "text" in message:
            await websocket.send({"type": "websocket.send", "text": message["text"].upper()})
        else:
            await websocket.send({"type": "websocket.send", "bytes": message["bytes"][::-1]})


async def app_closes(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.receive_text()
    await websocket.send({"type": "websocket.close", "code": 4001, "reason": "bye"})
    after_close = states(websocket)
    message = await websocket.receive()
    record(websocket, {"after_close": after_close, "next": message["type"], "states": states(websocket)})


async def refuses(websocket: WebSocket) -> None:
    await websocket.close()
    record(websocket, {"states": states(websocket)})


async def reads_text(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            text = await websocket.receive_text()
            await websocket.send_text(f"got {text}")
    except WebSocketDisconnect as exc:
        record(websocket, {"code": exc.code, "states": states(websocket)})


async def iterates(websocket: WebSocket) -> None:
    await websocket.accept()
    async for data in websocket.iter_json():
        await websocket.send_json({"echo": data})
    record(websocket, {"states": states(websocket)})


async def raises(websocket: WebSocket) -> None:
    if websocket.path_params["when"] == "after":
        await websocket.accept()
        await websocket.receive_text()
    raise WebSocketException(code=status.WS_1008_POLICY_VIOLATION, reason="not allowed")


async def denies(websocket: WebSocket) -> None:
    await websocket.send({"type": "websocket.http.response.start", "status": 401, "headers": [(b"x-why", b"token")]})
    after_start = states(websocket)
    await websocket.send({"type": "websocket.http.response.body", "body": b"no ", "more_body": True})
    await websocket.send({"type": "websocket.http.response.body", "body": b"token"})
    record(websocket, {"after_start": after_start, "states": states(websocket)})


async def denies_with_response(websocket: WebSocket) -> None:
    # Response classes are Starlette's in both runs: ferrosocket runs any
    # ASGI response against the connection.
    await websocket.send_denial_response(PlainTextResponse("teapot", status_code=418, headers={"x-why": "tea"}))
    record(websocket, {"states": states(websocket)})


async def ends(websocket: WebSocket) -> None:
    """Returns (or crashes) without closing: the server closes for it."""
    how = websocket.path_params["how"]
    if how.endswith("after"):
        await websocket.accept()
        await websocket.send_text("accepted")
    if how.startswith("crash"):
        raise ValueError("the handler failed")


async def params(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_json({k: [type(v).__name__, str(v)] for k, v in websocket.path_params.items()})
    await websocket.close()


ROUTES = [
    ("/rooms/{room_id}", room),
    ("/app-closes", app_closes),
    ("/refuses", refuses),
    ("/reads-text", reads_text),
    ("/iterates", iterates),
    ("/raises/{when}", raises),
    ("/denies", denies),
    ("/denies-with-response", denies_with_response),
    ("/ends/{how}", ends),
    ("/n/{id:int}", params),
    ("/f/{x:float}", params),
    ("/u/{u:uuid}", params),
    ("/p/{rest:path}", params),
    ("/{a}-{b}", params),
]
