"""Acceptance (hidden from the model): ProjectService of scaffold section 3."""

from __future__ import annotations

import pytest

from app.errors import NotFoundError, ValidationError
from app.models.project import Project
from app.services.project_service import ProjectService


def test_create_list_get() -> None:
    service = ProjectService()

    first = service.create_project({"name": "Apollo", "owner_id": 1})
    second = service.create_project({"name": "Gemini", "owner_id": 2, "archived": True})

    assert first == Project(id=1, name="Apollo", owner_id=1, archived=False)
    assert second.id == 2
    assert service.list_projects() == [first, second]
    assert service.get_project(2) == second


def test_update_and_delete() -> None:
    service = ProjectService()
    created = service.create_project({"name": "Apollo", "owner_id": 1})

    updated = service.update_project(created.id, {"archived": True})
    service.delete_project(created.id)

    assert updated == Project(id=1, name="Apollo", owner_id=1, archived=True)
    assert service.list_projects() == []
    assert service.create_project({"name": "Gemini", "owner_id": 1}).id == 2


def test_errors() -> None:
    service = ProjectService()

    with pytest.raises(NotFoundError):
        service.get_project(9)
    with pytest.raises(NotFoundError):
        service.delete_project(9)
    with pytest.raises(ValidationError):
        service.create_project({"name": "Apollo"})
