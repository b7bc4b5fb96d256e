"""The ledger's schema: one ordered list of small migration functions, the same for SQLite and
PostgreSQL, each recorded in ``schema_migrations`` when applied.

A migration's SQL is written in the subset both databases understand (``TEXT``, ``REAL``,
``INTEGER``, ``ALTER TABLE ... ADD COLUMN``, ``CREATE INDEX``); the PostgreSQL connection widens
the numeric types (``postgres._adapt``). Append only: a migration's position in ``MIGRATIONS``
(1-based) is its number, and a database recording a number beyond the list was written by a
newer route, which this one refuses to touch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from route.accounting.database import Database


def _migration_1_first_schema(database: Database) -> None:
    """The first schema: one row per run."""
    database.execute(
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


def _migration_2_batches_and_handoff(database: Database) -> None:
    """Batch ids (``route gen --parallel``), hand-off sizes, and indexes for period reports."""
    database.execute("ALTER TABLE runs ADD COLUMN batch_id TEXT")
    database.execute(
        "ALTER TABLE runs ADD COLUMN handoff_input_characters INTEGER NOT NULL DEFAULT 0"
    )
    database.execute(
        "ALTER TABLE runs ADD COLUMN handoff_output_characters INTEGER NOT NULL DEFAULT 0"
    )
    database.execute("CREATE INDEX runs_started_at ON runs (started_at)")
    database.execute("CREATE INDEX runs_project_started_at ON runs (project, started_at)")


def _migration_3_who_and_where(database: Database) -> None:
    """Who ran each run and where (user, machine, project name: what a team ledger groups by),
    and when the row reached the team ledger (``shared_at``; NULL: not yet, for `cost push`)."""
    for column in ("user_name", "machine", "project_name"):
        database.execute(f"ALTER TABLE runs ADD COLUMN {column} TEXT NOT NULL DEFAULT ''")
    database.execute("ALTER TABLE runs ADD COLUMN shared_at REAL")


def _migration_4_reasoning_tokens(database: Database) -> None:
    """Reasoning ("thinking") tokens, counted apart from the answer's."""
    database.execute("ALTER TABLE runs ADD COLUMN reasoning_tokens INTEGER NOT NULL DEFAULT 0")


Migration = Callable[[Database], None]

MIGRATIONS: tuple[Migration, ...] = (
    _migration_1_first_schema,
    _migration_2_batches_and_handoff,
    _migration_3_who_and_where,
    _migration_4_reasoning_tokens,
)


class NewerSchema(Exception):
    """The database records migrations this route does not know (internal; see Ledger.open)."""

    def __init__(self, newest: int, known: int) -> None:
        super().__init__(f"schema version {newest}, this route knows up to {known}")
        self.newest = newest
        self.known = known


def migrate(
    database: Database,
    migrations: Sequence[Migration] = MIGRATIONS,
    *,
    clock: Callable[[], float] = time.time,
) -> list[int]:
    """Apply the migrations not yet recorded, in order, in one transaction that keeps other
    routes out meanwhile; return their numbers. Raises the driver's errors (the caller
    translates them) and ``NewerSchema``."""
    if not _pending(database, migrations):
        return []
    done: list[int] = []
    with database.transaction(migration=True):
        database.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            "number INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
        )
        applied = _applied(database, migrations)  # again, now that we hold the lock
        for number, migration in enumerate(migrations, start=1):
            if number in applied:
                continue
            migration(database)
            database.execute(
                "INSERT INTO schema_migrations (number, name, applied_at) VALUES (?, ?, ?)",
                (number, migration.__name__.lstrip("_"), clock()),
            )
            done.append(number)
    return done


def schema_version(database: Database) -> int:
    rows = database.query("SELECT MAX(number) FROM schema_migrations")
    return int(rows[0][0] or 0)


def _pending(database: Database, migrations: Sequence[Migration]) -> bool:
    """Whether any migration is missing (a read, so an up-to-date ledger opens without taking
    the write lock)."""
    if not database.has_table("schema_migrations"):
        return True
    return len(_applied(database, migrations)) < len(migrations)


def _applied(database: Database, migrations: Sequence[Migration]) -> set[int]:
    applied = {int(row[0]) for row in database.query("SELECT number FROM schema_migrations")}
    unknown = sorted(number for number in applied if number > len(migrations))
    if unknown:
        raise NewerSchema(max(unknown), len(migrations))
    return applied
