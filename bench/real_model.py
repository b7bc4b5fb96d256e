"""Real-model overhead: route against a bare request to the same llama-server + SmolLM2.

One untimed `route gen` goes through a recording proxy, which captures the exact request body
route sends; the bare baseline replays that body byte for byte (same messages, temperature 0,
seed, max tokens). Then ``rounds`` times, alternating: `route gen --no-verify --json` straight
to the server, and the bare request. Both hit the server's prompt cache equally (the warm-up
filled it). Compared, per round and as medians:

- route's end-to-end rate: output tokens / route's own run time (`duration_seconds`: prompt
  building, the /props probe, streaming, parsing and writing);
- the bare rate: output tokens / time from request to last byte;
- the server's own `predicted_per_second` (generation only) and route's reported tokens/s.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import (
    BenchError,
    Goal,
    PartResult,
    copy_example,
    load_average,
    measure,
    route_command,
    route_environment,
)
from bench.llama import SMOLLM2, bare_chat, runtime_error_types, server
from bench.servers import RecordingProxy
from bench.stats import median, ratio

GOAL_RATIO = 0.95
CONTEXT_SIZE = 8192


@dataclass(frozen=True, slots=True)
class RealModelSettings:
    rounds: int = 3
    max_output_tokens: int = 256
    model: str = SMOLLM2


def gen_command(base_url: str, settings: RealModelSettings) -> list[str]:
    return [
        *route_command(),
        "gen",
        "service for Projects",
        "--skill",
        "scaffold#3",
        "--backend",
        "openai",
        "--base-url",
        base_url,
        "--model",
        settings.model,
        "--no-verify",
        "--force",
        "--max-attempts",
        "1",
        "--temperature",
        "0",
        "--seed",
        "1",
        "--max-output-tokens",
        str(settings.max_output_tokens),
        "--json",
    ]


def _route_run(base_url: str, settings: RealModelSettings, project: Path, home: Path) -> Any:
    measured = measure(
        gen_command(base_url, settings), cwd=project, environment=route_environment(home)
    )
    result = measured.json()
    if result.get("status") == "backend_error" or not result.get("attempts"):
        raise BenchError(f"route gen did not reach the model: {result.get('message')}")
    return result


def _recorded_body(proxy: RecordingProxy) -> dict[str, Any]:
    chats = proxy.chats()
    if not chats or chats[-1].request is None:
        raise BenchError("the recording proxy saw no chat request from route")
    return chats[-1].request


def measure_rounds(settings: RealModelSettings, workspace: Path) -> dict[str, Any]:
    project = copy_example(workspace / "projects-api")
    home = workspace / "route-home"
    llama = server(settings.model, context_size=CONTEXT_SIZE, log_path=workspace / "llama.log")
    rounds: list[dict[str, Any]] = []
    try:
        with llama:
            with RecordingProxy(llama.root_url) as proxy:
                _route_run(f"{proxy.url}/v1", settings, project, home)  # warm-up, recorded
                body = _recorded_body(proxy)
            for _ in range(settings.rounds):
                route = _route_run(llama.base_url, settings, project, home)
                bare = bare_chat(llama.base_url, body)
                rounds.append({"route": route, "bare": bare})
    except runtime_error_types() as exc:
        raise BenchError(f"llama-server could not be used: {exc} — run `make runtime`") from exc
    return {"body": body, "rounds": rounds}


def summarize(measured: dict[str, Any], settings: RealModelSettings) -> PartResult:
    rows: list[tuple[object, ...]] = []
    route_rates: list[float] = []
    bare_rates: list[float] = []
    server_rates: list[float] = []
    reported: list[float] = []
    for number, item in enumerate(measured["rounds"], start=1):
        route, bare = item["route"], item["bare"]
        route_tokens = int(route["tokens"]["output"])
        route_rate = ratio(route_tokens, float(route["duration_seconds"])) or 0.0
        bare_rate = ratio(bare.output_tokens, bare.seconds) or 0.0
        server_rate = float(bare.timings.get("predicted_per_second") or 0.0)
        route_rates.append(route_rate)
        bare_rates.append(bare_rate)
        server_rates.append(server_rate)
        reported.append(float(route["tokens_per_second"]))
        rows.append(
            (
                number,
                route_tokens,
                bare.output_tokens,
                route_rate,
                bare_rate,
                server_rate,
                float(route["tokens_per_second"]),
            )
        )
    route_median, bare_median = median(route_rates), median(bare_rates)
    server_median = median(server_rates)
    versus_bare = ratio(route_median, bare_median)
    versus_server = ratio(route_median, server_median)
    own = ratio(route_median, median(reported))
    goals = (
        Goal(
            f"route's end-to-end tokens/s >= {GOAL_RATIO} x the server's generation rate for "
            "route's own request (same request: load swings cancel)",
            f"x{own:.3f}" if own else "—",
            None if own is None else own >= GOAL_RATIO,
        ),
        Goal(
            f"route's end-to-end tokens/s >= {GOAL_RATIO} x the bare request",
            f"x{versus_bare:.3f}" if versus_bare else "—",
            None if versus_bare is None else versus_bare >= GOAL_RATIO,
        ),
        Goal(
            f"route's end-to-end tokens/s >= {GOAL_RATIO} x the server's predicted_per_second",
            f"x{versus_server:.3f}" if versus_server else "—",
            None if versus_server is None else versus_server >= GOAL_RATIO,
        ),
    )
    notes = (
        f"model {settings.model}, temperature 0, seed 1, max {settings.max_output_tokens} "
        "output tokens; the bare request replays the exact body route sent",
        "route's end-to-end rate divides by route's whole run (prompt building, /props, "
        "streaming, parsing, writing), the bare rate by request-to-last-byte, the server's "
        "predicted_per_second by generation alone; route's reported tok/s is read from the "
        "server's timings",
        f"medians: route {route_median:.1f}, bare {bare_median:.1f}, server {server_median:.1f}, "
        f"route reported {median(reported):.1f} tokens/s",
    )
    return PartResult(
        name="real_model",
        title="Real-model overhead (llama-server + SmolLM2, tokens/s)",
        headers=(
            "round",
            "route tokens",
            "bare tokens",
            "route e2e tok/s",
            "bare tok/s",
            "server predicted tok/s",
            "route reported tok/s",
        ),
        rows=tuple(rows),
        goals=goals,
        notes=notes,
        data={
            "route_rates": route_rates,
            "bare_rates": bare_rates,
            "server_rates": server_rates,
            "route_reported": reported,
            "request_body_characters": len(json.dumps(measured["body"])),
        },
    )


def run(settings: RealModelSettings | None = None) -> PartResult:
    settings = settings or RealModelSettings()
    load_before = load_average()
    with tempfile.TemporaryDirectory() as temporary:
        measured = measure_rounds(settings, Path(temporary))
    result = summarize(measured, settings)
    return PartResult(
        name=result.name,
        title=result.title,
        headers=result.headers,
        rows=result.rows,
        goals=result.goals,
        notes=(
            *result.notes,
            f"load average (1 min) before/after: {load_before} / {load_average()}",
        ),
        data=result.data,
    )
