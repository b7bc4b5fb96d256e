"""Acceptance (hidden from the model): clamp_limit and page_offset in app/schemas/paging.py."""

from __future__ import annotations

from app.schemas.paging import clamp_limit, page_offset


def test_clamp_limit_keeps_1_to_100() -> None:
    values = (-5, 0, 1, 50, 100, 101, 10_000)

    assert [clamp_limit(v) for v in values] == [1, 1, 1, 50, 100, 100, 100]


def test_page_offset_counts_from_page_one() -> None:
    assert page_offset(1, 20) == 0
    assert page_offset(3, 20) == 40
    assert page_offset(0, 20) == 0
