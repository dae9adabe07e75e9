"""Opaque page cursors: a row id a client may hold without learning anything from it.

A pull API's cursor is the id of the last row seen. Handed out as it is, a bigserial tells a
partner how many rows the whole platform wrote between two of its calls (its volume). The cursor
is therefore the id under a keyed permutation of the 64-bit integers: a four-round Feistel network
whose round function is HMAC-SHA256 (the Luby-Rackoff construction, a pseudo-random permutation),
written as 11 base64url characters. The stdlib has all it needs; the suite has no other use for a
cryptography package, so none is added for this.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct

_ROUNDS = 4
_MASK32 = 0xFFFF_FFFF


class InvalidCursor(ValueError):
    """Not a cursor this service handed out."""


class CursorCipher:
    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("a cursor key has at least 128 bits")
        self._key = key

    def _round(self, n: int, half: int) -> int:
        digest = hmac.new(self._key, struct.pack(">BI", n, half), hashlib.sha256).digest()
        return int.from_bytes(digest[:4], "big")

    def encode(self, row_id: int) -> str:
        if not 0 <= row_id < 2**64:
            raise ValueError(f"a cursor holds a 64-bit unsigned id, not {row_id}")
        left, right = row_id >> 32, row_id & _MASK32
        for n in range(_ROUNDS):
            left, right = right, left ^ self._round(n, right)
        return base64.urlsafe_b64encode(struct.pack(">II", left, right)).rstrip(b"=").decode()

    def decode(self, cursor: str) -> int:
        if len(cursor) != 11:
            raise InvalidCursor(cursor)
        try:
            raw = base64.b64decode(cursor.encode("ascii") + b"=", altchars=b"-_", validate=True)
        except (ValueError, UnicodeEncodeError) as exc:
            raise InvalidCursor(cursor) from exc
        if len(raw) != 8:
            raise InvalidCursor(cursor)
        left, right = int.from_bytes(raw[:4], "big"), int.from_bytes(raw[4:], "big")
        for n in reversed(range(_ROUNDS)):
            left, right = right ^ self._round(n, left), left
        return (left << 32) | right
