"""``route cost push``: copy the local ledger's rows that never reached the team ledger (recorded
while it was down, or before the team had one). Idempotent: a run id is unique in the team
ledger, rows already there are skipped, and pushed rows are marked in the local ledger, so
pushing twice adds nothing and a run forgotten in the team ledger is not sent again."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from route.accounting.ledger import Ledger, RunRecord
from route.accounting.location import display_url
from route.errors import UsageError


@dataclass(frozen=True, slots=True)
class PushResult:
    local: Path
    team: str  # display URL
    dry_run: bool
    to_send: tuple[RunRecord, ...]  # local rows not yet shared and not in the team ledger
    already_there: int  # local rows not marked shared that the team ledger already held
    added: int = 0  # rows the team ledger gained (0 in a dry run)

    def to_dict(self) -> dict[str, Any]:
        return {
            "local": str(self.local),
            "team": self.team,
            "dry_run": self.dry_run,
            "to_send": len(self.to_send),
            "added": self.added,
            "already_there": self.already_there,
            "runs": [record.run_id for record in self.to_send],
        }


def push(
    local_path: Path,
    team_url: str,
    *,
    dry_run: bool = False,
    clock: Callable[[], float] = time.time,
) -> PushResult:
    """Send the local rows the team ledger lacks; with ``dry_run``, only say which."""
    if not local_path.exists():
        raise UsageError(f"no local ledger at {local_path} — there is nothing to push")
    with Ledger.open(local_path) as local, Ledger.open(team_url) as team:
        pending = local.runs(unshared=True)
        there = team.existing([record.run_id for record in pending])
        to_send = tuple(record for record in pending if record.run_id not in there)
        added = 0
        if not dry_run:
            added = team.record_missing(to_send, shared_at=clock())
            local.mark_shared([record.run_id for record in pending], clock())
    return PushResult(
        local=local_path,
        team=display_url(team_url),
        dry_run=dry_run,
        to_send=to_send,
        already_there=len(pending) - len(to_send),
        added=added,
    )
