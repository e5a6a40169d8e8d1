"""What goes into a meeting's minutes (biên bản): gathered from the index once, as plain data for the renderer.

Everything the PDF shows comes from here: the scheduled meeting (title, agenda, chair, room), the roll call
(the same computation as the attendance page, ``attendance_for``), speaking turns, votes with their counts,
documents, the chat when staff chose to include it, the staff's conclusions, and the meeting's recordings
grouped by site and track, each with its files' SHA-256 (hashed in a worker thread, a file at a time, in
1 MiB chunks: a two-hour meeting of 21 sites is tens of thousands of segment files and gigabytes).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from mediaserver.api.scheduled import attendance_for
from mediaserver.app_keys import STORE_KEY
from mediaserver.storage.meetings import Meeting
from mediaserver.storage.repos import Segment
from mediaserver.storage.votes import VoteRepo
from recordings.export import file_sha256

MISSING = "—"  # a recording file listed in the index but not on disk: shown, never hashed


def nfc(text: str) -> str:
    """Return text in NFC: each Vietnamese letter one precomposed glyph (the font has them; no shaping needed)."""
    return unicodedata.normalize("NFC", text)


@dataclass(frozen=True, slots=True)
class AttendanceRow:
    site_id: str
    name: str
    status: str  # present / late / absent / pending
    first_join_at: float | None
    last_leave_at: float | None
    minutes_present: float
    absence_reason: str | None


@dataclass(frozen=True, slots=True)
class TurnRow:
    site_name: str
    requested_at: float
    granted_at: float | None
    ended_at: float | None
    outcome: str | None


@dataclass(frozen=True, slots=True)
class VoteRow:
    text: str
    opened_at: float
    closed_at: float | None
    yes: int
    no: int
    abstain: int
    secret: bool
    not_voted: tuple[str, ...]  # site names
    ballots: tuple[tuple[str, str], ...]  # (site name, choice), empty for a secret vote


@dataclass(frozen=True, slots=True)
class DocumentRow:
    title: str
    filename: str
    size: int
    sha256: str
    pages: int | None


@dataclass(frozen=True, slots=True)
class ChatRow:
    at: float
    from_name: str
    to_name: str | None  # None: to everyone
    text: str


@dataclass(frozen=True, slots=True)
class RecordingFile:
    path: str  # relative to data_dir
    bytes: int
    sha256: str  # MISSING when the file is gone


@dataclass(frozen=True, slots=True)
class RecordingRow:
    """One site's track of a held session: its files, in time order."""

    room_session_id: int
    site_name: str
    track: str
    start_at: float
    end_at: float
    files: tuple[RecordingFile, ...]

    @property
    def bytes(self) -> int:
        """Return the total size of the files."""
        return sum(f.bytes for f in self.files)

    @property
    def listing(self) -> str:
        """Return the files as ``sha256sum`` lines (what ``sha256sum -c`` checks in data_dir)."""
        return "".join(f"{f.sha256}  {f.path}\n" for f in self.files)

    @property
    def digest(self) -> str:
        """Return the SHA-256 of the listing: one value that changes if any file of the track changes."""
        return hashlib.sha256(self.listing.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class MinutesContent:
    """Everything one version of the minutes shows."""

    meeting_id: int
    title: str
    agenda: str
    room_name: str
    chair_name: str
    organisation: str
    location: str
    timezone: str
    starts_at: float
    ends_at: float
    held_from: float | None  # first held session's start
    held_until: float | None
    attendance: tuple[AttendanceRow, ...]
    counts: dict[str, int]
    turns: tuple[TurnRow, ...]
    votes: tuple[VoteRow, ...]
    documents: tuple[DocumentRow, ...]
    chat: tuple[ChatRow, ...] | None  # None: not included
    recordings: tuple[RecordingRow, ...]
    conclusions: str
    version: int
    issued_at: float
    issued_by: str
    signed: bool  # False: issued without a digital signature (signing.backend none)
    demo_signature: bool = False  # signed with the test-only demo certificate
    notes: tuple[str, ...] = field(default=())

    @property
    def recording_listing(self) -> str:
        """Return every recording file as ``sha256sum`` lines."""
        return "".join(r.listing for r in self.recordings)


Progress = Callable[[float], None]


def _hash_files(data_dir: Path, segments: list[Segment], progress: Progress | None) -> list[RecordingFile]:
    """Hash each segment file (blocking); report the share of bytes done."""
    total = max(1, sum(s.bytes for s in segments))
    done = 0
    out = []
    for seg in segments:
        path = data_dir / seg.path
        try:
            digest = file_sha256(path)
            size = path.stat().st_size
        except OSError:
            digest, size = MISSING, seg.bytes
        out.append(RecordingFile(seg.path, size, digest))
        done += seg.bytes
        if progress is not None:
            progress(min(1.0, done / total))
    return out


async def gather(app: web.Application, meeting: Meeting, *, conclusions: str, include_chat: bool, version: int,
                 issued_by: str, signed: bool, demo_signature: bool, organisation: str | None, location: str,
                 timezone: str, data_dir: Path, progress: Progress | None = None) -> MinutesContent:
    """Collect a meeting's minutes from the index (file hashing in a worker thread)."""
    store = app[STORE_KEY]
    sites = {s.id: s for s in await store.sites.all(include_inactive=True)}

    def site_name(site_id: str) -> str:
        s = sites.get(site_id)
        return nfc(s.name) if s else site_id

    room = await store.rooms.get(meeting.room_id)
    roll = await attendance_for(app, meeting)
    held = (await store.meetings.held([meeting.id])).get(meeting.id)
    session_ids = await store.meetings.session_ids(meeting.id)
    turns = await store.minutes.speaking_turns(session_ids)
    tallies = await VoteRepo(store.db).for_meeting(meeting.id)
    documents = await store.documents.for_meeting(meeting.id)
    chat = await store.meetings.chat(session_ids) if include_chat else None
    segments: list[Segment] = []
    for sid in session_ids:
        segments += await store.segments.for_session(sid)
    files = await asyncio.to_thread(_hash_files, data_dir, segments, progress)
    groups: dict[tuple[int, str, str], list[tuple[Segment, RecordingFile]]] = {}
    for seg, f in zip(segments, files, strict=True):
        key = (seg.room_session_id or 0, seg.site_id or seg.camera_id or "", seg.track)
        groups.setdefault(key, []).append((seg, f))
    recordings = tuple(
        RecordingRow(sid, site_name(site), track, min(s.start_at for s, _ in rows), max(s.end_at for s, _ in rows),
                     tuple(f for _, f in sorted(rows, key=lambda r: r[0].start_at)))
        for (sid, site, track), rows in sorted(groups.items()))
    return MinutesContent(
        meeting_id=meeting.id, title=nfc(meeting.title), agenda=nfc(meeting.agenda),
        room_name=nfc(room.name) if room else meeting.room_id, chair_name=site_name(meeting.chair_site_id),
        organisation=nfc(organisation or site_name(room.host_site_id if room else meeting.chair_site_id)),
        location=nfc(location), timezone=timezone, starts_at=meeting.starts_at, ends_at=meeting.ends_at,
        held_from=held[0] if held else None, held_until=held[1] if held else None,
        attendance=tuple(
            AttendanceRow(i.site_id, nfc(i.name), i.status, _ts(i.first_join_at), _ts(i.last_leave_at),
                          i.minutes_present, nfc(i.absence_reason) if i.absence_reason else None)
            for i in roll.items),
        counts=dict(roll.counts),
        turns=tuple(TurnRow(site_name(t.site_id), t.requested_at, t.granted_at, t.ended_at, t.outcome)
                    for t in turns),
        votes=tuple(
            VoteRow(nfc(t.question.text), t.question.opened_at, t.question.closed_at, t.yes, t.no, t.abstain,
                    getattr(t.question, "secret", False), tuple(site_name(s) for s in t.not_voted),
                    tuple((site_name(s), c) for s, c in sorted(t.ballots.items(), key=lambda kv: site_name(kv[0]))))
            for t in tallies),
        documents=tuple(DocumentRow(nfc(d.title), nfc(d.filename), d.size, d.sha256, getattr(d, "pages", None))
                        for d in documents),
        chat=None if chat is None else tuple(
            ChatRow(c.at, site_name(c.from_site), None if c.to_site is None else site_name(c.to_site), nfc(c.text))
            for c in chat),
        recordings=recordings, conclusions=nfc(conclusions), version=version, issued_at=time.time(),
        issued_by=issued_by, signed=signed, demo_signature=demo_signature,
    )


def _ts(iso_text: str | None) -> float | None:
    from datetime import datetime

    return None if iso_text is None else datetime.fromisoformat(iso_text).timestamp()
