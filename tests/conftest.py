"""Shared fixtures: every test gets its own ROUTE_HOME and a clean environment."""

from __future__ import annotations

from pathlib import Path

import pytest

ISOLATED_VARIABLES = (
    "OLLAMA_HOST",
    "OLLAMA_API_KEY",
    "ROUTE_MODEL",
    "ROUTE_BACKEND",
    "ROUTE_BASE_URL",
    "ROUTE_CLOUD_MODEL",
    "ROUTE_VERIFY",
    "ROUTE_LEDGER",
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
