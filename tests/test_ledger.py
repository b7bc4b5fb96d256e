"""The SQLite ledger: migrations, round trips, lookups, concurrency and broken files."""

from __future__ import annotations

import dataclasses
import multiprocessing
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import platformdirs
import pytest

from route.accounting.ledger import (
    MIGRATIONS,
    Ledger,
    RunRecord,
    default_ledger_path,
    join_skill_refs,
    migrate,
    resolve_ledger_path,
    split_skill_refs,
)
from route.errors import LedgerError, UsageError

WRITERS = 8
RECORDS_PER_WRITER = 50


def make_record(**changes: Any) -> RunRecord:
    values: dict[str, Any] = {
        "run_id": uuid.uuid4().hex,
        "batch_id": None,
        "started_at": 1_793_000_000.0,
        "duration_seconds": 42.5,
        "task": "service for Projects",
        "skill_refs": "scaffold#3",
        "project": "/home/someone/projects-api",
        "model": "qwen2.5-coder:7b",
        "backend": "ollama",
        "endpoint": "http://127.0.0.1:11434",
        "cloud_model": "claude-sonnet-4-5",
        "status": "success",
        "exit_code": 0,
        "attempts": 2,
        "prompt_tokens": 1800,
        "output_tokens": 1500,
        "cached_prompt_tokens": None,
        "prompt_characters": 6000,
        "output_characters": 5200,
        "handoff_input_characters": 400,
        "handoff_output_characters": 90,
        "generation_seconds": 30.0,
        "prompt_seconds": 2.5,
        "load_seconds": 1.25,
        "files_created": 2,
        "files_changed": 1,
        "files_refused": 0,
        "verify_passed": True,
        "route_version": "0.1.0",
        "message": "2 files written, verify passed",
    }
    values.update(changes)
    return RunRecord(**values)


