"""``route cost`` through typer's CliRunner: exit codes, output shapes and re-pricing."""

from __future__ import annotations

import csv
import io
import json
import multiprocessing
import os
import pwd
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner, Result

from route.accounting.ledger import Ledger, RunRecord
from route.cli import cost
from route.errors import EXIT_USAGE, LedgerError, UnknownCloudModel, UsageError
from tests.helpers import run_record

root = typer.Typer()
root.add_typer(cost.app, name="cost")


@root.callback()
def _root() -> None:
    """Stands in for route's main app."""


def make_record(**changes: Any) -> RunRecord:
    changes.setdefault("started_at", time.time() - 3600)
    return run_record(**changes)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder (with a route.yaml) as the current directory."""
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "route.yaml").write_text("cloud_model: claude-sonnet-4-5\n", encoding="utf-8")
    monkeypatch.chdir(folder)
    return folder


@pytest.fixture
def ledger_runs(route_home: Path, project: Path) -> list[RunRecord]:
    """Two recent runs in the default ledger (ROUTE_HOME), one old one outside 30 days."""
    records = [
        make_record(run_id="aaaa" + uuid.uuid4().hex[4:], project=str(project)),
        make_record(
            run_id="bbbb" + uuid.uuid4().hex[4:],
            status="verify_failed",
            exit_code=1,
            verify_passed=False,
        ),
        make_record(started_at=time.time() - 90 * 86400, task="old run"),
    ]
    with Ledger.open(route_home / "ledger.sqlite3") as ledger:
        for record in records:
            ledger.record(record)
    return records


def invoke(*arguments: str) -> Result:
    return CliRunner().invoke(root, ["cost", *arguments])


def test_summary_json_has_hand_computed_totals(ledger_runs: list[RunRecord]) -> None:
    result = invoke("--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["total"]["runs"] == 2  # the 90-day-old run is outside the default 30 days
    assert data["total"]["cloud_dollars_avoided"] == pytest.approx(0.033)
    assert data["total"]["net_saving_dollars"] == pytest.approx(0.033 - 2 * 0.00105)
    assert data["estimate"] is True


def test_since_all_includes_old_runs(ledger_runs: list[RunRecord]) -> None:
    data = json.loads(invoke("--since", "all", "--json").stdout)
    assert data["total"]["runs"] == 3


def test_summary_plain_text(ledger_runs: list[RunRecord]) -> None:
    result = invoke()
    assert result.exit_code == 0, result.output
    assert "net saving (est.)" in result.stdout
    assert "$0.0309" in result.stdout
    assert "prices of 2026-11-01" in result.stdout
    assert "\x1b[" not in result.stdout  # plain text when not a terminal


def test_by_status_as_csv(ledger_runs: list[RunRecord]) -> None:
    result = invoke("--by", "status", "--csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(row["key"], row["runs"]) for row in rows] == [
        ("success", "1"),
        ("verify_failed", "1"),
        ("total", "2"),
    ]


def test_by_day_table_ends_with_a_total(ledger_runs: list[RunRecord]) -> None:
    result = invoke("--by", "day")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-2].startswith("total")


def test_project_filter(ledger_runs: list[RunRecord], project: Path) -> None:
    data = json.loads(invoke("--project", str(project), "--json").stdout)
    assert data["total"]["runs"] == 1
    assert data["project"] == str(project.resolve())


def test_cloud_model_reprices(ledger_runs: list[RunRecord]) -> None:
    data = json.loads(invoke("--cloud-model", "claude-opus-4-7", "--json").stdout)
    assert data["cloud_models"] == ["claude-opus-4-7"]
    assert data["total"]["cloud_dollars_avoided"] == pytest.approx((1364 * 5 + 2728 * 25) / 1e6)


def test_unknown_cloud_model_fails_with_usage_exit_code(ledger_runs: list[RunRecord]) -> None:
    result = invoke("--cloud-model", "claude-sonet-4-5")
    assert isinstance(result.exception, UnknownCloudModel)
    assert result.exception.exit_code == EXIT_USAGE
    assert "claude-sonnet-4-5" in str(result.exception)


def test_price_override_from_config_is_used(ledger_runs: list[RunRecord], project: Path) -> None:
    (project / "route.yaml").write_text(
        "prices:\n  claude-sonnet-4-5: {input: 6, output: 30}\n", encoding="utf-8"
    )
    data = json.loads(invoke("--json").stdout)
    assert data["total"]["cloud_dollars_avoided"] == pytest.approx(0.066)
    listing = invoke("prices")
    line = next(row for row in listing.stdout.splitlines() if row.startswith("claude-sonnet-4-5"))
    assert line.split()[-1] == "config"


def test_unknown_grouping_is_a_usage_error(ledger_runs: list[RunRecord]) -> None:
    result = invoke("--by", "fortnight")
    assert result.exit_code == 2
    assert "fortnight" in result.output


def test_json_and_csv_together_is_a_usage_error(ledger_runs: list[RunRecord]) -> None:
    result = invoke("--json", "--csv")
    assert isinstance(result.exception, UsageError)
    assert result.exception.exit_code == EXIT_USAGE


def test_bad_since_is_a_usage_error(ledger_runs: list[RunRecord]) -> None:
    result = invoke("--since", "last tuesday")
    assert isinstance(result.exception, UsageError)
    assert "--since" in str(result.exception)


def test_a_missing_default_ledger_reports_zero_runs(project: Path, route_home: Path) -> None:
    data = json.loads(invoke("--json").stdout)
    assert data["total"]["runs"] == 0
    assert not (route_home / "ledger.sqlite3").exists()


def test_a_named_ledger_that_does_not_exist_is_a_usage_error(project: Path, tmp_path: Path) -> None:
    """Issue 19, item 10: `--ledger /nonexistent/x` showed 0 runs as if all were well."""
    missing = tmp_path / "nowhere" / "ledger.sqlite3"
    for arguments in (["--json"], ["runs"], ["show", "abc"], ["forget", "abc"]):
        result = invoke(*arguments, "--ledger", str(missing))
        assert isinstance(result.exception, UsageError), arguments
        assert f"no ledger at {missing}" in str(result.exception)
    assert not missing.exists()
    assert not missing.parent.exists()


def test_a_folder_given_as_the_ledger_says_it_is_a_directory(project: Path, tmp_path: Path) -> None:
    """Issue 19, item 8: a folder was "cannot be used ... move it aside (mv DIR DIR.broken)"."""
    result = invoke("--ledger", str(tmp_path))
    assert isinstance(result.exception, LedgerError)
    message = str(result.exception)
    assert "is a directory" in message
    assert "mv " not in message and "move it aside" not in message


def _open_as_unprivileged_user(path: Path, queue: Any) -> None:
    """In a forked child: drop root (which writes anywhere), then open the ledger."""
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        os.setgid(nobody.pw_gid)
        os.setuid(nobody.pw_uid)
    try:
        Ledger.open(path).close()
        queue.put("opened")
    except LedgerError as error:
        queue.put(str(error))


def test_a_read_only_ledger_says_read_only_and_never_move_it(tmp_path: Path) -> None:
    """Issue 19, item 8: a good ledger on a read-only folder was called unusable, to be moved."""
    folder = Path(tempfile.mkdtemp(prefix="route-readonly-"))
    try:
        path = folder / "ledger.sqlite3"
        with Ledger.open(path) as ledger:
            ledger.record(make_record())
        for file in folder.iterdir():
            file.chmod(0o444)
        folder.chmod(0o555)
        context = multiprocessing.get_context("fork")
        queue = context.Queue()
        child = context.Process(target=_open_as_unprivileged_user, args=(path, queue))
        child.start()
        message = queue.get(timeout=60)
        child.join(timeout=60)
        assert "read-only" in message
        assert "no write permission" in message
        assert "mv " not in message and "broken" not in message
    finally:
        folder.chmod(0o755)
        shutil.rmtree(folder)


def test_corrupt_ledger_is_a_ledger_error(project: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.sqlite3"
    broken.write_bytes(b"\x00garbage\xff" * 500)
    result = invoke("--ledger", str(broken))
    assert isinstance(result.exception, LedgerError)
    assert result.exception.exit_code == EXIT_USAGE
    assert f"mv {broken}" in str(result.exception)


def test_runs_lists_newest_first(ledger_runs: list[RunRecord]) -> None:
    result = invoke("runs", "-n", "2")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[2].startswith(ledger_runs[0].run_id[:8]) or lines[2].startswith(
        ledger_runs[1].run_id[:8]
    )
    assert len(lines) == 4  # title, header, two runs
    data = json.loads(invoke("runs", "--json").stdout)
    assert len(data["runs"]) == 3
    assert data["runs"][-1]["task"] == "old run"
    assert "cost" in data["runs"][0]


def test_show_one_run_by_prefix(ledger_runs: list[RunRecord]) -> None:
    result = invoke("show", "bbbb", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["run_id"] == ledger_runs[1].run_id
    assert data["cost"]["net_saving_dollars"] == pytest.approx(-0.00105)
    text = invoke("show", "aaaa").stdout
    assert ledger_runs[0].run_id in text
    assert "cost: net saving (est.)" in text


def test_show_reports_reasoning_tokens_and_prices_only_the_answer(
    route_home: Path, project: Path
) -> None:
    plain = make_record(run_id="cccc" + uuid.uuid4().hex[4:])
    thinking = make_record(run_id="dddd" + uuid.uuid4().hex[4:], reasoning_tokens=3000)
    with Ledger.open(route_home / "ledger.sqlite3") as ledger:
        ledger.record(plain)
        ledger.record(thinking)
    data = json.loads(invoke("show", "dddd", "--json").stdout)
    assert data["reasoning_tokens"] == 3000
    baseline = json.loads(invoke("show", "cccc", "--json").stdout)
    # The cloud model would have written the answer, not the local model's reasoning.
    assert data["cost"]["cloud_only_dollars"] == baseline["cost"]["cloud_only_dollars"]
    text = invoke("show", "dddd").stdout
    assert "reasoning_tokens" in text and "3000" in text


def test_show_unknown_run_is_a_usage_error(ledger_runs: list[RunRecord]) -> None:
    result = invoke("show", "ffff")
    assert isinstance(result.exception, UsageError)
    assert "route cost runs" in str(result.exception)


def test_prices_lists_date_and_sources(project: Path) -> None:
    result = invoke("prices")
    assert result.exit_code == 0, result.output
    assert "2026-11-01" in result.stdout
    assert "claude-opus-4-7" in result.stdout
    assert "Sonnet 5" in result.stdout
    data = json.loads(invoke("prices", "--json").stdout)
    assert {entry["source"] for entry in data["models"]} == {"package 2026-11-01"}


def test_explain_with_json_is_one_json_object(project: Path) -> None:
    result = invoke("--explain", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["prices_date"] == "2026-11-01"
    assert data["explanation"].startswith("How route estimates savings")
    refused = invoke("--explain", "--csv")
    assert isinstance(refused.exception, UsageError)
    assert "--explain" in str(refused.exception)


def test_explain_prints_the_savings_model(project: Path) -> None:
    result = invoke("--explain")
    assert result.exit_code == 0, result.output
    assert "claude-sonnet-4-5" in result.stdout
    assert "characters / 3" in result.stdout
    assert "hand-off" in result.stdout


# --------------------------------------------------------------------------- the team ledger


def test_by_user_and_machine_group_who_ran_what(route_home: Path, project: Path) -> None:
    with Ledger.open(route_home / "ledger.sqlite3") as ledger:
        ledger.record(make_record(user_name="ana@example.com", machine="ana-laptop"))
        ledger.record(make_record(user_name="ana@example.com", machine="gpu-box"))
        ledger.record(make_record(user_name="", machine=""))  # recorded before route kept them
    data = json.loads(invoke("--by", "user", "--json").stdout)
    assert [(group["key"], group["runs"]) for group in data["groups"]] == [
        ("(unknown)", 1),
        ("ana@example.com", 2),
    ]
    rows = list(csv.DictReader(io.StringIO(invoke("--by", "machine", "--csv").stdout)))
    assert [row["key"] for row in rows] == ["(unknown)", "ana-laptop", "gpu-box", "total"]


def test_team_reads_the_shared_ledger_and_the_local_one_stays_the_default(
    route_home: Path, project: Path, postgres_url: str
) -> None:
    (project / "route.yaml").write_text(f"ledger: {postgres_url}\n", encoding="utf-8")
    with Ledger.open(postgres_url) as team:
        team.record(make_record(user_name="ana@example.com"))
        team.record(make_record(user_name="bo@example.com"))
    with Ledger.open(route_home / "ledger.sqlite3") as local:
        local.record(make_record(user_name="me@example.com"))
    local_report = json.loads(invoke("--by", "user", "--json").stdout)
    assert [group["key"] for group in local_report["groups"]] == ["me@example.com"]
    result = invoke("--team", "--by", "user", "--json")
    assert result.exit_code == 0, result.output
    team_report = json.loads(result.stdout)
    assert [group["key"] for group in team_report["groups"]] == [
        "ana@example.com",
        "bo@example.com",
    ]
    assert len(json.loads(invoke("runs", "--team", "--json").stdout)["runs"]) == 2
    text = invoke("--team").stdout
    assert "Ledger: postgresql://route@/ledger_" in text
    assert "Ledger:" not in invoke().stdout
    both = invoke("--team", "--ledger", str(route_home / "ledger.sqlite3"))
    assert isinstance(both.exception, UsageError)


def test_team_without_a_team_ledger_says_how_to_set_one(project: Path) -> None:
    result = invoke("--team")
    assert isinstance(result.exception, UsageError)
    assert "ledger: postgresql://" in str(result.exception)
    pushed = invoke("push")
    assert isinstance(pushed.exception, UsageError)
    assert "no team ledger is configured" in str(pushed.exception)


def test_push_command_sends_once_and_says_what_would_go(
    route_home: Path, project: Path, postgres_url: str
) -> None:
    (project / "route.yaml").write_text(f"ledger_url: {postgres_url}\n", encoding="utf-8")
    offline = make_record(run_id="cafe" + uuid.uuid4().hex[4:])
    with Ledger.open(route_home / "ledger.sqlite3") as local:
        local.record(offline)
    dry = invoke("push", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "would push 1 run(s)" in dry.stdout
    assert "cafe" in dry.stdout
    dry_json = json.loads(invoke("push", "--dry-run", "--json").stdout)
    assert (dry_json["to_send"], dry_json["added"], dry_json["dry_run"]) == (1, 0, True)
    first = json.loads(invoke("push", "--json").stdout)
    assert (first["added"], first["runs"]) == (1, [offline.run_id])
    second = json.loads(invoke("push", "--json").stdout)
    assert (second["added"], second["runs"]) == (0, [])
    assert "the team ledger has every local run" in invoke("push").stdout
    with Ledger.open(postgres_url) as team:
        assert [record.run_id for record in team.runs()] == [offline.run_id]


def test_forget_command_drops_named_rows_and_only_those(
    ledger_runs: list[RunRecord], route_home: Path
) -> None:
    preview = invoke("forget", "aaaa", "--dry-run")
    assert preview.exit_code == 0, preview.output
    assert "would forget 1 run(s)" in preview.stdout
    assert len(json.loads(invoke("runs", "--json").stdout)["runs"]) == 3
    ambiguous = invoke("forget", "aaaa", "nothing-like-this")
    assert isinstance(ambiguous.exception, UsageError)
    assert len(json.loads(invoke("runs", "--json").stdout)["runs"]) == 3
    done = json.loads(invoke("forget", "aaaa", "--json").stdout)
    assert (done["removed"], done["runs"]) == (1, [ledger_runs[0].run_id])
    old = json.loads(invoke("forget", "--before", "30d", "--json").stdout)
    assert (old["removed"], old["runs"]) == (1, [ledger_runs[2].run_id])
    left = json.loads(invoke("runs", "--json").stdout)["runs"]
    assert [run["run_id"] for run in left] == [ledger_runs[1].run_id]
    nothing = invoke("forget")
    assert isinstance(nothing.exception, UsageError)
    for bad in ("all", "last week"):
        refused = invoke("forget", "--before", bad)
        assert isinstance(refused.exception, UsageError)
        assert "--before" in str(refused.exception)
    assert [run["run_id"] for run in json.loads(invoke("runs", "--json").stdout)["runs"]] == [
        ledger_runs[1].run_id
    ]
