"""Why a camera failed, as a stable code the console has words for (mediaserver/web/errors.js).

The ingest and the ONVIF onboarding keep their English reasons for the log and the administrator; staff read
the code's Vietnamese text instead ("Camera gửi dữ liệu không hợp lệ", not "the camera sent an RTSP header
over 64 KiB"). Pure functions of the exception, so each mapping is tested on its own.
"""

from __future__ import annotations

import errno

from cameras.rtsp.client import RtspAuthError, RtspError, RtspErrorKind
from cameras.rtsp.sdp import SdpError

AUTH_FAILED_CODE = "camera_auth_failed"  # refused our credentials
UNREACHABLE_CODE = "camera_unreachable"  # nothing listens there, or no route (network, power)
NO_ANSWER_CODE = "camera_no_answer"  # connected, then silence
GARBLED_CODE = "camera_garbled"  # answered something that is not RTSP / HTTP / ONVIF
CLOSED_CODE = "camera_closed"  # hung up on us
REFUSED_CODE = "camera_refused"  # answered an error status (a 4xx/5xx other than 401)
ERROR_CODE = "camera_error"  # anything else

_RTSP_KIND_CODES: dict[RtspErrorKind, str] = {
    "refused": REFUSED_CODE, "closed": CLOSED_CODE, "garbled": GARBLED_CODE, "setup": ERROR_CODE,
}
_UNREACHABLE_ERRNOS = frozenset({errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN,
                                 errno.ECONNABORTED})


def rtsp_failure_code(exc: BaseException) -> str:
    """Return the code of an RTSP ingest failure."""
    if isinstance(exc, RtspAuthError):
        return AUTH_FAILED_CODE
    if isinstance(exc, TimeoutError):
        return NO_ANSWER_CODE
    if isinstance(exc, SdpError):
        return GARBLED_CODE
    if isinstance(exc, RtspError):
        return _RTSP_KIND_CODES[exc.kind]
    if isinstance(exc, ConnectionResetError | BrokenPipeError):
        return CLOSED_CODE
    if isinstance(exc, OSError) and (exc.errno in _UNREACHABLE_ERRNOS or isinstance(exc, ConnectionRefusedError)):
        return UNREACHABLE_CODE
    if isinstance(exc, OSError):
        return UNREACHABLE_CODE if exc.errno is not None else ERROR_CODE
    return ERROR_CODE
