"""``route models``: which local model fits this machine, pull it, check it.

``hardware`` and ``recommend`` work without a server; ``list``, ``ps``, ``pull`` and ``check`` talk
to Ollama (``--host``, else ``OLLAMA_HOST``, else ``host`` in route.yaml, else
127.0.0.1:11434). Every command has ``--json``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

if TYPE_CHECKING:
    import httpx

    from route.backends.ollama_admin import CheckResult, PullProgress, PullResult
    from route.local_models.catalog import Bandwidth, Estimate, Recommendation
    from route.local_models.hardware import Hardware

GROUP_EPILOG = """\
Examples:

  route models recommend

  route models pull qwen2.5-coder:7b

  route models check qwen2.5-coder:7b
"""

HARDWARE_EPILOG = """\
Examples:

  route models hardware

  route models hardware --vram 24GB --ram 64GB --json

  route models hardware --gpu none -v
"""

RECOMMEND_EPILOG = """\
Examples:

  route models recommend

  route models recommend --vram 24GB --context 32768 --json

  route models recommend --gpu none --ram 16GB --all

  route models recommend --pull
"""

LIST_EPILOG = """\
Examples:

  route models list

  route models list --host http://gpu-box:11434 --json
"""

PS_EPILOG = """\
Examples:

  route models ps

  route models ps --json
"""

PULL_EPILOG = """\
Examples:

  route models pull qwen2.5-coder:7b

  route models pull qwen2.5-coder:14b --host http://gpu-box:11434 --json
"""

CHECK_EPILOG = """\
Examples:

  route models check qwen2.5-coder:7b

  route models check qwen2.5-coder:7b --json
