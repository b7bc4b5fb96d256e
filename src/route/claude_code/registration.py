"""How Claude Code starts route's MCP server, and a check that it really does.

``.mcp.json`` names a program, and Claude Code starts it with its own PATH. A bare ``route``
is a trap there: on most Linux machines ``/usr/sbin/route`` (the network tool) comes first, and
route itself lives in a virtual environment that is not on that PATH. So the registration names
the running route by its absolute path (or its interpreter with ``-m route``), and the check
launches exactly that command and completes an MCP ``initialize`` handshake and a
``tools/list`` with the official SDK's client, as Claude Code would.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MCP_SERVER_NAME = "route"
ROUTE_PROGRAMS = ("route", "model-route")
HANDSHAKE_TIMEOUT_SECONDS = 30.0
SDK_MISSING_MARK = "needs the MCP SDK"  # what `route mcp` prints when the extra is missing
INSTALL_HINT = "pip install 'model-route[mcp]'"
STDERR_SHOWN = 200  # characters of the program's stderr quoted in a failed check


@dataclass(frozen=True, slots=True)
class LaunchCommand:
    """A program and its arguments, as an ``.mcp.json`` entry holds them."""

    command: str
    args: tuple[str, ...]

    def entry(self) -> dict[str, Any]:
        """The ``.mcp.json`` server entry."""
        return {"type": "stdio", "command": self.command, "args": list(self.args)}

    def shell_text(self) -> str:
        return shlex.join((self.command, *self.args))


@dataclass(frozen=True, slots=True)
class HandshakeResult:
    """What launching a registration gave: ``ok``, or ``problem`` (one of ``not_found``,
    ``wrong_program``, ``sdk_missing``, ``timeout``) with a line saying what to do."""

    ok: bool
    detail: str
    problem: str | None = None
    tools: tuple[str, ...] = ()


def running_route(
    argv0: str | None = None,
    executable: str | None = None,
    which: Callable[[str], str | None] = shutil.which,
) -> LaunchCommand:
    """The command that starts this very route's MCP server: the route script being run, by
    its absolute path, or else this interpreter with ``-m route``."""
    argv0 = sys.argv[0] if argv0 is None else argv0
    executable = sys.executable if executable is None else executable
    name = Path(argv0).name
    if name in ROUTE_PROGRAMS:
        found = argv0 if os.sep in argv0 else which(argv0)
        if found and os.path.isfile(found) and os.access(found, os.X_OK):
            return LaunchCommand(str(Path(found).absolute()), ("mcp",))
    return LaunchCommand(str(Path(executable).absolute()), ("-m", "route", "mcp"))


def claude_mcp_add(launch: LaunchCommand) -> str:
    """The ``claude mcp add`` command that registers ``launch`` for every project (user level)."""
    words = ("claude", "mcp", "add", "--scope", "user", MCP_SERVER_NAME, "--")
    return shlex.join((*words, launch.command, *launch.args))


def launch_of(entry: object) -> LaunchCommand | None:
    """The command of an ``.mcp.json`` entry, or None when it is not a command entry."""
    if not isinstance(entry, Mapping):
        return None
    command = entry.get("command")
    arguments = entry.get("args", [])
    if not isinstance(command, str) or not isinstance(arguments, list):
        return None
    if not all(isinstance(argument, str) for argument in arguments):
        return None
    return LaunchCommand(command, tuple(arguments))


def is_route_launch(launch: LaunchCommand) -> bool:
    """Whether ``launch`` runs ``route mcp``: a route program, or an interpreter with
    ``-m route``, followed by ``mcp`` (any options after it)."""
    if Path(launch.command).name in ROUTE_PROGRAMS:
        return launch.args[:1] == ("mcp",)
    return launch.args[:3] == ("-m", "route", "mcp")


def same_installation(registered: LaunchCommand, launch: LaunchCommand) -> bool:
    """Whether ``registered`` starts the same route as ``launch``: the same command, or another
    of its programs beside it (``model-route``, its interpreter with ``-m route``). A bare
    program name never counts: Claude Code's PATH decides what it starts."""
    if registered == launch:
        return True
    if not (os.path.isabs(registered.command) and os.path.isfile(registered.command)):
        return False
    return Path(registered.command).parent == Path(launch.command).parent


