"""Paging helpers for list endpoints."""

from __future__ import annotations

MIN_LIMIT = 1
MAX_LIMIT = 100


def clamp_limit(value: int) -> int:
    """``value`` limited to 1..100."""
    return max(MIN_LIMIT, min(MAX_LIMIT, value))


def page_offset(page: int, limit: int) -> int:
    """The index of the first item of ``page`` (1-based; pages below 1 count as 1)."""
    return (max(page, 1) - 1) * limit
