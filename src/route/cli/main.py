"""Entry point: the typer app, the sub-command table, and the one catch of ``RouteError``.

Start-up matters (an orchestrator calls route many times), so sub-commands are loaded lazily:
``route --help`` lists them from ``COMMANDS`` without importing their modules, and ``route gen``
imports only ``route.cli.gen``. Sub-command modules import only typer at module level; everything
heavy is imported inside the command functions. tests/test_cli_main.py checks that the short help
texts below match each command's own.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, NoReturn

import typer
from typer.core import TyperGroup

from route import __version__

# httpx imports its own command-line client (click, rich, pygments: about 50 ms) whenever click is
# installed, and route never uses it. Marked absent, httpx falls back to its stub for that client.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class LazyCommand:
    """Where a sub-command lives: a module and either a command function or a Typer group."""

    module: str
    attribute: str
    summary: str  # the first paragraph of the command's own help, listed by ``route --help``
    epilog: str | None = None  # the name of the module attribute holding the epilog, if any


COMMANDS: Mapping[str, LazyCommand] = {
    "gen": LazyCommand(
        "route.cli.gen", "gen",
        "Generate code with the local model, write it safely, verify, repair, report.",
        epilog="EPILOG",
    ),
    "batch": LazyCommand(
        "route.cli.batch", "command",
        "Run a plan of generation tasks concurrently, verify once, repair, report once.",
        epilog="EPILOG",
    ),
    "init": LazyCommand(
        "route.cli.init", "command",
        "Set this project up for Claude Code: install the model-routing skill, offer a starter "
        "scaffold skill, register `route mcp` in .mcp.json, check the model server and "
        "`make verify`.",
        epilog="EPILOG",
    ),
    "mcp": LazyCommand(
        "route.cli.mcp", "command",
        "Serve route's tools over stdio (MCP): generate, list_skills, show_skill, "
        "recommend_models, cost_summary. Writes only inside the project root.",
        epilog="EPILOG",
    ),
    "skills": LazyCommand(
        "route.cli.skills", "app",
        "List skills (SKILL.md files) and show exactly what a skill reference sends to the model.",
    ),
    "models": LazyCommand(
        "route.cli.models", "app",
        "Pick a local coding model that fits this machine, pull it, and check it.",
    ),
    "cost": LazyCommand(
        "route.cli.cost", "app",
        "What delegation saved: totals, per period/model/skill/project/user, single runs, "
        "prices; the team ledger with --team.",
    ),
}  # fmt: skip


def load_command(name: str, where: LazyCommand) -> Any:  # a click command of typer's own
    """Import one sub-command's module and build its click command."""
    import typer.main

    module = importlib.import_module(where.module)
    target = getattr(module, where.attribute)
    if isinstance(target, typer.Typer):
        return typer.main.get_group(target)
    single = typer.Typer(rich_markup_mode=None, add_completion=False)  # as the route group
    epilog = getattr(module, where.epilog) if where.epilog else None
    single.command(name, epilog=epilog)(target)
    return typer.main.get_command(single)


def _short_help(text: str, limit: int) -> str:
    """Click's own one-line summary of a help text (as ``get_short_help_str`` makes it)."""
    try:
        from typer._click.utils import make_default_short_help
    except ImportError:  # a Typer from before it vendored Click
        from click.utils import make_default_short_help  # type: ignore[no-redef]

    return str(make_default_short_help(text, limit))


class LazyCommands(MutableMapping[str, Any]):
    """The group's command table: names known up front, each command built on first use."""

    def __init__(self, table: Mapping[str, LazyCommand]) -> None:
        self._table = dict(table)
        self._loaded: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._loaded:
            self._loaded[name] = load_command(name, self._table[name])
        return self._loaded[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self._loaded[name] = command
        self._table.setdefault(name, LazyCommand("", "", ""))

    def __delitem__(self, name: str) -> None:
        del self._table[name]
        self._loaded.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._table)

    def __len__(self) -> int:
        return len(self._table)

    def short_help(self, name: str, limit: int) -> str | None:
        """The listing line for ``--help``, without importing a command not yet loaded."""
        if name in self._loaded:
            return str(self._loaded[name].get_short_help_str(limit))
        if name not in self._table:
            return None
        return _short_help(self._table[name].summary, limit)


