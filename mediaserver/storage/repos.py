"""The storage layer's public names, re-exported: ``from mediaserver.storage.repos import Store, Segment`` works.

Each domain's records and SQL (for both engines) live in their own module: ``users`` (users, tokens),
``sites`` (sites, rooms, held meetings), ``cameras``, ``segments`` (segments, motion events, holds, exports),
``jobs``, ``audit``, ``meetings`` (scheduled meetings), ``service_tokens``, ``review``, ``documents``; ``store``
holds ``Store``, which gives every repository on one ``Database``.
"""

from __future__ import annotations

from mediaserver.storage.audit import AuditEntry, AuditRepo
from mediaserver.storage.base import Conflict, NotFound
from mediaserver.storage.cameras import Camera, CameraRepo, Outage
from mediaserver.storage.jobs import Job, JobRepo, JobRun
from mediaserver.storage.segments import (
    EVENT_LOOKBACK_S,
    SEGMENT_LOOKBACK_S,
    EvidenceHold,
    Export,
    ExportRepo,
    HoldRepo,
    MotionEvent,
    MotionEventRepo,
    Segment,
    SegmentRepo,
)
from mediaserver.storage.sites import Room, RoomRepo, RoomSession, Site, SiteRepo
from mediaserver.storage.store import Store
from mediaserver.storage.users import ROLES, TokenRecord, TokenRepo, User, UserRepo

__all__ = [
    "EVENT_LOOKBACK_S", "ROLES", "SEGMENT_LOOKBACK_S", "AuditEntry", "AuditRepo", "Camera", "CameraRepo", "Conflict",
    "EvidenceHold", "Export", "ExportRepo", "HoldRepo", "Job", "JobRepo", "JobRun", "MotionEvent", "MotionEventRepo",
    "NotFound", "Outage", "Room", "RoomRepo", "RoomSession", "Segment", "SegmentRepo", "Site", "SiteRepo", "Store",
    "TokenRecord", "TokenRepo", "User", "UserRepo",
]
