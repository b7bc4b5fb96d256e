"""A team ledger on PostgreSQL, through psycopg 3 (the optional extra ``model-route[team]``).

psycopg is imported here only, and only when a ``postgresql://`` ledger is opened, so no other
command pays for it. The password never comes from route's settings (they refuse one): libpq
reads it from ``PGPASSWORD`` or ``~/.pgpass``. psycopg errors are translated into
``LedgerError`` here and only here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any

from route.accounting.database import Row
from route.accounting.location import display_url
from route.errors import LedgerError

if TYPE_CHECKING:
    import psycopg

CONNECT_TIMEOUT_SECONDS = 3  # a run waits at most this long for a team ledger that is down
MIGRATION_LOCK = 0x726F757465  # "route": the advisory lock held while the schema changes
INSTALL_HINT = "pip install 'model-route[team]' (or pip install 'psycopg[binary]')"

_DDL = re.compile(r"^\s*(CREATE|ALTER)\b", re.IGNORECASE)
_WIDER_TYPES = (
    (re.compile(r"\bREAL\b"), "DOUBLE PRECISION"),
    (re.compile(r"\bINTEGER\b"), "BIGINT"),
)


class PostgresDatabase:
    """One connection to a PostgreSQL ledger, in autocommit mode outside ``transaction()``."""

    dialect = "postgresql"
    newest_first_tiebreak = "run_id"

    def __init__(self, connection: psycopg.Connection[Any], url: str) -> None:
        self.connection = connection
        self.where = display_url(url)

    @classmethod
    def open(cls, url: str) -> PostgresDatabase:
        where = display_url(url)
        try:
            import psycopg
        except ImportError as exc:
            raise LedgerError(
                f"the team ledger {where} needs psycopg 3, which is not installed — "
                f"{INSTALL_HINT} in route's environment"
            ) from exc
        options: dict[str, Any] = {"autocommit": True, "application_name": "route"}
        if "connect_timeout" not in url:
            options["connect_timeout"] = CONNECT_TIMEOUT_SECONDS
        try:
            connection = psycopg.connect(url, **options)
        except psycopg.Error as exc:
            raise unusable_postgres(exc, where) from exc
        return cls(connection, url)

    def execute(self, sql: str, parameters: Sequence[object] = ()) -> int:
        with self.connection.cursor() as cursor:
            cursor.execute(_adapt(sql), tuple(parameters))
            return cursor.rowcount

    def query(self, sql: str, parameters: Sequence[object] = ()) -> list[Row]:
        with self.connection.cursor() as cursor:
            cursor.execute(_adapt(sql), tuple(parameters))
            return [tuple(row) for row in cursor.fetchall()]

    @contextmanager
    def transaction(self, *, migration: bool = False) -> Iterator[None]:
        with self.connection.transaction():
            if migration:
                # Held to the end of the transaction: racing routes migrate one after another.
                self.execute("SELECT pg_advisory_xact_lock(?)", (MIGRATION_LOCK,))
            yield

    def has_table(self, name: str) -> bool:
        rows = self.query(
            "SELECT 1 FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_name = ?",
            (name,),
        )
        return bool(rows)

    @contextmanager
    def errors(self) -> Iterator[None]:
        import psycopg

        try:
            yield
        except psycopg.Error as exc:
            raise unusable_postgres(exc, self.where) from exc

    def close(self) -> None:
        with suppress(Exception):
            self.connection.close()


def _adapt(sql: str) -> str:
    """The ledger's SQL for PostgreSQL: ``%s`` placeholders, and in schema statements the 8-byte
    types SQLite's REAL and INTEGER already are (PostgreSQL's REAL holds only 6 digits)."""
    if _DDL.match(sql):
        for pattern, wider in _WIDER_TYPES:
            sql = pattern.sub(wider, sql)
    return sql.replace("%", "%%").replace("?", "%s")


def unusable_postgres(exc: Exception, where: str) -> LedgerError:
    import psycopg

    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, psycopg.OperationalError):
        return LedgerError(
            f"the team ledger {where} is not reachable ({text}) — check that the server is up "
            f"and the `ledger` setting"
        )
    if isinstance(exc, psycopg.errors.InsufficientPrivilege):
        return LedgerError(
            f"the team ledger {where} refused route ({text}) — the database role needs to own "
            f"the database (CREATE DATABASE ... OWNER role; see README, Team ledger)"
        )
    return LedgerError(f"the team ledger {where} failed ({text}) — check the server's log")