def test_blank_database_gets_every_migration_recorded(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "folder" / "ledger.sqlite3"
    with Ledger.open(path) as ledger:
        assert ledger.schema_version() == len(MIGRATIONS) == 2
    connection = sqlite3.connect(path)
    rows = connection.execute(
        "SELECT number, name, applied_at FROM schema_migrations ORDER BY number"
    ).fetchall()
    assert [(number, name) for number, name, _ in rows] == [
        (1, "migration_1_first_schema"),
        (2, "migration_2_batches_and_handoff"),
    ]
    assert all(applied_at > 0 for _, _, applied_at in rows)
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    indexes = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    assert {"runs", "runs_started_at", "runs_project_started_at"} <= indexes
    connection.close()


def test_reopening_applies_nothing_twice(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    Ledger.open(path).close()
    connection = sqlite3.connect(path, isolation_level=None)
    assert migrate(connection) == []
    assert connection.execute("SELECT COUNT(*) FROM schema_migrations").fetchone()[0] == 2
    connection.close()


def test_upgrade_from_the_first_schema_keeps_old_rows(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    connection = sqlite3.connect(path, isolation_level=None)
    assert migrate(connection, MIGRATIONS[:1]) == [1]
    first_columns = [row[1] for row in connection.execute("PRAGMA table_info(runs)")]
    assert "batch_id" not in first_columns
    old = make_record(run_id="a" * 32, verify_passed=False, status="verify_failed")
    values = old.to_dict()
    values["verify_passed"] = 0
    connection.execute(
        f"INSERT INTO runs ({', '.join(first_columns)}) "
        f"VALUES ({', '.join('?' for _ in first_columns)})",
        [values[column] for column in first_columns],
    )
    connection.close()

    with Ledger.open(path) as ledger:
        assert ledger.schema_version() == 2
        (upgraded,) = ledger.runs()
        ledger.record(make_record(run_id="b" * 32, batch_id="batch-1", started_at=2e9))
        newest, oldest = ledger.runs()
    assert upgraded == dataclasses.replace(
        old, batch_id=None, handoff_input_characters=0, handoff_output_characters=0
    )
    assert oldest == upgraded
    assert newest.batch_id == "batch-1"


def test_record_round_trips_every_field(tmp_path: Path) -> None:
    records = [
        make_record(),
        make_record(verify_passed=None, cached_prompt_tokens=1024, batch_id="b1"),
        make_record(verify_passed=False, message="verify failed: 3 tests"),
    ]
    with Ledger.open(tmp_path / "ledger.sqlite3") as ledger:
        for record in records:
            ledger.record(record)
        stored = {record.run_id: record for record in ledger.runs()}
    assert stored == {record.run_id: record for record in records}
    assert stored[records[2].run_id].verify_passed is False
    assert records[0].to_dict()["prompt_tokens"] == 1800


def test_runs_filters_by_period_and_project_newest_first(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "ledger.sqlite3") as ledger:
        for started, project in [(100.0, "/a"), (200.0, "/b"), (300.0, "/a"), (400.0, "/a")]:
            ledger.record(make_record(started_at=started, project=project))
        assert [run.started_at for run in ledger.runs()] == [400.0, 300.0, 200.0, 100.0]
        assert [run.started_at for run in ledger.runs(since=200.0, until=400.0)] == [300.0, 200.0]
        assert [run.started_at for run in ledger.runs(project="/a", limit=2)] == [400.0, 300.0]
        assert ledger.runs(project="/nowhere") == []


def test_get_finds_a_run_by_unique_prefix(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "ledger.sqlite3") as ledger:
        first = make_record(run_id="abc1" + "0" * 28)
        ledger.record(first)
        ledger.record(make_record(run_id="abc2" + "0" * 28))
        assert ledger.get("ABC1") == first
        with pytest.raises(UsageError, match="several runs"):
            ledger.get("abc")
        with pytest.raises(UsageError, match="no run"):
            ledger.get("ffff")
        with pytest.raises(UsageError, match="give a run id"):
            ledger.get("  ")


def test_duplicate_run_id_is_a_ledger_error(tmp_path: Path) -> None:
    record = make_record()
    with Ledger.open(tmp_path / "ledger.sqlite3") as ledger:
        ledger.record(record)
        with pytest.raises(LedgerError, match="UNIQUE"):
            ledger.record(record)
        assert len(ledger.runs()) == 1  # the failed transaction left nothing behind
        ledger.record(make_record())  # and the ledger is still usable
        assert len(ledger.runs()) == 2


def test_garbage_file_is_a_clear_error_and_is_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    garbage = bytes(range(256)) * 64
    path.write_bytes(garbage)
    with pytest.raises(LedgerError) as caught:
        Ledger.open(path)
    message = str(caught.value)
    assert str(path) in message
    assert f"mv {path} {path}.broken" in message
    assert isinstance(caught.value.__cause__, sqlite3.DatabaseError)
    assert path.read_bytes() == garbage


def test_damaged_pages_are_a_clear_error_on_open_or_read(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    with Ledger.open(path) as ledger:
        for _ in range(200):
            ledger.record(make_record(message="x" * 200))
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    data = bytearray(path.read_bytes())
    page_size = int.from_bytes(data[16:18], "big")
    data[page_size:] = b"\xff" * (len(data) - page_size)  # keep the header page only
    path.write_bytes(bytes(data))
    with pytest.raises(LedgerError, match="mv "), Ledger.open(path) as ledger:
        ledger.runs()


def test_folder_in_place_of_the_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    path.mkdir()
    with pytest.raises(LedgerError, match="cannot be used"):
        Ledger.open(path)


def test_ledger_folder_that_cannot_be_created_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    with pytest.raises(LedgerError, match="cannot create the ledger folder"):
        Ledger.open(blocker / "ledger.sqlite3")


def test_database_from_a_newer_route_says_to_upgrade(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    Ledger.open(path).close()
    connection = sqlite3.connect(path)
    connection.execute(
        "INSERT INTO schema_migrations (number, name, applied_at) VALUES (3, 'future', 0)"
    )
    connection.commit()
    connection.close()
    with pytest.raises(LedgerError) as caught:
        Ledger.open(path)
    assert "newer route" in str(caught.value)
    assert "upgrade route" in str(caught.value)
    assert str(path) in str(caught.value)


def _write_runs(path: str, writer: int, start: Any) -> None:
    start.wait()
    with Ledger.open(Path(path)) as ledger:
        for index in range(RECORDS_PER_WRITER):
            ledger.record(
                make_record(
                    run_id=f"{writer:04x}{index:04x}" + uuid.uuid4().hex[:24],
                    started_at=float(writer * 1000 + index),
                    task=f"writer {writer} run {index}",
                )
            )


def test_parallel_writers_lose_no_rows(tmp_path: Path) -> None:
    path = tmp_path / "shared" / "ledger.sqlite3"  # created by the racing writers themselves
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    workers = [
        context.Process(target=_write_runs, args=(str(path), writer, start))
        for writer in range(WRITERS)
    ]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(timeout=120)
    assert [worker.exitcode for worker in workers] == [0] * WRITERS
    with Ledger.open(path) as ledger:
        runs = ledger.runs()
        assert ledger.schema_version() == 2
    assert len(runs) == WRITERS * RECORDS_PER_WRITER
    assert len({run.run_id for run in runs}) == WRITERS * RECORDS_PER_WRITER
    assert {run.task for run in runs} == {
        f"writer {writer} run {index}"
        for writer in range(WRITERS)
        for index in range(RECORDS_PER_WRITER)
    }
    assert all(run.prompt_tokens == 1800 and run.verify_passed is True for run in runs)


def test_default_ledger_path_uses_route_home_then_the_user_data_folder(tmp_path: Path) -> None:
    assert default_ledger_path({"ROUTE_HOME": str(tmp_path)}) == tmp_path / "ledger.sqlite3"
    assert default_ledger_path({}) == (Path(platformdirs.user_data_dir("route")) / "ledger.sqlite3")


def test_resolve_ledger_path_prefers_flag_then_config_then_default(tmp_path: Path) -> None:
    env = {"ROUTE_HOME": str(tmp_path / "home")}
    root = tmp_path / "project"
    assert resolve_ledger_path("/x/flag.db", "cfg.db", project_root=root, env=env) == Path(
        "/x/flag.db"
    )
    assert resolve_ledger_path(None, "cfg.db", project_root=root, env=env) == root / "cfg.db"
    assert resolve_ledger_path(None, "/abs/cfg.db", project_root=root, env=env) == Path(
        "/abs/cfg.db"
    )
    assert resolve_ledger_path(None, None, project_root=root, env=env) == (
        tmp_path / "home" / "ledger.sqlite3"
    )


def test_skill_refs_with_commas_survive_joining() -> None:
    refs = ("scaffold#2,3", "tests#5", "path/to/SKILL.md#1-2")
    joined = join_skill_refs(refs)
    assert joined == "scaffold#2,3, tests#5, path/to/SKILL.md#1-2"
    assert split_skill_refs(joined) == refs
    assert split_skill_refs("") == ()
