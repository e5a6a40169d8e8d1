"""The storage index: an async repository layer over SQLite (WAL, foreign keys, versioned migrations)."""

from mediaserver.storage.db import Database, MigrationError
from mediaserver.storage.repos import Conflict, NotFound, Store

__all__ = ["Conflict", "Database", "MigrationError", "NotFound", "Store"]
