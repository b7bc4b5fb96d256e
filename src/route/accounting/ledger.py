"""The run ledger: one SQLite row per ``route gen`` run, holding raw quantities only.

Costs are never stored; they are recomputed from token counts and characters with whatever
prices (or cloud model) are in force when a report is made. The schema is upgraded on open by
an ordered list of small migration functions, each recorded in ``schema_migrations``. WAL mode,
a busy timeout and one ``BEGIN IMMEDIATE`` transaction per write let parallel runs share one
file without losing a row. sqlite3 errors are translated into ``LedgerError`` here and only here.
"""

from __future__ import annotations

import dataclasses
import shlex
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from route.errors import LedgerError, UsageError

LEDGER_FILE = "ledger.sqlite3"
BUSY_TIMEOUT_SECONDS = 30.0
SKILL_REFS_SEPARATOR = ", "


def default_ledger_path(env: Mapping[str, str] | None = None) -> Path:
    """``ledger.sqlite3`` in route's home: ``$ROUTE_HOME`` or the user data directory."""
    from route.settings.locations import route_home

    return route_home(env).expanduser() / LEDGER_FILE


def resolve_ledger_path(
    flag: str | Path | None,
    configured: str | None,
    *,
    project_root: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Path:
    """``--ledger`` if given, else the config's ``ledger`` (relative to the project root),
    else ``default_ledger_path``."""
    if flag:
        return Path(flag).expanduser()
    if configured:
        path = Path(configured).expanduser()
        if not path.is_absolute() and project_root is not None:
            path = project_root / path
        return path
    return default_ledger_path(env)


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

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


COLUMNS: tuple[str, ...] = tuple(field.name for field in dataclasses.fields(RunRecord))


# --------------------------------------------------------------------------- migrations


def _migration_1_first_schema(connection: sqlite3.Connection) -> None:
    """The first schema: one row per run."""
    connection.execute(
        """
        CREATE TABLE runs (
            run_id TEXT PRIMARY KEY,
            started_at REAL NOT NULL,
            duration_seconds REAL NOT NULL,
            task TEXT NOT NULL,
            skill_refs TEXT NOT NULL,
            project TEXT NOT NULL,
            model TEXT NOT NULL,
            backend TEXT NOT NULL,
            endpoint TEXT NOT NULL,
            cloud_model TEXT NOT NULL,
            status TEXT NOT NULL,
            exit_code INTEGER NOT NULL,
            attempts INTEGER NOT NULL,
            prompt_tokens INTEGER NOT NULL,
            output_tokens INTEGER NOT NULL,
            cached_prompt_tokens INTEGER,
            prompt_characters INTEGER NOT NULL,
            output_characters INTEGER NOT NULL,
            generation_seconds REAL NOT NULL,
            prompt_seconds REAL NOT NULL,
            load_seconds REAL NOT NULL,
            files_created INTEGER NOT NULL,
            files_changed INTEGER NOT NULL,
            files_refused INTEGER NOT NULL,
            verify_passed INTEGER,
            route_version TEXT NOT NULL,
            message TEXT NOT NULL
        )
        """
    )


def _migration_2_batches_and_handoff(connection: sqlite3.Connection) -> None:
    """Batch ids (``route gen --parallel``), hand-off sizes, and indexes for period reports."""
    connection.execute("ALTER TABLE runs ADD COLUMN batch_id TEXT")
    connection.execute(
        "ALTER TABLE runs ADD COLUMN handoff_input_characters INTEGER NOT NULL DEFAULT 0"
    )
    connection.execute(
        "ALTER TABLE runs ADD COLUMN handoff_output_characters INTEGER NOT NULL DEFAULT 0"
    )
    connection.execute("CREATE INDEX runs_started_at ON runs (started_at)")
    connection.execute("CREATE INDEX runs_project_started_at ON runs (project, started_at)")


Migration = Callable[[sqlite3.Connection], None]

# Append only: the position in this list (1-based) is the migration's number.
MIGRATIONS: tuple[Migration, ...] = (
    _migration_1_first_schema,
    _migration_2_batches_and_handoff,
)


def migrate(
    connection: sqlite3.Connection,
    migrations: Sequence[Migration] = MIGRATIONS,
    *,
    clock: Callable[[], float] = time.time,
) -> list[int]:
    """Apply the migrations not yet recorded, in order, in one write transaction; return their
    numbers. ``connection`` must be in autocommit mode (``isolation_level=None``). Raises
    ``sqlite3`` errors (the caller translates them) and ``NewerSchema``."""
    if not _pending(connection, migrations):
        return []
    connection.execute("BEGIN IMMEDIATE")
    try:
        connection.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            "number INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
        )
        applied = _applied(connection, migrations)  # again, now that we hold the write lock
        done: list[int] = []
        for number, migration in enumerate(migrations, start=1):
            if number in applied:
                continue
            migration(connection)
            connection.execute(
                "INSERT INTO schema_migrations (number, name, applied_at) VALUES (?, ?, ?)",
                (number, migration.__name__.lstrip("_"), clock()),
            )
            done.append(number)
        connection.execute("COMMIT")
    except BaseException:
        _rollback(connection)
        raise
    return done


def _pending(connection: sqlite3.Connection, migrations: Sequence[Migration]) -> bool:
    """Whether any migration is missing (read-only check, so an up-to-date ledger opens
    without taking the write lock)."""
    exists = connection.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
    ).fetchone()
    if exists is None:
        return True
    return len(_applied(connection, migrations)) < len(migrations)


