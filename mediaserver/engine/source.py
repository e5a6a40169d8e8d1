"""A source: one track of encoded media (a site's camera, microphone or screen; a camera stream)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from mediaserver.engine.frames import EncodedFrame

if TYPE_CHECKING:
    from mediaserver.engine.sink import Sink

logger = logging.getLogger(__name__)


class Source:
    """Fans a track's frames out to its sinks; knows its codec and how to ask for a keyframe."""

    def __init__(self, source_id: str, kind: str, codec: str, clock_rate: int,
                 keyframe_requester: Callable[[], None] | None = None, owner: str = "") -> None:
        self.id = source_id
        self.kind = kind  # "audio" | "video"
        self.codec = codec.lower()  # "vp8" | "h264" | "opus"
        self.clock_rate = clock_rate
        self.owner = owner  # e.g. the site id; the engine does not interpret it
        self.sinks: set[Sink] = set()
        self.enabled = True
        self.closed = False
        self._keyframe_requester = keyframe_requester
        # statistics
        self.frames = 0
        self.bytes = 0
        self.keyframes = 0
        self.last_frame_at = 0.0
        self.audio_level: int | None = None

    @property
    def needs_keyframes(self) -> bool:
        """Return whether sinks must start on a keyframe (video) rather than any frame (audio)."""
        return self.kind == "video"

    def publish(self, frame: EncodedFrame) -> None:
        """Deliver a frame to every sink (never blocks: each sink has its own bounded queue)."""
        self.frames += 1
        self.bytes += frame.size
        self.last_frame_at = frame.arrival
        if frame.audio_level is not None:
            self.audio_level = frame.audio_level
        if frame.keyframe and self.needs_keyframes:
            self.keyframes += 1
        if not self.enabled:
            return
        for sink in tuple(self.sinks):
            sink.offer(self, frame)

    def request_keyframe_now(self) -> None:
        """Ask the publisher for a keyframe (the engine throttles calls to this)."""
        if self._keyframe_requester is not None and not self.closed:
            self._keyframe_requester()

    def set_enabled(self, enabled: bool) -> None:
        """Pause or resume forwarding (moderation mute); resumed video restarts on a keyframe."""
        if enabled == self.enabled:
            return
        self.enabled = enabled
        if enabled and self.needs_keyframes:
            for sink in tuple(self.sinks):
                sink.wait_for_keyframe()

