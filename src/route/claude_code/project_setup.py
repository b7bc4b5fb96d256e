"""``route init``: set a project up for Claude Code, planned first and applied second.

The plan puts the model-routing skill where Claude Code loads it (``.claude/skills/``, and
``.skills/`` when the project keeps its skills there), offers a starter scaffold skill when the
project has none, registers route's MCP server in ``.mcp.json`` by the absolute path of the
running route (merged with the servers already there), on request adds the local-coder subagent
(``.claude/agents/local-coder.md``), and checks that the model server answers and that ``make
verify`` exists. Planning only reads; ``apply_plan`` writes the files the plan creates or
updates, and nothing else. ``check_registration`` then launches the registered command and
completes an MCP handshake with it (``registration.py``).

Idempotent and careful: a file identical to the shipped one is "up to date"; a file that differs
was changed by the user and is left alone; a ``route`` entry in ``.mcp.json`` that is not
route's is left alone too. Checks never fail the command: they say what to do.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from route.claude_code.registration import (
    MCP_SERVER_NAME,
    HandshakeResult,
    LaunchCommand,
    check_handshake,
    claude_mcp_add,
    is_route_launch,
    launch_of,
    running_route,
    same_installation,
)
from route.errors import UsageError
from route.settings.locations import PACKAGE_DATA

if TYPE_CHECKING:
    import httpx

    from route.settings.config import Config

SHIPPED_SKILLS = PACKAGE_DATA / "skills"
SHIPPED_AGENTS = PACKAGE_DATA / "agents"
MODEL_ROUTING = "model-routing"
SCAFFOLD = "scaffold"
SKILL_FILE = "SKILL.md"
LOCAL_CODER = "local-coder.md"
MCP_FILE = ".mcp.json"
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
    agent: bool = False  # add the local-coder subagent (.claude/agents/local-coder.md)


@dataclass(frozen=True, slots=True)
class InitPlan:
    project_root: Path
    files: tuple[FileAction, ...]
    checks: tuple[Check, ...]
    mcp_command: str | None  # run this by hand when .mcp.json was not written
    launch: LaunchCommand  # what .mcp.json registers: the running route, by absolute path
    claude_command: str  # `claude mcp add --scope user ...`: the user-level choice

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
    launch: LaunchCommand | None = None,
) -> InitPlan:
    """Everything ``route init`` would do in ``root``; reads only. ``client`` asks the model
    server (default: a client with a short timeout); ``launch`` is the command to register
    (default: the running route, by absolute path)."""
    options = options if options is not None else InitOptions()
    launch = launch if launch is not None else running_route()
    root = root.resolve()
    if not root.is_dir():
        raise UsageError(f"{root} is not a directory — run route init in the project's root")
    config, config_check = _config(root)
    files = plan_files(root, options, shipped)
    if options.agent:
        files.append(plan_agent(root))
    claude_command = claude_mcp_add(launch)
    mcp_action = plan_mcp_json(root, launch, enabled=options.mcp_json)
    registered = mcp_action.action in ("create", "update", "up_to_date")
    mcp_command = None if registered else claude_command
    checks: list[Check] = [] if config_check is None else [config_check]
    if options.check_server:
        checks.append(_server_check(config, client))
    checks.append(check_verify(root, config.verify_command))
    from route.claude_code.fix_proposal import check_fix

    checks.append(check_fix(root, config.fix_command))
    return InitPlan(
        project_root=root,
        files=(*files, mcp_action),
        checks=tuple(checks),
        mcp_command=mcp_command,
        launch=launch,
        claude_command=claude_command,
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
    """The skill files: model-routing (its SKILL.md and the reference files beside it) for
    Claude Code (and ``.skills/``), the scaffold starter."""
    routing = shipped_files(shipped, MODEL_ROUTING)
    scaffold = plan_scaffold(root, options.scaffold, shipped)
    folders = [(".claude/skills", "the model-routing skill, where Claude Code loads it")]
    if (root / ".skills").is_dir() or scaffold.action == "create":
        folders.append((".skills", "the model-routing skill, beside the project's other skills"))
    actions = [
        plan_file(root, f"{folder}/{MODEL_ROUTING}/{name}", text, purpose)
        for folder, purpose in folders
        for name, text in routing
    ]
    actions.append(scaffold)
    return actions


def shipped_files(shipped: Path, name: str) -> list[tuple[str, str]]:
    """A shipped skill's files (``SKILL.md`` first, then its reference files) and their text."""
    folder = shipped / name
    extra = sorted(path.name for path in folder.glob("*.md") if path.name != SKILL_FILE)
    return [(file, read_shipped(shipped, name, file)) for file in (SKILL_FILE, *extra)]


def plan_agent(root: Path, shipped: Path = SHIPPED_AGENTS) -> FileAction:
    """The local-coder subagent, in Claude Code's agent format."""
    path = shipped / LOCAL_CODER
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"route's own subagent is missing at {path} — reinstall route") from exc
    return plan_file(
        root,
        f".claude/agents/{LOCAL_CODER}",
        text,
        "the local-coder subagent: Claude delegates pattern-following code to it",
    )


