"""Acceptance (hidden from the model): TaskService of scaffold section 3 (Tasks)."""

from __future__ import annotations

import pytest

from app.errors import NotFoundError, ValidationError
from app.models.task import Task
from app.services.task_service import TaskService


def test_create_list_get() -> None:
    service = TaskService()

    first = service.create_task({"title": "Apollo", "project_id": 1})
    second = service.create_task({"title": "Gemini", "project_id": 2, "done": True})

    assert first == Task(id=1, title="Apollo", project_id=1, done=False)
    assert second.id == 2
    assert service.list_tasks() == [first, second]
    assert service.get_task(2) == second


def test_update_and_delete() -> None:
    service = TaskService()
    created = service.create_task({"title": "Apollo", "project_id": 1})

    updated = service.update_task(created.id, {"done": True})
    service.delete_task(created.id)

    assert updated == Task(id=1, title="Apollo", project_id=1, done=True)
    assert service.list_tasks() == []
    assert service.create_task({"title": "Gemini", "project_id": 1}).id == 2


def test_errors() -> None:
    service = TaskService()

    with pytest.raises(NotFoundError):
        service.get_task(9)
    with pytest.raises(NotFoundError):
        service.delete_task(9)
    with pytest.raises(ValidationError):
        service.create_task({"title": "Apollo"})
