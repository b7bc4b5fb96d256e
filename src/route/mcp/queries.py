"""What the read-only MCP tools return: the project's skills, one skill reference's text, the
models that fit this machine, and the ledger's totals. Plain functions of the server's settings
returning plain dictionaries; ``server.py`` turns them into tool results."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from route.errors import SkillError, UsageError

if TYPE_CHECKING:
    from route.local_models.catalog import Estimate, Recommendation
    from route.mcp.server import ServerSettings
    from route.settings.resolve import RunContext

# recommend_models lists at most this many models that fit (best first).
RECOMMEND_LIMIT = 5
# The model server must answer /api/tags this fast for recommend_models to mark installed models.
TAGS_TIMEOUT_SECONDS = 3.0
BYTES_PER_GB = 1e9
# list_skills leaves out skills whose front matter says they are for the orchestrator itself.
ORCHESTRATOR_AUDIENCE = "orchestrator"


def run_context(settings: ServerSettings, flags: Mapping[str, Any] | None = None) -> RunContext:
    """The resolved settings in the server's project (its root is also the current folder)."""
    from route.settings.resolve import resolve_context

    root = settings.project_root
    return resolve_context(root, root=root, flags=flags)


def check_skill_references(refs: Sequence[str], root: Path, dirs: Sequence[Path]) -> None:
    """Refuse a skill reference that is a path outside the project and the skill folders (the
    server reads only what the project and the user's skill folders hold)."""
    allowed = (root.resolve(), *(directory.resolve() for directory in dirs))
    for ref in refs:
        target = ref.strip().rpartition("#")[0] if "#" in ref else ref.strip()
        if not ("/" in target or os.sep in target or target.lower().endswith(".md")):
            continue
        path = Path(target).expanduser()
        resolved = (path if path.is_absolute() else root / path).resolve()
        if not any(resolved.is_relative_to(base) for base in allowed):
            raise SkillError(
                f"skill reference '{ref}' points outside the project {root} — copy the skill "
                "into .skills/<name>/SKILL.md or cite it by name"
            )


# --------------------------------------------------------------------------- skills


def skills_listing(settings: ServerSettings) -> dict[str, Any]:
    """The skills found from the project root that the local model may follow (not those whose
    front matter says ``audience: orchestrator``, such as model-routing): what ``list_skills``
    returns."""
    from route.prompting.skills import discover_skills_with_problems

    root = settings.project_root
    found, problems = discover_skills_with_problems(run_context(settings).skill_dirs())
    return {
        "skills": [
            {
                "name": skill.name,
                "description": skill.description,
                "sections": [section.title for section in skill.sections],
                "path": _display_path(skill.path, root),
            }
            for skill in found
            if skill.audience != ORCHESTRATOR_AUDIENCE
        ],
        "problems": list(problems),
    }


def skill_excerpt(settings: ServerSettings, ref: str) -> dict[str, Any]:
    """What ``ref`` sends to the local model: what ``show_skill`` returns."""
    from route.prompting.skills import resolve_reference
    from route.prompting.tokens import estimate_tokens

    root = settings.project_root
    dirs = run_context(settings).skill_dirs()
    check_skill_references((ref,), root, dirs)
    excerpt = resolve_reference(ref, dirs, root)
    return {
        "ref": excerpt.ref,
        "skill": excerpt.skill.name,
        "path": _display_path(excerpt.skill.path, root),
        "sections": [section.title for section in excerpt.sections],
        "estimated_tokens": estimate_tokens(excerpt.text),
        "text": excerpt.text,
        "warnings": list(excerpt.warnings),
    }


def _display_path(path: Path, root: Path) -> str:
    """Relative to the project root when inside it, else absolute."""
    absolute = path.absolute()
    return absolute.relative_to(root).as_posix() if absolute.is_relative_to(root) else str(path)


# --------------------------------------------------------------------------- models


