"""ProjectService: CRUD over a repository, ids assigned by the repository."""

from __future__ import annotations

import pytest

from app.errors import NotFoundError, ValidationError
from app.models.project import Project
from app.services.project_service import ProjectService


def test_create_assigns_increasing_ids() -> None:
    service = ProjectService()

    first = service.create_project({"name": "Apollo", "owner_id": 1})
    second = service.create_project({"name": "Gemini", "owner_id": 2, "archived": True})

    assert first == Project(id=1, name="Apollo", owner_id=1, archived=False)
    assert second.id == 2


def test_get_missing_project_raises_not_found() -> None:
    with pytest.raises(NotFoundError):
        ProjectService().get_project(42)


def test_create_rejects_invalid_input() -> None:
    with pytest.raises(ValidationError):
        ProjectService().create_project({"name": "Apollo"})


def test_delete_removes_the_project() -> None:
    service = ProjectService()
    created = service.create_project({"name": "Apollo", "owner_id": 1})

    service.delete_project(created.id)

    assert service.list_projects() == []
