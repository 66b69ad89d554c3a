"""websockets (asyncio server API): echo on every path, relay on /broadcast.

Best settings for a benchmark: compression off, keepalive pings off (they
are not part of any scenario), no message size cap, uvloop. The relay uses
``broadcast()``, websockets' own fan-out that writes to each connection
without awaiting it.
"""

from _common import HOST, MAX_SIZE, listening, parse_args, run
from websockets.asyncio.server import ServerConnection, broadcast, serve

clients: set[ServerConnection] = set()


async def handler(ws: ServerConnection) -> None:
    if ws.request is not None and ws.request.path == "/broadcast":
        clients.add(ws)
        try:
            async for message in ws:
                broadcast((c for c in clients if c is not ws), message)
        finally:
            clients.discard(ws)
        return
    async for message in ws:
        await ws.send(message)


async def main(port: int) -> None:
    async with serve(handler, HOST, port, compression=None, ping_interval=None, max_size=MAX_SIZE) as server:
        listening("websockets", port)
        await server.serve_forever()


if __name__ == "__main__":
    args = parse_args()
    run(main(args.port), args.loop)
