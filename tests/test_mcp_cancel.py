"""Cancelling `generate` (Esc in Claude Code): `notifications/cancelled` from the SDK's client,
and a client that closes stdin. The run stops, verify's process group is killed, the project is
left as it was before the call, and the ledger records the run as `cancelled`. The model is a
slow loopback server; verify is a command that records its process id and sleeps."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from route.accounting.ledger import Ledger
from route.mcp.server import ServerSettings, build_server
from tests.conftest import EXAMPLE_PROJECT
from tests.servers import FakeModelServer

MODEL = "qwen2.5-coder:7b"
SERVICE = "app/services/project_service.py"
ANSWER = f'''{SERVICE}
```python
"""Business rules for projects."""


def list_projects() -> list[str]:
    return []
```
'''
WAIT_SECONDS = 20.0  # a bound for what must happen "at once": never reached when it works


@pytest.fixture
def project(tmp_path: Path) -> Path:
    copy = tmp_path / "projects-api"
    shutil.copytree(
        EXAMPLE_PROJECT,
        copy,
        ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache", ".ruff_cache"),
    )
    return copy


@pytest.fixture
def slow_server() -> Iterator[FakeModelServer]:
    with FakeModelServer(mode="ollama", models=[MODEL], chunk_size=2, chunk_delay=0.05) as fake:
        yield fake


def configure(project: Path, host: str, verify_command: str) -> None:
    settings = {"host": host, "model": MODEL, "verify_command": verify_command}
    (project / "route.yaml").write_text(json.dumps(settings))


def sleeping_verify(pid_file: Path) -> str:
    """A verify command that writes its shell's process id (its process group) and sleeps."""
    return f"echo $$ > {pid_file}; sleep 60"


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


def eventually(condition: Any, what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def group_gone(pgid: int) -> bool:
    """No live process in the group (zombies waiting for their parent count as gone)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return False
    return True


def ledger_statuses(route_home: Path) -> list[str]:
    path = route_home / "ledger.sqlite3"
    if not path.exists():
        return []
    with Ledger.open(path) as ledger:
        return [row.status for row in ledger.runs(since=None, until=None, project=None, limit=None)]


def cancel_when(
    project: Path, arguments: dict[str, Any], moment: str, *, after: Path | None = None
) -> None:
    """Call generate in process and cancel the call when a progress message contains
    ``moment`` (and, with ``after``, once that file exists); returns once the client has
    given up on the call."""
    settings = ServerSettings(project_root=project, progress_interval_seconds=0.0)
    server = build_server(settings)

    async def main() -> None:
        async with Client(server, mode="legacy") as client:
            with anyio.CancelScope() as scope:

                async def progress(value: float, total: float | None, message: str | None) -> None:
                    if message is None or moment not in message:
                        return
                    with anyio.fail_after(WAIT_SECONDS):
                        while after is not None and not after.exists():
                            await anyio.sleep(0.02)
                    scope.cancel()

                await client.call_tool("generate", arguments, progress_callback=progress)
            assert scope.cancelled_caught, "the call finished before it was cancelled"
            # The server still answers at once: the cancelled run does not block it.
            listed = await client.list_tools()
            assert listed.tools

    anyio.run(main)


# --------------------------------------------------------------------------- notifications


def test_cancelled_while_verify_runs_kills_it_and_puts_the_files_back(
    project: Path, slow_server: FakeModelServer, route_home: Path, tmp_path: Path
) -> None:
    pid_file = tmp_path / "verify.pid"
    configure(project, slow_server.url, sleeping_verify(pid_file))
    slow_server.enqueue(ANSWER)
    before = snapshot(project)

    cancel_when(project, {"task": "service", "skill": "scaffold#3"}, "running", after=pid_file)

    eventually(lambda: ledger_statuses(route_home) == ["cancelled"], "no cancelled ledger row")
    assert snapshot(project) == before  # the service it wrote is gone
    assert not (project / SERVICE).exists()
    verify_group = int(pid_file.read_text())
    eventually(lambda: group_gone(verify_group), "verify's processes were left running")


def test_cancelled_while_the_model_streams_writes_nothing(
    project: Path, slow_server: FakeModelServer, route_home: Path, tmp_path: Path
) -> None:
    pid_file = tmp_path / "verify.pid"
    configure(project, slow_server.url, sleeping_verify(pid_file))
    slow_server.enqueue(ANSWER)
    before = snapshot(project)

    cancel_when(project, {"task": "service", "skill": "scaffold#3"}, "tokens/s")

    eventually(lambda: ledger_statuses(route_home) == ["cancelled"], "no cancelled ledger row")
    time.sleep(len(ANSWER) / 2 * 0.05)  # as long as the rest of the answer would have taken
    assert snapshot(project) == before
    assert not pid_file.exists()  # verify never started


# --------------------------------------------------------------------------- stdin closed


def test_a_client_that_closes_stdin_stops_the_run_and_the_server(
    project: Path, slow_server: FakeModelServer, route_home: Path, tmp_path: Path
) -> None:
    pid_file = tmp_path / "verify.pid"
    configure(project, slow_server.url, sleeping_verify(pid_file))
    slow_server.enqueue(ANSWER)
    before = snapshot(project)
    launch = "from route.cli.mcp import command; command(project=None)"
    environment = {**os.environ, "ROUTE_HOME": str(route_home)}
    server = subprocess.Popen(
        [sys.executable, "-c", launch],
        cwd=project,
        env=environment,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert server.stdin is not None and server.stdout is not None

    def send(message: dict[str, Any]) -> None:
        assert server.stdin is not None
        server.stdin.write(json.dumps({"jsonrpc": "2.0", **message}) + "\n")
        server.stdin.flush()

    try:
        send(
            {
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-06-18",
                    "capabilities": {},
                    "clientInfo": {"name": "test", "version": "1"},
                },
            }
        )
        assert json.loads(server.stdout.readline())["id"] == 1
        send({"method": "notifications/initialized"})
        arguments = {"task": "service", "skill": "scaffold#3"}
        send(
            {
                "id": 2,
                "method": "tools/call",
                "params": {
                    "name": "generate",
                    "arguments": arguments,
                    "_meta": {"progressToken": 7},
                },
            }
        )
        for line in server.stdout:  # progress notifications until verify runs
            if "running" in json.loads(line).get("params", {}).get("message", ""):
                break
        assert (project / SERVICE).exists()
        eventually(pid_file.exists, "verify did not start")

        server.stdin.close()

        assert server.wait(timeout=WAIT_SECONDS) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        server.stdout.close()
    assert ledger_statuses(route_home) == ["cancelled"]
    assert snapshot(project) == before
    verify_group = int(pid_file.read_text())
    eventually(lambda: group_gone(verify_group), "verify's processes were left running")
