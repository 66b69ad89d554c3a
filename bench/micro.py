"""Per-call cost of the bridge's hot calls, measured inside a handler.

    python bench/micro.py [--n 20000] [--loop asyncio|uvloop]

* ready-path `receive_text()`: the client sends N messages first; once they
  sit in the engine's inbound queue the handler times N receives (each one
  pops the queue on the asyncio thread and builds a `str`; no Future, no
  loop iteration).
* ready-path `send_text()`: the handler times N sends of a 32-byte text while
  the buffer stays below its high-water mark (each one encodes the frame and
  writes it to the socket from the asyncio thread).
* waiting-path receive + send: the client sends one message at a time and
  waits for its echo; the server process's CPU time per round trip (all
  threads, from /proc) is what a message costs when every receive has to
  wait for the network: Future, wake-up through the engine's descriptor,
  task switch, and the send.

The client is a plain socket in a separate process, so its work is not
counted; run the script under ``taskset -c 0`` and the client moves to CPU 1.
Figures are medians of 5 repetitions.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import socket
import statistics
import struct
import time

import ferrosocket

PAYLOAD = "x" * 32


def frame(text: str) -> bytes:
    data = text.encode()
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
    return struct.pack("!BB", 0x81, 0x80 | len(data)) + mask + masked


def handshake(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(4096)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_exactly(sock: socket.socket, n: int) -> None:
    while n > 0:
        chunk = sock.recv(min(n, 1 << 20))
        if not chunk:
            raise ConnectionError("server closed")
        n -= len(chunk)


def client(port: int, n: int, rounds: int) -> None:
    if len(os.sched_getaffinity(0)) == 1 and os.cpu_count() and os.cpu_count() > 1:
        # The server was pinned (taskset -c 0): keep the client off its core.
        os.sched_setaffinity(0, {1})
    one = frame(PAYLOAD)
    echo_len = 2 + len(PAYLOAD)
    sock = handshake(port)
    for _ in range(5):
        sock.sendall(one * n)  # ready-path receive: n queued messages
        read_exactly(sock, echo_len * n)  # the handler's timed sends
    for _ in range(5):
        for _ in range(rounds):  # waiting path: one at a time
            sock.sendall(one)
            read_exactly(sock, echo_len)
        sock.sendall(frame("next"))
        read_exactly(sock, 2 + 4)
    sock.close()


def process_cpu() -> float:
    with open("/proc/self/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def main(n: int, rounds: int) -> dict[str, float]:
    results: dict[str, list[float]] = {"receive_text": [], "send_text": [], "wait_roundtrip": []}
    done = asyncio.Event()

    async def handler(ws: ferrosocket.WebSocket) -> None:
        await ws.accept()
        for rep in range(5):
            while ws._c.stats[0] < (rep + 1) * n or ws.buffered_amount:
                await asyncio.sleep(0.01)  # until all n are queued (stats[0]: messages in)
            start = time.perf_counter()
            for _ in range(n):
                await ws.receive_text()
            results["receive_text"].append((time.perf_counter() - start) / n * 1e6)
            start = time.perf_counter()
            for _ in range(n):
                await ws.send_text(PAYLOAD)
            results["send_text"].append((time.perf_counter() - start) / n * 1e6)
        for _ in range(5):
            cpu = process_cpu()
            async for text in ws.iter_text():
                if text == "next":
                    await ws.send_text("next")
                    break
                await ws.send_text(text)
            results["wait_roundtrip"].append((process_cpu() - cpu) / rounds * 1e6)
        done.set()

    config = ferrosocket.WebSocketConfig(
        max_queue=n + 16, max_queue_bytes=1 << 30, write_high_water=1 << 30, write_low_water=1 << 29, ping_interval=None
    )
    async with ferrosocket.serve(handler, "127.0.0.1", 0, config=config) as server:
        proc = multiprocessing.Process(target=client, args=(server.port, n, rounds))
        proc.start()
        await asyncio.wait_for(done.wait(), 120)
        proc.join(10)
    return {k: statistics.median(v) for k, v in results.items()}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5000)
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    args = parser.parse_args()
    if args.loop == "uvloop":
        import uvloop

        figures = uvloop.run(main(args.n, args.rounds))
    else:
        figures = asyncio.run(main(args.n, args.rounds))
    print(f"loop={args.loop} n={args.n} rounds={args.rounds} (medians of 5, server pinned if run under taskset)")
    print(f"  receive_text() ready path: {figures['receive_text']:.2f} us/call")
    print(f"  send_text() below high water: {figures['send_text']:.2f} us/call (includes the socket write)")
    print(f"  waiting receive + send, server CPU per round trip: {figures['wait_roundtrip']:.1f} us")
