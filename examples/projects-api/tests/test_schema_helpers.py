"""The readers in app.schemas.common that every schema builds on."""

from __future__ import annotations

from app.schemas.common import read_int, read_text


def test_read_int_rejects_booleans_and_values_below_minimum() -> None:
    errors: dict[str, str] = {}
    body: dict[str, object] = {"count": 3, "flag": True, "low": 0}

    assert read_int(body, "count", errors, minimum=1) == 3
    assert read_int(body, "flag", errors) is None
    assert read_int(body, "low", errors, minimum=1) is None
    assert read_int(body, "absent", errors, required=True) is None
    assert errors == {
        "flag": "must be an integer",
        "low": "must be at least 1",
        "absent": "is required",
    }


def test_read_text_strips_and_limits_length() -> None:
    errors: dict[str, str] = {}
    body: dict[str, object] = {"short": "  hi  ", "long": "x" * 11}

    assert read_text(body, "short", errors, max_length=10) == "hi"
    assert read_text(body, "long", errors, max_length=10) is None
    assert errors == {"long": "must be at most 10 characters"}
