"""``route mcp``: serve route's tools to Claude Code (or any MCP client) over stdio.

Register it with ``route init`` (writes ``.mcp.json`` naming this route by its absolute path,
and prints the ``claude mcp add`` command for every project); ``route init --check`` launches
the registered command and completes an MCP handshake with it.
The MCP SDK is an optional extra, imported only here and only when the command runs.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

INSTALL_HINT = "pip install 'model-route[mcp]'"


EPILOG = """\
Examples:

  route mcp

  route mcp --project ~/code/api
"""


def command(
    project: Annotated[
        Path | None,
        typer.Option(
            "--project",
            help="Project root the server is bound to (default: found from the current dir).",
        ),
    ] = None,
) -> None:
    """Serve route's tools over stdio (MCP): generate, list_skills, show_skill,
    recommend_models, cost_summary. Writes only inside the project root.
    """
    require_mcp_sdk()
    from route.mcp.server import ServerSettings, serve

    serve(ServerSettings(project_root=project_root(project, Path.cwd())))


def require_mcp_sdk(find_spec: Callable[[str], Any] = importlib.util.find_spec) -> None:
    """Raise ``UsageError`` saying how to install the extra when the MCP SDK is missing."""
    from route.errors import UsageError

    if find_spec("mcp") is None:
        raise UsageError(f"`route mcp` needs the MCP SDK, an optional extra: {INSTALL_HINT}")


def project_root(project: Path | None, cwd: Path) -> Path:
    """``--project`` (which must be a folder), else the root found from ``cwd``."""
    from route.errors import UsageError
    from route.settings.config import find_project_root

    if project is None:
        return find_project_root(cwd)
    if not project.is_dir():
        raise UsageError(f"--project {project} is not a directory — give the project's root folder")
    return project.resolve()
