"""Readers shared by every schema. Each records a message in ``errors`` instead of raising,
so one response can list every bad field."""

from __future__ import annotations

from app.errors import ValidationError


def require_object(data: object) -> dict[str, object]:
    """The request body as a JSON object, or ValidationError."""
    if not isinstance(data, dict):
        raise ValidationError({"body": "must be a JSON object"})
    return data


def unknown_fields(body: dict[str, object], allowed: frozenset[str]) -> dict[str, str]:
    """An error for each key that is not allowed; ``id`` is never accepted from input."""
    errors: dict[str, str] = {}
    for key in body:
        if key == "id":
            errors[key] = "is assigned by the server"
        elif key not in allowed:
            errors[key] = "is not a known field"
    return errors


def read_text(
    body: dict[str, object],
    key: str,
    errors: dict[str, str],
    *,
    required: bool = False,
    max_length: int = 200,
) -> str | None:
    """A non-empty string of at most ``max_length`` characters (stripped), or None."""
    value = body.get(key)
    if value is None:
        if required:
            errors[key] = "is required"
        return None
    if not isinstance(value, str) or not value.strip():
        errors[key] = "must be a non-empty string"
        return None
    if len(value.strip()) > max_length:
        errors[key] = f"must be at most {max_length} characters"
        return None
    return value.strip()


def read_bool(
    body: dict[str, object], key: str, errors: dict[str, str], *, required: bool = False
) -> bool | None:
    """true or false, or None."""
    value = body.get(key)
    if value is None:
        if required:
            errors[key] = "is required"
        return None
    if not isinstance(value, bool):
        errors[key] = "must be true or false"
        return None
    return value


def read_int(
    body: dict[str, object],
    key: str,
    errors: dict[str, str],
    *,
    required: bool = False,
    minimum: int = 0,
) -> int | None:
    """An integer of at least ``minimum`` (true/false are not integers), or None."""
    value = body.get(key)
    if value is None:
        if required:
            errors[key] = "is required"
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        errors[key] = "must be an integer"
        return None
    if value < minimum:
        errors[key] = f"must be at least {minimum}"
        return None
    return value
