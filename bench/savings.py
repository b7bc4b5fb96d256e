"""Savings on the example workflow: the full scaffold of a new resource (Projects: model,
schema, service, routes, tests, wiring — every section of the example skill, one `route gen`
each), run by the delegation part against the real server, priced for two cloud models.

Prices and token estimates are route's own (the ledger re-priced with `route cost runs --json
--cloud-model M`): without routing the cloud model would read the prompt and write the answer;
with routing it pays only the hand-off (the command it writes and the JSON summary it reads).
A run that did not succeed avoided nothing: its net saving is minus its hand-off cost.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.common import BenchError, Goal, PartResult, measure, route_command, route_environment
from bench.delegation import TASKS, DelegationRun
from bench.stats import percent

CLOUD_MODELS = ("claude-sonnet-4-5", "claude-opus-4-5")
SCAFFOLD_PREFIX = "projects-"
SEED_CLAIM_PERCENT = 65.0


def dollars(amount: float) -> str:
    """Dollars with four decimals: single runs cost fractions of a cent."""
    return f"{amount:.4f}"


def repriced_runs(route_home: Path, cloud_model: str, count: int) -> dict[str, dict[str, Any]]:
    """run_id -> the ledger row with its cost re-priced for ``cloud_model``."""
    command = [*route_command(), "cost", "runs", "--json", "-n", str(max(count, 1)),
               "--cloud-model", cloud_model]  # fmt: skip
    measured = measure(command, environment=route_environment(route_home))
    if measured.exit_code != 0:
        raise BenchError(f"`route cost runs` failed: {measured.stderr[-400:]}")
    runs = json.loads(measured.stdout).get("runs", [])
    return {str(run["run_id"]): run for run in runs}


def section_rows(
    order: Sequence[tuple[str, str, str]], priced: dict[str, dict[str, dict[str, Any]]]
) -> tuple[list[tuple[object, ...]], dict[str, dict[str, float]]]:
    """One row per (task, sections, run id), then a total row; and the totals per model."""
    totals = {model: {"cloud": 0.0, "handoff": 0.0, "net": 0.0} for model in CLOUD_MODELS}
    tokens = {"cloud": 0, "handoff": 0}
    rows: list[tuple[object, ...]] = []
    for task, sections, run_id in order:
        costs = {model: priced[model][run_id]["cost"] for model in CLOUD_MODELS}
        first = costs[CLOUD_MODELS[0]]
        cloud_tokens = first["cloud_input_tokens_estimate"] + first["cloud_output_tokens_estimate"]
        handoff_tokens = (
            first["handoff_input_tokens_estimate"] + first["handoff_output_tokens_estimate"]
        )
        tokens["cloud"] += cloud_tokens
        tokens["handoff"] += handoff_tokens
        cells: list[object] = [task, sections, priced[CLOUD_MODELS[0]][run_id]["status"],
                               cloud_tokens, handoff_tokens]  # fmt: skip
        for model in CLOUD_MODELS:
            cost = costs[model]
            totals[model]["cloud"] += cost["cloud_only_dollars"]
            totals[model]["handoff"] += cost["handoff_dollars"]
            totals[model]["net"] += cost["net_saving_dollars"]
            cells += [dollars(cost["cloud_only_dollars"]), dollars(cost["handoff_dollars"]),
                      dollars(cost["net_saving_dollars"])]  # fmt: skip
        rows.append(tuple(cells))
    total: list[object] = ["total", "", "", tokens["cloud"], tokens["handoff"]]
    for model in CLOUD_MODELS:
        total += [dollars(totals[model][key]) for key in ("cloud", "handoff", "net")]
    rows.append(tuple(total))
    return rows, totals


def run(delegation: DelegationRun) -> PartResult:
    outcomes = {
        o.task: o
        for o in delegation.outcomes
        if o.method == "route" and o.task.startswith(SCAFFOLD_PREFIX) and o.route_result
    }
    order = [
        (task.key, task.section_label(), str(outcomes[task.key].route_result["run_id"]))  # type: ignore[index]
        for task in TASKS
        if task.key in outcomes
    ]
    if not order:
        raise BenchError("no scaffold run to price — the delegation part ran no Projects task")
    priced = {
        model: repriced_runs(delegation.route_home, model, len(delegation.outcomes) + 10)
        for model in CLOUD_MODELS
    }
    rows, totals = section_rows(order, priced)
    goals = tuple(
        Goal(
            f"net saving on the full scaffold, {model} (seed claim ~{SEED_CLAIM_PERCENT:.0f} %)",
            f"${totals[model]['net']:.4f} of ${totals[model]['cloud']:.4f} "
            f"({percent(totals[model]['net'], totals[model]['cloud']) or 0:.1f} %)",
            None,  # reported, not a pass/fail goal
        )
        for model in CLOUD_MODELS
    )
    short = {"claude-sonnet-4-5": "sonnet", "claude-opus-4-5": "opus"}
    headers = ["task", "sections", "status", "cloud tok (no routing)", "hand-off tok"]
    for model in CLOUD_MODELS:
        headers += [f"{short[model]} cloud $", f"{short[model]} hand-off $",
                    f"{short[model]} net $"]  # fmt: skip
    return PartResult(
        name="savings",
        title="Savings on the full scaffold of a new resource (route's price table)",
        headers=tuple(headers),
        rows=tuple(rows),
        goals=goals,
        notes=(
            "tokens and dollars are route's estimates (cloud tokens = characters / the cloud "
            "tokenizer's characters per token), re-priced from the ledger with "
            "`route cost runs --cloud-model`",
            "failed runs avoid nothing (net = minus the hand-off), so the total counts them",
        ),
        data={"totals": totals, "runs": [run_id for _, _, run_id in order]},
    )
