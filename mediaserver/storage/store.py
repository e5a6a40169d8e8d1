"""The storage index: one database and a repository per kind of record."""

from __future__ import annotations

from mediaserver.storage.audit import AuditRepo
from mediaserver.storage.cameras import CameraRepo
from mediaserver.storage.db import Database
from mediaserver.storage.jobs import JobRepo
from mediaserver.storage.meetings import MeetingRepo
from mediaserver.storage.segments import ExportRepo, HoldRepo, MotionEventRepo, SegmentRepo
from mediaserver.storage.service_tokens import ServiceTokenRepo
from mediaserver.storage.sites import RoomRepo, SiteRepo
from mediaserver.storage.users import TokenRepo, UserRepo


class Store:
    """The storage index: one database and a repository per kind of record."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.users = UserRepo(db)
        self.tokens = TokenRepo(db)
        self.sites = SiteRepo(db)
        self.rooms = RoomRepo(db)
        self.cameras = CameraRepo(db)
        self.segments = SegmentRepo(db)
        self.events = MotionEventRepo(db)
        self.holds = HoldRepo(db)
        self.exports = ExportRepo(db)
        self.jobs = JobRepo(db)
        self.audit = AuditRepo(db)
        self.meetings = MeetingRepo(db)
        self.service_tokens = ServiceTokenRepo(db)
        # Imported here: review.py and documents.py import from mediaserver.storage.repos, which imports this
        # module, so top-level imports would be circular. New repositories: add one line each below.
        from mediaserver.storage.review import ReviewRepo

        self.review = ReviewRepo(db)
        from mediaserver.storage.documents import DocumentRepo

        self.documents = DocumentRepo(db)
        from mediaserver.storage.votes import VoteRepo  # V (votes)

        self.votes = VoteRepo(db)
        from mediaserver.storage.minutes import MinutesRepo

        self.minutes = MinutesRepo(db)
