"""Filters over Projects."""

from __future__ import annotations

from app.models.project import Project


def projects_of_owner(projects: list[Project] | None, owner_id: int) -> list[Project]:
    """The projects whose owner is ``owner_id`` (none when ``projects`` is None)."""
    return [project for project in projects or [] if project.owner_id == owner_id]
