"""How route writes money and shares, everywhere (reports, tables, the cost commands):
``$0.0123``, ``-$0.0012`` (the sign before the dollar sign), ``12.5%``."""

from __future__ import annotations


def dollars(amount: float) -> str:
    """``-$0.0012``; a negative amount that rounds to zero is ``$0.0000`` (no ``-$0.0000``)."""
    text = f"{abs(amount):,.4f}"
    sign = "-" if amount < 0 and text.strip("0.,") else ""
    return f"{sign}${text}"


def percent(value: float, decimals: int = 1) -> str:
    return f"{value:.{decimals}f}%"
