"""Record a run's row where it belongs, without ever failing or holding up the run.

The row always goes to the local SQLite ledger (``route cost`` reads it by default). With a team
ledger configured it goes there first; when the team ledger cannot take it (down, unreachable,
psycopg missing), the local row is left marked "not shared" and the result says
"recorded locally; `route cost push` when the team ledger is back".
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from route.accounting.identity import Identity, identify
from route.accounting.ledger import Ledger, RunRecord
from route.accounting.location import Ledgers, display_url
from route.errors import RouteError

PUSH_LATER = "recorded locally; `route cost push` when the team ledger is back"


@dataclass(frozen=True, slots=True)
class Recorded:
    """Where a run's row went."""

    local: Path
    local_recorded: bool
    team: str | None  # the team ledger (display URL), None when none is configured
    team_recorded: bool
    note: str | None  # None when the row is everywhere it should be; else what happened

    @property
    def recorded(self) -> bool:
        return self.local_recorded or self.team_recorded


def with_identity(record: RunRecord, identity: Identity | None = None) -> RunRecord:
    """``record`` with who and where filled in (from git and the OS unless given)."""
    if record.user_name and record.machine and record.project_name:
        return record
    found = identity or identify(Path(record.project))
    return dataclasses.replace(
        record,
        user_name=record.user_name or found.user_name,
        machine=record.machine or found.machine,
        project_name=record.project_name or found.project_name,
    )


def record_run(
    record: RunRecord,
    ledgers: Ledgers,
    *,
    identity: Identity | None = None,
    clock: Callable[[], float] = time.time,
) -> Recorded:
    """Store ``record`` in the team ledger (when configured) and the local one. Never raises a
    ledger failure: it is reported in ``Recorded.note``."""
    record = with_identity(record, identity)
    team_error: str | None = None
    shared_at: float | None = None
    if ledgers.team is not None:
        try:
            with Ledger.open(ledgers.team) as team_ledger:
                team_ledger.record(record, shared_at=clock())
            shared_at = clock()
        except (RouteError, OSError) as error:
            team_error = str(error)
    local_error: str | None = None
    try:
        with Ledger.open(ledgers.local) as local:
            local.record(record, shared_at=shared_at)
    except (RouteError, OSError) as error:
        local_error = str(error)
    team = display_url(ledgers.team) if ledgers.team is not None else None
    return Recorded(
        local=ledgers.local,
        local_recorded=local_error is None,
        team=team,
        team_recorded=team is not None and team_error is None,
        note=_note(team_error, local_error, team=team),
    )


def _note(team_error: str | None, local_error: str | None, *, team: str | None) -> str | None:
    if team_error and local_error:
        return f"could not record the run: {team_error}; and locally: {local_error}"
    if team_error:
        return f"{PUSH_LATER} ({team_error})"
    if local_error and team is not None:
        return f"recorded in the team ledger {team} only; the local ledger failed: {local_error}"
    if local_error:
        return f"could not record the run: {local_error}"
    return None
