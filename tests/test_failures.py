"""Camera failures map to codes staff have words for (cameras/failures.py): tiny cases of the pure mapping."""

from __future__ import annotations

import asyncio
import errno

import pytest

from cameras.failures import rtsp_failure_code
from cameras.rtsp.client import RtspAuthError, RtspClient, RtspError
from cameras.rtsp.sdp import SdpError


@pytest.mark.parametrize(("exc", "code"), [
    (RtspAuthError("401 Unauthorized"), "camera_auth_failed"),
    (TimeoutError(), "camera_no_answer"),
    (RtspError("connection lost: the camera's answer is not RTSP"), "camera_garbled"),
    (RtspError("the camera sent an RTSP header over 64 KiB"), "camera_garbled"),
    (RtspError("DESCRIBE answered 404 Not Found", "refused"), "camera_refused"),
    (RtspError("connection lost: [Errno 104] Connection reset by peer", "closed"), "camera_closed"),
    (RtspError("no free UDP port pair for RTP", "setup"), "camera_error"),
    (SdpError("no video track"), "camera_garbled"),
    (ConnectionResetError("stream ended"), "camera_closed"),
    (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), "camera_unreachable"),
    (OSError(errno.EHOSTUNREACH, "No route to host"), "camera_unreachable"),
    (ValueError("a bug"), "camera_error"),
])
def test_rtsp_failure_codes(exc: BaseException, code: str) -> None:
    assert rtsp_failure_code(exc) == code


async def _answer_with(reply: bytes) -> str:
    """Run the real RTSP client against a listener that sends ``reply`` and hangs up; return the code."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(reply)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = RtspClient(f"rtsp://127.0.0.1:{port}/main", lambda _packet: None)
    try:
        async with server:
            with pytest.raises(RtspError) as caught:
                await asyncio.wait_for(client.open(), 10)
    finally:
        await client.close()
    return rtsp_failure_code(caught.value)


async def test_real_client_errors_carry_their_kind() -> None:
    # The codes come from the raise sites' kinds, not from the English text of the message.
    assert await _answer_with(b"RTSP/1.0 404 Not Found\r\nCSeq: 1\r\n\r\n") == "camera_refused"
    assert await _answer_with(b"") == "camera_closed"
    assert await _answer_with(b"\x00\x01garbage that is not rtsp at all, not even close\r\n") == "camera_garbled"
