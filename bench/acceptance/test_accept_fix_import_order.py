"""Acceptance (hidden from the model): summary in app/services/project_summary.py."""

from __future__ import annotations

from app.models.project import Project
from app.services.project_summary import summary


def test_summary_names_the_owner() -> None:
    assert summary(Project(1, "Apollo", 7)) == "Apollo (owner 7)"


def test_archived_projects_say_so() -> None:
    assert summary(Project(1, "Apollo", 7, archived=True)) == "Apollo (owner 7) [archived]"


def test_long_names_are_shortened() -> None:
    text = summary(Project(1, "word " * 20, 7))

    assert text.endswith(" (owner 7)")
    assert len(text.removesuffix(" (owner 7)")) <= 40