# --------------------------------------------------------------------------- the check


def check_handshake(
    launch: LaunchCommand,
    cwd: Path,
    *,
    timeout_seconds: float = HANDSHAKE_TIMEOUT_SECONDS,
    environment: Mapping[str, str] | None = None,
) -> HandshakeResult:
    """Launch ``launch`` in ``cwd`` and complete ``initialize`` and ``tools/list`` with the MCP
    SDK's stdio client. ``environment``: extra variables for the server (the entry's ``env``)."""
    import importlib.util

    if importlib.util.find_spec("mcp") is None:
        return HandshakeResult(
            False,
            f"the MCP SDK is not installed here, so route cannot serve MCP: {INSTALL_HINT}",
            "sdk_missing",
        )
    program = _find_program(launch.command, environment)
    if program is None:
        return HandshakeResult(
            False,
            f"{launch.command} not found — run `route init` again from route's environment to "
            "register it by its absolute path",
            "not_found",
        )
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as errors:
        result = _handshake(launch, cwd, timeout_seconds, environment, errors)
        errors.seek(0)
        stderr = errors.read()
    return _judge(launch, result, stderr, timeout_seconds)


def _find_program(command: str, environment: Mapping[str, str] | None) -> str | None:
    if os.path.isabs(command) or os.sep in command:
        return command if os.path.isfile(command) and os.access(command, os.X_OK) else None
    path = (environment or {}).get("PATH", os.environ.get("PATH"))
    return shutil.which(command, path=path)


_Outcome = tuple[str, Any]  # ("ok", (server name, version, tool names)) | ("timeout"|"error", text)


def _handshake(
    launch: LaunchCommand,
    cwd: Path,
    timeout_seconds: float,
    environment: Mapping[str, str] | None,
    errors: Any,
) -> _Outcome:
    import anyio
    from mcp import Client, StdioServerParameters
    from mcp.client.stdio import stdio_client

    parameters = StdioServerParameters(
        command=launch.command,
        args=list(launch.args),
        cwd=cwd,
        env={**os.environ, **(environment or {})},
    )

    async def talk() -> _Outcome:
        async with Client(stdio_client(parameters, errlog=errors), mode="legacy") as client:
            listed = await client.list_tools()
            info = client.server_info
            names = tuple(tool.name for tool in listed.tools)
            return "ok", (info.name if info else "?", info.version if info else "", names)

    async def bounded() -> _Outcome:
        with anyio.move_on_after(timeout_seconds):
            return await talk()
        return "timeout", ""

    try:
        return anyio.run(bounded)
    except Exception as error:  # the program died, spoke something else, or closed the pipe
        return "error", _first_line(error)


def _first_line(error: BaseException) -> str:
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]


def _judge(
    launch: LaunchCommand, outcome: _Outcome, stderr: str, timeout_seconds: float
) -> HandshakeResult:
    shown = launch.shell_text()
    kind, value = outcome
    if kind == "ok":
        name, version, tools = value
        if "generate" not in tools:
            return HandshakeResult(
                False,
                f"`{shown}` speaks MCP but is not route's server (tools: {', '.join(tools)})",
                "wrong_program",
            )
        return HandshakeResult(
            True,
            f"`{shown}` answered initialize ({name} {version}) and tools/list ({len(tools)} tools)",
            tools=tools,
        )
    if SDK_MISSING_MARK in stderr:
        return HandshakeResult(
            False,
            f"`{shown}` starts route without the MCP SDK: install it in that environment "
            f"({INSTALL_HINT})",
            "sdk_missing",
        )
    if kind == "timeout":
        return HandshakeResult(
            False,
            f"`{shown}` did not finish the MCP handshake within {timeout_seconds:g} s — is it "
            "route? try it by hand, or raise the machine's resources",
            "timeout",
        )
    said = " ".join(stderr.split())[:STDERR_SHOWN]
    heard = f"; it printed: {said}" if said else f" ({value})"
    return HandshakeResult(
        False,
        f"`{shown}` is not route's MCP server (no handshake{heard}) — run `route init` from "
        "route's environment so .mcp.json names route by its absolute path",
        "wrong_program",
    )
