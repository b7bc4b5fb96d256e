"""Acceptance (hidden from the model): validate_project of scaffold section 2."""

from __future__ import annotations

import pytest

from app.errors import ValidationError
from app.schemas.project import PROJECT_FIELDS, validate_project


def test_fields_listed_without_id() -> None:
    assert set(PROJECT_FIELDS) == {"name", "owner_id", "archived"}


def test_valid_input_gives_clean_fields() -> None:
    assert validate_project({"name": " Apollo ", "owner_id": 3}) == {
        "name": "Apollo",
        "owner_id": 3,
    }


def test_required_fields_on_create_only() -> None:
    with pytest.raises(ValidationError) as caught:
        validate_project({})
    assert set(caught.value.details) == {"name", "owner_id"}
    assert validate_project({"archived": True}, partial=True) == {"archived": True}


def test_bad_values_and_unknown_fields_are_rejected() -> None:
    with pytest.raises(ValidationError) as caught:
        validate_project({"id": 1, "name": "x" * 101, "owner_id": "3", "archived": "no", "a": 1})
    assert set(caught.value.details) == {"id", "name", "owner_id", "archived", "a"}
