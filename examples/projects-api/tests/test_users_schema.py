"""validate_user: what a client may send for a user."""

from __future__ import annotations

import pytest

from app.errors import ValidationError
from app.schemas.user import validate_user


def test_valid_input_gives_clean_fields() -> None:
    fields = validate_user({"name": " Ada ", "email": "ada@example.com"})

    assert fields == {"name": "Ada", "email": "ada@example.com"}


def test_missing_required_fields_are_each_reported() -> None:
    with pytest.raises(ValidationError) as caught:
        validate_user({})

    assert caught.value.details == {"name": "is required", "email": "is required"}


def test_id_and_unknown_fields_are_rejected() -> None:
    with pytest.raises(ValidationError) as caught:
        validate_user({"id": 7, "name": "Ada", "email": "ada@example.com", "role": "admin"})

    assert set(caught.value.details) == {"id", "role"}


def test_wrong_types_are_rejected() -> None:
    with pytest.raises(ValidationError) as caught:
        validate_user({"name": 3, "email": "no-at-sign", "active": "yes"})

    assert set(caught.value.details) == {"name", "email", "active"}


def test_partial_update_accepts_any_subset() -> None:
    assert validate_user({"active": False}, partial=True) == {"active": False}


def test_body_must_be_an_object() -> None:
    with pytest.raises(ValidationError):
        validate_user(["Ada"])
