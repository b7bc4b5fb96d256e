"""Prompt economy: what route sends for `scaffold#3`, and what a repair round costs the server.

1. Prompt sizes (route's own estimator for all three, so the ratios are like for like): the
   messages route sends for `-s scaffold#3`, for the whole skill (`-s scaffold`, route's own
   prompt), and a naive prompt holding the whole SKILL.md plus every text file of the example
   project. route's messages are captured from the wire (the fast loopback server records them).
2. A repair round against a real llama-server (SmolLM2): `route gen` whose verify command fails
   once on purpose, so attempt 2 is a repair round; a recording proxy reads llama.cpp's
   `timings` of each request: `prompt_n` tokens evaluated, `cache_n` reused from the cache.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import (
    EXAMPLE_PROJECT,
    BenchError,
    Goal,
    PartResult,
    copy_example,
    load_average,
    measure,
    route_command,
    route_environment,
)
from bench.llama import SMOLLM2, runtime_error_types, server
from bench.servers import MODEL, FastOllamaServer, RecordingProxy, sse_timings
from bench.stats import percent, ratio

GOAL_REEVALUATED_PERCENT = 25.0
CONTEXT_SIZE = 8192
TASK = "service for Projects"
SKIPPED_PARTS = {"__pycache__", ".pytest_cache", ".ruff_cache", ".route"}
# Fails the first time it runs and passes afterwards: a guaranteed, single repair round.
FAIL_ONCE_VERIFY = (
    "sh -c 'test -e .bench-verify-ran || { touch .bench-verify-ran; "
    'echo "FAILED tests/test_projects_service.py::test_create - forced by the benchmark"; '
    "exit 1; }'"
)


@dataclass(frozen=True, slots=True)
class PromptEconomySettings:
    max_output_tokens: int = 128
    model: str = SMOLLM2


def estimate(texts: list[str]) -> int:
    from route.prompting.tokens import estimate_messages_tokens

    return estimate_messages_tokens(texts)


def whole_project_text(root: Path = EXAMPLE_PROJECT) -> list[str]:
    """Every text file of the project (the skill included), as a naive tool would send it."""
    texts: list[str] = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or SKIPPED_PARTS.intersection(path.parts):
            continue
        try:
            texts.append(f"{path.relative_to(root)}\n{path.read_text(encoding='utf-8')}")
        except UnicodeDecodeError:
            continue
    return texts


def captured_messages(skill: str, project: Path, home: Path) -> list[str]:
    """The message texts route sends for TASK with ``skill`` (captured on the wire)."""
    with FastOllamaServer() as fast:
        command = [
            *route_command(), "gen", TASK, "--skill", skill, "--backend", "ollama",
            "--host", fast.url, "--model", MODEL, "--no-verify", "--dry-run", "--quiet",
            "--max-attempts", "1", "--max-output-tokens", "64",
        ]  # fmt: skip
        measure(command, cwd=project, environment=route_environment(home))
        requests = fast.chat_requests
    if not requests:
        raise BenchError(f"route sent no chat request for -s {skill}")
    return [str(message.get("content", "")) for message in requests[-1]["messages"]]


def repair_round(settings: PromptEconomySettings, workspace: Path) -> list[dict[str, Any]]:
    """Per request of a two-attempt run: tokens evaluated and reused, from llama.cpp timings."""
    project = copy_example(workspace / "repair-project")
    home = workspace / "route-home"
    llama = server(settings.model, context_size=CONTEXT_SIZE, log_path=workspace / "llama.log")
    try:
        with llama, RecordingProxy(llama.root_url) as proxy:
            command = [
                *route_command(), "gen", TASK, "--skill", "scaffold#3", "--backend", "openai",
                "--base-url", f"{proxy.url}/v1", "--model", settings.model, "--verify",
                FAIL_ONCE_VERIFY, "--max-attempts", "2", "--temperature", "0", "--seed", "1",
                "--max-output-tokens", str(settings.max_output_tokens), "--json",
            ]  # fmt: skip
            result = measure(command, cwd=project, environment=route_environment(home)).json()
            chats = proxy.chats()
    except runtime_error_types() as exc:
        raise BenchError(f"llama-server could not be used: {exc} — run `make runtime`") from exc
    rows: list[dict[str, Any]] = []
    for number, exchange in enumerate(chats, start=1):
        timings = sse_timings(exchange.response_text) or {}
        evaluated = int(timings.get("prompt_n") or 0)
        reused = int(timings.get("cache_n") or 0)
        rows.append(
            {
                "request": number,
                "evaluated": evaluated,
                "reused": reused,
                "route_status": result.get("status"),
            }
        )
    if len(rows) < 2:
        raise BenchError(f"expected a repair round, route made {len(rows)} request(s): {result}")
    return rows


def run(settings: PromptEconomySettings | None = None) -> PartResult:
    settings = settings or PromptEconomySettings()
    load_before = load_average()
    with tempfile.TemporaryDirectory() as temporary:
        workspace = Path(temporary)
        project = copy_example(workspace / "projects-api")
        home = workspace / "route-home"
        section = captured_messages("scaffold#3", project, home)
        whole_skill = captured_messages("scaffold", project, home)
        skill_file = (EXAMPLE_PROJECT / ".skills" / "scaffold" / "SKILL.md").read_text("utf-8")
        naive = [TASK, skill_file, *whole_project_text()]
        repair = repair_round(settings, workspace)
    section_tokens, skill_tokens, naive_tokens = (
        estimate(section),
        estimate(whole_skill),
        estimate(naive),
    )
    last = repair[-1]
    total = last["evaluated"] + last["reused"]
    reevaluated = percent(last["evaluated"], total)
    rows: tuple[tuple[object, ...], ...] = (
        ("route -s scaffold#3", section_tokens, 1.0),
        ("route -s scaffold (whole SKILL.md)", skill_tokens, ratio(skill_tokens, section_tokens)),
        (
            "whole SKILL.md + whole example project",
            naive_tokens,
            ratio(naive_tokens, section_tokens),
        ),
        *(
            (f"request {item['request']}: evaluated / reused", item["evaluated"], item["reused"])
            for item in repair
        ),
    )
    goals = (
        Goal(
            f"a repair round re-evaluates < {GOAL_REEVALUATED_PERCENT:.0f} % of its prompt",
            f"{reevaluated:.1f} % ({last['evaluated']} of {total} tokens)"
            if reevaluated is not None
            else "—",
            None if reevaluated is None else reevaluated < GOAL_REEVALUATED_PERCENT,
        ),
    )
    notes = (
        "prompt sizes are route's token estimate of the message texts (same estimator for all)",
        f"repair round: {settings.model} on llama-server, verify fails once on purpose; "
        "evaluated = llama.cpp timings.prompt_n, reused = timings.cache_n of that request",
        f"load average (1 min) before/after: {load_before} / {load_average()}",
    )
    return PartResult(
        name="prompt_economy",
        title="Prompt economy (tokens)",
        headers=("prompt", "tokens / evaluated", "x scaffold#3 / reused"),
        rows=rows,
        goals=goals,
        notes=notes,
        data={
            "section_tokens": section_tokens,
            "whole_skill_tokens": skill_tokens,
            "whole_project_tokens": naive_tokens,
            "repair_requests": repair,
            "repair_reevaluated_percent": reevaluated,
        },
    )
