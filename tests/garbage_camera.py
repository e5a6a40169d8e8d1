"""A camera that talks garbage: a real TCP listener, run as its own process, in one of three manners.

    python -m tests.garbage_camera MODE   (MODE: random | silent | endless)

- ``random``: answers every connection with random bytes, then closes it;
- ``silent``: accepts and never says a word (the connection stays open);
- ``endless``: starts a plausible reply ("RTSP/1.0 200 OK" or "HTTP/1.1 200 OK") and then sends header lines
  for ever, never ending the header.

Prints ``READY <port>`` once listening (port chosen by the system), as the RTSP simulator does.
"""

from __future__ import annotations

import asyncio
import os
import sys

CHUNK_BYTES = 4096
ENDLESS_PAUSE_S = 0.001  # a header line every millisecond: a flood, but one the loopback carries


async def serve(mode: str) -> None:
    """Listen on 127.0.0.1 and misbehave in ``mode`` with every client."""

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if mode == "random":
                await reader.read(1024)  # let the client speak first, as a camera would
                writer.write(os.urandom(CHUNK_BYTES))
                await writer.drain()
            elif mode == "silent":
                while await reader.read(CHUNK_BYTES):
                    pass
            else:
                first = await reader.read(1024)
                writer.write(b"HTTP/1.1 200 OK\r\n" if first.startswith((b"GET", b"POST")) else b"RTSP/1.0 200 OK\r\n")
                n = 0
                while True:
                    n += 1
                    writer.write(b"X-Padding-%d: %s\r\n" % (n, b"a" * 100))
                    await writer.drain()
                    await asyncio.sleep(ENDLESS_PAUSE_S)
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(client, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print(f"READY {port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in ("random", "silent", "endless"):
        sys.exit("usage: python -m tests.garbage_camera random|silent|endless")
    asyncio.run(serve(sys.argv[1]))
