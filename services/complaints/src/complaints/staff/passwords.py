"""Password hashing: argon2id (argon2-cffi, RFC 9106's low-memory profile by default), off the
event loop. A wrong login costs the same as a wrong password: it is checked against a hash of
its own, so the time of an answer does not tell whether a login exists."""

from __future__ import annotations

import asyncio
import secrets

from argon2 import PasswordHasher as Argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


class Passwords:
    def __init__(self, hasher: Argon2 | None = None) -> None:
        self._hasher = hasher or Argon2()
        self._decoy = self._hasher.hash(secrets.token_urlsafe(16))

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, _bytes(password))

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        """Whether `password` is the one `stored_hash` was made from; with no hash (no such
        login), the same work against a decoy and False."""
        target = stored_hash if stored_hash is not None else self._decoy
        try:
            matched = await asyncio.to_thread(self._hasher.verify, target, _bytes(password))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        return bool(matched) and stored_hash is not None

    def needs_rehash(self, stored_hash: str) -> bool:
        """Whether the hash was made with other parameters than today's (then it is made again
        at the next sign-in, when the password is at hand)."""
        try:
            return self._hasher.check_needs_rehash(stored_hash)
        except InvalidHashError:
            return True


def _bytes(password: str) -> bytes:
    # Any text a client can send (JSON may carry a lone surrogate) hashes without an error.
    return password.encode("utf-8", "surrogatepass")
