"""``route init``: set a project up for Claude Code, planned first and applied second.

The plan puts the model-routing skill where Claude Code loads it (``.claude/skills/``, and
``.skills/`` when the project keeps its skills there), offers a starter scaffold skill when the
project has none, registers route's MCP server in ``.mcp.json`` (merged with the servers already
there), and checks that the model server answers and that ``make verify`` exists. Planning only
reads; ``apply_plan`` writes the files the plan creates or updates, and nothing else.

Idempotent and careful: a file identical to the shipped one is "up to date"; a file that differs
was changed by the user and is left alone; a ``route`` entry in ``.mcp.json`` that is not
route's is left alone too. Checks never fail the command: they say what to do.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from route.errors import UsageError
from route.settings.locations import PACKAGE_DATA

if TYPE_CHECKING:
    import httpx

    from route.settings.config import Config

SHIPPED_SKILLS = PACKAGE_DATA / "skills"
MODEL_ROUTING = "model-routing"
SCAFFOLD = "scaffold"
SKILL_FILE = "SKILL.md"
MCP_FILE = ".mcp.json"
MCP_SERVER_NAME = "route"
MCP_ENTRY: dict[str, Any] = {"type": "stdio", "command": "route", "args": ["mcp"]}
MCP_ADD_COMMAND = "claude mcp add route -- route mcp"
ROUTE_COMMANDS = ("route", "model-route")
SERVER_TIMEOUT_SECONDS = 2.0
MODELS_SHOWN = 8

Action = Literal["create", "update", "up_to_date", "left_alone", "skip"]
ACTION_LABELS: dict[Action, str] = {
    "create": "create",
    "update": "update",
    "up_to_date": "up to date",
    "left_alone": "left alone",
    "skip": "skip",
}
_VERIFY_TARGET = re.compile(r"^(?:[^\s#=:][^#=:]*\s)?verify(?:\s[^#=:]*)?:(?!=)", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class FileAction:
    """What ``route init`` does with one file."""

    path: str  # relative to the project root, POSIX separators
    action: Action
    reason: str  # one line for the user
    content: str | None = None  # the text written, for "create" and "update"

    @property
    def writes(self) -> bool:
        return self.action in ("create", "update")


@dataclass(frozen=True, slots=True)
class Check:
    """One read-only check; ``ok`` False is a warning, never a failure."""

    name: str
    ok: bool
    detail: str
    suggestion: str | None = None  # text to paste, e.g. a Makefile target


@dataclass(frozen=True, slots=True)
class InitOptions:
    scaffold: bool = True  # offer the starter scaffold skill when the project has none
    mcp_json: bool = True  # register the server in .mcp.json (else: print `claude mcp add`)
    check_server: bool = True  # ask the model server whether it answers


@dataclass(frozen=True, slots=True)
class InitPlan:
    project_root: Path
    files: tuple[FileAction, ...]
    checks: tuple[Check, ...]
    mcp_command: str | None  # run this by hand when .mcp.json was not written

    @property
    def changes(self) -> tuple[FileAction, ...]:
        return tuple(action for action in self.files if action.writes)


# --------------------------------------------------------------------------- planning


def plan_init(
    root: Path,
    options: InitOptions | None = None,
    *,
    client: httpx.Client | None = None,
    shipped: Path = SHIPPED_SKILLS,
    sdk_installed: bool | None = None,
) -> InitPlan:
    """Everything ``route init`` would do in ``root``; reads only. ``client`` asks the model
    server (default: a client with a short timeout); ``sdk_installed`` says whether the MCP
    SDK is there (default: looked up)."""
    options = options if options is not None else InitOptions()
    root = root.resolve()
    if not root.is_dir():
        raise UsageError(f"{root} is not a directory — run route init in the project's root")
    config, config_check = _config(root)
    files = plan_files(root, options, shipped)
    mcp_action = plan_mcp_json(root, enabled=options.mcp_json)
    registered = mcp_action.action in ("create", "update", "up_to_date")
    mcp_command = None if registered else MCP_ADD_COMMAND
    checks: list[Check] = [] if config_check is None else [config_check]
    checks.append(_sdk_check(sdk_installed))
    if options.check_server:
        checks.append(_server_check(config, client))
    checks.append(check_verify(root, config.verify_command))
    return InitPlan(
        project_root=root,
        files=(*files, mcp_action),
        checks=tuple(checks),
        mcp_command=mcp_command,
    )


def _config(root: Path) -> tuple[Config, Check | None]:
    from route.errors import ConfigError
    from route.settings.config import Config
    from route.settings.resolve import resolve_context

    try:
        return resolve_context(root, root=root).config, None
    except ConfigError as error:
        return Config(), Check("config", False, f"{error} (checks use the defaults)")


def plan_files(
    root: Path, options: InitOptions, shipped: Path = SHIPPED_SKILLS
) -> list[FileAction]:
    """The skill files: model-routing for Claude Code (and ``.skills/``), the scaffold starter."""
    routing_text = read_shipped(shipped, MODEL_ROUTING)
    scaffold = plan_scaffold(root, options.scaffold, shipped)
    actions = [
        plan_file(
            root,
            f".claude/skills/{MODEL_ROUTING}/{SKILL_FILE}",
            routing_text,
            "the model-routing skill, where Claude Code loads it",
        )
    ]
    if (root / ".skills").is_dir() or scaffold.action == "create":
        actions.append(
            plan_file(
                root,
                f".skills/{MODEL_ROUTING}/{SKILL_FILE}",
                routing_text,
                "the model-routing skill, beside the project's other skills",
            )
        )
    actions.append(scaffold)
    return actions


def read_shipped(shipped: Path, name: str) -> str:
    path = shipped / name / SKILL_FILE
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(
            f"route's own {name} skill is missing at {path} — reinstall route"
        ) from exc


def plan_file(root: Path, relative: str, text: str, purpose: str) -> FileAction:
    """Create ``relative`` when missing; up to date when identical (line endings aside); left
    alone when the user changed it."""
    path = root / relative
    if not path.exists():
        return FileAction(relative, "create", purpose, text)
    try:
        current = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return FileAction(relative, "left_alone", f"cannot be read ({error}): left as it is")
    if _same_text(current, text):
        return FileAction(relative, "up_to_date", purpose)
    return FileAction(
        relative,
        "left_alone",
        "modified: kept as it is (delete it and run route init again for route's version)",
    )


def _same_text(first: str, second: str) -> bool:
    return first.replace("\r\n", "\n") == second.replace("\r\n", "\n")


def plan_scaffold(root: Path, wanted: bool, shipped: Path = SHIPPED_SKILLS) -> FileAction:
    """The starter ``.skills/scaffold/SKILL.md``, offered only when no scaffold skill exists."""
    relative = f".skills/{SCAFFOLD}/{SKILL_FILE}"
    if not wanted:
        return FileAction(relative, "skip", "--no-scaffold")
    text = read_shipped(shipped, SCAFFOLD)
    if (root / relative).exists():
        action = plan_file(root, relative, text, "the starter scaffold skill")
        if action.action == "left_alone":
            return FileAction(relative, "left_alone", "the project's own scaffold skill")
        return action
    existing = existing_scaffold(root)
    if existing is not None:
        return FileAction(relative, "skip", f"a scaffold skill exists: {existing}")
    return FileAction(
        relative,
        "create",
        "a starter scaffold skill: replace its templates with this project's real files",
        text,
    )


def existing_scaffold(root: Path) -> str | None:
    """Where the project already keeps a skill named scaffold, if it does."""
    from route.prompting.skills import discover_skills

    folders = [root / ".skills", root / ".claude" / "skills"]
    for skill in discover_skills([folder for folder in folders if folder.is_dir()]):
        if SCAFFOLD in (skill.name, skill.path.parent.name):
            return skill.path.relative_to(root).as_posix()
    return None


def plan_mcp_json(root: Path, *, enabled: bool = True) -> FileAction:
    """Register route's server in ``.mcp.json``, keeping every other entry."""
    if not enabled:
        return FileAction(MCP_FILE, "skip", f"--no-mcp-json: register it with {MCP_ADD_COMMAND}")
    path = root / MCP_FILE
    if not path.exists():
        return FileAction(
            MCP_FILE,
            "create",
            "registers route's MCP server",
            _mcp_text({MCP_SERVER_NAME: MCP_ENTRY}),
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        reason = f"not valid JSON ({error}): fix it, or register route with {MCP_ADD_COMMAND}"
        return FileAction(MCP_FILE, "left_alone", reason.replace("\n", " "))
    servers = data.get("mcpServers", {}) if isinstance(data, dict) else None
    if not isinstance(data, dict) or not isinstance(servers, dict):
        return FileAction(
            MCP_FILE,
            "left_alone",
            f"has no `mcpServers` object: register route with {MCP_ADD_COMMAND}",
        )
    current = servers.get(MCP_SERVER_NAME)
    if current is not None:
        if is_route_entry(current):
            return FileAction(MCP_FILE, "up_to_date", "route's MCP server is registered")
        return FileAction(
            MCP_FILE,
            "left_alone",
            f"its `{MCP_SERVER_NAME}` entry runs something else: {json.dumps(current)} — kept",
        )
    merged = dict(data)
    merged["mcpServers"] = {**servers, MCP_SERVER_NAME: MCP_ENTRY}
    others = len(servers)
    return FileAction(
        MCP_FILE,
        "update",
        f"adds route's MCP server ({others} other server{'s' if others != 1 else ''} kept)",
        json.dumps(merged, indent=2, ensure_ascii=False) + "\n",
    )


def _mcp_text(servers: dict[str, Any]) -> str:
    return json.dumps({"mcpServers": servers}, indent=2) + "\n"


def is_route_entry(entry: object) -> bool:
    """Whether an ``.mcp.json`` server entry runs ``route mcp`` (any options after it)."""
    if not isinstance(entry, dict):
        return False
    command = entry.get("command")
    arguments = entry.get("args", [])
    if not isinstance(command, str) or not isinstance(arguments, list):
        return False
    return Path(command).name in ROUTE_COMMANDS and arguments[:1] == ["mcp"]


# --------------------------------------------------------------------------- checks


def _sdk_check(installed: bool | None) -> Check:
    if installed is None:
        import importlib.util

        installed = importlib.util.find_spec("mcp") is not None
    if installed:
        return Check("mcp", True, "the MCP SDK is installed: `route mcp` can serve")
    return Check(
        "mcp",
        False,
        "the MCP SDK is not installed, so `route mcp` cannot start: pip install 'model-route[mcp]' "
        "(or call `route gen --json` from Bash)",
    )


def _server_check(config: Config, client: httpx.Client | None) -> Check:
    from route.backends.factory import make_client

    if client is not None:
        return check_model_server(config, client)
    with make_client(
        connect_timeout=SERVER_TIMEOUT_SECONDS, read_timeout=SERVER_TIMEOUT_SECONDS
    ) as own_client:
        return check_model_server(config, own_client)


def check_model_server(config: Config, client: httpx.Client) -> Check:
    """Whether the configured model server answers and has the configured model."""
    from route.backends.hosts import redact_url
    from route.errors import RouteError
    from route.settings.resolve import configured_model, resolve_server

    model = configured_model(config)
    try:
        server = resolve_server(config)  # the server `route gen` would talk to
    except RouteError as error:
        return Check("server", False, str(error))
    if server.kind == "openai" or (server.openai_url is not None and server.kind != "ollama"):
        if server.openai_url is None:
            return Check("server", False, "backend is openai but no base_url is set")
        shown = redact_url(server.openai_url)
        return _openai_check(client, server.openai_url, shown, model, server.api_key)
    return _ollama_check(client, server.ollama_url, model, server.api_key)


def _ollama_check(client: httpx.Client, base_url: str, model: str, api_key: str | None) -> Check:
    from route.backends.ollama_admin import list_installed
    from route.errors import BackendError

    try:
        with _translated(base_url):
            response = client.get(f"{base_url}/api/version")
        version = response.json().get("version", "?") if response.status_code == 200 else None
        models = list_installed(client, base_url, api_key=api_key)
    except (ValueError, AttributeError, BackendError):
        return Check(
            "ollama",
            False,
            f"not running at {base_url} — start it with `ollama serve` (route gen needs it)",
        )
    names = [installed.name for installed in models]
    where = f"Ollama {version} at {base_url}" if version else f"a server at {base_url}"
    return _models_check("ollama", where, names, model, f"ollama pull {model}")


def _openai_check(
    client: httpx.Client, base_url: str, shown_url: str, model: str, api_key: str | None
) -> Check:
    from route.errors import BackendError

    headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
    try:
        with _translated(shown_url):
            response = client.get(f"{base_url}/models", headers=headers)
        data = response.json()
        names = [str(item.get("id")) for item in data.get("data", []) if isinstance(item, dict)]
    except (ValueError, AttributeError, BackendError):
        return Check(
            "server",
            False,
            f"no OpenAI-compatible server answers at {shown_url} — start it (llama-server, vLLM)",
        )
    return _models_check("server", f"a server at {shown_url}", names, model, "load it there")


def _translated(shown_url: str) -> contextlib.AbstractContextManager[None]:
    """httpx's errors as route's (the check reports them as a failed check, not an error)."""
    from route.backends.transport import translated_transport_errors
    from route.errors import BackendTimeout, BackendUnreachable

    return translated_transport_errors(
        unreachable=lambda: BackendUnreachable(f"nothing answers at {shown_url}"),
        timeout=lambda: BackendTimeout(f"{shown_url} stopped answering"),
    )


def _models_check(name: str, where: str, names: Sequence[str], model: str, fix: str) -> Check:
    from route.local_models.catalog import normalize_tag

    if not names:
        return Check(name, False, f"{where} has no models — {fix}")
    shown = ", ".join(names[:MODELS_SHOWN]) + (" ..." if len(names) > MODELS_SHOWN else "")
    installed = {normalize_tag(item) for item in names}
    if normalize_tag(model) not in installed:
        return Check(
            name, False, f"{where}; models: {shown}; the configured model {model} is not: {fix}"
        )
    return Check(name, True, f"{where}; models: {shown}")


def check_verify(root: Path, verify_command: str) -> Check:
    """Whether the verify command route runs exists; a suggested Makefile target if not."""
    if verify_command.strip() != "make verify":
        return Check("verify", True, f"verify command from the config: {verify_command}")
    makefile = next(
        (
            root / name
            for name in ("GNUmakefile", "makefile", "Makefile")
            if (root / name).is_file()
        ),
        None,
    )
    suggestion = suggested_verify_target(root)
    if makefile is None:
        return Check(
            "verify",
            False,
            "no Makefile, so `make verify` cannot run — create one with a verify target that "
            "lints and tests (or set verify_command in route.yaml)",
            suggestion,
        )
    try:
        text = makefile.read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        return Check("verify", False, f"cannot read {makefile.name}: {error}")
    if _VERIFY_TARGET.search(text):
        return Check("verify", True, f"`make verify` exists ({makefile.name})")
    return Check(
        "verify",
        False,
        f"{makefile.name} has no `verify` target — add one that lints and tests (route never "
        "edits the Makefile)",
        suggestion,
    )


def suggested_verify_target(root: Path) -> str:
    """A ``verify`` target for the kind of project ``root`` looks like."""
    recipes: Sequence[tuple[Sequence[str], Sequence[str]]] = (
        (("pyproject.toml", "setup.py", "requirements.txt"), ("ruff check .", "pytest -q")),
        (("package.json",), ("npm run lint", "npm test")),
        (("go.mod",), ("go vet ./...", "go test ./...")),
        (("Cargo.toml",), ("cargo clippy -- -D warnings", "cargo test")),
    )
    steps: Sequence[str] = ("@echo 'put the lint and test commands here'", "@exit 1")
    for markers, commands in recipes:
        if any((root / marker).exists() for marker in markers):
            steps = commands
            break
    return ".PHONY: verify\nverify:\n" + "".join(f"\t{step}\n" for step in steps)


# --------------------------------------------------------------------------- applying


def apply_plan(plan: InitPlan) -> tuple[FileAction, ...]:
    """Write the files the plan creates or updates, inside the project root only; return them.
    A file created meanwhile by someone else is not overwritten."""
    root = plan.project_root.resolve()
    written: list[FileAction] = []
    for action in plan.changes:
        target = root / action.path
        _check_inside(target, root)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            _check_inside(target, root)
            _write(target, action)
        except FileExistsError:
            continue
        except OSError as exc:
            raise UsageError(
                f"cannot write {action.path}: {exc.strerror or exc} — check the folder's "
                "permissions and run route init again"
            ) from exc
        written.append(action)
    return tuple(written)


def _check_inside(target: Path, root: Path) -> None:
    if not target.resolve().is_relative_to(root):
        raise UsageError(
            f"{target} leads outside the project {root} (a link?) — route init writes only "
            "inside the project"
        )


def _write(target: Path, action: FileAction) -> None:
    content = action.content or ""
    if action.action == "create":
        with target.open("x", encoding="utf-8", newline="\n") as handle:
            handle.write(content)
        return
    temporary = target.with_name(f".{target.name}.route-init.tmp")
    temporary.write_text(content, encoding="utf-8", newline="\n")
    os.replace(temporary, target)


# --------------------------------------------------------------------------- reporting


def plan_dict(plan: InitPlan, *, dry_run: bool) -> dict[str, Any]:
    """The plan (or what was done) as data, for ``--json``."""
    return {
        "project": str(plan.project_root),
        "dry_run": dry_run,
        "files": [
            {"path": action.path, "action": action.action, "reason": action.reason}
            for action in plan.files
        ],
        "checks": [
            {
                "name": check.name,
                "ok": check.ok,
                "detail": check.detail,
                "suggestion": check.suggestion,
            }
            for check in plan.checks
        ],
        "mcp_command": plan.mcp_command,
        "next_steps": list(next_steps(plan)),
    }


def next_steps(plan: InitPlan) -> tuple[str, ...]:
    steps: list[str] = []
    if plan.mcp_command is not None:
        steps.append(f"register the MCP server: {plan.mcp_command}")
    if any(a.action == "create" and SCAFFOLD + "/" in a.path for a in plan.files):
        steps.append(
            f".skills/{SCAFFOLD}/{SKILL_FILE}: replace its templates with this project's real "
            "files, then check them with `route skills show scaffold#1`"
        )
    if plan.changes:
        steps.append("restart Claude Code in this project so it loads the skill and the server")
    return tuple(steps)
