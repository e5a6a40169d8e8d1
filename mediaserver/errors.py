"""The one base for errors that carry a machine-readable code for clients (API and signalling)."""

from __future__ import annotations


class CodedError(Exception):
    """An expected refusal: ``code`` is what clients switch on, ``message`` what people read."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
