"""aiohttp: echo on every path, relay on /broadcast.

Best settings: ``compress=False``, no heartbeat, no message size cap, no
access log, uvloop. The relay awaits each ``send_str`` in turn, which only
waits when a connection's write buffer is over its limit.
"""

import asyncio

from _common import HOST, listening, parse_args, run
from aiohttp import WSMsgType, web

clients: set[web.WebSocketResponse] = set()


async def handler(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(compress=False, heartbeat=None, max_msg_size=0)
    await ws.prepare(request)
    relay = request.path == "/broadcast"
    if relay:
        clients.add(ws)
    try:
        async for msg in ws:
            if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                continue
            if not relay:
                if msg.type == WSMsgType.TEXT:
                    await ws.send_str(msg.data)
                else:
                    await ws.send_bytes(msg.data)
                continue
            for c in tuple(clients):
                if c is not ws and not c.closed:
                    if msg.type == WSMsgType.TEXT:
                        await c.send_str(msg.data)
                    else:
                        await c.send_bytes(msg.data)
    finally:
        clients.discard(ws)
    return ws


async def main(port: int) -> None:
    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, HOST, port).start()
    listening("aiohttp", port)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    args = parse_args()
    run(main(args.port), args.loop)
