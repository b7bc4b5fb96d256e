"""Streaming overhead: `route gen --no-verify` against a bare httpx loop on the same fast stream.

For each size (1,000 to 100,000 tokens) the fast loopback NDJSON server streams the answer; three
clients read it, each as a fresh process timed from start to exit: the bare loop
(bench/bare_stream.py), `route gen --quiet` (no live display) and `route gen` with the live
display on (ROUTE_FORCE_TERMINAL=1, output discarded so no terminal emulator is measured). Each
(client, size) gets one untimed warm-up run, then the clients take turns for ``repetitions``
rounds and the best (minimum) run of each is kept: on a shared machine noise only ever adds time,
so the minimum is the steadiest estimate (the medians are recorded in results.json too).
Throughput is the marginal rate 1 / slope of a least-squares line through (tokens, seconds),
so interpreter start-up does not count. Linearity is judged on in-process timings (see
``measure_in_process``): whole-process times carry start-up noise. In-process figures are the CPU
time of the thread that reads the stream (``time.thread_time``), route's and the bare loop's
alike: route's in-process runs share their process with the loopback server's thread, whose work
(and the waits for it) would otherwise count as route's and swing with the machine's load. The peak
resident memory of `route gen` at the largest size is recorded too.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.common import (
    REPOSITORY_ROOT,
    BenchError,
    Goal,
    Measured,
    PartResult,
    copy_example,
    load_average,
    measure,
    route_command,
    route_environment,
    venv_python,
)
from bench.servers import GENERATED_PATH, MODEL, FastOllamaServer
from bench.stats import break_even, is_linear, linear_fit, median, quadratic_share, ratio

DEFAULT_SIZES = (1_000, 5_000, 20_000, 50_000, 100_000)
DEFAULT_EXTRA_IN_PROCESS_SIZES = (200_000, 400_000)
CLIENTS = ("bare", "route_quiet", "route_live")
GOAL_LIVE_TOKENS_PER_SECOND = 20_000
GOAL_QUIET_OVER_BARE = 1.10


@dataclass(frozen=True, slots=True)
class StreamingSettings:
    sizes: tuple[int, ...] = DEFAULT_SIZES
    repetitions: int = 8
    # In-process only: larger streams, where a square term would show 4 and 16 times as much as
    # at 100,000 tokens while a noisy moment of the machine weighs less.
    extra_in_process_sizes: tuple[int, ...] = DEFAULT_EXTRA_IN_PROCESS_SIZES


def bare_command(url: str, tokens: int) -> list[str]:
    return [venv_python(), str(REPOSITORY_ROOT / "bench" / "bare_stream.py"), url, str(tokens)]


def route_gen_command(url: str, tokens: int, *, live: bool) -> list[str]:
    command = [
        *route_command(),
        "gen",
        "write the generated module",
        "--skill",
        "scaffold#3",
        "--backend",
        "ollama",
        "--host",
        url,
        "--model",
        MODEL,
        "--no-verify",
        "--force",
        "--max-attempts",
        "1",
        "--max-output-tokens",
        str(tokens),
    ]
    return command if live else [*command, "--quiet"]


def _check(measured: Measured, client: str, tokens: int) -> Measured:
    if measured.exit_code != 0:
        raise BenchError(
            f"{client} at {tokens} tokens exited with {measured.exit_code}: "
            f"{measured.stderr[-500:]!r}"
        )
    if client == "bare":
        pieces = json.loads(measured.stdout)["pieces"]
        if pieces != tokens:
            raise BenchError(f"the bare loop read {pieces} pieces, expected {tokens}")
    return measured


def _run_once(url: str, client: str, tokens: int, project: Path, home: Path) -> Measured:
    if client == "bare":
        return _check(measure(bare_command(url, tokens)), client, tokens)
    # An answer that changes nothing is a failed attempt, so every run starts without the file.
    (project / GENERATED_PATH).unlink(missing_ok=True)
    live = client == "route_live"
    extra = {"ROUTE_FORCE_TERMINAL": "1"} if live else {}
    environment = route_environment(home, extra)
    measured = measure(
        route_gen_command(url, tokens, live=live),
        cwd=project,
        environment=environment,
        discard_output=live,  # the live text goes nowhere: route's cost, not a terminal's
    )
    return _check(measured, client, tokens)


def _validate_route_output(url: str, tokens: int, project: Path, home: Path) -> None:
    """One --json run: route must count every token and write the streamed file."""
    command = [*route_gen_command(url, tokens, live=False), "--json"]
    (project / GENERATED_PATH).unlink(missing_ok=True)
    result = measure(command, cwd=project, environment=route_environment(home)).json()
    if result.get("status") != "success" or result["tokens"]["output"] != tokens:
        raise BenchError(f"route did not read the {tokens}-token stream: {result}")


def measure_sizes(settings: StreamingSettings) -> dict[str, dict[int, list[Measured]]]:
    """Every client's runs at every size (warm-up runs are not kept)."""
    runs: dict[str, dict[int, list[Measured]]] = {client: {} for client in CLIENTS}
    with FastOllamaServer() as server, tempfile.TemporaryDirectory() as temporary:
        workspace = Path(temporary)
        project = copy_example(workspace / "projects-api")
        home = workspace / "route-home"
        _validate_route_output(server.url, settings.sizes[0], project, home)
        for tokens in settings.sizes:
            for client in CLIENTS:
                _run_once(server.url, client, tokens, project, home)  # warm-up
                runs[client][tokens] = []
            # The clients take turns, so a noisy moment of a shared machine touches all three
            # alike instead of one client's whole series: the ratios compare like with like.
            for _ in range(settings.repetitions):
                for client in CLIENTS:
                    runs[client][tokens].append(
                        _run_once(server.url, client, tokens, project, home)
                    )
    return runs