"""

app = typer.Typer(
    help="Pick a local coding model that fits this machine, pull it, and check it.",
    epilog=GROUP_EPILOG,
    no_args_is_help=True,
    rich_markup_mode=None,  # plain help, like the rest of route
)

Listed = TypeVar("Listed")  # what a model_ops lister returns a tuple of

GB = 1e9
PROGRESS_STEP = 0.1  # plain progress prints a line every 10 %
ANSWER_PREVIEW_CHARACTERS = 800

JsonOption = Annotated[bool, typer.Option("--json", help="Print one compact JSON object.")]
HostOption = Annotated[
    str | None,
    typer.Option("--host", help="Ollama server (else OLLAMA_HOST, else 127.0.0.1:11434)."),
]
VramOption = Annotated[
    str | None,
    typer.Option(
        "--vram", help="Plan for this much GPU memory instead of detecting it (24GB, 24GiB)."
    ),
]
RamOption = Annotated[
    str | None, typer.Option("--ram", help="Plan for this much RAM instead of detecting it.")
]
GpuOption = Annotated[
    str,
    typer.Option("--gpu", help="'auto' to detect GPUs, 'none' to plan for CPU inference only."),
]
VerboseOption = Annotated[
    bool, typer.Option("--verbose", "-v", help="Also say why a GPU kind or figure was not found.")
]


# --------------------------------------------------------------------------- hardware


@app.command("hardware", epilog=HARDWARE_EPILOG)
def hardware_command(
    vram: VramOption = None,
    ram: RamOption = None,
    gpu: GpuOption = "auto",
    bandwidth: Annotated[
        float | None, typer.Option("--bandwidth", help="Memory bandwidth in GB/s.", min=1)
    ] = None,
    verbose: VerboseOption = False,
    as_json: JsonOption = False,
) -> None:
    """Show the GPUs and memory route plans with (detected, or set with --vram/--ram/--gpu)."""
    from route import ui
    from route.local_models.catalog import load_catalog, memory_bandwidth

    hardware = _hardware(vram, ram, gpu)
    speeds = memory_bandwidth(hardware, load_catalog(), bandwidth)
    if as_json:
        ui.print_json(_hardware_object(hardware, speeds))
        return
    _print_hardware(hardware, speeds, verbose=verbose)


def _hardware(vram: str | None, ram: str | None, gpu: str) -> Hardware:
    from route.errors import UsageError
    from route.local_models.hardware import apply_overrides, detect_hardware, parse_memory_size

    if gpu not in ("auto", "none"):
        raise UsageError(f"--gpu {gpu!r} is not known — use --gpu auto or --gpu none")
    if gpu == "none" and vram is not None:
        raise UsageError("--gpu none and --vram contradict each other — drop one of them")
    return apply_overrides(
        detect_hardware(),
        vram_bytes=parse_memory_size(vram) if vram is not None else None,
        ram_bytes=parse_memory_size(ram) if ram is not None else None,
        no_gpu=gpu == "none",
    )


def _print_hardware(hardware: Hardware, speeds: Bandwidth, *, verbose: bool) -> None:
    from route import ui
    from route.local_models.catalog import usable_gpu_bytes, usable_ram_bytes

    rows: list[tuple[str, str, str, str]] = [
        (
            gpu.vendor,
            gpu.name,
            _gigabytes(gpu.memory_bytes),
            _gigabytes(gpu.used_bytes) if gpu.used_bytes is not None else "?",
        )
        for gpu in hardware.gpus
    ]
    available = hardware.ram_available_bytes
    rows.append(
        (
            "RAM",
            hardware.chip or "system memory",
            _gigabytes(hardware.ram_total_bytes) if hardware.ram_total_bytes else "unknown",
            _gigabytes(hardware.ram_total_bytes - available)
            if hardware.ram_total_bytes and available is not None
            else "?",
        )
    )
    ui.print_table("Hardware", ("kind", "device", "memory", "in use"), rows)
    if hardware.gpus:
        share = " (the GPU's share of unified memory)" if hardware.unified_memory else ""
        ui.print_text(
            f"Usable for models on the GPU: {_gigabytes(usable_gpu_bytes(hardware))}{share}"
        )
    else:
        ui.print_text("No GPU: models run on the CPU from RAM.")
    ui.print_text(f"Usable RAM for CPU inference: {_gigabytes(usable_ram_bytes(hardware))}")
    ui.print_text(f"Memory bandwidth: {_bandwidth_text(speeds)}")
    for note in hardware.notes:
        ui.print_text(f"Note: {note}")
    if verbose:
        for reason in hardware.reasons:
            ui.print_text(f"  {reason}")


# --------------------------------------------------------------------------- recommend


@app.command("recommend", epilog=RECOMMEND_EPILOG)
def recommend_command(
    context: Annotated[
        int,
        typer.Option(
            "--context", help="Context to plan for, in tokens (not the model's maximum).", min=512
        ),
    ] = 16384,
    vram: VramOption = None,
    ram: RamOption = None,
    gpu: GpuOption = "auto",
    bandwidth: Annotated[
        float | None,
        typer.Option(
            "--bandwidth", help="GPU memory bandwidth in GB/s (RAM without a GPU).", min=1
        ),
    ] = None,
    min_speed: Annotated[
        float,
        typer.Option(
            "--min-speed", help="Slowest estimate (tokens/s) that still fits well.", min=0
        ),
    ] = 10.0,
    show_all: Annotated[
        bool, typer.Option("--all", help="Also list the models that do not fit.")
    ] = False,
    pull: Annotated[bool, typer.Option("--pull", help="Pull the top pick afterwards.")] = False,
    host: HostOption = None,
    verbose: VerboseOption = False,
    as_json: JsonOption = False,
) -> None:
    """Rank the catalog's coding models for this machine: quality among those that fit well,
    then speed. Memory is sized for --context; speeds are estimates from memory bandwidth."""
    import os

    from route import ui
    from route.local_models.catalog import PlanSettings, load_catalog, recommend

    hardware = _hardware(vram, ram, gpu)
    settings = PlanSettings(
        context_tokens=context,
        kv_cache_type=os.environ.get("OLLAMA_KV_CACHE_TYPE", "f16").lower() or "f16",
        parallel=_positive_int(os.environ.get("OLLAMA_NUM_PARALLEL"), 1),
        bandwidth_gb_per_second=bandwidth,
        min_tokens_per_second=min_speed,
    )
    installed, installed_problem = _installed_names(host)
    if installed_problem is not None:
        ui.print_warning(f"installed models are not marked: {installed_problem}")
    catalog = load_catalog()
    result = recommend(catalog, hardware, settings, installed)
    pulled: PullResult | None = None
    if as_json:
        if pull:
            pulled = _pull_top(result, host)
        ui.print_json(_recommend_object(result, installed_problem is None, pulled))
        return
    _print_hardware(hardware, result.bandwidth, verbose=verbose)
    ui.print_text()
    _print_recommendation(result, show_all=show_all)
    if pull:
        _pull_top(result, host)


def _print_recommendation(result: Recommendation, *, show_all: bool) -> None:
    from route import ui

    if result.settings.context_tokens > result.largest_context:
        ui.print_text(_no_pick_message(result))
        return
    shown = [
        e for e in result.estimates if show_all or (e.fit != "does_not_fit" and not e.unsuitable)
    ]
    top = result.top
    rows = [
        (
            "*" if estimate is top else "",
            estimate.model.tag,
            f"{estimate.model.quality_tier}/5",
            _fit_text(estimate),
            _gigabytes(estimate.total_bytes),
            _speed_text(estimate),
            _think_text(estimate.model.think),
            "yes" if estimate.installed else "",
            f"unsuitable: {estimate.unsuitable}" if estimate.unsuitable else estimate.model.note,
        )
        for estimate in shown
    ]
    title = (
        f"Coding models for {result.settings.context_tokens:,} tokens of context "
        f"(catalog {result.catalog_date})"
    )
    speed = "tokens/s (est., assumed bandwidth)" if result.bandwidth.assumed else "tokens/s (est.)"
    columns = ("", "model", "quality", "fit", "memory", speed, "thinks", "installed", "note")
    ui.print_table(title, columns, rows)
    if not show_all:
        for estimate in result.estimates:
            if estimate.unsuitable:
                ui.print_text(f"Left out: {estimate.model.tag} — {estimate.unsuitable}.")
    hidden = sum(1 for e in result.estimates if e.fit == "does_not_fit" and not e.unsuitable)
    if hidden and not show_all:
        ui.print_text(f"{hidden} more do not fit this machine (--all lists them).")
    ui.print_text(
        "Speeds are estimates: memory bandwidth ÷ bytes read per token × 0.55-0.85; "
        f"bandwidth {_bandwidth_text(result.bandwidth)}."
    )
    if top is None:
        ui.print_text(_no_pick_message(result))
        return
    state = " (installed)" if top.installed else ""
    ui.print_text(f"Top pick: {top.model.tag}{state} — ollama pull {top.model.tag}")
    if not top.installed:
        ui.print_text("  or: route models recommend --pull")
    if top.model.thinks:
        faster = "low" if "low" in top.model.think else "off"
        ui.print_text(
            f"  {top.model.tag} reasons before it answers (--think "
            f"{'|'.join(top.model.think)}): route raises its output budget for that; "
            f"--think {faster} speeds up template-following boilerplate"
        )


def _think_text(values: tuple[str, ...]) -> str:
    """The ``thinks`` column: how the model's reasoning is switched ("" for none)."""
    if not values:
        return ""
    return "levels" if "low" in values else "on/off"


