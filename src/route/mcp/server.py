"""``route mcp``: route's tools for Claude Code (or any MCP client) over stdio.

Tools (``tools.py`` holds their schemas): ``generate`` (the ``route gen`` pipeline, returning a
compact result and never the code unless asked), ``list_skills``, ``show_skill``,
``recommend_models`` and ``cost_summary``. The server offers tools only: no prompts, no
resources. It is bound to the project root it was started in: generation writes only there
(through the same confined writer as the CLI, protected files included), context files and
skill paths must lie inside it, and settings come from its ``route.yaml``.

Every answer is a compact JSON text (each character is one the orchestrator pays for), with the
same data as structured content. Every error, including those before a run, is one line of text
with ``status`` and ``exit_code`` as structured content. Messages name the tools' arguments,
never command-line flags (``wording.py``).

A ``generate`` that the client cancels (``notifications/cancelled``, or stdin closed) stops:
the run core sees the cancel between streamed chunks and around verify, kills verify's process
group, puts back the files the run wrote and records the run as ``cancelled``.

This module imports the MCP SDK (the ``model-route[mcp]`` extra); ``route.cli.mcp`` imports it only
after checking the SDK is installed.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import anyio.from_thread
import anyio.to_thread
from mcp import types
from mcp.server.lowlevel import Server

from route.errors import RouteError, UsageError
from route.mcp import queries
from route.mcp.results import compact_text
from route.mcp.tools import BY_NAME, TOOLS, ToolSpec, validate
from route.mcp.wording import for_mcp

if TYPE_CHECKING:
    from route.local_models.hardware import Hardware
    from route.values import Attempt, Completion

SERVER_NAME = "route"
# Progress while text streams: at most one notification per this many seconds.
PROGRESS_INTERVAL_SECONDS = 1.0
# After a cancel, how long the server waits for the run to put the project back.
CANCEL_GRACE_SECONDS = 10.0
# The status and exit code of an error route did not expect (a bug: the message says so).
INTERNAL_STATUS = "internal_error"
INTERNAL_EXIT_CODE = 70

INSTRUCTIONS = (
    "route hands pattern-following code generation to a local model. Call generate with the "
    "task as a complete spec (files, names, every field, what the tests check), the skill "
    "sections to follow (list_skills; cite the conventions and the tests section) and the "
    "test file among the targets; it writes the files, runs verify, repairs, and returns a "
    "short JSON result without the code."
)


def server_version() -> str:
    """route's own version (the package's, so it holds whatever the distribution is named)."""
    from route import __version__

    return __version__


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """What the server is bound to, and its seams (tests inject hardware and clocks). Settings,
    the model server and the ledger come from the project's config and the process
    environment, as for ``route gen``."""

    project_root: Path
    detect_hardware: Callable[[], Hardware] | None = (
        None  # None: route.local_models.hardware.detect_hardware
    )
    clock: Callable[[], float] = time.time
    monotonic: Callable[[], float] = time.monotonic
    progress_interval_seconds: float = PROGRESS_INTERVAL_SECONDS
    cancel_grace_seconds: float = CANCEL_GRACE_SECONDS


# --------------------------------------------------------------------------- server

Handler = Callable[[ServerSettings, dict[str, Any], Any], Awaitable[types.CallToolResult]]


def build_server(settings: ServerSettings) -> Server[Any]:
    """The MCP server with route's five tools, bound to ``settings.project_root``."""
    settings = replace(settings, project_root=settings.project_root.resolve())

    async def list_tools(
        context: Any, params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[tool_definition(spec) for spec in TOOLS])

    async def call_tool(context: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        spec = BY_NAME.get(params.name)
        if spec is None:
            names = ", ".join(BY_NAME)
            return error_result(UsageError(f"no tool named {params.name!r} — the tools: {names}"))
        try:
            arguments = validate(spec, params.arguments or {})
        except RouteError as error:
            return error_result(error)
        return await HANDLERS[spec.name](settings, arguments, context)

    return Server(
        SERVER_NAME,
        version=server_version(),
        instructions=INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )


def tool_definition(spec: ToolSpec) -> types.Tool:
    return types.Tool(
        name=spec.name,
        title=spec.title,
        description=spec.description,
        input_schema=spec.input_schema(),
        annotations=types.ToolAnnotations.model_validate(spec.annotations()),
    )


def serve(settings: ServerSettings) -> None:
    """Run the server on stdin/stdout until the client closes it."""
    from mcp.server.stdio import stdio_server

    server = build_server(settings)

    async def main() -> None:
        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())

    anyio.run(main)


