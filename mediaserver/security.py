"""Browser-facing hardening: security headers on every answer, and the WebSocket Origin check.

Every response — pages, API answers, errors, media files, the WebSocket handshake — gets its headers in
aiohttp's ``on_response_prepare`` signal, which runs just before the headers are sent, so streamed and
file responses prepared inside handlers are covered as well as JSON answers:

- ``Content-Security-Policy``: scripts, styles and connections from this origin only (the pages use no inline
  scripts), media and images also from ``blob:`` (recorded segments are played from blob URLs) and ``data:``
  images (QR codes), frames from this origin and ``blob:`` (meeting documents in the browser's PDF viewer), no
  plugins, no ``<base>``, and ``frame-ancestors 'none'`` — no other site can frame the console or the chair's
  join page and trick a click on Remove / End / Mute;
- ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer`` (media-ticket URLs never leak);
- ``Permissions-Policy``: camera, microphone and screen capture for the join page only;
- ``Strict-Transport-Security`` when the server speaks TLS;
- ``Server: mediaserver`` (no aiohttp or Python version).

Pages that must be embedded (the meeting player, in the district's portal) are an explicit exception:
``server.security.embeddable_paths`` may be framed by exactly ``server.security.frame_ancestors``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web

from mediaserver.config import ServerConfig

SERVER_NAME = "mediaserver"
JOIN_PATHS = ("/join",)  # the only pages that may use camera, microphone and screen capture
HSTS_MAX_AGE_S = 31_536_000  # one year, as browsers' preload lists expect
WS_POLICY_VIOLATION = 1008  # RFC 6455 close code: the message violates the server's policy


def origin_of(url: str) -> str:
    """Return the origin (scheme://host[:port]) of a URL, lower-cased."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


class SecurityHeaders:
    """Sets the security headers of every response (see the module doc)."""

    def __init__(self, server: ServerConfig) -> None:
        self.tls = server.tls.mode != "off"
        sec = server.security
        self.embeddable = tuple(sec.embeddable_paths)
        self.ancestors = " ".join(sec.frame_ancestors) if sec.frame_ancestors else "'none'"

    def policy(self, request: web.Request, embeddable: bool) -> str:
        """Return the Content-Security-Policy for a response to ``request``."""
        host = request.host
        ancestors = self.ancestors if embeddable else "'none'"
        return "; ".join((
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"connect-src 'self' ws://{host} wss://{host}",
            "img-src 'self' blob: data:",
            "media-src 'self' blob:",
            "font-src 'self'",
            # Meeting documents open in the browser's own PDF viewer from a blob: URL (fetched with the join
            # token in a header, so no token is in a URL); nothing else is framed.
            "frame-src 'self' blob:",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            f"frame-ancestors {ancestors}",
        ))

    async def on_prepare(self, request: web.Request, response: web.StreamResponse) -> None:
        """Add the headers to a response about to be sent."""
        path = request.path
        embeddable = bool(self.embeddable) and path.startswith(self.embeddable) and self.ancestors != "'none'"
        h = response.headers
        h["Content-Security-Policy"] = self.policy(request, embeddable)
        h["X-Content-Type-Options"] = "nosniff"
        h["Referrer-Policy"] = "no-referrer"
        if not embeddable:
            h["X-Frame-Options"] = "DENY"  # for browsers that predate frame-ancestors
        media = "(self)" if path.startswith(JOIN_PATHS) else "()"
        h["Permissions-Policy"] = (f"camera={media}, microphone={media}, display-capture={media}, "
                                   "geolocation=(), payment=(), usb=()")
        if self.tls:
            h["Strict-Transport-Security"] = f"max-age={HSTS_MAX_AGE_S}"
        h["Server"] = SERVER_NAME


class OriginCheck:
    """Decides whether a WebSocket's ``Origin`` may connect (cross-site WebSocket hijacking defence)."""

    def __init__(self, server: ServerConfig) -> None:
        allowed = {origin_of(o) for o in server.security.allowed_origins}
        if server.public_url:
            allowed.add(origin_of(server.public_url))
        self.allowed = frozenset(allowed)

    def refused(self, request: web.Request) -> str | None:
        """Return why a WebSocket request's Origin is refused, or None when it may connect.

        No Origin header: not a browser (aiortc sites, scripts), which cross-site hijacking cannot use.
        Allowed: the server's own origin as the browser reached it, the public URL's, and the configured ones.
        """
        origin = request.headers.get("Origin")
        if origin is None:
            return None
        origin = origin.lower()
        own = f"{request.scheme}://{request.host}".lower()
        if origin == own or origin in self.allowed:
            return None
        return f"origin {origin} is not allowed to open this WebSocket (allowed: this server's own address)"