def _pull_top(result: Recommendation, host: str | None) -> PullResult | None:
    from route import ui
    from route.errors import UsageError

    top = result.top
    if top is None:
        raise UsageError(
            "no model fits this machine well, so there is nothing to pull — see the table, "
            "or pull one by name with `route models pull NAME`"
        )
    if top.installed:
        ui.print_text(f"{top.model.tag} is already installed; nothing to pull.", err=True)
        return None
    return _pull(top.model.tag, host)


def _installed_names(host: str | None) -> tuple[frozenset[str], str | None]:
    """Names from ``/api/tags``, or a reason why they could not be read (recommend works
    without a server)."""
    from route.backends.ollama_admin import list_installed
    from route.errors import BackendError

    try:
        _, models = _ask_server(list_installed, host)
    except BackendError as error:
        return frozenset(), str(error)
    return frozenset(model.name for model in models), None


# --------------------------------------------------------------------------- list and ps


@app.command("list", epilog=LIST_EPILOG)
def list_command(host: HostOption = None, as_json: JsonOption = False) -> None:
    """List installed models (from Ollama's /api/tags): size, parameters, quantization."""
    from route import ui
    from route.backends.ollama_admin import list_installed

    base_url, models = _ask_server(list_installed, host)
    if as_json:
        ui.print_json({"host": base_url, "models": [_asdict(model) for model in models]})
        return
    if not models:
        ui.print_text("No models installed. Run `route models recommend` to pick one.")
        return
    rows = [
        (
            model.name,
            _gigabytes(model.size_bytes),
            model.parameter_size or "?",
            model.quantization or "?",
            model.modified_at[:10],
        )
        for model in models
    ]
    columns = ("name", "size", "parameters", "quantization", "modified")
    ui.print_table(f"Installed on {base_url}", columns, rows)


