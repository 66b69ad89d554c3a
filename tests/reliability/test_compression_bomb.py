"""A decompression bomb (RFC 7692 §8.1): 1 GiB of zeros in about 1 MiB of
compressed frames. The engine inflates with a hard limit, so it must close
with 1009 after producing at most max_message_size bytes, and the server's
RSS must not follow the declared or the inflated size."""

from __future__ import annotations

import zlib

from rawws import BINARY, CONT, RawClient, frame
from relsupport import EchoProbe, echo_ok, proc_server

GIB = 1 << 30
CHUNK = 1 << 20
DEFLATE = ("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")


def compressed_zeros(total: int) -> bytes:
    """`total` zero bytes as one raw-deflate message body (RFC 7692 §7.2.1:
    the final empty stored block's 00 00 ff ff tail removed)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    zeros = bytes(CHUNK)
    parts = [compressor.compress(zeros) for _ in range(total // CHUNK)]
    parts.append(compressor.flush(zlib.Z_SYNC_FLUSH))
    body = b"".join(parts)
    assert body.endswith(b"\x00\x00\xff\xff")
    return body[:-4]


async def test_gigabyte_of_zeros_closes_1009_and_rss_stays_bounded():
    body = compressed_zeros(GIB)
    assert len(body) < 2 * CHUNK, len(body)
    async with proc_server() as server:
        probe = EchoProbe(server.port)
        memory = server.memory("1 GiB of zeros in ~1 MiB of deflate frames")
        client = await RawClient.connect(server.port)
        try:
            response = await client.handshake("/echo", extra=[DEFLATE])
            assert response.headers["sec-websocket-extensions"].startswith("permessage-deflate")
            fragment = 16 * 1024
            pieces = [body[i : i + fragment] for i in range(0, len(body), fragment)]
            try:
                for i, piece in enumerate(pieces):
                    last = i == len(pieces) - 1
                    opcode, rsv = (BINARY, 4) if i == 0 else (CONT, 0)  # RSV1 on the first frame only
                    await client.send(frame(opcode, piece, fin=last, rsv=rsv))
            except OSError:
                pass  # the server closed mid-message, as it should
            code, _ = await client.expect_close(timeout=10)
            assert code == 1009
        finally:
            client.close()
        memory.stop()
        assert await probe.stop() > 0
        print(memory)
        assert memory.growth < 64, f"{memory}: bound 64 MiB"
        await echo_ok(server.port)
