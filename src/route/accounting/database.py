"""The two databases a ledger lives in, behind one small interface: SQLite (a file, the default)
and PostgreSQL (a team's shared server, ``accounting/postgres.py``).

Ledger SQL is written once, in the subset both understand, with ``?`` placeholders; each
``Database`` adapts it (PostgreSQL gets ``%s`` and wider column types). Driver errors are
translated into ``LedgerError`` here for SQLite, and in ``postgres.py`` for PostgreSQL, and
nowhere else.
"""

from __future__ import annotations

import os
import shlex
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from pathlib import Path
from typing import Any, Protocol

from route.errors import LedgerError

BUSY_TIMEOUT_SECONDS = 30.0

Row = tuple[Any, ...]


class Database(Protocol):
    """What the ledger and its migrations need from a database connection."""

    dialect: str  # "sqlite" or "postgresql"
    where: str  # the file or URL, for messages (never a password)
    newest_first_tiebreak: str  # the column ordering rows started at the same moment

    def execute(self, sql: str, parameters: Sequence[object] = ()) -> int:
        """Run one statement; the number of rows it changed."""
        ...

    def query(self, sql: str, parameters: Sequence[object] = ()) -> list[Row]: ...

    def transaction(self, *, migration: bool = False) -> AbstractContextManager[None]:
        """One write transaction (committed on success, rolled back on any error); with
        ``migration``, one that also keeps every other route out of the schema meanwhile."""
        ...

    def has_table(self, name: str) -> bool: ...

    def errors(self) -> AbstractContextManager[None]:
        """Translate the driver's errors raised inside into ``LedgerError``."""
        ...

    def close(self) -> None: ...


class SqliteDatabase:
    """A ledger file. WAL mode, a busy timeout and ``BEGIN IMMEDIATE`` transactions let parallel
    runs share it without losing a row."""

    dialect = "sqlite"
    newest_first_tiebreak = "rowid"

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self.connection = connection  # autocommit mode (isolation_level=None)
        self.path = path
        self.where = str(path)

    @classmethod
    def open(cls, path: Path) -> SqliteDatabase:
        """Open (creating it and its folder when missing) the SQLite file at ``path``."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LedgerError(
                f"cannot create the ledger folder {path.parent}: {exc.strerror or exc} — "
                f"fix its permissions or choose another ledger with --ledger or ROUTE_HOME"
            ) from exc
        if path.is_dir():
            raise unusable_sqlite(sqlite3.OperationalError("is a directory"), path)
        connection: sqlite3.Connection | None = None
        try:
            connection = sqlite3.connect(
                path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False
            )
            connection.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
            _set_wal_mode(connection)
            connection.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.Error as exc:
            if connection is not None:
                with suppress(sqlite3.Error):
                    connection.close()
            raise unusable_sqlite(exc, path) from exc
        return cls(connection, path)

    def execute(self, sql: str, parameters: Sequence[object] = ()) -> int:
        return self.connection.execute(sql, tuple(parameters)).rowcount

    def query(self, sql: str, parameters: Sequence[object] = ()) -> list[Row]:
        return self.connection.execute(sql, tuple(parameters)).fetchall()

    @contextmanager
    def transaction(self, *, migration: bool = False) -> Iterator[None]:
        self.connection.execute("BEGIN IMMEDIATE")  # the write lock, for migrations too
        try:
            yield
            self.connection.execute("COMMIT")
        except BaseException:
            if self.connection.in_transaction:
                self.connection.execute("ROLLBACK")
            raise

    def has_table(self, name: str) -> bool:
        rows = self.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,))
        return bool(rows)

    @contextmanager
    def errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise unusable_sqlite(exc, self.path) from exc

    def close(self) -> None:
        with suppress(sqlite3.Error):
            self.connection.close()


def _set_wal_mode(connection: sqlite3.Connection) -> None:
    """``PRAGMA journal_mode = WAL``, waiting (up to the busy timeout) while another process is
    creating the same new file: SQLite answers "locked" then without calling its busy handler."""
    deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
    while True:
        try:
            connection.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def unusable_sqlite(exc: sqlite3.Error, path: Path) -> LedgerError:
    """The LedgerError for a SQLite failure on ``path``: what is wrong, and what to do. Only a
    file SQLite reads as damaged is worth moving aside; a good ledger in the wrong place
    (a folder, a read-only mount, no permission) is said to be so."""
    text = str(exc)
    if "locked" in text or "busy" in text:
        return LedgerError(
            f"the ledger {path} stayed locked for {BUSY_TIMEOUT_SECONDS:g} s ({text}) — "
            f"another route process holds it; try again when it finishes"
        )
    if path.is_dir():
        return LedgerError(
            f"the ledger {path} is a directory, not a file — point --ledger (or `ledger` in "
            f"route.yaml, or ROUTE_LEDGER) at a file, e.g. {path / 'ledger.sqlite3'}"
        )
    read_only = _read_only_reason(path)
    if read_only is not None:
        return LedgerError(
            f"the ledger {path} is read-only ({read_only}) — route needs to write to it and "
            f"its folder: make them writable, or choose another ledger with --ledger or ROUTE_HOME"
        )
    if isinstance(exc, sqlite3.DatabaseError) and _looks_damaged(text):
        quoted, aside = shlex.quote(str(path)), shlex.quote(f"{path}.broken")
        return LedgerError(
            f"the ledger {path} is damaged ({text}) — move it aside with "
            f"`mv {quoted} {aside}` (route starts a new one), or choose another ledger "
            f"with --ledger or ROUTE_HOME"
        )
    return LedgerError(
        f"the ledger {path} cannot be used ({text}) — check the file and its folder, or "
        f"choose another ledger with --ledger or ROUTE_HOME"
    )


def _looks_damaged(text: str) -> bool:
    return any(
        sign in text
        for sign in ("not a database", "malformed", "corrupt", "file is encrypted", "disk image")
    )


def _read_only_reason(path: Path) -> str | None:
    """Why ``path`` (or, for a new file, its folder) cannot be written, or None."""
    folder = path.parent
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return "it is on a read-only file system"
    except OSError:
        return None
    for target in (path, folder):
        if target.exists() and not os.access(target, os.W_OK):
            return f"no write permission on {target}"
    return None
