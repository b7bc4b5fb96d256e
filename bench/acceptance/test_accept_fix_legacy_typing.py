"""Acceptance (hidden from the model): projects_of_owner in app/services/project_filters.py."""

from __future__ import annotations

from app.models.project import Project
from app.services.project_filters import projects_of_owner


def test_keeps_the_owners_projects_in_order() -> None:
    projects = [Project(1, "a", 7), Project(2, "b", 8), Project(3, "c", 7)]

    assert [p.id for p in projects_of_owner(projects, 7)] == [1, 3]
    assert projects_of_owner(projects, 9) == []


def test_none_gives_no_projects() -> None:
    assert projects_of_owner(None, 7) == []