# --------------------------------------------------------------------------- results


def data_result(data: Mapping[str, Any], *, is_error: bool = False) -> types.CallToolResult:
    """A tool's answer: the compact JSON text, and the same data as structured content."""
    text = compact_text(data)
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)],
        structured_content=json.loads(text),
        is_error=is_error,
    )


def error_result(error: RouteError) -> types.CallToolResult:
    """An error as one line of text, with its status and exit code as structured content."""
    message = for_mcp(" ".join(str(error).split()))
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=message)],
        structured_content={
            "status": error_status(error),
            "exit_code": error.exit_code,
            "message": message,
        },
        is_error=True,
    )


def error_status(error: RouteError) -> str:
    """The run status an error stands for: the run's own when it ended early, else by kind."""
    from route.errors import BackendError, Cancelled, Interrupted
    from route.mcp.generate import RunEndedEarly

    if isinstance(error, RunEndedEarly):
        return error.status
    for kind, status in ((BackendError, "backend_error"), (Cancelled, "cancelled")):
        if isinstance(error, kind):
            return status
    return "interrupted" if isinstance(error, Interrupted) else "error"


def _internal_error(error: Exception) -> types.CallToolResult:
    message = (
        f"route failed unexpectedly ({type(error).__name__}: {error}) — a bug in route: "
        "report it, and do this task yourself"
    )
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=" ".join(message.split()))],
        structured_content={"status": INTERNAL_STATUS, "exit_code": INTERNAL_EXIT_CODE},
        is_error=True,
    )


async def _answer(work: Callable[[], Mapping[str, Any]]) -> types.CallToolResult:
    """Run a read-only tool's blocking work in a thread and turn it into a result."""
    try:
        data = await anyio.to_thread.run_sync(work)
    except RouteError as error:
        return error_result(error)
    except Exception as error:
        return _internal_error(error)
    return data_result(data)


# --------------------------------------------------------------------------- read-only tools


async def _list_skills(
    settings: ServerSettings, arguments: dict[str, Any], context: Any
) -> types.CallToolResult:
    return await _answer(functools.partial(queries.skills_listing, settings))


async def _show_skill(
    settings: ServerSettings, arguments: dict[str, Any], context: Any
) -> types.CallToolResult:
    return await _answer(functools.partial(queries.skill_excerpt, settings, arguments["ref"]))


async def _recommend_models(
    settings: ServerSettings, arguments: dict[str, Any], context: Any
) -> types.CallToolResult:
    from route.mcp.tools import DEFAULT_CONTEXT_TOKENS

    tokens = int(arguments.get("context", DEFAULT_CONTEXT_TOKENS))
    return await _answer(functools.partial(queries.model_recommendations, settings, tokens))


async def _cost_summary(
    settings: ServerSettings, arguments: dict[str, Any], context: Any
) -> types.CallToolResult:
    work = functools.partial(
        queries.cost_figures,
        settings,
        arguments.get("since", "30d"),
        arguments.get("by"),
        all_projects=bool(arguments.get("all_projects", False)),
    )
    return await _answer(work)


# --------------------------------------------------------------------------- generate


