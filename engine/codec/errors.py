"""The one error the codec raises for bytes it cannot turn into a record."""

from __future__ import annotations


class DecodeError(ValueError):
    """Carries the reason and the original bytes, so the runtime can dead-letter the record."""

    def __init__(self, reason: str, data: bytes) -> None:
        super().__init__(reason)
        self.reason = reason
        self.data = data
