"""mediaserver: one machine for district video conferences and campus CCTV."""

__version__ = "0.1.0"
