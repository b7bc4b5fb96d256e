"""Acceptance (hidden from the model): the Task model of scaffold section 1."""

from __future__ import annotations

import dataclasses

import pytest

from app.models.task import Task


def test_fields_in_order_with_the_default() -> None:
    fields = [(field.name, field.default) for field in dataclasses.fields(Task)]

    assert [name for name, _ in fields] == ["id", "title", "project_id", "done"]
    assert fields[3][1] is False


def test_frozen_and_to_dict() -> None:
    task = Task(id=2, title="Write docs", project_id=1)

    assert task.to_dict() == {"id": 2, "title": "Write docs", "project_id": 1, "done": False}
    with pytest.raises(dataclasses.FrozenInstanceError):
        task.title = "Other"  # type: ignore[misc]
