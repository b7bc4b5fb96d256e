"""The run ledger: one row per ``route gen`` run, holding raw quantities only.

Costs are never stored; they are recomputed from token counts and characters with whatever
prices (or cloud model) are in force when a report is made. A ledger is a local SQLite file
(the default) or a team's PostgreSQL database (``postgresql://`` in ``ledger``); both get the
same schema from the same numbered migrations (``migrations.py``), applied on open. One
transaction per write; parallel runs never lose a row.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from route.accounting.database import Database, SqliteDatabase
from route.accounting.location import (
    LEDGER_FILE,
    default_ledger_path,
    is_database_url,
    resolve_ledger_path,
)
from route.accounting.migrations import MIGRATIONS, NewerSchema, migrate, schema_version
from route.errors import LedgerError, UsageError

__all__ = [
    "COLUMNS",
    "LEDGER_FILE",
    "MIGRATIONS",
    "Ledger",
    "RunRecord",
    "default_ledger_path",
    "join_skill_refs",
    "migrate",
    "resolve_ledger_path",
    "split_skill_refs",
]

SKILL_REFS_SEPARATOR = ", "


def join_skill_refs(refs: Sequence[str]) -> str:
    """The ``skill_refs`` column: references joined by ", " (a reference such as
    ``scaffold#2,3`` holds commas but no ", ")."""
    return SKILL_REFS_SEPARATOR.join(ref.strip() for ref in refs if ref.strip())


def split_skill_refs(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(SKILL_REFS_SEPARATOR) if part.strip())


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One run as stored: raw quantities, enough to recompute any cost later."""

    run_id: str  # uuid4 hex
    batch_id: str | None
    started_at: float  # unix time
    duration_seconds: float
    task: str
    skill_refs: str  # join_skill_refs(...)
    project: str  # absolute path of the project root
    model: str  # local model
    backend: str  # "ollama" or "openai"
    endpoint: str  # base URL, never with credentials
    cloud_model: str  # the cloud model chosen as the alternative
    status: str  # a RunStatus
    exit_code: int
    attempts: int
    prompt_tokens: int  # server counts, summed over attempts
    output_tokens: int
    cached_prompt_tokens: int | None
    prompt_characters: int
    output_characters: int
    handoff_input_characters: int  # the summary the orchestrator reads
    handoff_output_characters: int  # the command the orchestrator typed
    generation_seconds: float
    prompt_seconds: float
    load_seconds: float
    files_created: int
    files_changed: int
    files_refused: int
    verify_passed: bool | None
    route_version: str
    message: str  # one line
    # Who and where (migration 3): what a team ledger groups by. Empty on older rows.
    user_name: str = ""  # git config user.email (or user.name), else the OS user
    machine: str = ""  # host name
    project_name: str = ""  # the repository's remote (host/path, no credentials) or root name
    reasoning_tokens: int = 0  # of output_tokens, how many a reasoning model spent thinking (4)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


COLUMNS: tuple[str, ...] = tuple(field.name for field in dataclasses.fields(RunRecord))


class Ledger:
    """A ledger, SQLite or PostgreSQL. Open with ``Ledger.open(path or URL)``; usable as a
    context manager."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self.where = database.where

    @classmethod
    def open(cls, target: Path | str) -> Ledger:
        """Open and upgrade the ledger at ``target``: a SQLite file (created with its folder
        when missing) or a ``postgresql://`` URL."""
        database: Database
        if isinstance(target, str) and is_database_url(target):
            from route.accounting.postgres import PostgresDatabase

            database = PostgresDatabase.open(target)
        else:
            database = SqliteDatabase.open(Path(target))
        try:
            with database.errors():
                migrate(database)
        except NewerSchema as exc:
            database.close()
            raise LedgerError(
                f"the ledger {database.where} was written by a newer route ({exc}) — upgrade "
                "route (pip install --upgrade model-route), or use another ledger with --ledger"
            ) from exc
        except BaseException:
            database.close()
            raise
        return cls(database)

    def __enter__(self) -> Ledger:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._database.close()

    @property
    def dialect(self) -> str:
        return self._database.dialect

    def schema_version(self) -> int:
        with self._database.errors():
            return schema_version(self._database)

    def record(self, record: RunRecord, *, shared_at: float | None = None) -> None:
        """Store one run in one transaction. A run id already there is a LedgerError."""
        with self._database.errors(), self._database.transaction():
            self._insert(record, shared_at=shared_at, on_conflict="")

    def record_missing(self, records: Sequence[RunRecord], *, shared_at: float) -> int:
        """Store the runs whose ids are not here yet, in one transaction; how many were new
        (rows already here are left as they are: pushing twice adds nothing)."""
        added = 0
        with self._database.errors(), self._database.transaction():
            for record in records:
                added += self._insert(
                    record, shared_at=shared_at, on_conflict=" ON CONFLICT (run_id) DO NOTHING"
                )
        return added

    def _insert(self, record: RunRecord, *, shared_at: float | None, on_conflict: str) -> int:
        values = record.to_dict()
        values["verify_passed"] = (
            None if record.verify_passed is None else int(record.verify_passed)
        )
        columns = (*COLUMNS, "shared_at")
        values["shared_at"] = shared_at
        placeholders = ", ".join("?" for _ in columns)
        return self._database.execute(
            f"INSERT INTO runs ({', '.join(columns)}) VALUES ({placeholders}){on_conflict}",
            [values[column] for column in columns],
        )

    def runs(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        project: str | None = None,
        limit: int | None = None,
        unshared: bool = False,
    ) -> list[RunRecord]:
        """Runs started in ``[since, until)`` (either bound optional), newest first; with
        ``unshared``, only those not yet in the team ledger."""
        conditions: list[str] = []
        parameters: list[object] = []
        if since is not None:
            conditions.append("started_at >= ?")
            parameters.append(since)
        if until is not None:
            conditions.append("started_at < ?")
            parameters.append(until)
        if project is not None:
            conditions.append("project = ?")
            parameters.append(project)
        if unshared:
            conditions.append("shared_at IS NULL")
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        order = f"started_at DESC, {self._database.newest_first_tiebreak} DESC"
        query = f"SELECT {', '.join(COLUMNS)} FROM runs{where} ORDER BY {order}"
        if limit is not None:
            query += " LIMIT ?"
            parameters.append(max(0, limit))
        with self._database.errors():
            rows = self._database.query(query, parameters)
        return [_record_from_row(row) for row in rows]

    def existing(self, run_ids: Sequence[str]) -> set[str]:
        """Which of ``run_ids`` are here."""
        found: set[str] = set()
        with self._database.errors():
            for start in range(0, len(run_ids), 500):
                chunk = run_ids[start : start + 500]
                rows = self._database.query(
                    f"SELECT run_id FROM runs WHERE run_id IN ({', '.join('?' for _ in chunk)})",
                    chunk,
                )
                found.update(str(row[0]) for row in rows)
        return found

    def mark_shared(self, run_ids: Sequence[str], at: float) -> None:
        """Note that these runs reached the team ledger (``route cost push`` skips them)."""
        with self._database.errors(), self._database.transaction():
            for start in range(0, len(run_ids), 500):
                chunk = run_ids[start : start + 500]
                self._database.execute(
                    f"UPDATE runs SET shared_at = ? "
                    f"WHERE run_id IN ({', '.join('?' for _ in chunk)})",
                    [at, *chunk],
                )

    def forget(self, run_ids: Sequence[str]) -> int:
        """Delete these runs, in one transaction; how many rows went."""
        removed = 0
        with self._database.errors(), self._database.transaction():
            for start in range(0, len(run_ids), 500):
                chunk = run_ids[start : start + 500]
                removed += self._database.execute(
                    f"DELETE FROM runs WHERE run_id IN ({', '.join('?' for _ in chunk)})",
                    chunk,
                )
        return removed

    def get(self, run_id_prefix: str) -> RunRecord:
        """The one run whose id starts with ``run_id_prefix``."""
        prefix = run_id_prefix.strip().lower()
        if not prefix:
            raise UsageError(
                "give a run id (or a unique prefix of one) — `route cost runs` lists them"
            )
        with self._database.errors():
            rows = self._database.query(
                f"SELECT {', '.join(COLUMNS)} FROM runs WHERE substr(run_id, 1, ?) = ? "
                "ORDER BY started_at DESC LIMIT 6",
                (len(prefix), prefix),
            )
        if not rows:
            raise UsageError(
                f"no run in {self.where} has an id starting with {prefix!r} — "
                f"`route cost runs` lists recent runs"
            )
        if len(rows) > 1:
            shown = ", ".join(row[0][:12] for row in rows[:5])
            raise UsageError(
                f"{prefix!r} matches several runs ({shown}{', ...' if len(rows) > 5 else ''}) "
                f"— give more characters of the id"
            )
        return _record_from_row(rows[0])


def _record_from_row(row: Sequence[Any]) -> RunRecord:
    values = dict(zip(COLUMNS, row, strict=True))
    if values["verify_passed"] is not None:
        values["verify_passed"] = bool(values["verify_passed"])
    return RunRecord(**values)
