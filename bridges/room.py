"""A live meeting in one room: who is connected, who sees and hears whom, moderation.

The layout policy, recomputed whenever something changes and every ``LAYOUT_TICK_S``:
- the host sees every other site, each in its own slot (stable while the site stays), and hears the
  loudest ``audible_sites`` sites;
- every other site sees the host and a speaker slot (the pinned site, else the active speaker, else the
  last one; never itself), and hears the host plus the loudest sites (never itself);
- everybody sees the current screen share;
- each site publishes its camera in two layers (HD and a thumbnail): the host's grid tiles carry thumbnails,
  its spotlighted tile (pinned, else speaking) and every site's host and speaker slots carry HD — unless that
  subscriber's link cannot take HD (``SiteSession.layer``, from its REMB and receiver reports), then thumbnails.
  A switch is a slot changing source, so it happens on a keyframe, without renegotiation.

Meeting control lives here too, each rule in its own module: who waits in the lobby (``lobby``), who may
speak (``floor``), the chat (``chat``). A site the chair removed stays out until readmitted; a site that left
on purpose is a new arrival (no grace); the chair's End closes the meeting for everyone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiortc import RTCIceServer

from bridges.chat import HISTORY_LIMIT, ChatMessage, ChatRefused, RateLimit, clean_text, recipient
from bridges.floor import MODES, Floor, Mode, Request
from bridges.lobby import Lobby, Waiting
from bridges.session import CAMERA_LAYERS, SendJson, SiteSession
from bridges.speaker import SpeakerDetector
from mediaserver.engine import Engine, Source
from mediaserver.errors import CodedError

if TYPE_CHECKING:
    from bridges.votes import RoomVotes

logger = logging.getLogger(__name__)

LAYOUT_TICK_S = 0.1
# A site whose connection dropped may come back into a locked room within this time (a network blip
# must not shut a commune out of the meeting); a site removed by the chair may not.
REJOIN_GRACE_S = 120.0
NOTIFY_TIMEOUT_S = 5.0
MEDIA_CHECK_S = 0.5
# A connected site from which no media packet arrived for this long is shown as "Mất kết nối" (the chair must
# know within 3 s; browsers send audio every 20 ms even when muted, so 2 s of nothing is a dead link).
MEDIA_LOST_S = 2.0
THUMB_FRESH_S = 2.0  # a site's thumbnail layer with no frame for this long is not used (its HD layer is)
MEDIA_FIRST_S = 10.0  # after the answer, time for ICE and the first packet before a site counts as lost


class JoinRefused(CodedError):
    """A site may not join now; ``code`` is the signalling error code, ``extra`` more fields for the client."""

    def __init__(self, code: str, message: str, **extra: Any) -> None:
        super().__init__(code, message)
        self.extra = extra


@dataclass(frozen=True)
class MeetingRef:
    """The scheduled meeting a live room holds."""

    id: int
    title: str
    agenda: str
    starts_at: float
    ends_at: float

    def wire(self) -> dict[str, Any]:
        """Return it as sites are told."""
        return {"id": self.id, "title": self.title, "agenda": self.agenda, "starts_at": self.starts_at,
                "ends_at": self.ends_at}


@dataclass(frozen=True)
class RoomPolicy:
    """What the room needs from the index and config, fixed for the meeting."""

    room_id: str
    name: str
    host_site: str
    sites: dict[str, str]  # id → display name of every site allowed in
    names_en: dict[str, str | None]  # id → English display name
    video_codec: str
    audible_sites: int
    max_sites: int
    invited: frozenset[str] | None = None  # None: every member site is invited
    meeting: MeetingRef | None = None
    mode: Mode = "free"


ChatHook = Callable[[ChatMessage], Awaitable[int]]  # keeps a message with its meeting, returns its id
FloorHook = Callable[[str, Request, float], Awaitable[None]]  # (opened|granted|<outcome>, request, at)


RecordHook = Callable[[str, str, str | None], Awaitable[Any]]  # (event, site, detail)


class LiveRoom:
    """The running meeting of one room; owns its site sessions and its layout task."""

    def __init__(self, policy: RoomPolicy, engine: Engine, ice_servers: list[RTCIceServer],
                 on_event: RecordHook | None = None, on_chat: ChatHook | None = None,
                 on_floor: FloorHook | None = None) -> None:
        self.policy = policy
        self.engine = engine
        self.ice_servers = ice_servers
        self.sessions: dict[str, SiteSession] = {}
        self.speaker = SpeakerDetector(loudest_n=policy.audible_sites)
        self.locked = False
        self.pinned: str | None = None
        self.screen_site: str | None = None
        # A camera shown to every site in the presentation slot (e.g. the meeting hall): any engine source
        # with the room's video codec, so it is forwarded as-is. A site's own screen share takes precedence.
        self.presented: Source | None = None
        self.current_speaker: str | None = None
        self.started_at = time.time()
        self._on_event = on_event
        self._layout_task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Future[Any]] = set()
        self._closed = False
        # Moderation outlives a site's session: reloading the page must not undo the chair's mute.
        self.moderation: dict[str, dict[str, bool]] = {}
        self._dropped_at: dict[str, float] = {}
        self.lobby = Lobby()
        self.admitted: set[str] = set()  # let in from the lobby: not asked again for this meeting
        self.removed: set[str] = set()  # removed by the chair: refused until readmitted
        self.floor = Floor(policy.mode)
        self.chat_log: deque[ChatMessage] = deque(maxlen=HISTORY_LIMIT)
        self._chat_rate = RateLimit()
        self._chat_seq = 0
        self._on_chat = on_chat
        self._on_floor = on_floor
        self.talking: set[str] = set()
        self._media_checked = 0.0
        self.votes: RoomVotes | None = None  # bridges/votes.py, set up on first use
        # The meeting document every site is shown ({document, page, by, at}; bridges/documents.py), or None.
        self.presented_document: dict[str, Any] | None = None

    # ------------------------------------------------------------------------------------ joining

    def entry(self, site_id: str) -> str | None:
        """Return None if the site may enter now, else why it waits in the lobby; raise if it may not come."""
        if self._closed:
            raise JoinRefused("meeting_ended", "the meeting has ended")
        if site_id not in self.policy.sites:
            raise JoinRefused("not_a_member", f"site {site_id!r} is not a member of this room")
        if site_id in self.removed:
            raise JoinRefused("removed", "the chair removed this site from the meeting; only the chair can "
                                         "let it back in")
        if site_id in self.sessions or site_id == self.policy.host_site or site_id in self.admitted:
            return None
        recently = time.monotonic() - self._dropped_at.get(site_id, -1e9) <= REJOIN_GRACE_S
        if self.locked and not recently:
            return "locked"
        if self.policy.invited is not None and site_id not in self.policy.invited:
            return "not_invited"
        return None

    async def wait_in_lobby(self, site_id: str, reason: str) -> Waiting:
        """Put a site in the lobby and tell the chair (a sound and a line in its panel)."""
        try:
            entry = self.lobby.enter(site_id, reason, time.time())
        except OverflowError as exc:
            raise JoinRefused("lobby_full", str(exc)) from exc
        logger.info("room %s: site %s waits in the lobby (%s)", self.policy.room_id, site_id, reason)
        host = self.sessions.get(self.policy.host_site)
        if host is not None:
            self._notify(host, {"type": "lobby_waiting", "lobby": self._lobby_list()})
        await self.broadcast_roster()
        return entry

    async def left_lobby(self, entry: Waiting) -> None:
        """Forget a waiting site that went away."""
        self.lobby.leave(entry)
        await self.broadcast_roster()

    async def decide(self, site_id: str, admit: bool) -> bool:
        """Admit or refuse a site waiting in the lobby; return False if it is not waiting."""
        if not self.lobby.decide(site_id, admit):
            return False
        if admit:
            self.admitted.add(site_id)
        logger.info("room %s: site %s %s from the lobby", self.policy.room_id, site_id,
                    "admitted" if admit else "refused")
        await self.broadcast_roster()
        return True

    async def readmit(self, site_id: str) -> bool:
        """Let a removed site join again; return False if it was not removed."""
        if site_id not in self.removed:
            return False
        self.removed.discard(site_id)
        self.admitted.add(site_id)
        await self.broadcast_roster()
        return True

    async def join(self, site_id: str, send: SendJson,
                   close: Callable[[], Awaitable[Any]] | None = None, admitted: bool = False) -> SiteSession:
        """Create the site's session (replacing an older one of the same site) and return it."""
        reason = self.entry(site_id)
        if reason is not None and not admitted:
            raise JoinRefused("room_locked" if reason == "locked" else "not_invited",
                              "the room is locked by the chair" if reason == "locked"
                              else "this site is not invited to the meeting")
        if site_id not in self.sessions and len(self.sessions) >= self.policy.max_sites:
            raise JoinRefused("room_full", f"the room already has {self.policy.max_sites} sites")
        async with self._lock:
            old = self.sessions.pop(site_id, None)
            if old is not None:
                await old.stop("replaced")  # the same site opened the page again, or reconnected
                await self._event("left", site_id, "replaced")
            is_host = site_id == self.policy.host_site
            others = [s for s in self.policy.sites if s != self.policy.host_site]
            session = SiteSession(
                room_id=self.policy.room_id, site_id=site_id, is_host=is_host, engine=self.engine,
                video_codec=self.policy.video_codec, audible_sites=self.policy.audible_sites,
                video_slot_sites=others, ice_servers=self.ice_servers, send=send,
                on_audio_level=self._audio_level, on_state=self._session_state, close_channel=close,
            )
            self.sessions[site_id] = session
            if self.floor.mode == "chaired" and not is_host and self.floor.speaking != site_id:
                self.moderation.setdefault(site_id, {})["audio"] = True  # speaks only when given the floor
            for kind, muted in self.moderation.get(site_id, {}).items():
                if muted:
                    self._apply_mute(session, kind, True)
        await self._event("joined", site_id, None)
        if self._layout_task is None:
            self._layout_task = asyncio.ensure_future(self._layout_loop())
        return session

    async def leave(self, session: SiteSession, reason: str) -> None:
        """End one site's session if it is still the current one."""
        async with self._lock:
            if self.sessions.get(session.site_id) is session:
                del self.sessions[session.site_id]
                self.speaker.remove(session.site_id)
                if self.screen_site == session.site_id:
                    self.screen_site = None
            else:
                return
        self.talking.discard(session.site_id)
        if reason != "replaced":
            await self._floor_forget(session.site_id, "removed" if reason == "removed" else "left")
        if reason == "left":
            self.admitted.discard(session.site_id)  # left on purpose: a new arrival next time
        if reason in ("disconnected", "connection failed"):
            self._dropped_at[session.site_id] = time.monotonic()
        else:
            self._dropped_at.pop(session.site_id, None)
        await session.stop(reason)
        await self._event("left", session.site_id, reason)
        self.relayout()
        await self.broadcast_roster()

    def _session_state(self, session: SiteSession) -> None:
        self._spawn(self.broadcast_roster())  # the host's panel shows each site's connection state
        if session.pc.connectionState == "connected":
            self.relayout()
        elif session.pc.connectionState == "failed":
            self._spawn(self.leave(session, "connection failed"))

    def _audio_level(self, site: str, level: int) -> None:
        session = self.sessions.get(site)
        if session is not None and session.muted["audio"]:
            return  # a site that muted itself is not speaking, whatever its silent packets say
        self.speaker.update(site, level, time.monotonic())

    # ------------------------------------------------------------------------------------ layout

    async def _layout_loop(self) -> None:
        while not self._closed:
            self.relayout()
            now = time.monotonic()
            if now - self._media_checked >= MEDIA_CHECK_S:
                self._media_checked = now
                self._watch(now)
            await asyncio.sleep(LAYOUT_TICK_S)

    def _watch(self, now: float) -> None:
        """Mark sites whose media stopped, and tell everyone who is talking now (both change the tiles)."""
        lost_changed = False
        for site, s in self.sessions.items():
            s.watch_link(now)  # its layer; the next relayout (every LAYOUT_TICK_S) applies it
            if s.watch_media(now, MEDIA_LOST_S, MEDIA_FIRST_S):
                lost_changed = True
                logger.info("room %s site %s: media %s", self.policy.room_id, site,
                            "lost" if s.media_lost else "back")
                if s.media_lost:
                    self.speaker.remove(site)
        talking = {site for site in self.speaker.talking(now)
                   if site in self.sessions and not self.sessions[site].media_lost
                   and not self.sessions[site].muted["audio"] and not self.sessions[site].moderated["audio"]}
        if talking != self.talking:
            self.talking = talking
            self._notify_all({"type": "talking", "sites": sorted(talking)})
        if lost_changed:
            self._spawn(self.broadcast_roster())

    def relayout(self) -> None:
        """Point every slot of every session at the right source."""
        now = time.monotonic()
        host = self.policy.host_site
        speaker = self.speaker.evaluate(now, exclude=[host])
        if speaker != self.current_speaker:
            self.current_speaker = speaker
            self._notify_all({"type": "speaker", "site": speaker})
        for site, session in self.sessions.items():
            self._layout_session(site, session, now, speaker)

    def _source(self, site: str | None, name: str) -> Source | None:
        s = self.sessions.get(site) if site else None
        return s.sources.get(name) if s is not None else None

    def _layout_session(self, site: str, session: SiteSession, now: float, speaker: str | None) -> None:
        if session.state == "new":
            return  # no offer yet: its slots have no mids the site could be told about
        host = self.policy.host_site
        changes: dict[str, str | None] = {}

        def put(slot_name: str, who: str | None, source: Source | None) -> None:
            slot = session.slot(slot_name)
            if slot is None:
                return
            who = who if source is not None else None
            if session.assign(slot, who, source) and slot.mid is not None:
                changes[slot.mid] = who

        def put_site(slot_name: str, who: str | None, source_name: str) -> None:
            put(slot_name, who, self._source(who, source_name))

        high = session.wants_high

        def camera(who: str | None, wanted: bool) -> str:
            # The thumbnail only where wanted and where it flows: a site that publishes one layer (an older
            # page, an aiortc peer) is shown from its camera everywhere.
            return "video" if wanted or not self._thumb_flows(who, now) else "thumb"

        if session.is_host:
            spot = self.pinned or speaker  # the chair's main view: enlarged in its grid, in HD
            for slot in session.slots:
                if slot.name.startswith("site:"):
                    other = slot.name[5:]
                    who = other if other in self.sessions else None
                    put_site(slot.name, who, camera(who, high and other == spot))
        else:
            put_site("host", host if host in self.sessions else None, camera(host, high))
            who = self._speaker_for(site, session, speaker)
            put_site("speaker", who, camera(who, high))
            put_site("host-audio", host if host in self.sessions and host != site else None, "audio")
        screen = self.screen_site if self.screen_site != site else None
        if screen is None and self.presented is not None and not self.presented.closed:
            put("screen", f"camera:{self.presented.owner}", self.presented)
        else:
            put_site("screen", screen, "screen")
        audible = [s for s in self.speaker.audible(now, exclude=[site, host]) if s in self.sessions]
        for i in range(self.policy.audible_sites):
            put_site(f"audio:{i}", audible[i] if i < len(audible) else None, "audio")
        if changes:
            self._notify(session, {"type": "slots", "assign": changes})

    def _thumb_flows(self, site: str | None, now: float) -> bool:
        thumb = self._source(site, "thumb")
        return thumb is not None and thumb.frames > 0 and now - thumb.last_frame_at < THUMB_FRESH_S

    def send_assignments(self, session: SiteSession) -> None:
        """Send a site the full slot → site map (after its answer, so nothing sent earlier can be missed)."""
        self._notify(session, {"type": "slots", "assign": {s.mid: s.assigned for s in session.slots if s.mid}})

    def _speaker_for(self, site: str, session: SiteSession, speaker: str | None) -> str | None:
        """Pick the site shown in a site's speaker slot: pinned, else speaking, else keep, else anyone."""
        def ok(s: str | None) -> bool:
            return s is not None and s in self.sessions and s not in (site, self.policy.host_site)

        slot = session.slot("speaker")
        for candidate in (self.pinned, speaker, slot.assigned if slot else None):
            if ok(candidate):
                return candidate
        return next((s for s in self.sessions if ok(s)), None)

    # --------------------------------------------------------------------------------- moderation

    def present(self, source: Source | None) -> None:
        """Show an engine source (a camera) to every site in the presentation slot; None stops it."""
        if source is not None and source.codec != self.policy.video_codec:
            raise JoinRefused("codec_mismatch", f"the room sends {self.policy.video_codec}, the source "
                                                f"{source.codec}: it cannot be shown without transcoding")
        self.presented = source
        self.relayout()
        self._notify_all({"type": "screen", "site": f"camera:{source.owner}" if source else self.screen_site})

    def set_screen(self, site: str, on: bool) -> None:
        """Record that a site started or stopped sharing its screen (the latest sharer wins)."""
        if on:
            self.screen_site = site
        elif self.screen_site == site:
            self.screen_site = None
        self.relayout()
        self._notify_all({"type": "screen", "site": self.screen_site})

    def moderate_mute(self, site: str, kind: str, muted: bool) -> bool:
        """Stop or resume forwarding a site's audio or video; return False if the site is not here."""
        session = self.sessions.get(site)
        if session is None:
            return False
        self.moderation.setdefault(site, {})[kind] = muted
        self._apply_mute(session, kind, muted)
        self._spawn(self.broadcast_roster())
        return True

    def _apply_mute(self, session: SiteSession, kind: str, muted: bool) -> None:
        session.moderated[kind] = muted
        for name in ("audio",) if kind == "audio" else CAMERA_LAYERS:
            session.sources[name].set_enabled(not muted)
        self._notify(session, {"type": "moderation", "action": f"{'mute' if muted else 'unmute'}_{kind}"})

    def pin(self, site: str | None) -> None:
        """Spotlight a site in every speaker slot (None: follow the active speaker)."""
        self.pinned = site
        self.relayout()
        self._notify_all({"type": "pinned", "site": site})

    async def remove(self, site: str) -> bool:
        """Disconnect a site and keep it out until readmitted; return False if it is neither here nor waiting."""
        session = self.sessions.get(site)
        waiting = site in self.lobby.waiting
        if session is None and not waiting:
            return False
        self.removed.add(site)
        self.admitted.discard(site)
        if waiting:
            self.lobby.decide(site, False)
        if session is not None:
            await self.leave(session, "removed")
        else:
            await self.broadcast_roster()
        return True

    # -------------------------------------------------------------------------------------- floor

    async def hand(self, site: str, up: bool) -> None:
        """Queue or withdraw a site's request to speak."""
        now = time.time()
        if up:
            req = self.floor.request(site, now)
            if req is not None:
                await self._floor_log("opened", req, now)
        else:
            req = self.floor.withdraw(site)
            if req is not None:
                await self._floor_log("withdrawn", req, now)
        if req is not None:
            self._floor_changed()

    async def grant(self, site: str) -> bool:
        """Give a connected site the floor: unmute it and spotlight it; return False if it is not here."""
        if site not in self.sessions or site == self.policy.host_site:
            return False
        now = time.time()
        req, previous = self.floor.grant(site)
        if previous is not None:
            self._mute_turn(previous)
        if req is not None:
            await self._floor_log("granted", req, now)
        self.moderate_mute(site, "audio", False)
        self._notify(self.sessions[site], {"type": "moderation", "action": "granted"})
        self.pin(site)
        self._floor_changed()
        return True

    async def end_turn(self) -> str | None:
        """End the current speaker's turn (mute it again, follow the active speaker); return who spoke."""
        site, req = self.floor.end_turn()
        if site is None:
            return None
        if req is not None:
            await self._floor_log("spoke", req, time.time())
        self._mute_turn(site)
        session = self.sessions.get(site)
        if session is not None:
            self._notify(session, {"type": "moderation", "action": "turn_ended"})
        if self.pinned == site:
            self.pin(None)
        self._floor_changed()
        return site

    def _mute_turn(self, site: str) -> None:
        if site in self.sessions:
            self.moderate_mute(site, "audio", True)

    def set_mode(self, mode: Mode) -> None:
        """Switch between free discussion and chair-controlled speaking."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}")
        self.floor.mode = mode
        for site in list(self.sessions):
            if site != self.policy.host_site and site != self.floor.speaking:
                # Chaired: everyone but the chair and the speaker is muted; free: the mode's mutes are lifted.
                self.moderate_mute(site, "audio", mode == "chaired")
        logger.info("room %s: speaking mode %s", self.policy.room_id, mode)
        self._floor_changed()

    def mute_all(self) -> int:
        """Mute every site's microphone but the chair's; return how many were muted."""
        n = 0
        for site in list(self.sessions):
            if site != self.policy.host_site:
                n += self.moderate_mute(site, "audio", True)
        return n

    async def _floor_forget(self, site: str, outcome: str) -> None:
        now = time.time()
        gone = self.floor.forget(site)
        for req in gone:
            await self._floor_log(outcome, req, now)
        if gone:
            if self.pinned == site:
                self.pinned = None
            self._floor_changed()

    def _floor_changed(self) -> None:
        self._notify_all({"type": "floor", **self.floor.snapshot()})
        self._spawn(self.broadcast_roster())

    async def _floor_log(self, event: str, req: Request, at: float) -> None:
        if self._on_floor is not None:
            try:
                await self._on_floor(event, req, at)
            except Exception:
                logger.exception("room %s: logging the speaking request of %s failed", self.policy.room_id,
                                 req.site)

    # --------------------------------------------------------------------------------------- chat

    async def chat(self, site: str, text: str, to: str) -> ChatMessage:
        """Accept a chat message from a site and deliver it to who may read it; raise ChatRefused."""
        text = clean_text(text)
        wait_s = self._chat_rate.allow(site, time.monotonic())
        if wait_s:
            raise ChatRefused("chat_rate_limited", f"too many messages; wait {wait_s:.0f} s before the next")
        target = recipient(site, to, self.policy.host_site, set(self.sessions))
        msg = ChatMessage(0, time.time(), site, self.policy.sites.get(site, site), target, text)
        if self._on_chat is not None:
            msg_id = await self._on_chat(msg)
        else:
            self._chat_seq += 1
            msg_id = self._chat_seq
        msg = ChatMessage(msg_id, msg.at, msg.sender, msg.sender_name, msg.to, msg.text)
        self.chat_log.append(msg)
        wire = {"type": "chat", "message": msg.wire(self.policy.host_site)}
        for other, session in self.sessions.items():
            if msg.visible_to(other):
                self._notify(session, wire)
        return msg

    def chat_history(self, site: str) -> list[dict[str, Any]]:
        """Return the messages a site may read, oldest first."""
        return [m.wire(self.policy.host_site) for m in self.chat_log if m.visible_to(site)]

    async def end(self, reason: str = "ended") -> None:
        """End the meeting for everyone; idempotent."""
        if self._closed:
            return
        self._closed = True
        self.lobby.close()
        if self.votes is not None:
            try:
                await self.votes.room_ended()
            except Exception:
                logger.exception("room %s: closing the open vote failed", self.policy.room_id)
        if self._layout_task is not None:
            self._layout_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._layout_task
        sessions = list(self.sessions.values())
        self.sessions.clear()
        now = time.time()
        for req in [*self.floor.queue, *([self.floor.turn] if self.floor.turn else [])]:
            await self._floor_log("meeting ended", req, now)
        await asyncio.gather(*(s.stop(reason) for s in sessions), return_exceptions=True)
        for s in sessions:
            await self._event("left", s.site_id, reason)
        current = asyncio.current_task()
        pending = [t for t in self._tasks if t is not current]
        for t in pending:
            t.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    # ----------------------------------------------------------------------------------- messages

    def roster(self) -> list[dict[str, Any]]:
        """Return every member site with its live state."""
        out = []
        queued = {r.site for r in self.floor.queue}
        invited = self.policy.invited
        for site, name in self.policy.sites.items():
            s = self.sessions.get(site)
            out.append({
                "site": site, "name": name, "name_en": self.policy.names_en.get(site),
                "host": site == self.policy.host_site, "connected": s is not None,
                "connection": s.stats.connection if s else None,
                "muted": dict(s.muted) if s else None, "moderated": dict(s.moderated) if s else None,
                "sharing": self.screen_site == site,
                "media": None if s is None or s.state != "answered" else "lost" if s.media_lost else "ok",
                "hand": site in queued, "invited": invited is None or site in invited or site == self.policy.host_site,
                "speaking": site in self.talking,
            })
        return out

    def _lobby_list(self) -> list[dict[str, object]]:
        return self.lobby.snapshot(self.policy.sites, self.policy.names_en)

    async def broadcast_roster(self) -> None:
        """Send the roster to every connected site (the chair also gets the lobby and the removed sites)."""
        msg = {"type": "roster", "sites": self.roster(), "speaker": self.current_speaker,
               "pinned": self.pinned, "locked": self.locked, "mode": self.floor.mode,
               "floor": {k: v for k, v in self.floor.snapshot().items() if k != "mode"}}
        for site, session in self.sessions.items():
            if site == self.policy.host_site:
                self._notify(session, {**msg, "lobby": self._lobby_list(), "removed": sorted(self.removed)})
            else:
                self._notify(session, msg)

    def _notify(self, session: SiteSession, msg: dict[str, Any]) -> None:
        self._spawn(self._send_quietly(session, msg))

    def _spawn(self, coro: Awaitable[Any]) -> None:
        """Run a fire-and-forget step, keeping a reference so it is neither lost nor leaked at end()."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _notify_all(self, msg: dict[str, Any]) -> None:
        for session in self.sessions.values():
            self._notify(session, msg)

    @staticmethod
    async def _send_quietly(session: SiteSession, msg: dict[str, Any]) -> None:
        # Bounded in time, so a stalled client cannot pile up pending notifications.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(session.send(msg), NOTIFY_TIMEOUT_S)

    async def _event(self, event: str, site: str, detail: str | None) -> None:
        if self._on_event is not None:
            try:
                await self._on_event(event, site, detail)
            except Exception:
                logger.exception("room %s: recording %s of %s failed", self.policy.room_id, event, site)