def _applied(connection: sqlite3.Connection, migrations: Sequence[Migration]) -> set[int]:
    applied = {row[0] for row in connection.execute("SELECT number FROM schema_migrations")}
    unknown = sorted(number for number in applied if number > len(migrations))
    if unknown:
        raise NewerSchema(max(unknown), len(migrations))
    return applied


def _rollback(connection: sqlite3.Connection) -> None:
    if connection.in_transaction:
        connection.execute("ROLLBACK")


class NewerSchema(Exception):
    """The database records migrations this route does not know (internal; see Ledger.open)."""

    def __init__(self, newest: int, known: int) -> None:
        super().__init__(f"schema version {newest}, this route knows up to {known}")
        self.newest = newest
        self.known = known


# --------------------------------------------------------------------------- the ledger


class Ledger:
    """The SQLite ledger. Open with ``Ledger.open(path)``; usable as a context manager."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._connection = connection
        self.path = path

    @classmethod
    def open(cls, path: Path) -> Ledger:
        """Open (creating it and its folder when missing) and upgrade the ledger at ``path``."""
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LedgerError(
                f"cannot create the ledger folder {path.parent}: {exc.strerror or exc} — "
                f"fix its permissions or choose another ledger with --ledger or ROUTE_HOME"
            ) from exc
        connection: sqlite3.Connection | None = None
        try:
            connection = sqlite3.connect(
                path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False
            )
            connection.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = NORMAL")
            migrate(connection)
        except NewerSchema as exc:
            _close_quietly(connection)
            raise LedgerError(
                f"the ledger {path} was written by a newer route ({exc}) — upgrade route "
                f"(pip install --upgrade route), or use another ledger with --ledger or ROUTE_HOME"
            ) from exc
        except sqlite3.Error as exc:
            _close_quietly(connection)
            raise _translate(exc, path) from exc
        return cls(connection, path)

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
        self._connection.close()

    def schema_version(self) -> int:
        with self._errors():
            row = self._connection.execute("SELECT MAX(number) FROM schema_migrations").fetchone()
        return int(row[0] or 0)

    def record(self, record: RunRecord) -> None:
        """Store one run in one transaction."""
        values = record.to_dict()
        values["verify_passed"] = (
            None if record.verify_passed is None else int(record.verify_passed)
        )
        placeholders = ", ".join("?" for _ in COLUMNS)
        with self._errors():
            self._connection.execute("BEGIN IMMEDIATE")
            try:
                self._connection.execute(
                    f"INSERT INTO runs ({', '.join(COLUMNS)}) VALUES ({placeholders})",
                    [values[column] for column in COLUMNS],
                )
                self._connection.execute("COMMIT")
            except BaseException:
                _rollback(self._connection)
                raise

    def runs(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        project: str | None = None,
        limit: int | None = None,
    ) -> list[RunRecord]:
        """Runs started in ``[since, until)`` (either bound optional), newest first."""
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
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        query = f"SELECT {', '.join(COLUMNS)} FROM runs{where} ORDER BY started_at DESC, rowid DESC"
        if limit is not None:
            query += " LIMIT ?"
            parameters.append(max(0, limit))
        with self._errors():
            rows = self._connection.execute(query, parameters).fetchall()
        return [_record_from_row(row) for row in rows]

    def get(self, run_id_prefix: str) -> RunRecord:
        """The one run whose id starts with ``run_id_prefix``."""
        prefix = run_id_prefix.strip().lower()
        if not prefix:
            raise UsageError(
                "give a run id (or a unique prefix of one) — `route cost runs` lists them"
            )
        with self._errors():
            rows = self._connection.execute(
                f"SELECT {', '.join(COLUMNS)} FROM runs WHERE substr(run_id, 1, ?) = ? "
                "ORDER BY started_at DESC LIMIT 6",
                (len(prefix), prefix),
            ).fetchall()
        if not rows:
            raise UsageError(
                f"no run in {self.path} has an id starting with {prefix!r} — "
                f"`route cost runs` lists recent runs"
            )
        if len(rows) > 1:
            shown = ", ".join(row[0][:12] for row in rows[:5])
            raise UsageError(
                f"{prefix!r} matches several runs ({shown}{', ...' if len(rows) > 5 else ''}) "
                f"— give more characters of the id"
            )
        return _record_from_row(rows[0])

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise _translate(exc, self.path) from exc


def _record_from_row(row: Sequence[Any]) -> RunRecord:
    values = dict(zip(COLUMNS, row, strict=True))
    if values["verify_passed"] is not None:
        values["verify_passed"] = bool(values["verify_passed"])
    return RunRecord(**values)


def _translate(exc: sqlite3.Error, path: Path) -> LedgerError:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return LedgerError(
            f"the ledger {path} stayed locked for {BUSY_TIMEOUT_SECONDS:g} s ({text}) — "
            f"another route process holds it; try again when it finishes"
        )
    quoted, aside = shlex.quote(str(path)), shlex.quote(f"{path}.broken")
    return LedgerError(
        f"the ledger {path} cannot be used ({text}) — move it aside with "
        f"`mv {quoted} {aside}` (route starts a new one), or choose another ledger "
        f"with --ledger or ROUTE_HOME"
    )


def _close_quietly(connection: sqlite3.Connection | None) -> None:
    if connection is None:
        return
    with suppress(sqlite3.Error):
        connection.close()
