"""Shared fixtures: every test gets its own ROUTE_HOME and a clean environment."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest
from hypothesis import settings

from tests.postgres_server import PostgresServer, PostgresUnavailable

# CI runs the property tests on a fixed set of examples (no flaky failures on a fresh clone);
# `make test` on a workstation explores new examples each run.
settings.register_profile("ci", derandomize=True)
if os.environ.get("ROUTE_CI") == "1":
    settings.load_profile("ci")

# Tests send Ctrl-C (SIGINT) to route processes they start. A shell that runs the suite in the
# background (`cmd &`, nohup) starts it with SIGINT ignored, and children inherit an ignored
# signal, so their Python would install no KeyboardInterrupt. A handler set here is not inherited
# (exec resets it to the default), which gives every child the default Ctrl-C again.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

ISOLATED_VARIABLES = (
    "OLLAMA_HOST",
    "OLLAMA_API_KEY",
    "ROUTE_MODEL",
    "ROUTE_BACKEND",
    "ROUTE_BASE_URL",
    "ROUTE_CLOUD_MODEL",
    "ROUTE_VERIFY",
    "ROUTE_LEDGER",
    "ROUTE_LEDGER_URL",
    "ROUTE_DEBUG",
    "ROUTE_FORCE_TERMINAL",
)


@pytest.fixture(autouse=True)
def route_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point route's data directory (ledger, locks, user config) at a fresh temporary folder."""
    home = tmp_path_factory.mktemp("route-home")
    monkeypatch.setenv("ROUTE_HOME", str(home))
    for name in ISOLATED_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return home


REPOSITORY = Path(__file__).resolve().parents[1]
EXAMPLE_PROJECT = REPOSITORY / "examples" / "projects-api"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for the whole session, on a Unix socket in a temporary folder.
    Where it cannot start: a skip on a workstation, a failure on CI (ROUTE_CI or CI set)."""
    try:
        import psycopg  # noqa: F401 - the team extra: make install installs it
    except ImportError:
        _postgres_missing("psycopg is not installed — make install (the `team` extra) installs it")
    try:
        server = PostgresServer.create()
        server.start()
    except PostgresUnavailable as exc:
        _postgres_missing(str(exc))
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """The URL of a new, empty database on the session's server."""
    return postgres_server.create_database()


def _postgres_missing(why: str) -> NoReturn:
    if os.environ.get("ROUTE_CI") or os.environ.get("CI"):
        pytest.fail(f"PostgreSQL is needed on CI for the team-ledger tests: {why}", pytrace=False)
    pytest.skip(f"no PostgreSQL for the team-ledger tests: {why}")
