"""The registration `route init` writes starts route's MCP server on a machine whose PATH does
not hold route's environment, and `route init --check` launches it for real and says what
failed: not found, wrong program, SDK missing, timeout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters

from route.claude_code.registration import (
    LaunchCommand,
    check_handshake,
    claude_mcp_add,
    running_route,
)

VENV_BIN = Path(sys.executable).parent
ROUTE_SCRIPT = VENV_BIN / "route"
BARE_PATH = "/usr/bin:/bin"  # a machine's default PATH: route's environment is not on it
TOOL_NAMES = {"generate", "list_skills", "show_skill", "recommend_models", "cost_summary"}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    (root / ".git").mkdir()
    (root / "Makefile").write_text("verify:\n\ttrue\n")
    return root


def bare_environment(route_home: Path, **extra: str) -> dict[str, str]:
    return {"PATH": BARE_PATH, "HOME": str(route_home), "ROUTE_HOME": str(route_home), **extra}


def script(folder: Path, name: str, body: str) -> Path:
    path = folder / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


# --------------------------------------------------------------------------- end to end


def test_init_registers_route_by_path_and_the_client_starts_it_without_route_on_path(
    project: Path, route_home: Path
) -> None:
    assert ROUTE_SCRIPT.is_file(), "the venv's route script (make install)"
    environment = bare_environment(route_home)

    init = subprocess.run(
        [str(ROUTE_SCRIPT), "init", "--no-check-server"],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert init.returncode == 0, init.stderr
    entry = json.loads((project / ".mcp.json").read_text())["mcpServers"]["route"]
    assert entry == {"type": "stdio", "command": str(ROUTE_SCRIPT), "args": ["mcp"]}
    assert f"ok    mcp: `{ROUTE_SCRIPT} mcp` answered initialize" in init.stdout
    assert claude_mcp_add(LaunchCommand(str(ROUTE_SCRIPT), ("mcp",))) in init.stdout

    # Claude Code's stand-in: the SDK's stdio client, launching the entry with the bare PATH.
    parameters = StdioServerParameters(
        command=entry["command"], args=entry["args"], cwd=project, env=environment
    )

    async def main() -> Any:
        async with Client(parameters, mode="legacy") as client:
            return client.server_info, await client.list_tools()

    info, listed = anyio.run(main)
    assert info.name == "route"
    assert {tool.name for tool in listed.tools} == TOOL_NAMES

    check = subprocess.run(
        [str(ROUTE_SCRIPT), "init", "--check", "--no-check-server"],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "(.mcp.json)" in check.stdout


def test_check_fails_on_a_bare_route_that_path_resolves_to_another_program(
    project: Path, route_home: Path, tmp_path: Path
) -> None:
    network_tools = tmp_path / "sbin"
    network_tools.mkdir()
    script(network_tools, "route", 'echo "Usage: route [-nNvee] [-FC] [<AF>]" >&2; exit 4')
    (project / ".mcp.json").write_text(
        json.dumps({"mcpServers": {"route": {"command": "route", "args": ["mcp"]}}})
    )
    environment = bare_environment(route_home, PATH=f"{network_tools}:{BARE_PATH}")

    check = subprocess.run(
        [str(ROUTE_SCRIPT), "init", "--check", "--no-check-server"],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert check.returncode == 1
    assert "warn  mcp: `route mcp` is not route's MCP server" in check.stdout
    assert "it printed: Usage: route [-nNvee]" in check.stdout
    assert json.loads((project / ".mcp.json").read_text())["mcpServers"]["route"]["command"] == (
        "route"
    )  # --check writes nothing


# --------------------------------------------------------------------------- the check


def test_a_missing_program_is_not_found(tmp_path: Path) -> None:
    result = check_handshake(LaunchCommand(str(tmp_path / "gone" / "route"), ("mcp",)), tmp_path)

    assert (result.ok, result.problem) == (False, "not_found")
    assert "not found" in result.detail


def test_a_route_without_the_sdk_is_reported_as_such(tmp_path: Path) -> None:
    program = script(
        tmp_path,
        "route",
        'echo "route: error: \\`route mcp\\` needs the MCP SDK, an optional extra: '
        "pip install 'model-route[mcp]'\" >&2; exit 2",
    )

    result = check_handshake(LaunchCommand(str(program), ("mcp",)), tmp_path)

    assert (result.ok, result.problem) == (False, "sdk_missing")
    assert "pip install 'model-route[mcp]'" in result.detail


def test_a_program_that_never_answers_times_out(tmp_path: Path) -> None:
    program = script(tmp_path, "route", "exec sleep 60")

    result = check_handshake(LaunchCommand(str(program), ("mcp",)), tmp_path, timeout_seconds=1)

    assert (result.ok, result.problem) == (False, "timeout")
    assert "within 1 s" in result.detail


def test_an_mcp_server_that_is_not_routes_is_the_wrong_program(tmp_path: Path) -> None:
    server = tmp_path / "other_server.py"
    server.write_text(
        "from mcp.server.mcpserver import MCPServer\n"
        "server = MCPServer('other')\n"
        "@server.tool()\n"
        "def hello() -> str:\n"
        "    return 'hi'\n"
        "server.run('stdio')\n"
    )

    result = check_handshake(LaunchCommand(sys.executable, (str(server),)), tmp_path)

    assert (result.ok, result.problem) == (False, "wrong_program")
    assert "tools: hello" in result.detail


# --------------------------------------------------------------------------- the command


def test_the_running_route_script_is_registered_by_its_absolute_path(tmp_path: Path) -> None:
    program = script(tmp_path, "model-route", "true")

    assert running_route(str(program), "/usr/bin/python3") == LaunchCommand(str(program), ("mcp",))
    found = running_route("model-route", "/x/python", which=lambda name: str(program))
    assert found == LaunchCommand(str(program), ("mcp",))


@pytest.mark.parametrize("argv0", ["/usr/lib/pytest", "route", "-c", ""])
def test_otherwise_the_interpreter_runs_route_as_a_module(argv0: str) -> None:
    launch = running_route(argv0, "/venv/bin/python", which=lambda name: None)

    assert launch == LaunchCommand("/venv/bin/python", ("-m", "route", "mcp"))
    assert os.path.isabs(launch.command)
