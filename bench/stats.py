"""Pure helpers of the harness: statistics, the linearity check, ratios and the results table."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

# A stream handler is called linear when a straight line explains the timings well and the
# marginal cost per token at the large end is not much above the one at the small end.
MIN_R_SQUARED = 0.98
MAX_SLOPE_GROWTH = 1.5


@dataclass(frozen=True, slots=True)
class LinearFit:
    """``y = intercept + slope * x`` by least squares, with its coefficient of determination."""

    intercept: float
    slope: float
    r_squared: float


def median(values: Sequence[float]) -> float:
    """The median; ValueError on an empty sequence (a benchmark with no sample is a bug)."""
    if not values:
        raise ValueError("median of no values")
    return float(statistics.median(values))


def ratio(numerator: float, denominator: float) -> float | None:
    """``numerator / denominator``, or None when the denominator is not positive."""
    if denominator <= 0:
        return None
    return numerator / denominator


def linear_fit(xs: Sequence[float], ys: Sequence[float]) -> LinearFit:
    """Least-squares line through the points; needs at least two distinct x values."""
    if len(xs) != len(ys):
        raise ValueError(f"{len(xs)} x values but {len(ys)} y values")
    if len(set(xs)) < 2:
        raise ValueError("a line needs at least two distinct x values")
    mean_x = statistics.fmean(xs)
    mean_y = statistics.fmean(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread
    intercept = mean_y - slope * mean_x
    total = sum((y - mean_y) ** 2 for y in ys)
    residual = sum((y - (intercept + slope * x)) ** 2 for x, y in zip(xs, ys, strict=True))
    r_squared = 1.0 - residual / total if total > 0 else 1.0
    return LinearFit(intercept=intercept, slope=slope, r_squared=r_squared)


def slope_growth(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Marginal cost per unit between the two largest points over that between the two smallest
    (1.0 for a straight line, above 1 when cost grows faster than linearly); None if undefined."""
    points = sorted(zip(xs, ys, strict=True))
    if len(points) < 3:
        return None
    (x0, y0), (x1, y1) = points[0], points[1]
    (x2, y2), (x3, y3) = points[-2], points[-1]
    small = (y1 - y0) / (x1 - x0) if x1 != x0 else 0.0
    large = (y3 - y2) / (x3 - x2) if x3 != x2 else 0.0
    return ratio(large, small)


def is_linear(xs: Sequence[float], ys: Sequence[float]) -> bool:
    """True when the timings grow linearly (see MIN_R_SQUARED and MAX_SLOPE_GROWTH)."""
    fit = linear_fit(xs, ys)
    growth = slope_growth(xs, ys)
    if fit.r_squared < MIN_R_SQUARED:
        return False
    return growth is None or growth <= MAX_SLOPE_GROWTH


def percent(part: float, whole: float) -> float | None:
    """``100 * part / whole``, or None when ``whole`` is not positive."""
    value = ratio(part, whole)
    return None if value is None else 100.0 * value


def format_number(value: object, digits: int = 2) -> str:
    """A table cell: None as an em dash, floats rounded, booleans as yes/no."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table (Markdown pipe syntax) with every cell formatted by format_number."""
    cells = [[format_number(value) for value in row] for row in rows]
    for row in cells:
        if len(row) != len(headers):
            raise ValueError(f"row {row} has {len(row)} cells for {len(headers)} headers")
    widths = [len(header) for header in headers]
    for row in cells:
        widths = [max(width, len(cell)) for width, cell in zip(widths, row, strict=True)]

    def line(values: Sequence[str]) -> str:
        padded = (value.ljust(width) for value, width in zip(values, widths, strict=True))
        return "| " + " | ".join(padded) + " |"

    separator = "|" + "|".join("-" * (width + 2) for width in widths) + "|"
    return "\n".join([line(list(headers)), separator, *(line(row) for row in cells)])
