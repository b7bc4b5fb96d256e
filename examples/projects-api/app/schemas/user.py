"""Validation of User input: a JSON object in, the clean fields out, or ValidationError."""

from __future__ import annotations

from app.errors import ValidationError
from app.schemas.common import read_bool, read_text, require_object, unknown_fields

USER_FIELDS = frozenset({"name", "email", "active"})


def validate_user(data: object, *, partial: bool = False) -> dict[str, object]:
    """The fields to create a user or, with ``partial``, to update one (only those given)."""
    body = require_object(data)
    errors = unknown_fields(body, USER_FIELDS)
    required = not partial
    fields: dict[str, object | None] = {
        "name": read_text(body, "name", errors, required=required, max_length=100),
        "email": read_text(body, "email", errors, required=required, max_length=200),
        "active": read_bool(body, "active", errors),
    }
    email = fields["email"]
    if isinstance(email, str) and "@" not in email:
        errors["email"] = "must be an email address"
    if errors:
        raise ValidationError(errors)
    return {key: value for key, value in fields.items() if value is not None}