def read_shipped(shipped: Path, name: str, file: str = SKILL_FILE) -> str:
    path = shipped / name / file
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


def plan_mcp_json(root: Path, launch: LaunchCommand, *, enabled: bool = True) -> FileAction:
    """Register route's server in ``.mcp.json`` as ``launch``, keeping every other entry. A
    route entry that starts another route (a bare ``route``, which Claude Code's PATH may
    resolve to the network tool; another environment) is updated to this one."""
    fallback = claude_mcp_add(launch)
    if not enabled:
        return FileAction(MCP_FILE, "skip", f"--no-mcp-json: register it with {fallback}")
    path = root / MCP_FILE
    if not path.exists():
        return FileAction(
            MCP_FILE,
            "create",
            f"registers route's MCP server: {launch.shell_text()}",
            _mcp_text({MCP_SERVER_NAME: launch.entry()}),
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        reason = f"not valid JSON ({error}): fix it, or register route with {fallback}"
        return FileAction(MCP_FILE, "left_alone", reason.replace("\n", " "))
    servers = data.get("mcpServers", {}) if isinstance(data, dict) else None
    if not isinstance(data, dict) or not isinstance(servers, dict):
        return FileAction(
            MCP_FILE, "left_alone", f"has no `mcpServers` object: register route with {fallback}"
        )
    current = servers.get(MCP_SERVER_NAME)
    if current is None:
        entry = launch.entry()
        others = len(servers)
        reason = f"adds route's MCP server ({others} other server{'s' if others != 1 else ''} kept)"
    else:
        registered = launch_of(current)
        if registered is None or not is_route_launch(registered):
            return FileAction(
                MCP_FILE,
                "left_alone",
                f"its `{MCP_SERVER_NAME}` entry runs something else: {json.dumps(current)} — kept",
            )
        if same_installation(registered, launch):
            shown = registered.shell_text()
            return FileAction(MCP_FILE, "up_to_date", f"route's MCP server is registered: {shown}")
        entry = {**current, **launch.entry()}  # keeps the user's env and other keys
        reason = f"was `{registered.shell_text()}`, now this route: {launch.shell_text()}"
    merged = dict(data)
    merged["mcpServers"] = {**servers, MCP_SERVER_NAME: entry}
    return FileAction(
        MCP_FILE, "update", reason, json.dumps(merged, indent=2, ensure_ascii=False) + "\n"
    )


def _mcp_text(servers: dict[str, Any]) -> str:
    return json.dumps({"mcpServers": servers}, indent=2) + "\n"


def registered_launch(root: Path) -> tuple[LaunchCommand, dict[str, str]] | None:
    """The command (and extra environment) ``.mcp.json`` registers for route, if it does."""
    try:
        data = json.loads((root / MCP_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    servers = data.get("mcpServers") if isinstance(data, dict) else None
    entry = servers.get(MCP_SERVER_NAME) if isinstance(servers, dict) else None
    launch = launch_of(entry)
    if launch is None or not isinstance(entry, dict):
        return None
    environment = entry.get("env")
    extra = (
        {str(key): str(value) for key, value in environment.items()}
        if isinstance(environment, dict)
        else {}
    )
    return launch, extra


# --------------------------------------------------------------------------- checks


def check_registration(
    root: Path,
    launch: LaunchCommand,
    *,
    handshake: Callable[..., HandshakeResult] = check_handshake,
) -> Check:
    """Launch what Claude Code will launch (``.mcp.json``'s route entry, else ``launch``) in
    ``root`` and complete an MCP handshake with it."""
    registered = registered_launch(root.resolve())
    command, environment = registered if registered is not None else (launch, {})
    result = handshake(command, root.resolve(), environment=environment)
    where = MCP_FILE if registered is not None else "not registered in .mcp.json"
    return Check("mcp", result.ok, f"{result.detail} ({where})")


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


def with_check(plan: InitPlan, check: Check) -> InitPlan:
    """The plan with one more check (the handshake, run after the files are written)."""
    return replace(plan, checks=(*plan.checks, check))


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
        "mcp_server": plan.launch.entry(),
        "claude_command": plan.claude_command,
        "next_steps": list(next_steps(plan)),
    }


def next_steps(plan: InitPlan) -> tuple[str, ...]:
    steps: list[str] = []
    if plan.mcp_command is not None:
        steps.append(f"register the MCP server: {plan.mcp_command}")
    else:
        steps.append(f"to serve every project instead (user level): {plan.claude_command}")
    if any(a.action == "create" and SCAFFOLD + "/" in a.path for a in plan.files):
        steps.append(
            f".skills/{SCAFFOLD}/{SKILL_FILE}: replace its templates with this project's real "
            "files, then check them with `route skills show scaffold#1`"
        )
    if plan.changes:
        steps.append(
            "restart Claude Code in this project so it loads the skill, the server and agents"
        )
    return tuple(steps)
