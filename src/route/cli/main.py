"""Entry point: the typer app, the sub-command groups, and the one catch of ``RouteError``.

Sub-command modules import only typer at module level; everything heavy is imported inside the
command functions, so ``route --help`` stays fast.
"""

from __future__ import annotations

import os
from typing import Any

import typer
from typer.core import TyperGroup

from route import __version__


class RouteGroup(TyperGroup):
    """Turns ``RouteError`` into one line on stderr and its exit code (and Ctrl-C into 130),
    for the console script and for ``CliRunner`` tests alike."""

    def invoke(self, ctx: Any) -> Any:  # typer's own click Context
        from route.errors import EXIT_INTERRUPTED, RouteError

        try:
            return super().invoke(ctx)
        except RouteError as error:
            if os.environ.get("ROUTE_DEBUG") == "1":
                raise
            from route.ui import print_error

            print_error(str(error))
            raise typer.Exit(error.exit_code) from None
        except KeyboardInterrupt:
            from route.ui import print_error

            print_error("interrupted")
            raise typer.Exit(EXIT_INTERRUPTED) from None


app = typer.Typer(
    name="route",
    cls=RouteGroup,
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


def _register() -> None:
    from route.cli import batch, cost, gen, init, mcp, models, skills

    app.command("gen", epilog=gen.EPILOG)(gen.gen)
    app.command("batch", epilog=batch.EPILOG)(batch.command)
    app.add_typer(skills.app, name="skills")
    app.add_typer(models.app, name="models")
    app.add_typer(cost.app, name="cost")
    app.command("init")(init.command)
    app.command("mcp")(mcp.command)


_register()


def run() -> None:
    """Console-script entry point."""
    app()
