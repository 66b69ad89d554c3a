"""Open N WebSocket connections from a separate process and count who
receives one expected message (the 10,000-subscriber test).

A separate process because 10,000 clients plus 10,000 server sockets do not
fit one process's descriptor limit. Plain non-blocking sockets and
`selectors`, no asyncio: the script only does handshakes and reads.

Usage: ``python many_subscribers.py PORT N PATH EXPECTED``. Prints ``ready``
once every handshake got its 101, then, after reading stdin's ``go`` line,
``got K`` where K counts connections that received a text frame equal to
EXPECTED first.
"""

from __future__ import annotations

import base64
import os
import resource
import selectors
import socket
import sys
import time


def main() -> None:
    port, n, path, expected = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4].encode()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, n + 100)), hard))
    sel = selectors.DefaultSelector()
    buffers: dict[socket.socket, bytearray] = {}
    pending = set()
    for _ in range(n):
        sock = socket.create_connection(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        sock.setblocking(False)
        buffers[sock] = bytearray()
        pending.add(sock)
        sel.register(sock, selectors.EVENT_READ)
    deadline = time.monotonic() + 120
    # Handshakes: read until each response head is complete.
    while pending and time.monotonic() < deadline:
        for key, _ in sel.select(1):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            data = sock.recv(65536)
            buffers[sock] += data
            if sock in pending and b"\r\n\r\n" in buffers[sock]:
                head, _, rest = bytes(buffers[sock]).partition(b"\r\n\r\n")
                if not head.startswith(b"HTTP/1.1 101"):
                    print(f"refused {head[:40]!r}", flush=True)
                    return
                buffers[sock] = bytearray(rest)
                pending.discard(sock)
    print("ready" if not pending else f"only {n - len(pending)}", flush=True)
    sys.stdin.readline()
    want = bytes([0x81, len(expected)]) + expected
    got = sum(1 for b in buffers.values() if b.startswith(want))
    waiting = {s for s, b in buffers.items() if len(b) < len(want)}
    deadline = time.monotonic() + 60
    while waiting and time.monotonic() < deadline:
        for key, _ in sel.select(1):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            buffers[sock] += sock.recv(65536)
            if sock in waiting and len(buffers[sock]) >= len(want):
                waiting.discard(sock)
                got += buffers[sock].startswith(want)
    print(f"got {got}", flush=True)


if __name__ == "__main__":
    main()
