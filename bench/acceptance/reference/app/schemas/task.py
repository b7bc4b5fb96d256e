"""Validation of Task input: a JSON object in, the clean fields out, or ValidationError."""

from __future__ import annotations

from app.errors import ValidationError
from app.schemas.common import read_bool, read_int, read_text, require_object, unknown_fields

TASK_FIELDS = frozenset({"title", "project_id", "done"})


def validate_task(data: object, *, partial: bool = False) -> dict[str, object]:
    """The fields to create a task or, with ``partial``, to update one (only those given)."""
    body = require_object(data)
    errors = unknown_fields(body, TASK_FIELDS)
    required = not partial
    fields: dict[str, object | None] = {
        "title": read_text(body, "title", errors, required=required, max_length=200),
        "project_id": read_int(body, "project_id", errors, required=required, minimum=1),
        "done": read_bool(body, "done", errors),
    }
    if errors:
        raise ValidationError(errors)
    return {key: value for key, value in fields.items() if value is not None}
