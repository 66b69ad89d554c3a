"""uvicorn + Starlette, with ``--ws websockets`` or ``--ws wsproto``.

Best settings: per-message deflate off, keepalive pings off, 16 MiB message
cap, uvloop and httptools (uvicorn's own fast choices), no access log, one
process. ``websockets`` here is uvicorn's implementation on websockets'
legacy protocol, the one ``ws="websockets"`` selects.
"""

import argparse
import warnings

import uvicorn
from _common import HOST, MAX_SIZE

if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--ws", choices=("websockets", "wsproto"), default="websockets")
    args = p.parse_args()
    warnings.simplefilter("ignore", DeprecationWarning)  # websockets.legacy
    uvicorn.run(
        "starlette_app:app",
        host=HOST,
        port=args.port,
        ws=args.ws,
        ws_per_message_deflate=False,
        ws_ping_interval=None,
        ws_max_size=MAX_SIZE,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
        lifespan="off",
    )