async def _generate(
    settings: ServerSettings, arguments: dict[str, Any], context: Any
) -> types.CallToolResult:
    from route.mcp.generate import GenerateRequest, run_generate

    request = GenerateRequest.from_arguments(arguments)
    cancel = threading.Event()
    events = ProgressEvents(
        _progress_sender(context),
        clock=settings.monotonic,
        interval_seconds=settings.progress_interval_seconds,
    )
    work = functools.partial(run_generate, settings, request, events=events, cancel=cancel)
    finished = threading.Event()

    def run() -> tuple[Mapping[str, Any], bool]:
        try:
            return work()
        finally:
            finished.set()

    try:
        data, failed = await anyio.to_thread.run_sync(run, abandon_on_cancel=True)
    except anyio.get_cancelled_exc_class():
        cancel.set()  # the run stops, puts the project back and records itself as cancelled
        with anyio.CancelScope(shield=True), anyio.move_on_after(settings.cancel_grace_seconds):
            while not finished.is_set():
                await anyio.sleep(0.02)
        raise
    except RouteError as error:
        return error_result(error)
    except Exception as error:
        return _internal_error(error)
    return data_result(data, is_error=failed)


HANDLERS: dict[str, Handler] = {
    "generate": _generate,
    "list_skills": _list_skills,
    "show_skill": _show_skill,
    "recommend_models": _recommend_models,
    "cost_summary": _cost_summary,
}


def _progress_sender(context: Any) -> Callable[[float, str], None]:
    """A function the worker thread calls to send one progress notification."""

    def send(progress: float, message: str) -> None:
        try:
            anyio.from_thread.run(context.session.report_progress, progress, None, message)
        except Exception:  # progress is best effort: a client gone must not break the run
            return

    return send


# --------------------------------------------------------------------------- progress


class ProgressEvents:
    """``RunEvents`` that become MCP progress notifications: tokens so far and tokens/s.

    While text streams, one notification per ``interval_seconds`` at most; every step (attempt
    started, generation finished, verify started, attempt finished, notices) sends one. The
    progress value counts streamed chunks (≈ tokens) plus steps, so it always increases, as
    the protocol requires; the message carries the figures.
    """

    def __init__(
        self,
        send: Callable[[float, str], None],
        *,
        clock: Callable[[], float] = time.monotonic,
        interval_seconds: float = PROGRESS_INTERVAL_SECONDS,
    ) -> None:
        self._send = send
        self._clock = clock
        self._interval = interval_seconds
        self._progress = 0
        self._tokens = 0
        self._thinking = 0
        self._label = "attempt 1"
        self._started = clock()
        self._last_sent: float | None = None

    def attempt_started(self, number: int, total: int) -> None:
        self._label = f"attempt {number}/{total}"
        self._tokens = 0
        self._thinking = 0
        self._started = self._clock()
        self._step(f"{self._label}: generating")

    def text(self, chunk: str) -> None:
        self._tokens += 1
        self._progress += 1
        now = self._clock()
        if self._last_sent is None or now - self._last_sent >= self._interval:
            self._emit(f"{self._label}: {self._tokens} tokens, {self._rate(now):.1f} tokens/s")

    def thinking(self, chunk: str) -> None:
        """Reasoning counts as progress; its text is never sent."""
        self._thinking += 1
        self._progress += 1
        now = self._clock()
        if self._last_sent is None or now - self._last_sent >= self._interval:
            self._emit(f"{self._label}: thinking, {self._thinking} tokens")

    def generation_finished(self, completion: Completion) -> None:
        usage = completion.usage
        tokens = usage.output_tokens or self._tokens
        rate = usage.tokens_per_second or self._rate(self._clock())
        self._step(f"{self._label}: generated {tokens} tokens, {rate:.1f} tokens/s")

    def verify_started(self, command: str) -> None:
        self._step(f"{self._label}: running {command}")

    def attempt_finished(self, attempt: Attempt) -> None:
        outcome = "done" if attempt.failure is None else attempt.failure
        self._step(f"{self._label}: {outcome}")

    def notice(self, message: str) -> None:
        self._step(message)

    def _rate(self, now: float) -> float:
        elapsed = now - self._started
        return self._tokens / elapsed if elapsed > 0 else 0.0

    def _step(self, message: str) -> None:
        self._progress += 1
        self._emit(message)

    def _emit(self, message: str) -> None:
        self._last_sent = self._clock()
        self._send(float(self._progress), message)
