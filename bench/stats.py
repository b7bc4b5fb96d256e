"""Pure helpers of the harness: statistics, the linearity check, ratios and the results table."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

# A stream handler is called linear when a fitted quadratic term explains at most this share of
# its size-dependent time at the largest size. Using every point (not the two smallest, whose
# difference is within process-start noise) keeps the check meaningful on a noisy machine.
MAX_QUADRATIC_SHARE = 0.25


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


def quadratic_share(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Fit ``y = a + b*x + c*x**2`` by least squares and return ``c*X**2 / (b*X + c*X**2)`` at
    ``X = max(xs)``: the share of the size-dependent time at the largest size that the square
    term explains. 0.0 for a straight line or a curve that bends down, near 1.0 when the cost
    grows with the square; None with fewer than 3 distinct sizes or no size-dependent time."""
    if len(xs) != len(ys):
        raise ValueError(f"{len(xs)} x values but {len(ys)} y values")
    if len(set(xs)) < 3:
        return None
    largest = max(xs)
    scaled = [x / largest for x in xs]  # keeps the normal equations well conditioned
    powers = [sum(x**k for x in scaled) for k in range(5)]
    matrix = [[powers[row + column] for column in range(3)] for row in range(3)]
    vector = [sum(y * x**row for x, y in zip(scaled, ys, strict=True)) for row in range(3)]
    _, linear, square = _solve3(matrix, vector)
    growing = linear + square  # the size-dependent time at x = 1 (the largest size)
    if growing <= 0:
        return None
    return max(0.0, square) / max(growing, square, 0.0)


def _solve3(matrix: list[list[float]], vector: list[float]) -> tuple[float, float, float]:
    """Gaussian elimination with partial pivoting for a 3x3 system."""
    rows = [[*matrix[i], vector[i]] for i in range(3)]
    for column in range(3):
        pivot = max(range(column, 3), key=lambda row: abs(rows[row][column]))
        rows[column], rows[pivot] = rows[pivot], rows[column]
        if rows[column][column] == 0:
            raise ValueError("the sizes do not determine a quadratic fit")
        for row in range(column + 1, 3):
            factor = rows[row][column] / rows[column][column]
            rows[row] = [
                value - factor * top for value, top in zip(rows[row], rows[column], strict=True)
            ]
    solution = [0.0, 0.0, 0.0]
    for row in (2, 1, 0):
        known = sum(rows[row][column] * solution[column] for column in range(row + 1, 3))
        solution[row] = (rows[row][3] - known) / rows[row][row]
    return solution[0], solution[1], solution[2]


def is_linear(xs: Sequence[float], ys: Sequence[float]) -> bool:
    """True when the timings grow linearly: a square term explains at most
    ``MAX_QUADRATIC_SHARE`` of the size-dependent time at the largest size."""
    share = quadratic_share(xs, ys)
    return share is not None and share <= MAX_QUADRATIC_SHARE


def break_even(route: LinearFit, bare: LinearFit, tolerance: float) -> float | None:
    """The size from which ``route`` takes at most ``(1 + tolerance)`` times ``bare``'s time
    (both straight lines); 0.0 when it always does, None when it never does."""
    allowed_slope = (1 + tolerance) * bare.slope - route.slope
    allowed_intercept = (1 + tolerance) * bare.intercept - route.intercept
    if allowed_intercept >= 0 and allowed_slope >= 0:
        return 0.0
    if allowed_slope <= 0:
        return None
    return -allowed_intercept / allowed_slope


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
