"""Acceptance (hidden from the model): the Project model of scaffold section 1."""

from __future__ import annotations

import dataclasses

import pytest

from app.models.project import Project


def test_fields_in_order_with_the_default() -> None:
    fields = [(field.name, field.default) for field in dataclasses.fields(Project)]

    assert [name for name, _ in fields] == ["id", "name", "owner_id", "archived"]
    assert fields[3][1] is False


def test_frozen_and_to_dict() -> None:
    project = Project(id=1, name="Apollo", owner_id=7)

    assert project.to_dict() == {"id": 1, "name": "Apollo", "owner_id": 7, "archived": False}
    with pytest.raises(dataclasses.FrozenInstanceError):
        project.name = "Gemini"  # type: ignore[misc]
