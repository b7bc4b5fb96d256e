"""User: the record stored for the Users resource."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True, slots=True)
class User:
    """A user account. ``id`` is assigned by the repository, never taken from input."""

    id: int
    name: str
    email: str
    active: bool = True

    def to_dict(self) -> dict[str, object]:
        """The JSON form returned by the API (``id`` first)."""
        return asdict(self)
