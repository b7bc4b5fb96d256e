"""``route cost forget``: the one way rows leave a ledger. The runs named (by id or unique
prefix) and/or every run started before a date are looked up first, all or nothing, then
deleted in one transaction; a dry run only lists them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from route.accounting.ledger import Ledger, RunRecord
from route.errors import UsageError


@dataclass(frozen=True, slots=True)
class Forgotten:
    ledger: str  # the file or display URL
    dry_run: bool
    runs: tuple[RunRecord, ...]  # newest first
    removed: int  # rows deleted (0 in a dry run)


def forget(
    target: Path | str,
    run_ids: Sequence[str],
    *,
    before: float | None = None,
    dry_run: bool = False,
) -> Forgotten:
    """Delete the runs ``run_ids`` name and, with ``before``, every run started before it."""
    if not run_ids and before is None:
        raise UsageError(
            "name the runs to forget (ids or unique prefixes, `route cost runs` lists them) "
            "or give --before DATE"
        )
    if isinstance(target, Path) and not target.exists():
        raise UsageError(f"no ledger at {target} — check --ledger (nothing was removed)")
    with Ledger.open(target) as ledger:
        chosen = {record.run_id: record for record in (ledger.get(ref) for ref in run_ids)}
        if before is not None:
            chosen.update((record.run_id, record) for record in ledger.runs(until=before))
        runs = tuple(sorted(chosen.values(), key=lambda record: -record.started_at))
        removed = 0 if dry_run else ledger.forget([record.run_id for record in runs])
        return Forgotten(ledger=ledger.where, dry_run=dry_run, runs=runs, removed=removed)