@app.command("ps", epilog=PS_EPILOG)
def ps_command(host: HostOption = None, as_json: JsonOption = False) -> None:
    """List loaded models (from /api/ps): GPU share, CPU part, context length, expiry."""
    from route import ui
    from route.backends.ollama_admin import list_loaded

    base_url, models = _ask_server(list_loaded, host)
    if as_json:
        ui.print_json(
            {
                "host": base_url,
                "models": [
                    _asdict(model)
                    | {"gpu_share": model.gpu_share, "partly_on_cpu": model.partly_on_cpu}
                    for model in models
                ],
            }
        )
        return
    if not models:
        ui.print_text("No model is loaded.")
        return
    rows = [
        (
            model.name,
            _gigabytes(model.size_bytes),
            f"{model.gpu_share:.0%}",
            "yes (slower)" if model.partly_on_cpu else "no",
            str(model.context_length) if model.context_length else "?",
            model.expires_at[:19].replace("T", " "),
        )
        for model in models
    ]
    columns = ("name", "size", "on GPU", "part on CPU", "context", "expires")
    ui.print_table(f"Loaded on {base_url}", columns, rows)


# --------------------------------------------------------------------------- pull


@app.command("pull", epilog=PULL_EPILOG)
def pull_command(
    name: Annotated[str, typer.Argument(help="Model tag, e.g. qwen2.5-coder:7b.")],
    host: HostOption = None,
    as_json: JsonOption = False,
) -> None:
    """Pull a model with progress. An interrupted pull resumes when run again."""
    from route import ui

    result = _pull(name, host)
    if as_json:
        ui.print_json(_asdict(result) | {"status": "success"})


def _pull(name: str, host: str | None) -> PullResult:
    from route import ui
    from route.backends.ollama_admin import check_model_name, pull_model
    from route.errors import Interrupted, ModelNotFound

    check_model_name(name)
    base_url, api_key = _server(host)
    ui.print_text(f"Pulling {name} from {base_url} ...", err=True)
    view = ui.PullProgressView(name) if ui.is_terminal(sys.stderr) else None
    printer = _ProgressPrinter()

    def on_progress(progress: PullProgress) -> None:
        if view is None:
            printer(progress)
        else:
            view.update(progress.status, progress.completed_bytes, progress.total_bytes)

    try:
        with _client() as client:
            result = pull_model(client, base_url, name, on_progress, api_key=api_key)
    except KeyboardInterrupt as interrupt:
        raise Interrupted(
            f"the pull of {name} was stopped — run `route models pull {name}` again to resume"
        ) from interrupt
    except ModelNotFound as error:
        raise ModelNotFound(f"{error}{_similar_tags(name)}") from error
    finally:
        if view is not None:
            view.close()
    ui.print_text(
        f"Pulled {name}: {_gigabytes(result.total_bytes)} "
        f"({_gigabytes(result.downloaded_bytes)} downloaded now) in {_duration(result.seconds)}.",
        err=True,
    )
    return result


class _ProgressPrinter:
    """Plain progress lines on stderr: one per status, and one per 10 % of a download."""

    def __init__(self) -> None:
        self._status = ""
        self._step = -1

    def __call__(self, progress: PullProgress) -> None:
        from route import ui

        fraction = progress.fraction
        step = int(fraction / PROGRESS_STEP) if fraction is not None else -1
        downloading = progress.status.startswith("pulling ") and fraction is not None
        if progress.status == self._status and (not downloading or step <= self._step):
            return
        self._status, self._step = progress.status, step
        ui.print_text(_progress_text(progress) if downloading else progress.status, err=True)


def _progress_text(progress: PullProgress) -> str:
    parts = [
        f"downloading: {progress.fraction or 0:.0%} "
        f"({_gigabytes(progress.completed_bytes)} of {_gigabytes(progress.total_bytes)}, "
        f"{progress.layers} layer{'s' if progress.layers != 1 else ''})"
    ]
    if progress.bytes_per_second:
        parts.append(f"{progress.bytes_per_second / 1e6:.1f} MB/s")
    if progress.seconds_left is not None:
        parts.append(f"{_duration(progress.seconds_left)} left")
    return ", ".join(parts)


