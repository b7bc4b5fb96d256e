"""An in-memory store of records keyed by their integer ``id``."""

from __future__ import annotations

from typing import Generic, Protocol, TypeVar


class Record(Protocol):
    """Anything with an integer ``id``: every model."""

    @property
    def id(self) -> int: ...


RecordT = TypeVar("RecordT", bound=Record)


class Repository(Generic[RecordT]):
    """Records by id. Ids come from ``next_id()``: 1, 2, 3, ... and are never reused."""

    def __init__(self) -> None:
        self._records: dict[int, RecordT] = {}
        self._last_id = 0

    def next_id(self) -> int:
        """Reserve the next id for a new record."""
        self._last_id += 1
        return self._last_id

    def all(self) -> list[RecordT]:
        """Every record, in id order."""
        return [self._records[record_id] for record_id in sorted(self._records)]

    def get(self, record_id: int) -> RecordT | None:
        return self._records.get(record_id)

    def save(self, record: RecordT) -> RecordT:
        """Insert or replace the record with this id."""
        self._records[record.id] = record
        return record

    def delete(self, record_id: int) -> bool:
        """Remove the record; False when there was none."""
        return self._records.pop(record_id, None) is not None
