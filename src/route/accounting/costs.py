"""Cost reports over the ledger: periods, grouping, re-pricing, and their table/JSON/CSV shapes.

Nothing here reads config or prints: callers pass the price table, the energy settings and the
clock, and render the values returned. Every cost is recomputed from the raw quantities of each
ledger row with ``pricing.estimate_cost``, so ``--cloud-model`` can re-price the whole history.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

from route.accounting.ledger import Ledger, RunRecord, split_skill_refs
from route.accounting.money import dollars, percent
from route.accounting.pricing import PriceTable, estimate_cost
from route.errors import UsageError
from route.values import CostReport

GROUPINGS = ("day", "week", "month", "model", "skill", "project", "status", "user", "machine")
UNKNOWN = "(unknown)"  # who or where, on rows recorded before route kept them
DEFAULT_SINCE = "30d"
SUCCESS = "success"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([hdw])\s*$", re.IGNORECASE)
_DURATION_SECONDS = {"h": 3600.0, "d": 86400.0, "w": 7 * 86400.0}
_LATEST = 253_402_300_800.0  # 10000-01-01 in unix time: later times cannot be printed


# --------------------------------------------------------------------------- periods


@dataclass(frozen=True, slots=True)
class Period:
    since: float | None  # unix time, inclusive; None: from the first run
    until: float | None  # unix time, exclusive; None: up to now


def parse_period(
    since: str | None, until: str | None, *, now: float, timezone: tzinfo | None = None
) -> Period:
    """``--since``/``--until`` as a Period. Each is a duration back from ``now`` (``12h``,
    ``7d``, ``2w``), a date (``2026-11-01``: the start of that day for --since, the end of it for
    --until) or a date and time; ``all`` means no bound. Naive times are in ``timezone``
    (default: the local one)."""
    period = Period(
        since=_parse_when(since, "--since", now=now, timezone=timezone, end_of_day=False),
        until=_parse_when(until, "--until", now=now, timezone=timezone, end_of_day=True),
    )
    if period.since is not None and period.until is not None and period.since >= period.until:
        raise UsageError(
            f"--since ({format_time(period.since, timezone)}) is not before --until "
            f"({format_time(period.until, timezone)}) — swap them or widen the period"
        )
    return period


def _parse_when(
    text: str | None, option: str, *, now: float, timezone: tzinfo | None, end_of_day: bool
) -> float | None:
    if text is None or text.strip().lower() in ("", "all"):
        return None
    duration = _DURATION.match(text)
    if duration:
        moment = now - float(duration.group(1)) * _DURATION_SECONDS[duration.group(2).lower()]
        return _checked_time(moment, option, text)
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise UsageError(
            f"cannot read {option} {text!r} — use a duration such as 12h, 7d or 2w, a date such "
            f"as 2026-11-01, a date and time such as 2026-11-01T09:30, or `all`"
        ) from exc
    try:
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone) if timezone else when.astimezone()
        if end_of_day and len(text.strip()) == len("2026-11-01"):
            when += timedelta(days=1)
        moment = when.timestamp()
    except (ValueError, OverflowError, OSError):
        moment = -1.0  # before 1970 or after 9999: out of range below
    return _checked_time(moment, option, text)


def _checked_time(moment: float, option: str, text: str) -> float:
    """``moment`` when it lies between 1970 and 9999 (the times a ledger can hold and route can
    print); else a usage error."""
    if not 0 <= moment < _LATEST:
        raise UsageError(
            f"{option} {text!r} lies outside 1970-9999 — give a shorter duration or a later "
            "date, or `all` for every run"
        )
    return moment


def parse_before(text: str, *, now: float, timezone: tzinfo | None = None) -> float:
    """``cost forget --before``: a date (its start), a date and time, or a duration back."""
    moment = _parse_when(text, "--before", now=now, timezone=timezone, end_of_day=False)
    if moment is None:
        raise UsageError(
            f"--before needs a date or a duration, not {text!r} — e.g. --before 2026-01-01"
        )
    return moment


def format_time(moment: float, timezone: tzinfo | None = None) -> str:
    """``2026-11-01 14:03`` in ``timezone`` (default: local)."""
    return datetime.fromtimestamp(moment, timezone).strftime("%Y-%m-%d %H:%M")


def iso_time(moment: float | None, timezone: tzinfo | None = None) -> str | None:
    """ISO 8601 with its offset, in ``timezone`` (default: local): ``2026-11-01T14:03:09+01:00``."""
    if moment is None:
        return None
    return (
        datetime.fromtimestamp(moment, timezone).astimezone(timezone).isoformat(timespec="seconds")
    )


def read_runs(
    target: Path | str,
    *,
    since: float | None = None,
    until: float | None = None,
    project: str | None = None,
    limit: int | None = None,
    must_exist: bool = False,
) -> list[RunRecord]:
    """Runs from the ledger at ``target`` (a file or a ``postgresql://`` URL), newest first. A
    missing file has no runs (and is not created), unless ``must_exist`` (the user named it):
    then it is a UsageError."""
    if isinstance(target, Path) and not target.exists():
        if must_exist:
            raise UsageError(f"no ledger at {target} — check the path given with --ledger")
        return []
    with Ledger.open(target) as ledger:
        return ledger.runs(since=since, until=until, project=project, limit=limit)


def find_run(target: Path | str, run_id_prefix: str) -> RunRecord:
    if isinstance(target, Path) and not target.exists():
        raise UsageError(f"no ledger at {target} yet — `route gen` records a run there first")
    with Ledger.open(target) as ledger:
        return ledger.get(run_id_prefix)


# --------------------------------------------------------------------------- pricing runs


@dataclass(frozen=True, slots=True)
class PricedRun:
    record: RunRecord
    cost: CostReport

    @property
    def succeeded(self) -> bool:
        return self.record.status == SUCCESS


def price_runs(
    records: Iterable[RunRecord],
    table: PriceTable,
    *,
    cloud_model: str | None = None,
    power_watts: float | None = None,
    price_per_kwh: float | None = None,
) -> list[PricedRun]:
    """Each run's cost against ``cloud_model`` (re-pricing) or, when None, the cloud model the
    run recorded. Unknown models raise ``UnknownCloudModel``."""
    forced = table.get(cloud_model) if cloud_model is not None else None
    priced: list[PricedRun] = []
    for record in records:
        price = forced if forced is not None else table.get(record.cloud_model)
        cost = estimate_cost(
            price=price,
            prices_date=table.date,
            prompt_characters=record.prompt_characters,
            output_characters=record.output_characters,
            handoff_input_characters=record.handoff_input_characters,
            handoff_output_characters=record.handoff_output_characters,
            succeeded=record.status == SUCCESS,
            generation_seconds=record.generation_seconds,
            power_watts=power_watts,
            price_per_kwh=price_per_kwh,
        )
        priced.append(PricedRun(record=record, cost=cost))
    return priced


# --------------------------------------------------------------------------- summaries


@dataclass(frozen=True, slots=True)
class Totals:
    """Sums over a set of runs. Cloud figures are estimates."""

    key: str
    runs: int = 0
    succeeded: int = 0
    prompt_tokens: int = 0  # local server counts
    output_tokens: int = 0
    generation_seconds: float = 0.0
    cloud_only_dollars: float = 0.0  # what the cloud model would have cost for every run
    cloud_tokens_avoided: int = 0  # successful runs only
    cloud_dollars_avoided: float = 0.0  # successful runs only
    handoff_tokens: int = 0
    handoff_dollars: float = 0.0
    energy_dollars: float = 0.0
    net_saving_dollars: float = 0.0

    @property
    def success_rate(self) -> float:
        return self.succeeded / self.runs if self.runs else 0.0

    @property
    def local_tokens(self) -> int:
        return self.prompt_tokens + self.output_tokens

    @property
    def net_saving_percent(self) -> float:
        if self.cloud_only_dollars <= 0:
            return 0.0
        return 100.0 * self.net_saving_dollars / self.cloud_only_dollars

    @property
    def tokens_per_second(self) -> float:
        return self.output_tokens / self.generation_seconds if self.generation_seconds > 0 else 0.0

    def add(self, run: PricedRun) -> Totals:
        cost = run.cost
        succeeded = run.succeeded
        return dataclasses.replace(
            self,
            runs=self.runs + 1,
            succeeded=self.succeeded + int(succeeded),
            prompt_tokens=self.prompt_tokens + run.record.prompt_tokens,
            output_tokens=self.output_tokens + run.record.output_tokens,
            generation_seconds=self.generation_seconds + run.record.generation_seconds,
            cloud_only_dollars=self.cloud_only_dollars + cost.cloud_only_dollars,
            cloud_tokens_avoided=self.cloud_tokens_avoided
            + (cost.cloud_input_tokens_estimate + cost.cloud_output_tokens_estimate)
            * int(succeeded),
            cloud_dollars_avoided=self.cloud_dollars_avoided
            + (cost.cloud_only_dollars if succeeded else 0.0),
            handoff_tokens=self.handoff_tokens
            + cost.handoff_input_tokens_estimate
            + cost.handoff_output_tokens_estimate,
            handoff_dollars=self.handoff_dollars + cost.handoff_dollars,
            energy_dollars=self.energy_dollars + cost.local_energy_dollars,
            net_saving_dollars=self.net_saving_dollars + cost.net_saving_dollars,
        )

    def to_dict(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        values.update(
            success_rate=self.success_rate,
            local_tokens=self.local_tokens,
            net_saving_percent=self.net_saving_percent,
            tokens_per_second=self.tokens_per_second,
        )
        return {column: values[column] for column in CSV_COLUMNS}


CSV_COLUMNS = (
    "key",
    "runs",
    "succeeded",
    "success_rate",
    "prompt_tokens",
    "output_tokens",
    "local_tokens",
    "generation_seconds",
    "tokens_per_second",
    "cloud_only_dollars",
    "cloud_tokens_avoided",
    "cloud_dollars_avoided",
    "handoff_tokens",
    "handoff_dollars",
    "energy_dollars",
    "net_saving_dollars",
    "net_saving_percent",
)


@dataclass(frozen=True, slots=True)
class CostSummary:
    period: Period
    project: str | None
    by: str | None
    cloud_model: str | None  # the re-pricing model, None: each run's recorded cloud model
    cloud_models: tuple[str, ...]  # the cloud models the figures use
    prices_date: str
    total: Totals
    groups: tuple[Totals, ...]  # empty unless ``by`` is given

    def to_dict(self) -> dict[str, Any]:
        return {
            "period": {"since": iso_time(self.period.since), "until": iso_time(self.period.until)},
            "project": self.project,
            "by": self.by,
            "cloud_model": self.cloud_model,
            "cloud_models": list(self.cloud_models),
            "prices_date": self.prices_date,
            "estimate": True,
            "total": self.total.to_dict(),
            "groups": [group.to_dict() for group in self.groups],
        }


def summarize(
    priced: Sequence[PricedRun],
    *,
    prices_date: str,
    period: Period,
    by: str | None = None,
    project: str | None = None,
    cloud_model: str | None = None,
    timezone: tzinfo | None = None,
) -> CostSummary:
    """Totals for ``priced`` and, with ``by``, one Totals per group (sorted by key)."""
    total = Totals(key="total")
    for run in priced:
        total = total.add(run)
    groups: tuple[Totals, ...] = ()
    if by is not None:
        key_of = group_key(by, timezone)
        grouped: dict[str, Totals] = {}
        for run in priced:
            key = key_of(run.record)
            grouped[key] = grouped.get(key, Totals(key=key)).add(run)
        groups = tuple(grouped[key] for key in sorted(grouped))
    return CostSummary(
        period=period,
        project=project,
        by=by,
        cloud_model=cloud_model,
        cloud_models=tuple(sorted({run.cost.cloud_model for run in priced})),
        prices_date=prices_date,
        total=total,
        groups=groups,
    )


def group_key(by: str, timezone: tzinfo | None = None) -> Callable[[RunRecord], str]:
    """The function giving a run's group for ``--by``; times are in ``timezone`` (default
    local)."""

    def local(record: RunRecord) -> datetime:
        return datetime.fromtimestamp(record.started_at, timezone)

    def week(record: RunRecord) -> str:
        year, number, _ = local(record).isocalendar()
        return f"{year}-W{number:02d}"

    keys: dict[str, Callable[[RunRecord], str]] = {
        "day": lambda record: local(record).strftime("%Y-%m-%d"),
        "week": week,
        "month": lambda record: local(record).strftime("%Y-%m"),
        "model": lambda record: record.model,
        "skill": skill_names,
        "project": lambda record: record.project_name or record.project,
        "status": lambda record: record.status,
        "user": lambda record: record.user_name or UNKNOWN,
        "machine": lambda record: record.machine or UNKNOWN,
    }
    if by not in keys:
        raise UsageError(f"cannot group by {by!r} — use one of {', '.join(GROUPINGS)}")
    return keys[by]


def skill_names(record: RunRecord) -> str:
    """The skills a run cited (``scaffold#3, tests#1`` → ``scaffold+tests``), or ``(none)``."""
    names = sorted({ref.split("#", 1)[0] for ref in split_skill_refs(record.skill_refs)})
    return "+".join(names) if names else "(none)"


def summary_csv(summary: CostSummary) -> str:
    """One header line, one line per group and a ``total`` line (only that without ``by``);
    dollars to 6 decimals, shares and rates to 4 (what a spreadsheet needs, no float noise)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for totals in (*summary.groups, summary.total):
        writer.writerow(_csv_row(totals))
    return buffer.getvalue()


def _csv_row(totals: Totals) -> dict[str, Any]:
    row = totals.to_dict()
    for column, value in row.items():
        if isinstance(value, float):
            row[column] = round(value, 6 if column.endswith("_dollars") else 4)
    return row


# --------------------------------------------------------------------------- text shapes


def summary_title(summary: CostSummary, timezone: tzinfo | None = None) -> str:
    since = format_time(summary.period.since, timezone) if summary.period.since else "the start"
    until = format_time(summary.period.until, timezone) if summary.period.until else "now"
    if summary.cloud_model:
        against = f"re-priced as {summary.cloud_model}"
    elif summary.cloud_models:
        against = f"against {', '.join(summary.cloud_models)}"
    else:
        against = "no runs"
    scope = f" in {summary.project}" if summary.project else ""
    return f"route cost: {since} to {until}{scope} ({against}; prices of {summary.prices_date})"


def summary_rows(totals: Totals) -> list[tuple[str, str]]:
    """The summary as (figure, value) pairs."""
    return [
        ("runs", str(totals.runs)),
        ("succeeded", f"{totals.succeeded} ({percent(100.0 * totals.success_rate)})"),
        ("local tokens (prompt + output)", f"{totals.prompt_tokens:,} + {totals.output_tokens:,}"),
        ("average tokens/s", f"{totals.tokens_per_second:.1f}"),
        ("cloud tokens avoided (est.)", f"{totals.cloud_tokens_avoided:,}"),
        ("cloud dollars avoided (est.)", dollars(totals.cloud_dollars_avoided)),
        ("hand-off tokens (est.)", f"{totals.handoff_tokens:,}"),
        ("hand-off dollars (est.)", dollars(totals.handoff_dollars)),
        ("local energy dollars (est.)", dollars(totals.energy_dollars)),
        ("net saving (est.)", dollars(totals.net_saving_dollars)),
        ("net saving percent (est.)", percent(totals.net_saving_percent)),
    ]


GROUP_COLUMNS = (
    "group",
    "runs",
    "success",
    "local tokens",
    "cloud tokens avoided",
    "cloud $ avoided",
    "hand-off $",
    "net $",
    "net %",
    "tokens/s",
)


def group_rows(summary: CostSummary) -> list[tuple[str, ...]]:
    """One row per group, then the total."""
    return [
        (
            totals.key,
            str(totals.runs),
            percent(100.0 * totals.success_rate),
            f"{totals.local_tokens:,}",
            f"{totals.cloud_tokens_avoided:,}",
            dollars(totals.cloud_dollars_avoided),
            dollars(totals.handoff_dollars),
            dollars(totals.net_saving_dollars),
            percent(totals.net_saving_percent),
            f"{totals.tokens_per_second:.1f}",
        )
        for totals in (*summary.groups, summary.total)
    ]


RUN_COLUMNS = ("id", "started", "status", "model", "skill", "local tokens", "tok/s", "net $")


def run_rows(priced: Sequence[PricedRun], timezone: tzinfo | None = None) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for run in priced:
        record = run.record
        speed = record.output_tokens / record.generation_seconds if record.generation_seconds else 0
        rows.append(
            (
                record.run_id[:8],
                format_time(record.started_at, timezone),
                record.status,
                record.model,
                record.skill_refs or "-",
                f"{record.prompt_tokens + record.output_tokens:,}",
                f"{speed:.1f}",
                dollars(run.cost.net_saving_dollars),
            )
        )
    return rows


def priced_run_dict(run: PricedRun) -> dict[str, Any]:
    """A run for ``--json``: every ledger field plus its (re)computed cost."""
    values = run.record.to_dict()
    values["started_at_iso"] = iso_time(run.record.started_at)
    cost = dataclasses.asdict(run.cost)
    cost["notes"] = list(run.cost.notes)
    values["cost"] = cost
    return values


def run_detail_rows(run: PricedRun, timezone: tzinfo | None = None) -> list[tuple[str, str]]:
    """One run in full, as (field, value) pairs: the ledger row, then its cost."""
    rows = [
        (name, (iso_time(value, timezone) or "-") if name.endswith("_at") else _text(value))
        for name, value in run.record.to_dict().items()
    ]
    cost = run.cost
    rows += [
        ("cost: cloud model", f"{cost.cloud_model} ({cost.tokenizer_family} tokenizer)"),
        (
            "cost: cloud tokens without routing (est.)",
            f"{cost.cloud_input_tokens_estimate:,} in + {cost.cloud_output_tokens_estimate:,} out",
        ),
        ("cost: cloud-only dollars (est.)", dollars(cost.cloud_only_dollars)),
        (
            "cost: hand-off tokens (est.)",
            f"{cost.handoff_input_tokens_estimate:,} in + "
            f"{cost.handoff_output_tokens_estimate:,} out",
        ),
        ("cost: hand-off dollars (est.)", dollars(cost.handoff_dollars)),
        ("cost: local energy dollars (est.)", dollars(cost.local_energy_dollars)),
        (
            "cost: net saving (est.)",
            f"{dollars(cost.net_saving_dollars)} ({percent(cost.net_saving_percent)})",
        ),
    ]
    rows += [("note", note) for note in cost.notes]
    return rows


def _text(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


PRICE_COLUMNS = (
    "model",
    "input $/M",
    "output $/M",
    "cache write $/M",
    "cache read $/M",
    "tokenizer",
    "chars/token",
    "source",
)


def price_rows(table: PriceTable) -> list[tuple[str, ...]]:
    return [
        (
            price.model,
            f"{price.input:g}",
            f"{price.output:g}",
            f"{price.cache_write:g}",
            f"{price.cache_read:g}",
            price.tokenizer_family,
            f"{price.chars_per_token:g}",
            price.source,
        )
        for price in table.prices.values()
    ]


def prices_dict(table: PriceTable) -> dict[str, Any]:
    return {
        "date": table.date,
        "source": table.source,
        "note": table.note,
        "models": [dataclasses.asdict(price) for price in table.prices.values()],
    }


def explain_savings(table: PriceTable, cloud_model: str) -> str:
    """The savings model in words, with the figures in force for ``cloud_model``."""
    price = table.get(cloud_model)
    return "\n".join(
        (
            f"How route estimates savings (cloud model {price.model}, prices of {table.date}, "
            f"{price.source}):",
            "",
            "  Without routing, the cloud model would have read the same prompt and written the",
            "  same output. Its tokens are estimated from characters: characters / "
            f"{price.chars_per_token:g}",
            f"  ({price.tokenizer_family} tokenizer family), rounded up, times ${price.input:g} "
            "per million",
            f"  input and ${price.output:g} per million output tokens.",
            "",
            "  With routing, the cloud model still pays for the hand-off: the command it typed",
            "  (output tokens) and the summary it read back (input tokens).",
            "",
            "  The local model costs no API dollars. Its energy is counted only when",
            "  power_watts and price_per_kwh are set in config:",
            "  watts x generation seconds / 3,600,000 x price per kWh.",
            "",
            "  A run that did not succeed saved nothing: the work goes back to the cloud model, so",
            "  that run counts as minus its hand-off and energy cost.",
            "",
            "  Net saving = cloud-only cost of successful runs - hand-off cost - energy cost;",
            "  percent = net saving / cloud-only cost of all runs.",
            "",
            "  Every cloud figure is an estimate: the cloud tokenizer is not run offline, and",
            "  prices change (`route cost prices` shows the date and source of each price;",
            "  override them under `prices:` in route.yaml; --cloud-model re-prices history).",
        )
    )