IN_PROCESS_CLIENTS = ("route_quiet", "route_live")


def measure_in_process(settings: StreamingSettings) -> dict[str, dict[int, float]]:
    """route's own stream handling, timed inside one process (no interpreter start-up in the
    figures): the Ollama backend reading the stream, the live view drawing it (into a discarded
    text stream) or no view, then the answer parsed into files. CPU seconds of this thread (the
    server's thread does not count), best of twice ``repetitions`` runs, round-robin."""
    import io

    from route.backends.factory import make_client
    from route.backends.ollama import OllamaBackend
    from route.prompting.parse import parse_answer
    from route.run.pipeline import SilentEvents
    from route.ui import LiveView
    from route.values import ChatRequest, Message

    seconds: dict[str, dict[int, float]] = {client: {} for client in IN_PROCESS_CLIENTS}
    with FastOllamaServer() as server, make_client(tls=False) as client:
        backend = OllamaBackend(client, server.url)

        def timed(name: str, tokens: int) -> float:
            request = ChatRequest(
                model=MODEL,
                messages=(Message("user", "bench"),),
                max_output_tokens=tokens,
                num_ctx=tokens + 1_000,
            )
            sink = io.StringIO()
            events = (
                LiveView(model=MODEL, text_stream=sink, status_stream=sink,
                         show_text=True, show_status=True)
                if name == "route_live" else SilentEvents()
            )  # fmt: skip
            started = time.thread_time()
            completion = backend.chat(request, events.text)
            parsed = parse_answer(completion.text)
            elapsed = time.thread_time() - started
            if len(parsed.files) != 1:
                raise BenchError(f"route parsed {len(parsed.files)} files at {tokens}")
            return elapsed

        sizes = sorted({*settings.sizes, *settings.extra_in_process_sizes})
        for tokens in sizes:  # warm-up
            for name in IN_PROCESS_CLIENTS:
                timed(name, tokens)
        # Round-robin over the sizes, twice the repetitions (each run is short): a noisy moment
        # of a shared machine then touches every size alike instead of bending one point.
        for _ in range(2 * settings.repetitions):
            for tokens in sizes:
                for name in IN_PROCESS_CLIENTS:
                    elapsed = timed(name, tokens)
                    seconds[name][tokens] = min(seconds[name].get(tokens, elapsed), elapsed)
    return seconds


def _medians(runs: dict[int, list[Measured]]) -> dict[int, float]:
    return {tokens: median([run.seconds for run in measured]) for tokens, measured in runs.items()}


