"""Entry point: the typer app, the sub-command groups, and the one catch of ``RouteError``.

Sub-command modules import only typer at module level; everything heavy is imported inside the
command functions, so ``route --help`` stays fast.
"""

from __future__ import annotations

import os
import sys

import typer

from route import __version__

app = typer.Typer(
    name="route",
    help=(
        "Hand token-heavy code generation from a cloud coding agent to a local model "
        "(Ollama or any OpenAI-compatible server), safely and measurably."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
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
    from route.cli import gen, skills

    app.command("gen", epilog=gen.EPILOG)(gen.gen)
    app.add_typer(skills.app, name="skills")


_register()


def run() -> None:
    """Console-script entry: run the app, turn ``RouteError`` into one line and an exit code."""
    from route.errors import EXIT_INTERRUPTED, RouteError

    try:
        app(standalone_mode=False)
    except RouteError as error:
        if os.environ.get("ROUTE_DEBUG") == "1":
            raise
        from route.ui import print_error

        print_error(str(error))
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        from route.ui import print_error

        print_error("interrupted")
        sys.exit(EXIT_INTERRUPTED)
    except typer.Exit as exit_:
        sys.exit(exit_.exit_code)
    except typer.Abort:
        sys.exit(EXIT_INTERRUPTED)
    except Exception as click_error:  # click usage errors in non-standalone mode
        import click

        if isinstance(click_error, click.ClickException):
            click_error.show()
            sys.exit(2)
        raise
