"""Sender CPU per MiB of 64 KiB writes over loopback TCP, with no WebSocket
server at all: the probe behind bench/README.md's note on the stream-64k spread.

One process writes ``header + 64 KiB`` with ``sendmsg`` (the two pieces of a
ferrosocket large-frame write) from a buffer starting at a chosen offset in
its page; another drains the socket. For each connection it prints the
sending thread's CPU per MiB for consecutive blocks of messages, offset by
offset, so a spread that follows the connection or time, rather than the
source offset, shows up in one line.

    python bench/loopback_send.py [--offsets 0,208] [--connections 5] [--messages 400] [--pin]
"""

from __future__ import annotations

import argparse
import ctypes
import multiprocessing as mp
import os
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import procs  # noqa: E402

SIZE = 65536
HEADER = b"\x82\x7f" + SIZE.to_bytes(8, "big")


def drain(port: int, ready: mp.synchronize.Event, pin: bool) -> None:
    if pin:
        os.sched_setaffinity(0, {1})
    listener = socket.create_server(("127.0.0.1", port))
    ready.set()
    buf = bytearray(1 << 20)
    while True:
        conn, _ = listener.accept()
        while conn.recv_into(buf):
            pass
        conn.close()


def send_all(sock: socket.socket, parts: list[memoryview]) -> None:
    while parts:
        sent = sock.sendmsg(parts)
        while parts and sent >= len(parts[0]):
            sent -= len(parts.pop(0))
        if parts and sent:
            parts[0] = parts[0][sent:]


def block(sock: socket.socket, offset: int, messages: int) -> float:
    """Sending thread's CPU in µs per MiB for `messages` writes from `offset`."""
    raw = bytearray(SIZE + 8192)
    start = (-ctypes.addressof(ctypes.c_char.from_buffer(raw))) % 4096 + offset
    payload = memoryview(raw)[start : start + SIZE]
    header = memoryview(HEADER)
    before = time.thread_time()
    for _ in range(messages):
        send_all(sock, [header, payload])
    return (time.thread_time() - before) * 1e6 / (messages * SIZE / 2**20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--offsets", default="0,208", help="source offsets in the page, comma-separated")
    parser.add_argument("--connections", type=int, default=5)
    parser.add_argument("--messages", type=int, default=400, help="messages per block")
    parser.add_argument("--rounds", type=int, default=3, help="blocks per offset and connection")
    parser.add_argument("--pin", action="store_true", help="sender on CPU 0, receiver on CPU 1")
    args = parser.parse_args()
    offsets = [int(x) for x in args.offsets.split(",")]
    if args.pin:
        os.sched_setaffinity(0, {0})
    port = procs.free_port()
    ready = mp.Event()
    mp.Process(target=drain, args=(port, ready, args.pin), daemon=True).start()
    ready.wait()
    for n in range(args.connections):
        with socket.create_connection(("127.0.0.1", port)) as sock:
            results: dict[int, list[float]] = {o: [] for o in offsets}
            for _ in range(args.rounds):
                for offset in offsets:
                    results[offset].append(block(sock, offset, args.messages))
        cells = " ".join(f"{o}: " + "/".join(f"{x:.0f}" for x in v) for o, v in results.items())
        print(f"connection {n}: {cells}", flush=True)


if __name__ == "__main__":
    main()
