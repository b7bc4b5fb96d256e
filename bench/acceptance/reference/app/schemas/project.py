"""Validation of Project input: a JSON object in, the clean fields out, or ValidationError."""

from __future__ import annotations

from app.errors import ValidationError
from app.schemas.common import read_bool, read_int, read_text, require_object, unknown_fields

PROJECT_FIELDS = frozenset({"name", "owner_id", "archived"})


def validate_project(data: object, *, partial: bool = False) -> dict[str, object]:
    """The fields to create a project or, with ``partial``, to update one (only those given)."""
    body = require_object(data)
    errors = unknown_fields(body, PROJECT_FIELDS)
    required = not partial
    fields: dict[str, object | None] = {
        "name": read_text(body, "name", errors, required=required, max_length=100),
        "owner_id": read_int(body, "owner_id", errors, required=required, minimum=1),
        "archived": read_bool(body, "archived", errors),
    }
    if errors:
        raise ValidationError(errors)
    return {key: value for key, value in fields.items() if value is not None}
