"""Our RTSP client: pulls a camera's H.264/H.265 video as RTP and reassembles access units (no FFmpeg)."""

from cameras.rtsp.client import RtspAuthError, RtspClient, RtspError, probe
from cameras.rtsp.depacketize import Depacketizer
from cameras.rtsp.sdp import SdpError, VideoTrack

__all__ = ["Depacketizer", "RtspAuthError", "RtspClient", "RtspError", "SdpError", "VideoTrack", "probe"]
