"""Camera failures map to codes staff have words for (cameras/failures.py): tiny cases of the pure mapping."""

from __future__ import annotations

import errno

import pytest

from cameras.failures import rtsp_failure_code
from cameras.rtsp.client import RtspAuthError, RtspError
from cameras.rtsp.sdp import SdpError


@pytest.mark.parametrize(("exc", "code"), [
    (RtspAuthError("401 Unauthorized"), "camera_auth_failed"),
    (TimeoutError(), "camera_no_answer"),
    (RtspError("connection lost: the camera's answer is not RTSP"), "camera_garbled"),
    (RtspError("the camera sent an RTSP header over 64 KiB"), "camera_garbled"),
    (SdpError("no video track"), "camera_garbled"),
    (RtspError("DESCRIBE answered 404 Not Found"), "camera_refused"),
    (RtspError("connection lost: the camera closed the RTSP connection"), "camera_closed"),
    (ConnectionResetError("stream ended"), "camera_closed"),
    (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), "camera_unreachable"),
    (OSError(errno.EHOSTUNREACH, "No route to host"), "camera_unreachable"),
    (ValueError("a bug"), "camera_error"),
])
def test_rtsp_failure_codes(exc: BaseException, code: str) -> None:
    assert rtsp_failure_code(exc) == code
