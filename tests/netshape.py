"""A link cap for tests: a token bucket on the UDP sends of one aiortc peer connection (in this process).

It drops what exceeds the rate, as a congested uplink or a shaping router would, so the far end sees real
loss and its receiver reports and estimate fall. Applied to the server's session of a site, it caps what that
site receives, whatever the site is (a Chromium page, an aiortc peer).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aiortc import RTCPeerConnection

BURST_S = 0.2  # the bucket holds this much of the rate: a router's short queue (a keyframe fits), not a deep buffer


class LinkCap:
    """Cap a peer connection's outgoing UDP at ``bps``; ``lift()`` restores the link."""

    def __init__(self, pc: RTCPeerConnection, bps: float) -> None:
        self.bps = bps
        self.capped = True
        self.sent = self.dropped = 0
        self._tokens = bps / 8 * BURST_S
        self._at = time.monotonic()
        self._restore: list[Callable[[], None]] = []
        seen: set[int] = set()
        for tr in pc.getTransceivers():
            dtls = tr.sender.transport or tr.receiver.transport
            if dtls is None or id(dtls) in seen:
                continue
            seen.add(id(dtls))
            for proto in dtls.transport.iceGatherer._connection._protocols:
                self._wrap(proto)
        assert self._restore, "no ICE transport to cap (not connected yet?)"

    def _wrap(self, proto: Any) -> None:
        # The protocol's transport is swapped for a capped stand-in (uvloop's transports have read-only
        # methods); every sender looks it up there per send, aioice's and the forwarding senders' alike.
        stock = proto.transport
        proto.transport = _CappedTransport(stock, self)

        def restore() -> None:
            proto.transport = stock

        self._restore.append(restore)

    def _take(self, size: int) -> bool:
        now = time.monotonic()
        rate = self.bps / 8
        self._tokens = min(rate * BURST_S, self._tokens + (now - self._at) * rate)
        self._at = now
        if self._tokens < size:
            return False
        self._tokens -= size
        return True

    def allow(self, size: int) -> bool:
        """Count one datagram; return whether it may go."""
        if self.capped and not self._take(size):
            self.dropped += 1
            return False
        self.sent += 1
        return True

    def lift(self) -> None:
        """Remove the cap."""
        self.capped = False
        for restore in self._restore:
            restore()
        self._restore.clear()


class _CappedTransport:
    """A datagram transport whose ``sendto`` goes through a ``LinkCap``; everything else is the real one's."""

    def __init__(self, transport: Any, cap: LinkCap) -> None:
        self._transport = transport
        self._cap = cap

    def sendto(self, data: bytes, addr: Any = None) -> None:
        if self._cap.allow(len(data)):
            self._transport.sendto(data, addr)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
