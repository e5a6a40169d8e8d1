"""The media hot path: sources, sinks and the engine that forwards encoded frames between them."""

from mediaserver.engine.engine import Engine
from mediaserver.engine.frames import EncodedFrame, FrameAssembler, is_keyframe
from mediaserver.engine.sink import Sink
from mediaserver.engine.source import Source

__all__ = ["EncodedFrame", "Engine", "FrameAssembler", "Sink", "Source", "is_keyframe"]