class RouteGroup(TyperGroup):
    """Turns ``RouteError`` into one line on stderr and its exit code (and Ctrl-C into 130),
    for the console script and for ``CliRunner`` tests alike. Commands given to it are kept;
    the route app's own sub-commands come from ``COMMANDS``, lazily."""

    lazy_table: Mapping[str, LazyCommand] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.lazy_table:
            lazy = LazyCommands(self.lazy_table)
            for name, command in dict(self.commands).items():
                lazy[name] = command
            self.commands = lazy

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.commands)  # the table's order, which is the order of the help listing

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        commands = self.commands
        if not isinstance(commands, LazyCommands):
            super().format_commands(ctx, formatter)
            return
        names = list(commands)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = [(name, commands.short_help(name, limit) or "") for name in names]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: Any) -> Any:  # typer's own click Context
        from route.errors import EXIT_INTERRUPTED, RouteError

        as_json = wants_json([*getattr(ctx, "_protected_args", ()), *ctx.args])
        try:
            return super().invoke(ctx)
        except RouteError as error:
            if os.environ.get("ROUTE_DEBUG") == "1":
                raise
            _fail(str(error), error.exit_code, as_json=as_json)
        except KeyboardInterrupt:
            _fail("interrupted", EXIT_INTERRUPTED, as_json=as_json, status="interrupted")
        except Exception as error:
            # Click's own usage errors (a bad option value, a missing argument): click prints
            # them itself, but a command given --json still owes its caller one JSON object.
            if not as_json or not hasattr(error, "format_message"):
                raise
            _fail(error.format_message(), getattr(error, "exit_code", 2), as_json=True)


def wants_json(arguments: list[str]) -> bool:
    """The command line asks for ``--json`` (before any ``--`` that ends the options)."""
    for argument in arguments:
        if argument == "--":
            return False
        if argument == "--json":
            return True
    return False


def _fail(message: str, exit_code: int, *, as_json: bool, status: str = "error") -> NoReturn:
    """The one way a command ends in an error: one line on stderr and, with ``--json``, one
    JSON object on stdout (``{"status": "error", "exit_code": 2, "message": ...}``)."""
    from route.ui import print_error, print_json

    print_error(message)
    if as_json:
        print_json({"status": status, "exit_code": exit_code, "message": message})
    raise typer.Exit(exit_code) from None


class RouteApp(RouteGroup):
    """The ``route`` group itself: its sub-commands are those of ``COMMANDS``."""

    lazy_table = COMMANDS


EPILOG = """\
Examples:

  route init                                   set this project up for Claude Code

  route gen "service for Projects" --skill scaffold#3

  route batch plan.yaml --parallel 4

  route skills list

  route models recommend

  route cost --since 7d

Every command has --help with its own examples, and --json for machines.
"""

app = typer.Typer(
    name="route",
    cls=RouteApp,
    epilog=EPILOG,
    help=(
        "Hand token-heavy code generation from a cloud coding agent to a local model "
        "(Ollama or any OpenAI-compatible server), safely and measurably."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: start-up matters more than colours here
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"route {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """route: the cloud model plans and reviews, a local model writes the boilerplate."""


# ``--sandbox=MODE`` as issue 16 spells it: typer cannot give a flag an optional value, so the
# two modes are spelled here as the flags that carry them.
SANDBOX_SPELLINGS = {
    "--sandbox=strict": "--sandbox",
    "--sandbox=best-effort": "--sandbox-best-effort",
}


def spelled_arguments(arguments: list[str]) -> list[str]:
    """``arguments`` with ``--sandbox=MODE`` written as its flag (before a lone ``--`` only)."""
    if "--" in arguments:
        end = arguments.index("--")
        return spelled_arguments(arguments[:end]) + arguments[end:]
    return [SANDBOX_SPELLINGS.get(argument, argument) for argument in arguments]


def run() -> None:
    """Console-script entry point."""
    app(args=spelled_arguments(sys.argv[1:]))
