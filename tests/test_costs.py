"""Summaries, grouping, periods and re-pricing, against hand-computed figures."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from route.accounting import costs
from route.accounting.ledger import Ledger, RunRecord
from route.accounting.pricing import load_prices
from route.errors import UnknownCloudModel, UsageError
from tests.helpers import run_record

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC).timestamp()
DAY = 86400.0


def make_record(**changes: Any) -> RunRecord:
    changes.setdefault("started_at", NOW - 3600)
    return run_record(**changes)


def two_runs() -> list[RunRecord]:
    """A success (cloud-only $0.033) and a failure with half the text (cloud-only $0.0165)."""
    return [
        make_record(started_at=NOW - 2 * DAY),
        make_record(
            started_at=NOW - DAY,
            status="verify_failed",
            exit_code=1,
            prompt_characters=1500,
            output_characters=3000,
            output_tokens=900,
            generation_seconds=18.0,
            skill_refs="scaffold#3, tests#5",
            model="qwen2.5-coder:14b",
        ),
    ]


def summarize(records: list[RunRecord], **options: Any) -> costs.CostSummary:
    table = load_prices()
    cloud_model = options.pop("cloud_model", None)
    energy = {key: options.pop(key) for key in ("power_watts", "price_per_kwh") if key in options}
    priced = costs.price_runs(records, table, cloud_model=cloud_model, **energy)
    return costs.summarize(
        priced,
        prices_date=table.date,
        period=costs.Period(since=None, until=None),
        cloud_model=cloud_model,
        timezone=UTC,
        **options,
    )


def test_summary_totals_match_hand_computed_figures() -> None:
    total = summarize(two_runs()).total
    assert total.runs == 2
    assert total.succeeded == 1
    assert total.success_rate == 0.5
    assert total.local_tokens == 900 + 1800 + 900 + 900
    assert total.tokens_per_second == pytest.approx(2700 / 54)
    assert total.cloud_only_dollars == pytest.approx(0.033 + 0.0165)
    assert total.cloud_tokens_avoided == 3000  # the failed run avoided nothing
    assert total.cloud_dollars_avoided == pytest.approx(0.033)
    assert total.handoff_tokens == 300
    assert total.handoff_dollars == pytest.approx(2 * 0.00105)
    assert total.energy_dollars == 0.0
    assert total.net_saving_dollars == pytest.approx(0.033 - 2 * 0.00105)
    assert total.net_saving_percent == pytest.approx(100 * 0.0309 / 0.0495)


def test_energy_is_subtracted_when_configured() -> None:
    total = summarize(two_runs(), power_watts=100.0, price_per_kwh=0.5).total
    # 100 W x (36 + 18) s = 0.0015 kWh x $0.5 = $0.00075
    assert total.energy_dollars == pytest.approx(0.00075)
    assert total.net_saving_dollars == pytest.approx(0.0309 - 0.00075)


def test_repricing_uses_the_other_model_and_its_tokenizer() -> None:
    summary = summarize(two_runs()[:1], cloud_model="claude-opus-4-7")
    # opus 4.7: 2.2 chars/token, $5/$25. 3000/2.2 -> 1364, 6000/2.2 -> 2728, 300 -> 137, 150 -> 69
    expected_cloud = (1364 * 5 + 2728 * 25) / 1e6
    expected_handoff = (137 * 5 + 69 * 25) / 1e6
    assert summary.total.cloud_only_dollars == pytest.approx(expected_cloud)
    assert summary.total.handoff_dollars == pytest.approx(expected_handoff)
    assert summary.total.net_saving_dollars == pytest.approx(expected_cloud - expected_handoff)
    assert summary.cloud_models == ("claude-opus-4-7",)
    assert summary.cloud_model == "claude-opus-4-7"


def test_each_run_is_priced_with_its_own_cloud_model_by_default() -> None:
    records = [make_record(), make_record(cloud_model="gpt-5")]
    summary = summarize(records)
    # gpt-5: 4 chars/token, $1.25/$10: 750 x 1.25 + 1500 x 10 = 0.0159375
    assert summary.total.cloud_only_dollars == pytest.approx(0.033 + 0.0159375)
    assert summary.cloud_models == ("claude-sonnet-4-5", "gpt-5")


def test_unknown_cloud_model_is_an_error_not_zero() -> None:
    with pytest.raises(UnknownCloudModel):
        summarize(two_runs(), cloud_model="claude-sonnet-9")
    with pytest.raises(UnknownCloudModel):
        summarize([make_record(cloud_model="retired-model")])


def test_repricing_is_checked_even_without_runs() -> None:
    with pytest.raises(UnknownCloudModel):
        summarize([], cloud_model="nope")


@pytest.mark.parametrize(
    ("by", "keys"),
    [
        ("day", ["2026-11-18", "2026-11-19"]),
        ("week", ["2026-W47"]),
        ("month", ["2026-11"]),
        ("model", ["qwen2.5-coder:14b", "qwen2.5-coder:7b"]),
        ("skill", ["scaffold", "scaffold+tests"]),
        ("project", ["/work/projects-api"]),
        ("status", ["success", "verify_failed"]),
    ],
)
def test_grouping_keys_and_group_sums_add_up(by: str, keys: list[str]) -> None:
    summary = summarize(two_runs(), by=by)
    assert [group.key for group in summary.groups] == keys
    assert sum(group.runs for group in summary.groups) == summary.total.runs
    assert sum(group.net_saving_dollars for group in summary.groups) == pytest.approx(
        summary.total.net_saving_dollars
    )


def test_group_of_a_failed_run_shows_a_negative_saving() -> None:
    groups = {group.key: group for group in summarize(two_runs(), by="status").groups}
    assert groups["verify_failed"].net_saving_dollars == pytest.approx(-0.00105)
    assert groups["success"].net_saving_dollars == pytest.approx(0.03195)


def test_skill_names_of_runs_without_skills() -> None:
    assert costs.skill_names(make_record(skill_refs="")) == "(none)"
    assert costs.skill_names(make_record(skill_refs="scaffold#2,3, scaffold#5")) == "scaffold"


def test_unknown_grouping_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="fortnight"):
        summarize(two_runs(), by="fortnight")


@pytest.mark.parametrize(
    ("since", "until", "expected"),
    [
        ("7d", None, (NOW - 7 * DAY, None)),
        ("12h", "1h", (NOW - 12 * 3600, NOW - 3600)),
        ("2w", None, (NOW - 14 * DAY, None)),
        ("all", None, (None, None)),
        (
            "2026-11-01",
            "2026-11-02",
            (
                datetime(2026, 11, 1, tzinfo=UTC).timestamp(),
                datetime(2026, 11, 3, tzinfo=UTC).timestamp(),  # --until a date includes it
            ),
        ),
        (
            "2026-11-01T09:30",
            "2026-11-01T10:00+00:00",
            (
                datetime(2026, 11, 1, 9, 30, tzinfo=UTC).timestamp(),
                datetime(2026, 11, 1, 10, 0, tzinfo=UTC).timestamp(),
            ),
        ),
    ],
)
def test_parse_period(since: str, until: str | None, expected: tuple[Any, Any]) -> None:
    period = costs.parse_period(since, until, now=NOW, timezone=UTC)
    assert (period.since, period.until) == expected


@pytest.mark.parametrize(
    ("since", "until", "words"),
    [
        ("yesterday", None, "--since 'yesterday'"),
        ("7x", None, "--since"),
        ("1d", "2020-13-01", "--until"),
        ("1d", "3d", "not before"),
        ("999999999d", None, "--since '999999999d' lies outside 1970-9999"),
        ("99999999999999999999999w", None, "outside"),
        ("0001-01-01", None, "--since '0001-01-01' lies outside"),
    ],
)
def test_bad_periods_are_usage_errors(since: str, until: str | None, words: str) -> None:
    with pytest.raises(UsageError, match=words):
        costs.parse_period(since, until, now=NOW, timezone=UTC)


def test_read_runs_of_a_missing_ledger_is_empty_and_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "none" / "ledger.sqlite3"
    assert costs.read_runs(path) == []
    assert not path.parent.exists()
    with pytest.raises(UsageError, match="no ledger"):
        costs.find_run(path, "abc")


def test_read_runs_applies_the_period(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    records = two_runs()
    with Ledger.open(path) as ledger:
        for record in records:
            ledger.record(record)
    period = costs.parse_period("36h", None, now=NOW, timezone=UTC)
    assert costs.read_runs(path, since=period.since, until=period.until) == [records[1]]
    assert costs.find_run(path, records[0].run_id[:10]) == records[0]


def test_json_shape() -> None:
    summary = summarize(two_runs(), by="status")
    data = json.loads(json.dumps(summary.to_dict()))
    assert set(data) == {
        "period",
        "project",
        "by",
        "cloud_model",
        "cloud_models",
        "prices_date",
        "estimate",
        "total",
        "groups",
    }
    assert data["estimate"] is True
    assert data["prices_date"] == "2026-11-01"
    assert data["by"] == "status"
    assert list(data["total"]) == list(costs.CSV_COLUMNS)
    assert data["total"]["runs"] == 2
    assert data["total"]["net_saving_dollars"] == pytest.approx(0.0309)
    assert [group["key"] for group in data["groups"]] == ["success", "verify_failed"]


def test_csv_shape_without_and_with_grouping() -> None:
    plain = list(csv.DictReader(io.StringIO(costs.summary_csv(summarize(two_runs())))))
    assert len(plain) == 1
    assert list(plain[0]) == list(costs.CSV_COLUMNS)
    assert plain[0]["key"] == "total"
    assert float(plain[0]["net_saving_dollars"]) == pytest.approx(0.0309)
    grouped = list(
        csv.DictReader(io.StringIO(costs.summary_csv(summarize(two_runs(), by="model"))))
    )
    assert [(row["key"], row["runs"]) for row in grouped] == [
        ("qwen2.5-coder:14b", "1"),
        ("qwen2.5-coder:7b", "1"),
        ("total", "2"),
    ]


def test_csv_decimals_are_rounded() -> None:
    summary = summarize(two_runs(), by="model")
    for row in csv.DictReader(io.StringIO(costs.summary_csv(summary))):
        for column in ("net_saving_dollars", "cloud_only_dollars", "handoff_dollars"):
            assert len(row[column].partition(".")[2]) <= 6, (column, row[column])
        for column in ("success_rate", "tokens_per_second", "net_saving_percent"):
            assert len(row[column].partition(".")[2]) <= 4, (column, row[column])


@pytest.mark.parametrize(
    ("amount", "text"),
    [(-0.0012, "-$0.0012"), (0.0012, "$0.0012"), (1234.5, "$1,234.5000"), (-0.00001, "$0.0000")],
)
def test_money_is_written_one_way(amount: float, text: str) -> None:
    from route.accounting.money import dollars

    assert dollars(amount) == text


def test_run_detail_dates_are_iso_8601_in_local_time() -> None:
    from route.accounting.pricing import load_prices

    run = costs.price_runs([make_record(started_at=NOW)], load_prices())[0]
    rows = dict(costs.run_detail_rows(run, timezone=UTC))
    assert rows["started_at"] == "2026-11-20T12:00:00+00:00"


def test_text_shapes_show_estimates_and_negative_dollars() -> None:
    summary = summarize(two_runs(), by="status")
    rows = costs.group_rows(summary)
    assert rows[-1][0] == "total"
    assert rows[1][7].startswith("-$0.001")  # the failed run's net saving: -$0.00105
    assert rows[1][8] == "-6.4%"  # of its $0.0165 cloud-only cost
    figures = dict(costs.summary_rows(summary.total))
    assert figures["net saving (est.)"] == "$0.0309"
    assert figures["net saving percent (est.)"] == "62.4%"
    assert "prices of 2026-11-01" in costs.summary_title(summary, UTC)


def test_run_detail_and_json_of_one_run() -> None:
    (run,) = costs.price_runs([make_record(run_id="f" * 32)], load_prices())
    details = dict(costs.run_detail_rows(run, UTC))
    assert details["run_id"] == "f" * 32
    assert details["cost: cloud-only dollars (est.)"] == "$0.0330"
    data = costs.priced_run_dict(run)
    assert data["cost"]["net_saving_dollars"] == pytest.approx(0.03195)
    assert data["prompt_characters"] == 3000
    json.dumps(data)


def test_price_listing_shows_sources() -> None:
    table = load_prices({"claude-sonnet-5": {"input": 3}})
    rows = {row[0]: row for row in costs.price_rows(table)}
    assert rows["claude-sonnet-5"][1] == "3"
    assert rows["claude-sonnet-5"][-1] == "config"
    assert rows["gpt-5"][-1] == "package 2026-11-01"
    data = costs.prices_dict(table)
    assert data["date"] == "2026-11-01"
    assert len(data["models"]) == len(table.prices)


def test_explanation_uses_the_figures_in_force() -> None:
    text = costs.explain_savings(load_prices(), "claude-opus-4-7")
    assert "characters / 2.2" in text
    assert "$25 per million output" in text
    assert "did not succeed" in text
