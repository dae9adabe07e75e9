"""Opaque cursors: they give back the id they were made from, and nothing about it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vas_common.cursors import CursorCipher, InvalidCursor

KEY = bytes(range(32))


@given(st.integers(min_value=0, max_value=2**64 - 1))
def test_a_cursor_gives_back_its_id(row_id: int) -> None:
    cipher = CursorCipher(KEY)
    cursor = cipher.encode(row_id)
    assert len(cursor) == 11
    assert cipher.decode(cursor) == row_id


def test_neighbouring_ids_give_unrelated_cursors_and_another_key_reads_nothing() -> None:
    cipher, other = CursorCipher(KEY), CursorCipher(bytes(reversed(range(32))))
    cursors = [cipher.encode(n) for n in range(1000, 1010)]
    assert len(set(cursors)) == 10
    assert cursors != sorted(cursors)  # not in the order of the ids
    assert all(str(n) not in c for n, c in zip(range(1000, 1010), cursors, strict=True))
    assert [other.decode(c) for c in cursors] != list(range(1000, 1010))


@pytest.mark.parametrize("text", ["", "short", "AAAAAAAAAAAA", "AAAA!AAAAAA", "AAAAAAAAAA=", "ÄAAAAAAAAAA"])
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(InvalidCursor):
        CursorCipher(KEY).decode(text)
