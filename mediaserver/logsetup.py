"""Structured logging: text for people at a terminal, JSON lines for collectors."""

from __future__ import annotations

import json
import logging
import sys
import time

CHATTY_LOGGERS = ("aioice", "aiortc", "zeep", "httpx")


class JsonFormatter(logging.Formatter):
    """Format each record as one JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as a JSON line."""
        out = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def setup_logging(level: str = "INFO", fmt: str = "text") -> None:
    """Configure the root logger once for the process."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    quiet = logging.WARNING if level != "DEBUG" else logging.DEBUG
    logging.getLogger("aiohttp.access").setLevel(quiet)
    # aioice logs every candidate pair and check at INFO (most of a meeting's log): keep it for DEBUG runs.
    for chatty in CHATTY_LOGGERS:
        logging.getLogger(chatty).setLevel(quiet)
