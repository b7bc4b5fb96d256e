"""The team ledger on a real PostgreSQL server (started by the suite): recording with the local
fallback, push, forget, the same figures as SQLite, who-and-where, and the settings that name
it."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from route.accounting import costs
from route.accounting.forgetting import forget
from route.accounting.identity import Identity, identify, remote_name
from route.accounting.ledger import Ledger, RunRecord
from route.accounting.location import (
    Ledgers,
    choose_ledger,
    display_url,
    resolve_ledgers,
    url_problem,
)
from route.accounting.pricing import load_prices
from route.accounting.recording import PUSH_LATER, record_run, with_identity
from route.accounting.sharing import push
from route.errors import ConfigError, LedgerError, UsageError
from route.settings.config import load_config
from tests.helpers import run_record
from tests.postgres_server import PostgresServer

SOMEONE = Identity(user_name="ana@example.com", machine="ana-laptop", project_name="acme/api")


def stamped(started_at: float, **changes: Any) -> RunRecord:
    changes.setdefault("user_name", SOMEONE.user_name)
    changes.setdefault("machine", SOMEONE.machine)
    changes.setdefault("project_name", SOMEONE.project_name)
    return run_record(started_at=started_at, **changes)


def team_ids(url: str) -> list[str]:
    with Ledger.open(url) as ledger:
        return sorted(record.run_id for record in ledger.runs())


# --------------------------------------------------------------------------- recording


def test_a_run_is_recorded_in_the_team_ledger_and_locally(
    postgres_url: str, tmp_path: Path
) -> None:
    ledgers = Ledgers(local=tmp_path / "local.sqlite3", team=postgres_url)
    record = stamped(1_793_000_000.0)
    recorded = record_run(record, ledgers, clock=lambda: 1_800_000_000.0)
    assert recorded.note is None
    assert recorded.team_recorded and recorded.local_recorded
    assert recorded.team == display_url(postgres_url)
    with Ledger.open(postgres_url) as team:
        assert team.runs() == [record]
    with Ledger.open(ledgers.local) as local:
        assert local.runs() == [record]
        assert local.runs(unshared=True) == []  # already in the team ledger: push skips it


def test_team_ledger_down_mid_run_falls_back_to_the_local_ledger_then_push_sends_it(
    postgres_server: PostgresServer, postgres_url: str, tmp_path: Path
) -> None:
    ledgers = Ledgers(local=tmp_path / "local.sqlite3", team=postgres_url)
    before = stamped(1_793_000_000.0)
    assert record_run(before, ledgers).note is None  # the team ledger was up when the run began
    offline = stamped(1_793_000_100.0, task="written while the server was down")
    postgres_server.stop()
    try:
        recorded = record_run(offline, ledgers)
    finally:
        postgres_server.start()
    assert recorded.local_recorded and not recorded.team_recorded
    assert recorded.note is not None
    assert recorded.note.startswith(PUSH_LATER)
    assert "not reachable" in recorded.note
    assert "password" not in recorded.note.lower()
    assert team_ids(postgres_url) == [before.run_id]

    dry = push(ledgers.local, postgres_url, dry_run=True)
    assert [record.run_id for record in dry.to_send] == [offline.run_id]
    assert team_ids(postgres_url) == [before.run_id]  # a dry run sends nothing

    first = push(ledgers.local, postgres_url)
    assert first.added == 1
    assert team_ids(postgres_url) == sorted([before.run_id, offline.run_id])
    second = push(ledgers.local, postgres_url)
    assert (second.added, second.to_send, second.already_there) == (0, (), 0)
    with Ledger.open(postgres_url) as team:
        assert team.get(offline.run_id[:10]) == offline


def test_push_skips_rows_the_team_ledger_already_has_and_counts_them(
    postgres_url: str, tmp_path: Path
) -> None:
    local_path = tmp_path / "local.sqlite3"
    shared, fresh = stamped(1.0e9), stamped(1.1e9)
    with Ledger.open(local_path) as local:
        local.record(shared)  # not marked shared: e.g. the process died after the team write
        local.record(fresh)
    with Ledger.open(postgres_url) as team:
        team.record(shared)
    result = push(local_path, postgres_url)
    assert (result.added, result.already_there) == (1, 1)
    assert json.loads(json.dumps(result.to_dict()))["runs"] == [fresh.run_id]
    assert team_ids(postgres_url) == sorted([shared.run_id, fresh.run_id])
    assert push(local_path, postgres_url).to_dict()["added"] == 0


def test_a_run_forgotten_in_the_team_ledger_is_not_pushed_again(
    postgres_url: str, tmp_path: Path
) -> None:
    ledgers = Ledgers(local=tmp_path / "local.sqlite3", team=postgres_url)
    polluted = stamped(1.2e9, task="a refused run")
    record_run(polluted, ledgers)
    forgotten = forget(postgres_url, [polluted.run_id[:8]])
    assert forgotten.removed == 1
    assert push(ledgers.local, postgres_url).added == 0
    assert team_ids(postgres_url) == []


def test_push_without_a_local_ledger_says_so(postgres_url: str, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no local ledger"):
        push(tmp_path / "none.sqlite3", postgres_url)


def test_both_ledgers_failing_is_a_note_not_an_exception(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    ledgers = Ledgers(
        local=blocker / "ledger.sqlite3",
        team=f"postgresql://route@/none?host={tmp_path / 'no-socket'}",
    )
    recorded = record_run(stamped(1.0e9), ledgers)
    assert not recorded.recorded
    assert recorded.note is not None
    assert recorded.note.startswith("could not record the run")
    assert "cannot create the ledger folder" in recorded.note


# --------------------------------------------------------------------------- same figures


def test_sqlite_and_postgresql_give_the_same_report_for_the_same_rows(
    postgres_url: str, tmp_path: Path
) -> None:
    people = [("ana@example.com", "ana-laptop"), ("bo@example.com", "gpu-box")]
    records = [
        stamped(
            1_793_000_000.0 + index * 7_919.5,
            user_name=people[index % 2][0],
            machine=people[index % 2][1],
            project_name=("acme/api", "acme/web", "")[index % 3],
            model=("qwen2.5-coder:7b", "qwen2.5-coder:32b")[index % 2],
            status=("success", "verify_failed", "success", "backend_error")[index % 4],
            prompt_tokens=900 + index,
            output_characters=6000 + 37 * index,
            generation_seconds=36.0 + index / 3,
            skill_refs=("scaffold#3", "tests#1, scaffold#2", "")[index % 3],
        )
        for index in range(40)
    ]
    sqlite_path = tmp_path / "ledger.sqlite3"
    for target in (sqlite_path, postgres_url):
        with Ledger.open(target) as ledger:
            for record in records:
                ledger.record(record)
    table = load_prices({})
    period = costs.Period(since=None, until=None)

    def report(target: Path | str, by: str | None) -> dict[str, Any]:
        records = costs.read_runs(target)
        priced = costs.price_runs(records, table, power_watts=300, price_per_kwh=0.3)
        return costs.summarize(priced, prices_date=table.date, period=period, by=by).to_dict()

    for by in (None, *costs.GROUPINGS):
        assert report(sqlite_path, by) == report(postgres_url, by), by
    by_user = report(postgres_url, "user")
    assert [group["key"] for group in by_user["groups"]] == ["ana@example.com", "bo@example.com"]
    assert [group["runs"] for group in by_user["groups"]] == [20, 20]
    by_project = report(postgres_url, "project")
    assert [group["key"] for group in by_project["groups"]] == [
        "/work/projects-api",  # rows without a project name fall back to the folder
        "acme/api",
        "acme/web",
    ]


# --------------------------------------------------------------------------- forget


def test_forget_is_all_or_nothing_and_before_takes_older_runs(
    postgres_url: str, tmp_path: Path
) -> None:
    sqlite_path = tmp_path / "ledger.sqlite3"
    for target in (sqlite_path, postgres_url):
        old, middle, new = (
            stamped(1.0e9, run_id="aa" + "0" * 30),
            stamped(1.5e9, run_id="ab" + "0" * 30),
            stamped(2.0e9, run_id="bb" + "0" * 30),
        )
        with Ledger.open(target) as ledger:
            for record in (old, middle, new):
                ledger.record(record)
        with pytest.raises(UsageError, match="several runs"):
            forget(target, ["bb", "a"])  # "a" is ambiguous: nothing goes
        with pytest.raises(UsageError, match="name the runs"):
            forget(target, [])
        preview = forget(target, ["bb"], before=1.2e9, dry_run=True)
        assert [record.run_id for record in preview.runs] == [new.run_id, old.run_id]
        assert preview.removed == 0
        done = forget(target, ["bb"], before=1.2e9)
        assert done.removed == 2
        with Ledger.open(target) as ledger:
            assert ledger.runs() == [middle]


def test_forget_in_a_missing_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no ledger at"):
        forget(tmp_path / "missing.sqlite3", ["abc"])
    assert not (tmp_path / "missing.sqlite3").exists()


# --------------------------------------------------------------------------- settings


def test_a_url_with_a_password_is_refused_without_repeating_it(tmp_path: Path) -> None:
    (tmp_path / "route.yaml").write_text(
        "ledger: postgresql://ana:s3cret-pw@db.example.com/route_ledger\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path, env={"ROUTE_HOME": str(tmp_path)})
    message = str(caught.value)
    assert "'ledger'" in message and str(tmp_path / "route.yaml") in message
    assert "~/.pgpass" in message and "PGPASSWORD" in message
    assert "s3cret-pw" not in message
    with pytest.raises(ConfigError, match=r"\$ROUTE_LEDGER_URL"):
        load_config(
            tmp_path / "elsewhere",
            env={
                "ROUTE_HOME": str(tmp_path),
                "ROUTE_LEDGER_URL": "postgresql://ana@db/route?password=s3cret-pw",
            },
        )
    assert url_problem("postgresql://ana@db.example.com/") is not None  # no database named
    assert url_problem("postgresql://ana@db.example.com/route_ledger") is None


def test_ledger_settings_name_the_local_file_and_the_team_database(tmp_path: Path) -> None:
    env = {"ROUTE_HOME": str(tmp_path / "home")}
    url = "postgresql://ana@db.example.com/route_ledger"
    assert resolve_ledgers(url, None, project_root=tmp_path, env=env) == Ledgers(
        local=tmp_path / "home" / "ledger.sqlite3", team=url
    )
    assert resolve_ledgers("mine.db", url, project_root=tmp_path, env=env) == Ledgers(
        local=tmp_path / "mine.db", team=url
    )
    assert resolve_ledgers(None, None, project_root=tmp_path, env=env).team is None
    with pytest.raises(UsageError, match="two team ledgers"):
        resolve_ledgers(url, "postgresql://bo@other/ledger", project_root=tmp_path, env=env)
    with pytest.raises(ConfigError, match="file path or a postgresql"):
        load_config(tmp_path, env={**env, "ROUTE_LEDGER": "mysql://ana@db/route"})
    local = choose_ledger(None, team=False, ledger=url, ledger_url=None, env=env)
    assert (local.target, local.named) == (tmp_path / "home" / "ledger.sqlite3", False)
    team = choose_ledger(None, team=True, ledger=url, ledger_url=None, env=env)
    assert (team.target, team.named) == (url, True)
    with pytest.raises(UsageError, match="no team ledger is configured"):
        choose_ledger(None, team=True, ledger=None, ledger_url=None, env=env)
    with pytest.raises(UsageError) as caught:
        choose_ledger("postgresql://ana:pw-123@db/x", team=False, ledger=None, ledger_url=None)
    assert "holds a password" in str(caught.value)
    assert "pw-123" not in str(caught.value)


def test_without_psycopg_a_team_ledger_says_how_to_install_it(tmp_path: Path) -> None:
    script = (
        "import sys; sys.modules['psycopg'] = None\n"
        "from route.accounting.ledger import Ledger\n"
        "from route.errors import LedgerError\n"
        "try:\n"
        "    Ledger.open('postgresql://ana@db.example.com/route_ledger')\n"
        "except LedgerError as error:\n"
        "    print(error)\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert "needs psycopg 3" in completed.stdout
    assert "pip install 'model-route[team]'" in completed.stdout


def test_route_gen_does_not_import_psycopg() -> None:
    script = (
        "import sys\n"
        "from route.cli import main\n"
        "from route.accounting import recording, costs, ledger\n"
        "print('psycopg' in sys.modules)\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert completed.stdout.strip() == "False"


# --------------------------------------------------------------------------- who and where


def git(folder: Path, *arguments: str, env: dict[str, str]) -> None:
    subprocess.run(["git", "-C", str(folder), *arguments], check=True, env=env, capture_output=True)


def test_identity_comes_from_git_without_credentials(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "GIT_CONFIG_NOSYSTEM": "1",
        "USER": "ana",
        "LOGNAME": "ana",
    }
    project = tmp_path / "checkout"
    project.mkdir()
    git(project, "init", "-q", env=env)
    git(project, "config", "user.email", "ana@example.com", env=env)
    git(
        project,
        "remote",
        "add",
        "origin",
        "https://ana:ghp_token123@GitHub.com/acme/api.git",
        env=env,
    )
    git(project, "remote", "add", "backup", "git@example.org:other/repo.git", env=env)
    found = identify(project, env)
    assert found.user_name == "ana@example.com"
    assert found.project_name == "github.com/acme/api"
    assert found.machine
    assert "ghp_token123" not in repr(found)


def test_identity_without_git_is_the_os_user_and_the_folder_name(tmp_path: Path) -> None:
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "GIT_CONFIG_NOSYSTEM": "1"}
    env |= {"USER": "ana", "LOGNAME": "ana", "GIT_CEILING_DIRECTORIES": str(tmp_path)}
    project = tmp_path / "plain-folder"
    project.mkdir()
    found = identify(project, env)
    assert found.project_name == "plain-folder"
    assert found.user_name == "ana"
    assert identify(project, {"PATH": "/nonexistent"} | {"USER": "ana"}).user_name == "ana"


@pytest.mark.parametrize(
    ("remote", "name"),
    [
        ("https://github.com/acme/api.git", "github.com/acme/api"),
        ("https://ana:tok@github.com:443/acme/api/", "github.com/acme/api"),
        ("git@github.com:acme/api.git", "github.com/acme/api"),
        ("ssh://git@gitlab.example.com:2222/team/sub/api.git", "gitlab.example.com/team/sub/api"),
        ("/srv/git/api.git", "api"),
        ("file:///srv/git/api.git", "api"),
        ("", ""),
    ],
)
def test_remote_names_drop_scheme_user_password_and_port(remote: str, name: str) -> None:
    assert remote_name(remote) == name


def test_identity_fills_only_what_a_record_lacks() -> None:
    record = run_record(started_at=1.0e9, user_name="set@example.com")
    filled = with_identity(record, SOMEONE)
    assert filled == dataclasses.replace(
        record, machine=SOMEONE.machine, project_name=SOMEONE.project_name
    )


def test_an_unreachable_team_ledger_is_a_ledger_error_when_read(tmp_path: Path) -> None:
    url = f"postgresql://route@/none?host={tmp_path}"
    with pytest.raises(LedgerError, match="is not reachable"):
        costs.read_runs(url)


# --------------------------------------------------------------------------- route gen


SKILL = "# API\n\n## 1. Service\n\nServices go in `app/<name>_service.py`.\n"
ANSWER = 'app/project_service.py\n```python\n"""Projects."""\n```\n'


def gen_project(folder: Path) -> Path:
    (folder / ".skills" / "api").mkdir(parents=True)
    (folder / ".skills" / "api" / "SKILL.md").write_text(SKILL)
    (folder / "Makefile").write_text("verify:\n\t@test -f app/project_service.py\n")
    (folder / ".git").mkdir()
    return folder


def run_gen(
    project: Path, ledger: str, monkeypatch: pytest.MonkeyPatch, *, as_json: bool = True
) -> tuple[Any, str]:
    from typer.testing import CliRunner

    from route.cli.main import app
    from tests.servers import FakeModelServer

    monkeypatch.chdir(project)
    (project / "route.yaml").write_text(f"ledger: {ledger}\n", encoding="utf-8")
    with FakeModelServer(mode="ollama") as server:
        server.enqueue(ANSWER)
        result = CliRunner().invoke(
            app,
            ["gen", "service", "-s", "api#1", *(["--json"] if as_json else [])],
            env={"OLLAMA_HOST": server.url},
        )
    assert result.exit_code == 0, result.output
    return (json.loads(result.stdout) if as_json else None), result.stderr


def test_gen_records_in_the_team_ledger_with_who_and_where(
    postgres_url: str, route_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = gen_project(tmp_path / "api")
    report, _ = run_gen(project, postgres_url, monkeypatch)
    assert report["ledger"]["note"] is None
    assert report["ledger"]["team"] == display_url(postgres_url)
    assert report["ledger"]["team_recorded"] is True
    with Ledger.open(postgres_url) as team:
        (row,) = team.runs()
    assert row.run_id == report["run_id"]
    assert row.project_name == "api"  # no remote: the root folder's name
    assert row.machine and row.user_name
    with Ledger.open(route_home / "ledger.sqlite3") as local:
        assert local.runs() == [row]


def test_gen_with_the_team_ledger_down_says_recorded_locally(
    route_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = gen_project(tmp_path / "api")
    down = f"postgresql://route@/route_ledger?host={tmp_path / 'no-server-here'}"
    report, _ = run_gen(project, down, monkeypatch)
    assert report["status"] == "success"
    assert report["ledger"]["recorded"] is True
    assert report["ledger"]["team_recorded"] is False
    assert report["ledger"]["note"].startswith(PUSH_LATER)
    assert "is not reachable" in report["ledger"]["note"]
    _, stderr = run_gen(project, down, monkeypatch, as_json=False)
    assert f"ledger: {PUSH_LATER}" in stderr
    with Ledger.open(route_home / "ledger.sqlite3") as local:
        unshared = local.runs(unshared=True)
    assert len(unshared) == 2
    assert report["run_id"] in {row.run_id for row in unshared}


def test_the_settings_resolver_keeps_a_team_ledger_url_as_it_is(tmp_path: Path) -> None:
    from route.settings.resolve import resolve_context

    url = "postgresql://ana@db.example.com/route_ledger?sslmode=require"
    env = {"ROUTE_HOME": str(tmp_path / "home")}
    from_flag = resolve_context(tmp_path, flags={"ledger": url}, env=env)
    assert from_flag.config.ledger == url
    assert from_flag.ledger_path == tmp_path / "home" / "ledger.sqlite3"  # the local one
    (tmp_path / "route.yaml").write_text(f"ledger: {url}\n", encoding="utf-8")
    assert resolve_context(tmp_path, env=env).config.ledger == url
