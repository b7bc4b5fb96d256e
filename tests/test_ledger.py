"""The ledger on SQLite and on a real PostgreSQL server (started by the suite): migrations,
round trips, lookups, concurrency; and SQLite's broken, misplaced and read-only files."""

from __future__ import annotations

import dataclasses
import multiprocessing
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import platformdirs
import pytest

from route.accounting.database import Database, SqliteDatabase
from route.accounting.ledger import (
    COLUMNS,
    MIGRATIONS,
    Ledger,
    RunRecord,
    default_ledger_path,
    join_skill_refs,
    migrate,
    resolve_ledger_path,
    split_skill_refs,
)
from route.accounting.postgres import PostgresDatabase
from route.errors import LedgerError, UsageError

WRITERS = 8
RECORDS_PER_WRITER = 50
SCHEMA_VERSION = 4


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """A ledger that does not exist yet: a file in a new folder, or an empty PostgreSQL
    database."""
    if request.param == "sqlite":
        return tmp_path / "deep" / "folder" / "ledger.sqlite3"
    url: str = request.getfixturevalue("postgres_url")
    return url


def open_database(target: Path | str) -> Database:
    if isinstance(target, Path):
        return SqliteDatabase.open(target)
    return PostgresDatabase.open(target)


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
        "user_name": "someone@example.com",
        "machine": "laptop-7",
        "project_name": "github.com/someone/projects-api",
    }
    values.update(changes)
    return RunRecord(**values)


def test_blank_database_gets_every_migration_recorded(target: Path | str) -> None:
    with Ledger.open(target) as ledger:
        assert ledger.schema_version() == len(MIGRATIONS) == SCHEMA_VERSION
    database = open_database(target)
    rows = database.query("SELECT number, name, applied_at FROM schema_migrations ORDER BY number")
    assert [(number, name) for number, name, _ in rows] == [
        (1, "migration_1_first_schema"),
        (2, "migration_2_batches_and_handoff"),
        (3, "migration_3_who_and_where"),
        (4, "migration_4_reasoning_tokens"),
    ]
    assert all(applied_at > 0 for _, _, applied_at in rows)
    database.close()


