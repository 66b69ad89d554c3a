"""Peers with permessage-deflate at their defaults, for bench/deflate.py.

python deflate_peers.py websockets|uvicorn [--port] PORT
"""

import sys
import warnings

HOST = "127.0.0.1"


async def websockets_main(port: int) -> None:
    from websockets.asyncio.server import serve

    async def echo(ws):  # type: ignore[no-untyped-def]
        async for message in ws:
            await ws.send(message)

    async with serve(echo, HOST, port, compression="deflate", ping_interval=None, max_size=None) as server:
        await server.serve_forever()


if __name__ == "__main__":
    kind, port = sys.argv[1], int(sys.argv[-1])
    if kind == "websockets":
        import uvloop

        uvloop.run(websockets_main(port))
    else:
        import uvicorn

        sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
        warnings.simplefilter("ignore", DeprecationWarning)
        uvicorn.run(
            "starlette_app:app",
            host=HOST,
            port=port,
            ws="websockets",
            ws_per_message_deflate=True,
            ws_ping_interval=None,
            loop="uvloop",
            http="httptools",
            access_log=False,
            log_level="warning",
            lifespan="off",
        )