def model_recommendations(settings: ServerSettings, context_tokens: int) -> dict[str, Any]:
    """The catalog's models ranked for this machine: what ``recommend_models`` returns."""
    from route.local_models.catalog import PlanSettings, load_catalog, recommend
    from route.local_models.hardware import detect_hardware

    if context_tokens < 512:
        raise UsageError(f"context {context_tokens} is too small — plan for at least 512 tokens")
    detect = settings.detect_hardware or detect_hardware
    hardware = detect()
    installed, problem = installed_models(settings)
    result = recommend(
        load_catalog(), hardware, PlanSettings(context_tokens=context_tokens), installed
    )
    return recommendation_dict(result, installed_known=problem is None, problem=problem)


def installed_models(settings: ServerSettings) -> tuple[frozenset[str], str | None]:
    """Model names from the Ollama server's ``/api/tags``, or why they could not be read."""
    from route.backends.factory import make_client
    from route.backends.ollama_admin import list_installed
    from route.errors import BackendError
    from route.settings.resolve import ollama_server

    base_url, api_key = ollama_server(run_context(settings).config)
    try:
        with make_client(
            connect_timeout=TAGS_TIMEOUT_SECONDS, read_timeout=TAGS_TIMEOUT_SECONDS
        ) as client:
            models = list_installed(client, base_url, api_key=api_key)
    except BackendError as error:
        return frozenset(), str(error)
    return frozenset(model.name for model in models), None


def recommendation_dict(
    result: Recommendation, *, installed_known: bool, problem: str | None = None
) -> dict[str, Any]:
    """A short form of a recommendation: the models that fit, best first."""
    top = result.top
    fitting = [e for e in result.estimates if e.fit != "does_not_fit" and not e.unsuitable]
    hardware = result.hardware
    data: dict[str, Any] = {
        "top": top.model.tag if top else None,
        "pull_command": f"ollama pull {top.model.tag}" if top and not top.installed else None,
        "hardware": {
            "gpus": [
                {"name": gpu.name, "memory_gb": _gigabytes(gpu.memory_bytes)}
                for gpu in hardware.gpus
            ],
            "ram_gb": _gigabytes(hardware.ram_total_bytes),
        },
        "context_tokens": result.settings.context_tokens,
        "models": [_estimate_dict(estimate) for estimate in fitting[:RECOMMEND_LIMIT]],
        "more_that_fit": max(0, len(fitting) - RECOMMEND_LIMIT),
        "unsuitable": [
            {"tag": e.model.tag, "why": e.unsuitable} for e in result.estimates if e.unsuitable
        ],
        "installed_known": installed_known,
        "catalog_date": result.catalog_date,
        "speeds": "estimates from memory bandwidth",
    }
    if problem is not None:
        data["installed_problem"] = problem
    return data


def _estimate_dict(estimate: Estimate) -> dict[str, Any]:
    speed = estimate.tokens_per_second
    return {
        "tag": estimate.model.tag,
        "quality": estimate.model.quality_tier,
        "fit": estimate.fit,
        "fits_well": estimate.fits_well,
        "memory_gb": _gigabytes(estimate.total_bytes),
        "tokens_per_second": [round(speed[0]), round(speed[1])] if speed else None,
        "installed": estimate.installed,
    }


def _gigabytes(value: int | None) -> float | None:
    return round(value / BYTES_PER_GB, 1) if value is not None else None


# --------------------------------------------------------------------------- costs


def cost_figures(
    settings: ServerSettings, since: str, by: str | None, *, all_projects: bool = False
) -> dict[str, Any]:
    """The ledger's totals for a period (this project unless ``all_projects``): what
    ``cost_summary`` returns."""
    from route.accounting import costs
    from route.accounting.pricing import load_prices

    context = run_context(settings)
    root, config = context.project_root, context.config
    table = load_prices(config.prices)
    period = costs.parse_period(since, None, now=settings.clock())
    if by is not None and by not in costs.GROUPINGS:
        raise UsageError(f"cannot group by {by!r} — use one of {', '.join(costs.GROUPINGS)}")
    project = None if all_projects else str(root)
    ledger_path = context.ledger_path
    records = costs.read_runs(ledger_path, since=period.since, until=period.until, project=project)
    priced = costs.price_runs(
        records, table, power_watts=config.power_watts, price_per_kwh=config.price_per_kwh
    )
    summary = costs.summarize(priced, prices_date=table.date, period=period, by=by, project=project)
    return summary.to_dict()