def test_sqlite_ledger_is_in_wal_mode_with_its_indexes(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    Ledger.open(path).close()
    connection = sqlite3.connect(path)
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    indexes = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    assert {"runs", "runs_started_at", "runs_project_started_at"} <= indexes
    connection.close()


def test_postgresql_columns_hold_eight_byte_numbers(postgres_url: str) -> None:
    """PostgreSQL's REAL keeps 6 digits: a unix time in one would be off by minutes."""
    moment = 1_793_000_123.456789
    with Ledger.open(postgres_url) as ledger:
        ledger.record(make_record(started_at=moment, prompt_tokens=3_000_000_000))
        (stored,) = ledger.runs()
    assert stored.started_at == moment
    assert stored.prompt_tokens == 3_000_000_000
    database = PostgresDatabase.open(postgres_url)
    types = dict(
        database.query(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'runs'"
        )
    )
    database.close()
    assert types["started_at"] == "double precision"
    assert types["prompt_tokens"] == "bigint"
    assert types["user_name"] == "text"


def test_reopening_applies_nothing_twice(target: Path | str) -> None:
    Ledger.open(target).close()
    database = open_database(target)
    assert migrate(database) == []
    assert database.query("SELECT COUNT(*) FROM schema_migrations")[0][0] == SCHEMA_VERSION
    database.close()


def test_upgrade_from_the_first_schema_keeps_old_rows(target: Path | str) -> None:
    if isinstance(target, Path):
        target.parent.mkdir(parents=True)
    database = open_database(target)
    assert migrate(database, MIGRATIONS[:1]) == [1]
    first_columns = COLUMNS[: COLUMNS.index("message") + 1]
    first_columns = tuple(
        column
        for column in first_columns
        if column not in ("batch_id", "handoff_input_characters", "handoff_output_characters")
    )
    old = make_record(run_id="a" * 32, verify_passed=False, status="verify_failed")
    values = old.to_dict()
    values["verify_passed"] = 0
    database.execute(
        f"INSERT INTO runs ({', '.join(first_columns)}) "
        f"VALUES ({', '.join('?' for _ in first_columns)})",
        [values[column] for column in first_columns],
    )
    database.close()

    with Ledger.open(target) as ledger:
        assert ledger.schema_version() == SCHEMA_VERSION
        (upgraded,) = ledger.runs()
        ledger.record(make_record(run_id="b" * 32, batch_id="batch-1", started_at=2e9))
        newest, oldest = ledger.runs()
    assert upgraded == dataclasses.replace(
        old,
        batch_id=None,
        handoff_input_characters=0,
        handoff_output_characters=0,
        user_name="",
        machine="",
        project_name="",
    )
    assert oldest == upgraded
    assert newest.batch_id == "batch-1"
    assert newest.user_name == "someone@example.com"


def test_upgrade_from_version_two_adds_who_and_where(target: Path | str) -> None:
    if isinstance(target, Path):
        target.parent.mkdir(parents=True)
    database = open_database(target)
    assert migrate(database, MIGRATIONS[:2]) == [1, 2]
    database.close()
    with Ledger.open(target) as ledger:
        assert ledger.schema_version() == SCHEMA_VERSION
        ledger.record(make_record(run_id="c" * 32))
        assert ledger.get("ccc").machine == "laptop-7"


def test_upgrade_from_version_three_keeps_old_rows_at_zero_reasoning_tokens(
    target: Path | str,
) -> None:
    if isinstance(target, Path):
        target.parent.mkdir(parents=True)
    database = open_database(target)
    assert migrate(database, MIGRATIONS[:3]) == [1, 2, 3]
    columns = COLUMNS[: COLUMNS.index("project_name") + 1]
    old = make_record(run_id="d" * 32)
    values = old.to_dict()
    values["verify_passed"] = 1
    database.execute(
        f"INSERT INTO runs ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})",
        [values[column] for column in columns],
    )
    database.close()
    with Ledger.open(target) as ledger:
        assert ledger.schema_version() == SCHEMA_VERSION
        (upgraded,) = ledger.runs()
        ledger.record(make_record(run_id="e" * 32, started_at=2e9, reasoning_tokens=1234))
        newest, _ = ledger.runs()
    assert upgraded == old and upgraded.reasoning_tokens == 0
    assert newest.reasoning_tokens == 1234


def test_record_round_trips_every_field(target: Path | str) -> None:
    records = [
        make_record(),
        make_record(verify_passed=None, cached_prompt_tokens=1024, batch_id="b1"),
        make_record(verify_passed=False, message="verify failed: 3 tests"),
    ]
    with Ledger.open(target) as ledger:
        for record in records:
            ledger.record(record)
        stored = {record.run_id: record for record in ledger.runs()}
    assert stored == {record.run_id: record for record in records}
    assert stored[records[2].run_id].verify_passed is False
    assert records[0].to_dict()["prompt_tokens"] == 1800


def test_runs_filters_by_period_and_project_newest_first(target: Path | str) -> None:
    with Ledger.open(target) as ledger:
        for started, project in [(100.0, "/a"), (200.0, "/b"), (300.0, "/a"), (400.0, "/a")]:
            ledger.record(make_record(started_at=started, project=project))
        assert [run.started_at for run in ledger.runs()] == [400.0, 300.0, 200.0, 100.0]
        assert [run.started_at for run in ledger.runs(since=200.0, until=400.0)] == [300.0, 200.0]
        assert [run.started_at for run in ledger.runs(project="/a", limit=2)] == [400.0, 300.0]
        assert ledger.runs(project="/nowhere") == []


def test_get_finds_a_run_by_unique_prefix(target: Path | str) -> None:
    with Ledger.open(target) as ledger:
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


def test_duplicate_run_id_is_a_ledger_error(target: Path | str) -> None:
    record = make_record()
    with Ledger.open(target) as ledger:
        ledger.record(record)
        with pytest.raises(LedgerError, match=r"(?i)unique|duplicate key"):
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
    assert "is damaged" in message
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


def test_folder_in_place_of_the_file_says_it_is_a_directory(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    path.mkdir()
    (path / "keep.txt").write_text("a folder someone uses")
    with pytest.raises(LedgerError) as caught:
        Ledger.open(path)
    message = str(caught.value)
    assert "is a directory" in message
    assert str(path / "ledger.sqlite3") in message  # what to point at instead
    assert "mv " not in message and "broken" not in message
    assert (path / "keep.txt").read_text() == "a folder someone uses"


def test_ledger_folder_that_cannot_be_created_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    with pytest.raises(LedgerError, match="cannot create the ledger folder"):
        Ledger.open(blocker / "ledger.sqlite3")


def test_database_from_a_newer_route_says_to_upgrade_and_is_left_alone(
    target: Path | str,
) -> None:
    with Ledger.open(target) as ledger:
        ledger.record(make_record(run_id="d" * 32))
    database = open_database(target)
    with database.transaction():
        database.execute(
            "INSERT INTO schema_migrations (number, name, applied_at) VALUES (?, 'future', 0)",
            (SCHEMA_VERSION + 1,),
        )
    database.close()
    with pytest.raises(LedgerError) as caught:
        Ledger.open(target)
    message = str(caught.value)
    assert "newer route" in message
    assert f"schema version {SCHEMA_VERSION + 1}" in message
    assert "upgrade route" in message
    assert (str(target) if isinstance(target, Path) else "postgresql://route@/ledger_") in message
    database = open_database(target)
    assert database.query("SELECT run_id FROM runs") == [("d" * 32,)]
    assert database.query("SELECT MAX(number) FROM schema_migrations") == [(SCHEMA_VERSION + 1,)]
    database.close()


def _write_runs(target: Path | str, writer: int, start: Any) -> None:
    start.wait()
    with Ledger.open(target) as ledger:
        for index in range(RECORDS_PER_WRITER):
            ledger.record(
                make_record(
                    run_id=f"{writer:04x}{index:04x}" + uuid.uuid4().hex[:24],
                    started_at=float(writer * 1000 + index),
                    task=f"writer {writer} run {index}",
                )
            )


def test_parallel_writers_lose_no_rows(target: Path | str) -> None:
    """8 processes x 50 runs, racing from a ledger that does not exist yet (so they race to
    create and migrate it too)."""
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    workers = [
        context.Process(target=_write_runs, args=(target, writer, start))
        for writer in range(WRITERS)
    ]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(timeout=120)
    assert [worker.exitcode for worker in workers] == [0] * WRITERS
    with Ledger.open(target) as ledger:
        runs = ledger.runs()
        assert ledger.schema_version() == SCHEMA_VERSION
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
