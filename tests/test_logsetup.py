"""Logging setup: the libraries that flood INFO are quiet unless DEBUG was asked for."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import logging, sys
from mediaserver.logsetup import setup_logging
setup_logging(sys.argv[1])
logging.getLogger("aioice.ice").info("candidate pair check")
logging.getLogger("mediaserver.app").info("app line")
"""


def _stderr(level: str) -> str:
    r = subprocess.run([sys.executable, "-c", PROBE, level], capture_output=True, text=True, timeout=60, check=True)
    return r.stderr


def test_aioice_info_is_dropped_at_info_level() -> None:
    out = _stderr("INFO")
    assert "app line" in out and "candidate pair check" not in out


def test_debug_level_keeps_aioice() -> None:
    out = _stderr("DEBUG")
    assert "app line" in out and "candidate pair check" in out
