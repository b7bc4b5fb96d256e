"""A one-line summary of a Project."""

from __future__ import annotations

import textwrap

from app.models.project import Project


def summary(project: Project) -> str:
    """``name (owner N)``, the name shortened to 40 characters, `` [archived]`` when archived."""
    text = f"{textwrap.shorten(project.name, 40)} (owner {project.owner_id})"
    return f"{text} [archived]" if project.archived else text