def _similar_tags(name: str) -> str:
    import difflib

    from route.local_models.catalog import load_catalog

    tags = [model.tag for model in load_catalog().models]
    close = difflib.get_close_matches(name, tags, n=3, cutoff=0.6)
    return f" (similar tags that exist: {', '.join(close)})" if close else ""


# --------------------------------------------------------------------------- check


@app.command("check", epilog=CHECK_EPILOG)
def check_command(
    name: Annotated[str, typer.Argument(help="Installed model tag, e.g. qwen2.5-coder:7b.")],
    host: HostOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run a tiny real task through route's prompt and backend: load time, prompt and output
    tokens/s, the context the server allocated, GPU placement, and whether the model followed
    route's file format. Exits 1 when it did not."""
    from route import ui
    from route.backends.ollama_admin import check_model
    from route.errors import EXIT_VERIFY_FAILED

    base_url, api_key = _server(host)
    ui.print_text(f"Checking {name} on {base_url} ...", err=True)
    with _client() as client:
        result = check_model(client, base_url, name, api_key=api_key)
    if as_json:
        ui.print_json(_asdict(result) | {"fully_on_gpu": result.fully_on_gpu})
    else:
        _print_check(result)
    if not result.followed_format:
        raise typer.Exit(EXIT_VERIFY_FAILED)


def _print_check(result: CheckResult) -> None:
    from route import ui

    placement = {True: "yes", False: "no (part runs on the CPU: slower)", None: "unknown"}
    rows = [
        ("load time", f"{result.load_seconds:.1f} s"),
        (
            "prompt",
            f"{result.prompt_tokens} tokens, {result.prompt_tokens_per_second:.0f} tokens/s",
        ),
        (
            "output",
            f"{result.output_tokens} tokens, {result.output_tokens_per_second:.1f} tokens/s",
        ),
        ("context", _context_text(result)),
        ("fully on GPU", placement[result.fully_on_gpu]),
        ("reasoning", _reasoning_text(result)),
        ("file format", "followed" if result.followed_format else "NOT followed"),
    ]
    ui.print_table(f"Check of {result.model}", ("measure", "value"), rows)
    for warning in result.warnings:
        ui.print_warning(warning)
    if not result.followed_format:
        for problem in result.format_problems:
            ui.print_text(f"  {problem}")
        ui.print_text("The answer was:")
        ui.print_text(result.answer[:ANSWER_PREVIEW_CHARACTERS])


def _reasoning_text(result: CheckResult) -> str:
    """Whether the model reasons, how the server hands the reasoning over, and --think values."""
    values = f"; --think {'|'.join(result.think_values)}" if result.think_values else ""
    if result.reasoning_source == "server":
        return f"separated by the server ({result.reasoning_tokens} tokens){values}"
    if result.reasoning_source == "inline":
        return (
            f"inline <think> tags in the answer ({result.reasoning_tokens} tokens), removed by "
            f"route{values}"
        )
    if result.thinks:
        return f"none this time (the model can reason){values}"
    return "none (the model does not reason)" if result.thinks is False else "none seen"


def _context_text(result: CheckResult) -> str:
    if result.allocated_context is None:
        return f"{result.requested_context} tokens asked (the server did not say what it loaded)"
    return f"{result.allocated_context} tokens allocated ({result.requested_context} asked)"


# --------------------------------------------------------------------------- helpers


def _server(host: str | None) -> tuple[str, str | None]:
    """``--host``, else the configured Ollama server (a named ``endpoint``, OLLAMA_HOST, the
    config's ``host``, else the default address) and its API key: ``ollama_server``."""
    from pathlib import Path

    from route.settings.config import Config
    from route.settings.resolve import ollama_server, resolve_context

    if host is not None:  # the flag names the server: the config is not read
        return ollama_server(Config(), host)
    return ollama_server(resolve_context(Path.cwd()).config)


def _client() -> httpx.Client:
    from route.backends.factory import make_client

    return make_client()


def _ask_server(
    lister: Callable[..., tuple[Listed, ...]], host: str | None
) -> tuple[str, tuple[Listed, ...]]:
    """``(base URL, what lister read from it)`` for a model_ops lister such as
    ``list_installed`` (``lister(client, base_url, api_key=...)``)."""
    base_url, api_key = _server(host)
    with _client() as client:
        return base_url, lister(client, base_url, api_key=api_key)


def _hardware_object(hardware: Hardware, speeds: Bandwidth) -> dict[str, Any]:
    from route.local_models.catalog import usable_gpu_bytes, usable_ram_bytes

    return _asdict(hardware) | {
        "gpu_memory_bytes": hardware.gpu_memory_bytes,
        "usable_gpu_bytes": usable_gpu_bytes(hardware),
        "usable_ram_bytes": usable_ram_bytes(hardware),
        "bandwidth": _asdict(speeds),
    }


def _recommend_object(
    result: Recommendation, installed_known: bool, pulled: PullResult | None
) -> dict[str, Any]:
    top = result.top
    return {
        "message": _no_pick_message(result) if top is None else f"top pick: {top.model.tag}",
        "hardware": _hardware_object(result.hardware, result.bandwidth),
        "settings": _asdict(result.settings),
        "catalog_date": result.catalog_date,
        "installed_known": installed_known,
        "top": top.model.tag if top else None,
        "pull_command": f"ollama pull {top.model.tag}" if top else None,
        "models": [_estimate_object(estimate) for estimate in result.estimates],
        "pulled": _asdict(pulled) if pulled else None,
    }


def _no_pick_message(result: Recommendation) -> str:
    """Why nothing was picked: no model holds the context, or none fits well."""
    context = result.settings.context_tokens
    if context > result.largest_context:
        return (
            f"No catalog model holds {context:,} tokens of context (the largest holds "
            f"{result.largest_context:,}) — plan for a smaller --context."
        )
    return (
        "No model fits well (fits in memory, follows chat instructions, holds the context and "
        f"reaches {result.settings.min_tokens_per_second:g} tokens/s). Try a smaller --context, "
        "a lower --min-speed, or a machine with more memory."
    )


def _estimate_object(estimate: Estimate) -> dict[str, Any]:
    speed = estimate.tokens_per_second
    return {
        "tag": estimate.model.tag,
        "quality_tier": estimate.model.quality_tier,
        "fit": estimate.fit,
        "fits_well": estimate.fits_well,
        "unsuitable": estimate.unsuitable or None,
        "installed": estimate.installed,
        "memory_bytes": estimate.total_bytes,
        "weights_bytes": estimate.weights_bytes,
        "kv_cache_bytes": estimate.kv_cache_bytes,
        "overhead_bytes": estimate.overhead_bytes,
        "context_tokens": estimate.context_tokens,
        "gpu_share": round(estimate.gpu_share, 3),
        "tokens_per_second_estimate": [round(speed[0], 1), round(speed[1], 1)] if speed else None,
        "thinks": estimate.model.thinks,
        "model": _asdict(estimate.model),
    }


def _asdict(value: Any) -> dict[str, Any]:
    import dataclasses

    result: dict[str, Any] = dataclasses.asdict(value)
    return result


def _fit_text(estimate: Estimate) -> str:
    from route.local_models.catalog import FIT_LABELS

    if estimate.fit == "partial_offload":
        return f"partial offload ({estimate.gpu_share:.0%} GPU)"
    return FIT_LABELS[estimate.fit]


def _speed_text(estimate: Estimate) -> str:
    speed = estimate.tokens_per_second
    if speed is None:
        return "—" if estimate.fit == "does_not_fit" else "? (--bandwidth)"
    return f"{speed[0]:.0f}-{speed[1]:.0f}"


def _bandwidth_text(speeds: Bandwidth) -> str:
    gpu = f"GPU {speeds.gpu:g} GB/s, " if speeds.gpu is not None else ""
    return f"{gpu}RAM {speeds.cpu:g} GB/s ({speeds.source})"


def _gigabytes(value: int | float | None) -> str:
    return "?" if value is None else f"{value / GB:.1f} GB"


def _duration(seconds: float) -> str:
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    minutes, rest = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m {rest:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def _positive_int(text: str | None, default: int) -> int:
    try:
        value = int(text) if text else default
    except ValueError:
        return default
    return value if value > 0 else default
