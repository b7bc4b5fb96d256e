"""Where the ledgers are: the local SQLite file (always) and, when configured, the team's
PostgreSQL database.

``ledger`` (route.yaml, ``ROUTE_LEDGER``, ``--ledger``) is a file path or a
``postgresql://user@host/db`` URL; ``ledger_url`` (``ROUTE_LEDGER_URL``) names the team database
while ``ledger`` keeps a local file. A URL never carries a password: libpq reads it from
``PGPASSWORD`` or ``~/.pgpass``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from route.errors import UsageError

LEDGER_FILE = "ledger.sqlite3"
URL_SCHEMES = ("postgresql", "postgres")


def is_database_url(text: str) -> bool:
    return text.strip().lower().startswith(tuple(f"{scheme}://" for scheme in URL_SCHEMES))


def url_problem(text: str) -> str | None:
    """Why ``text`` cannot be a team ledger URL (said without repeating a password), or None."""
    if not is_database_url(text):
        return "must be a postgresql://user@host/database URL"
    try:
        split = urlsplit(text.strip())
        split.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return "is not a valid postgresql:// URL (check the host and port)"
    query_keys = {key.lower() for key, _ in parse_qsl(split.query)}
    if split.password or "password" in query_keys:
        return (
            "holds a password, which route never stores in its settings — remove it from the "
            "URL and put it in ~/.pgpass (or the PGPASSWORD environment variable)"
        )
    if not split.path.strip("/"):
        return "names no database — add it, e.g. postgresql://route@db.example.com/route_ledger"
    return None


def check_url(text: str) -> str:
    """``text`` stripped, or ValueError saying why it cannot be a team ledger URL."""
    problem = url_problem(text)
    if problem:
        raise ValueError(problem)
    return text.strip()


def check_ledger_setting(text: str) -> str:
    """A ``ledger`` value: a path, or a URL that passes ``check_url``."""
    if "://" in text and not is_database_url(text):
        raise ValueError(
            "must be a file path or a postgresql://user@host/database URL "
            f"(not {text.partition('://')[0]}://)"
        )
    return check_url(text) if is_database_url(text) else text


def display_url(url: str) -> str:
    """``url`` for messages and reports: never a password, even one given by mistake."""
    split = urlsplit(url.strip())
    netloc = split.netloc.rpartition("@")
    user = netloc[0].partition(":")[0]
    host = f"{user}@{netloc[2]}" if user else netloc[2]
    query = "&".join(
        f"{key}={value}"
        for key, value in parse_qsl(split.query)
        if key.lower() not in ("password", "passfile")
    )
    return urlunsplit((split.scheme, host, split.path, query, ""))


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
    """The local ledger file: ``--ledger`` if given, else the config's ``ledger`` (relative to
    the project root), else ``default_ledger_path``. A URL names the team ledger, not this file,
    and leaves the default in place."""
    if flag and not is_database_url(str(flag)):
        return Path(flag).expanduser()
    if configured and not is_database_url(configured):
        path = Path(configured).expanduser()
        if not path.is_absolute() and project_root is not None:
            path = project_root / path
        return path
    return default_ledger_path(env)


def team_url(ledger: str | None, ledger_url: str | None) -> str | None:
    """The team ledger's URL from the ``ledger`` and ``ledger_url`` settings, or None."""
    from_ledger = ledger if ledger and is_database_url(ledger) else None
    if from_ledger and ledger_url and from_ledger.strip() != ledger_url.strip():
        raise UsageError(
            f"`ledger` ({display_url(from_ledger)}) and `ledger_url` ({display_url(ledger_url)}) "
            f"name two team ledgers — keep one"
        )
    url = ledger_url or from_ledger
    if not url:
        return None
    try:
        return check_url(url)
    except ValueError as exc:
        raise UsageError(f"the team ledger {display_url(url)} {exc}") from exc


@dataclass(frozen=True, slots=True)
class Ledgers:
    """Where a run's row goes: always the local file; also the team database when set."""

    local: Path
    team: str | None = None


def resolve_ledgers(
    ledger: str | None,
    ledger_url: str | None,
    *,
    project_root: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Ledgers:
    return Ledgers(
        local=resolve_ledger_path(None, ledger, project_root=project_root, env=env),
        team=team_url(ledger, ledger_url),
    )


@dataclass(frozen=True, slots=True)
class LedgerChoice:
    """The ledger a ``route cost`` command reads: a file or a URL, and whether the user named
    it (a named file that does not exist is an error; the default one just has no runs yet)."""

    target: Path | str
    named: bool

    @property
    def where(self) -> str:
        return display_url(self.target) if isinstance(self.target, str) else str(self.target)


def choose_ledger(
    flag: str | Path | None,
    *,
    team: bool,
    ledger: str | None,
    ledger_url: str | None,
    project_root: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> LedgerChoice:
    """``--ledger`` (a file or a URL), else with ``--team`` the team ledger, else the local
    one."""
    if flag is not None and team:
        raise UsageError("--ledger and --team name two ledgers — give one")
    if flag is not None and is_database_url(str(flag)):
        try:
            return LedgerChoice(check_url(str(flag)), named=True)
        except ValueError as exc:
            raise UsageError(f"--ledger {display_url(str(flag))} {exc}") from exc
    if team:
        url = team_url(ledger, ledger_url)
        if url is None:
            raise UsageError(
                "no team ledger is configured — set `ledger: postgresql://user@host/database` "
                "in route.yaml (README: Team ledger), or give --ledger URL"
            )
        return LedgerChoice(url, named=True)
    path = resolve_ledger_path(flag, ledger, project_root=project_root, env=env)
    return LedgerChoice(path, named=flag is not None)
