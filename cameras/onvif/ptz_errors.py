"""PTZ failures in plain words: the ONVIF faults a camera is expected to send, mapped to our error codes.

A camera's SOAP fault text ("env:Sender ter:InvalidArgVal ter:NoToken …") is for the log, never for security
staff. ``ptz_problem`` turns an ``OnvifError`` into a ``PtzProblem``: an error code, an HTTP status and an
English message for the API; the console shows the Vietnamese (and English) text of the code
(``mediaserver/web/ptz.js``, ``PTZ_ERROR_TEXTS``; a test keeps both lists equal). The faults are those the
ONVIF PTZ service specification (ver20) lists for GetPresets, SetPreset, RemovePreset and GotoPreset.
"""

from __future__ import annotations

from dataclasses import dataclass

from cameras.onvif.onboarding import OnvifAuthError, OnvifError, OnvifUnreachable


@dataclass(frozen=True, slots=True)
class PtzProblem:
    """What the API answers for a failed PTZ command."""

    code: str
    status: int  # HTTP status
    message: str  # English, no camera text


# Innermost ONVIF fault subcode -> (our code, HTTP status, English message).
PTZ_FAULTS: dict[str, tuple[str, int, str]] = {
    "NoToken": ("ptz_preset_not_found", 404, "the camera has no such preset (it may have been removed)"),
    "PresetExist": ("ptz_preset_exists", 409, "the camera already has a preset with this name"),
    "TooManyPresets": ("ptz_presets_full", 409, "the camera cannot store more presets: remove one first"),
    "InvalidPresetName": ("ptz_preset_name_invalid", 422, "the camera does not accept this preset name"),
    "MovingPTZ": ("ptz_moving", 409, "the camera is still moving: stop it, then save the preset"),
    "NoProfile": ("ptz_no_profile", 502, "the camera no longer has the media profile it was set up with"),
    "NoPTZProfile": ("no_ptz", 409, "this camera's profile has no PTZ"),
    "ActionNotSupported": ("ptz_not_supported", 501, "the camera does not support this PTZ command"),
    "SpaceNotSupported": ("ptz_not_supported", 501, "the camera does not support this PTZ command"),
    "InvalidPosition": ("ptz_out_of_range", 422, "the position is outside what the camera can reach"),
    "InvalidSpeed": ("ptz_out_of_range", 422, "the speed is outside what the camera accepts"),
    "InvalidVelocity": ("ptz_out_of_range", 422, "the speed is outside what the camera accepts"),
    "InvalidTranslation": ("ptz_out_of_range", 422, "the move is outside what the camera can reach"),
    "NotAuthorized": ("camera_auth_failed", 502, "the camera refused the stored user name or password"),
}
UNREACHABLE = PtzProblem("camera_unreachable", 504, "the camera did not answer (network or power)")
AUTH_FAILED = PtzProblem("camera_auth_failed", 502, "the camera refused the stored user name or password")
OTHER = PtzProblem("ptz_failed", 502, "the camera could not carry out the PTZ command")
# Every code the PTZ routes may answer with (the console has a text for each).
PTZ_CODES = sorted({c for c, _, _ in PTZ_FAULTS.values()} | {UNREACHABLE.code, AUTH_FAILED.code, OTHER.code}
                   | {"no_ptz"})


def ptz_problem(exc: OnvifError) -> PtzProblem:
    """Return the plain-language problem for a failed PTZ call (the camera's own text stays in the log)."""
    if isinstance(exc, OnvifUnreachable):
        return UNREACHABLE
    if isinstance(exc, OnvifAuthError):
        return AUTH_FAILED
    known = PTZ_FAULTS.get(exc.fault or "")
    return PtzProblem(*known) if known else OTHER