def _best(runs: dict[int, list[Measured]]) -> dict[int, float]:
    return {tokens: min(run.seconds for run in measured) for tokens, measured in runs.items()}


def _bare_in_process(runs: dict[int, list[Measured]]) -> dict[int, float]:
    """The bare loop's own in-process CPU seconds (it prints them), best of the repetitions."""
    return {
        tokens: min(float(json.loads(run.stdout)["cpu_seconds"]) for run in measured)
        for tokens, measured in runs.items()
    }


def summarize(
    runs: dict[str, dict[int, list[Measured]]],
    sizes: Sequence[int],
    in_process: dict[str, dict[int, float]] | None = None,
) -> PartResult:
    best = {client: _best(runs[client]) for client in CLIENTS}
    medians = {client: _medians(runs[client]) for client in CLIENTS}
    xs = [float(size) for size in sizes]
    fits = {client: linear_fit(xs, [best[client][size] for size in sizes]) for client in CLIENTS}
    rates = {client: ratio(1.0, fits[client].slope) for client in CLIENTS}
    inside = {"bare": _bare_in_process(runs["bare"]), **(in_process or {})}
    rows: list[tuple[object, ...]] = []
    for size in sizes:
        bare = best["bare"][size]
        quiet = best["route_quiet"][size]
        live = best["route_live"][size]
        in_ms = [_milliseconds(inside.get(client, {}).get(size)) for client in CLIENTS]
        rows.append((size, bare, quiet, live, ratio(quiet, bare), ratio(live, bare), *in_ms))
    largest = max(sizes)
    peak = {
        client: max(run.max_rss_megabytes for run in runs[client][largest]) for client in CLIENTS
    }
    slope_ratio = ratio(fits["route_quiet"].slope, fits["bare"].slope)
    largest_ratio = ratio(best["route_quiet"][largest], best["bare"][largest])
    live_rate = rates["route_live"]
    # Linearity is judged on the in-process times (every size each client has, route's going on
    # to 400,000 tokens): whole-process times carry tens of ms of start-up noise, as large as the
    # whole stream's cost at the small sizes.
    series = {client: _series(client, sizes, inside, best) for client in CLIENTS}
    linear = {client: is_linear(*series[client]) for client in CLIENTS}
    shares = {client: quadratic_share(*series[client]) for client in CLIENTS}
    per_token = {
        client: {int(x): 1e6 * y / x for x, y in zip(*series[client], strict=True)}
        for client in CLIENTS
    }
    quiet_inside, bare_inside = inside.get("route_quiet", {}), inside.get("bare", {})
    inside_ratio = (
        ratio(quiet_inside[largest], bare_inside[largest])
        if largest in quiet_inside and largest in bare_inside
        else None
    )
    even = break_even(fits["route_quiet"], fits["bare"], GOAL_QUIET_OVER_BARE - 1)
    goals = (
        Goal(
            f"route handles >= {GOAL_LIVE_TOKENS_PER_SECOND:,} tokens/s with the live display",
            f"{live_rate:,.0f} tokens/s marginal" if live_rate else "—",
            None if live_rate is None else live_rate >= GOAL_LIVE_TOKENS_PER_SECOND,
        ),
        Goal(
            "route (no display) wall time within 10 % of the bare loop",
            f"x{largest_ratio:.2f} wall at {largest:,} tokens; x{slope_ratio:.2f} per token; "
            f"fixed cost +{fits['route_quiet'].intercept - fits['bare'].intercept:.2f} s; "
            f"within 10 % {_break_even_text(even)}; in-process (no start-up) "
            f"x{inside_ratio or 0:.2f}"
            if largest_ratio and slope_ratio
            else "—",
            None if largest_ratio is None else largest_ratio <= GOAL_QUIET_OVER_BARE,
        ),
        Goal(
            "cost grows linearly from 1,000 to 100,000 tokens",
            ", ".join(
                f"{client}: square term {_share_text(shares[client])} of the size-dependent "
                f"time at {max(per_token[client]):,}; µs/token "
                + " → ".join(
                    f"{per_token[client][size]:.1f}"
                    for size in (min(per_token[client]), largest, max(per_token[client]))
                    if size in per_token[client]
                )
                + f" at {min(per_token[client]):,} / {largest:,} / {max(per_token[client]):,}"
                for client in ("route_quiet", "route_live")
            ),
            linear["route_quiet"] and linear["route_live"],
        ),
    )
    notes = (
        "seconds are the best of the repetitions, whole processes (start to exit); ratios are "
        "against the bare httpx loop measured in the same run",
        "in-process ms: CPU time of the thread reading the stream (time.thread_time), best of the "
        "repetitions: the bare loop's own; route's backend + live view (or none) + parsing the "
        "answer; linearity is judged on these, route's up to "
        f"{max(*per_token['route_quiet'], largest):,} tokens (in-process ms there: "
        + ", ".join(
            f"{size:,}: {1000 * inside[client][size]:.0f} ({client})"
            for client in IN_PROCESS_CLIENTS
            if client in inside
            for size in sorted(inside[client])
            if size > largest
        )
        + ")",
        "marginal tokens/s = 1 / slope of the least-squares line: "
        + ", ".join(f"{client} {rates[client] or 0:,.0f}" for client in CLIENTS),
        f"peak RSS at {largest:,} tokens (MB): "
        + ", ".join(f"{client} {peak[client]:.1f}" for client in CLIENTS),
    )
    return PartResult(
        name="streaming",
        title="Streaming overhead (loopback NDJSON, seconds per whole process)",
        headers=(
            "tokens",
            "bare s",
            "route quiet s",
            "route live s",
            "quiet/bare",
            "live/bare",
            "in-process CPU bare ms",
            "in-process CPU quiet ms",
            "in-process CPU live ms",
        ),
        rows=tuple(rows),
        goals=goals,
        notes=notes,
        data={
            "best_seconds": {c: {str(k): v for k, v in best[c].items()} for c in CLIENTS},
            "median_seconds": {c: {str(k): v for k, v in medians[c].items()} for c in CLIENTS},
            "fits": {
                c: {"intercept": f.intercept, "slope": f.slope, "r_squared": f.r_squared}
                for c, f in fits.items()
            },
            "marginal_tokens_per_second": rates,
            "linear": linear,
            "quadratic_share": shares,
            "in_process_seconds": {c: {str(k): v for k, v in inside[c].items()} for c in inside},
            "microseconds_per_token": {
                c: {str(k): v for k, v in per_token[c].items()} for c in CLIENTS
            },
            "within_10_percent_from_tokens": even,
            "peak_rss_megabytes_at_largest": peak,
            "largest_tokens": largest,
        },
    )


