"""Project: the record stored for the Projects resource."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True, slots=True)
class Project:
    """A project owned by a user. ``id`` is assigned by the repository."""

    id: int
    name: str
    owner_id: int
    archived: bool = False

    def to_dict(self) -> dict[str, object]:
        """The JSON form returned by the API (``id`` first)."""
        return asdict(self)
