"""Task: the record stored for the Tasks resource."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True, slots=True)
class Task:
    """A task of a project. ``id`` is assigned by the repository."""

    id: int
    title: str
    project_id: int
    done: bool = False

    def to_dict(self) -> dict[str, object]:
        """The JSON form returned by the API (``id`` first)."""
        return asdict(self)