def _series(
    client: str,
    sizes: Sequence[int],
    inside: dict[str, dict[int, float]],
    best: dict[str, dict[int, float]],
) -> tuple[list[float], list[float]]:
    """(tokens, seconds) a client's linearity is judged on: its in-process times at every size
    it has (when it has the whole-process sizes), else its whole-process best times."""
    own = inside.get(client, {})
    if own and all(size in own for size in sizes):
        ordered = sorted(own)
        return [float(size) for size in ordered], [own[size] for size in ordered]
    return [float(size) for size in sizes], [best[client][size] for size in sizes]


def _milliseconds(seconds: float | None) -> float | None:
    return None if seconds is None else 1000 * seconds


def _share_text(share: float | None) -> str:
    return "undefined" if share is None else f"{100 * share:.0f} %"


def _break_even_text(size: float | None) -> str:
    if size is None:
        return "at no size (route's per-token cost is higher)"
    if size == 0:
        return "at every size"
    return f"from about {size:,.0f} tokens"


def run(settings: StreamingSettings | None = None) -> PartResult:
    settings = settings or StreamingSettings()
    load_before = load_average()
    runs = measure_sizes(settings)
    in_process = measure_in_process(settings)
    result = summarize(runs, settings.sizes, in_process)
    load_note = f"load average (1 min) before/after: {load_before} / {load_average()}"
    return PartResult(
        name=result.name,
        title=result.title,
        headers=result.headers,
        rows=result.rows,
        goals=result.goals,
        notes=(*result.notes, load_note),
        data=result.data,
    )
