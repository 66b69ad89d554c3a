"""picows (listener/callback API): echo on every path, relay on /broadcast.

picows has no per-message coroutine: ``on_ws_frame`` is a plain callback, and
the payload is read as a memoryview into picows' buffer (``send`` copies it
out), which is its fastest path. Compression does not exist in picows; auto
ping is off by default. Frames are echoed one for one, so fragmented
messages come back fragmented.
"""

from _common import HOST, MAX_SIZE, listening, parse_args, run
from picows import WSFrame, WSListener, WSMsgType, WSTransport, WSUpgradeRequest, ws_create_server

DATA = (WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CONTINUATION)
clients: set[WSTransport] = set()


class Echo(WSListener):
    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type in DATA:
            transport.send(frame.msg_type, frame.get_payload_as_memoryview(), frame.fin)
        elif frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()


class Relay(WSListener):
    def on_ws_connected(self, transport: WSTransport) -> None:
        clients.add(transport)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        clients.discard(transport)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type in DATA:
            payload = frame.get_payload_as_memoryview()
            for c in clients:
                if c is not transport:
                    c.send(frame.msg_type, payload, frame.fin)
        elif frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()


def listener_factory(request: WSUpgradeRequest) -> WSListener:
    return Relay() if request.path == b"/broadcast" else Echo()


async def main(port: int) -> None:
    server = await ws_create_server(listener_factory, HOST, port, enable_auto_ping=False, max_frame_size=MAX_SIZE)
    listening("picows", port)
    await server.serve_forever()


if __name__ == "__main__":
    args = parse_args()
    run(main(args.port), args.loop)
