"""The model catalog (package data ``data/models.yaml``) and what fits on a machine.

Memory needed = weights (download size) + KV cache for the planned context + overhead. Decode
speed is bounded by memory bandwidth ÷ bytes read per token (active weights), times an efficiency
factor; it is always shown as a range and called an estimate. Ranking puts the models that fit
well first, best coding quality first, then the fastest.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from route.errors import ConfigError
from route.local_models.hardware import Hardware
from route.settings.locations import PACKAGE_DATA

GB = 10**9
MIB = 1024**2

DEFAULT_CONTEXT_TOKENS = 16384  # route's prompts plus output; not the model's maximum
DEFAULT_MIN_TOKENS_PER_SECOND = 10.0
OVERHEAD_SHARE = 0.10  # compute buffers and runtime, on top of weights and KV cache
MINIMUM_OVERHEAD_BYTES = GB // 2
DISCRETE_GPU_RESERVE_BYTES = 512 * MIB  # driver and display, per card
CPU_HEADROOM_SHARE = 0.15  # RAM left for the system: max(2 GB, 15 %)
CPU_MINIMUM_HEADROOM_BYTES = 2 * GB
FALLBACK_KV_VALUES_PER_BILLION = 8192  # KV values per token per billion parameters (guess)

KV_CACHE_BYTES = {"f16": 2.0, "q8_0": 1.0, "q4_0": 0.5}

FitClass = Literal["full_gpu", "partial_offload", "cpu_only", "does_not_fit"]
FIT_ORDER: tuple[FitClass, ...] = ("full_gpu", "partial_offload", "cpu_only", "does_not_fit")
FIT_LABELS: dict[FitClass, str] = {
    "full_gpu": "full GPU",
    "partial_offload": "partial offload",
    "cpu_only": "CPU only",
    "does_not_fit": "does not fit",
}


# --------------------------------------------------------------------------- catalog values


@dataclass(frozen=True, slots=True)
class KvShape:
    """KV-cache geometry: layers with a full cache, KV heads, head size."""

    __pydantic_config__ = {"extra": "forbid"}  # noqa: RUF012  (read by pydantic, not a field)

    layers: int
    kv_heads: int
    head_dim: int


@dataclass(frozen=True, slots=True)
class CatalogModel:
    __pydantic_config__ = {"extra": "forbid"}  # noqa: RUF012

    tag: str
    quantization: str
    download_gb: float
    context_length: int
    quality_tier: int  # 1..5, 5 = best at route's job
    license: str
    capabilities: tuple[str, ...]
    parameters_billions: float | None = None
    active_parameters_billions: float | None = None  # mixture of experts only
    kv: KvShape | None = None
    note: str = ""
    follows_instructions: bool = True  # False: a completion (base) model that ignores chat
    think: tuple[str, ...] = ()  # --think values besides auto, for a model that reasons

    @property
    def thinks(self) -> bool:
        """The model reasons before it answers ("thinking" in its capabilities)."""
        return "thinking" in self.capabilities

    @property
    def weights_bytes(self) -> int:
        return int(self.download_gb * GB)

    @property
    def active_weights_bytes(self) -> int:
        """Bytes read per generated token: all weights, or the active experts' share."""
        total, active = self.parameters_billions, self.active_parameters_billions
        if total and active and active < total:
            return int(self.weights_bytes * active / total)
        return self.weights_bytes


@dataclass(frozen=True, slots=True)
class BandwidthEntry:
    __pydantic_config__ = {"extra": "forbid"}  # noqa: RUF012

    match: str  # words that must appear in the device name, in order
    gb_per_second: float


@dataclass(frozen=True, slots=True)
class TypicalBandwidth:
    """The bandwidth assumed for a GPU known only by its memory (``--vram``)."""

    __pydantic_config__ = {"extra": "forbid"}  # noqa: RUF012

    up_to_gb: float  # GPU memory up to this much (GB) ...
    gb_per_second: float  # ... typically comes with this bandwidth


@dataclass(frozen=True, slots=True)
class Catalog:
    __pydantic_config__ = {"extra": "forbid"}  # noqa: RUF012

    catalog_date: str
    source: str
    efficiency: tuple[float, float]
    cpu_bandwidth_gb_per_second: float
    bandwidth: tuple[BandwidthEntry, ...]
    models: tuple[CatalogModel, ...]
    typical_gpu_bandwidth: tuple[TypicalBandwidth, ...] = ()  # ascending up_to_gb

    def find(self, tag: str) -> CatalogModel | None:
        wanted = normalize_tag(tag)
        return next((m for m in self.models if normalize_tag(m.tag) == wanted), None)


# --------------------------------------------------------------------------- plan values


@dataclass(frozen=True, slots=True)
class PlanSettings:
    context_tokens: int = DEFAULT_CONTEXT_TOKENS
    kv_cache_type: str = "f16"  # OLLAMA_KV_CACHE_TYPE: f16, q8_0, q4_0
    parallel: int = 1  # OLLAMA_NUM_PARALLEL: each slot holds its own KV cache
    bandwidth_gb_per_second: float | None = None  # --bandwidth: GPU (or RAM without a GPU)
    min_tokens_per_second: float = DEFAULT_MIN_TOKENS_PER_SECOND


@dataclass(frozen=True, slots=True)
class Bandwidth:
    """Memory bandwidth the model is read from, in GB/s."""

    gpu: float | None  # None: no GPU, or a GPU not in the table
    cpu: float
    source: str  # where the figures come from, for the user
    assumed: bool = False  # the GPU figure is typical for its memory size, not the card's own


@dataclass(frozen=True, slots=True)
class Estimate:
    model: CatalogModel
    context_tokens: int  # planned context, capped at the model's maximum
    weights_bytes: int
    kv_cache_bytes: int
    overhead_bytes: int
    fit: FitClass
    gpu_share: float  # fraction of the model on the GPU (0 for CPU only)
    tokens_per_second: tuple[float, float] | None  # (low, high); None when bandwidth unknown
    fits_well: bool
    installed: bool = False
    unsuitable: str = ""  # why the model cannot do route's job here ("" when it can)

    @property
    def total_bytes(self) -> int:
        return self.weights_bytes + self.kv_cache_bytes + self.overhead_bytes


@dataclass(frozen=True, slots=True)
class Recommendation:
    hardware: Hardware
    bandwidth: Bandwidth
    settings: PlanSettings
    estimates: tuple[Estimate, ...]  # ranked, best first
    catalog_date: str

    @property
    def top(self) -> Estimate | None:
        """The best model that fits well, if any."""
        return next((e for e in self.estimates if e.fits_well), None)

    @property
    def largest_context(self) -> int:
        """The longest context any catalog model holds (0 for an empty catalog)."""
        return max((e.model.context_length for e in self.estimates), default=0)


# --------------------------------------------------------------------------- loading


def default_catalog_path() -> Path:
    return PACKAGE_DATA / "models.yaml"


def load_catalog(path: Path | None = None) -> Catalog:
    """Read and validate the catalog; a broken file is a ``ConfigError`` naming the problem."""
    import yaml

    from route.yamlio import load_yaml

    path = path if path is not None else default_catalog_path()
    try:
        document = load_yaml(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(
            f"cannot read the model catalog {path}: {error} — reinstall route or fix the file"
        ) from error
    return parse_catalog(document, str(path))


def parse_catalog(document: Any, origin: str = "models.yaml") -> Catalog:
    from pydantic import TypeAdapter, ValidationError

    try:
        catalog = TypeAdapter(Catalog).validate_python(document)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ConfigError(
            f"the model catalog {origin} is invalid at {where}: {first['msg']} — fix that entry"
        ) from error
    _check_catalog(catalog, origin)
    return catalog


def _check_catalog(catalog: Catalog, origin: str) -> None:
    seen: set[str] = set()
    for model in catalog.models:
        tag = normalize_tag(model.tag)
        if tag in seen:
            raise ConfigError(f"the model catalog {origin} lists {model.tag} twice — keep one")
        seen.add(tag)
        _check_think(model, origin)
        if not 1 <= model.quality_tier <= 5:
            raise ConfigError(
                f"the model catalog {origin}: {model.tag} has quality_tier "
                f"{model.quality_tier} — use 1 to 5"
            )
    low, high = catalog.efficiency
    if not 0 < low <= high <= 1:
        raise ConfigError(
            f"the model catalog {origin}: efficiency {low}-{high} must satisfy 0 < low <= high <= 1"
        )


def catalog_thinks(tag: str, path: Path | None = None) -> bool | None:
    """Whether the catalog lists ``tag`` as a reasoning model; None when it does not list it
    (or cannot be read). Reads the YAML as it is, without validating it, so ``route gen``
    imports no pydantic for this one fact; once per file and process (a batch asks per task)."""
    thinks = _thinking_tags(path or default_catalog_path())
    return None if thinks is None else thinks.get(normalize_tag(tag))


@functools.lru_cache(maxsize=4)
def _thinking_tags(path: Path) -> dict[str, bool] | None:
    """Each listed tag (normalized) -> whether it reasons; None when the file cannot be read."""
    import yaml

    from route.yamlio import load_yaml

    try:
        document = load_yaml(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    models = document.get("models") if isinstance(document, dict) else None
    thinks: dict[str, bool] = {}
    for entry in models if isinstance(models, list) else ():
        if isinstance(entry, dict):
            capabilities = entry.get("capabilities")
            tag = normalize_tag(str(entry.get("tag", "")))
            thinks.setdefault(tag, isinstance(capabilities, list) and "thinking" in capabilities)
    return thinks


def _check_think(model: CatalogModel, origin: str) -> None:
    from route.values import THINK_MODES

    unknown = [value for value in model.think if value not in THINK_MODES or value == "auto"]
    if unknown:
        raise ConfigError(
            f"the model catalog {origin}: {model.tag} has think value {unknown[0]!r} — use "
            "on, off, low, medium or high"
        )
    if bool(model.think) != model.thinks:
        raise ConfigError(
            f'the model catalog {origin}: {model.tag} lists think values only with "thinking" '
            'in capabilities, and a model with "thinking" needs its think values'
        )


def normalize_tag(tag: str) -> str:
    """``name`` and ``name:latest`` are the same model; case does not matter."""
    tag = tag.strip().lower()
    return tag if ":" in tag else f"{tag}:latest"


# --------------------------------------------------------------------------- estimate


def kv_cache_bytes(
    model: CatalogModel, context_tokens: int, bytes_per_value: float = 2.0, parallel: int = 1
) -> int:
    """2 (K and V) * layers * KV heads * head size * context * bytes per value * slots."""
    if model.kv is not None:
        values = 2 * model.kv.layers * model.kv.kv_heads * model.kv.head_dim
    else:
        parameters = model.parameters_billions or model.download_gb * 2
        values = int(FALLBACK_KV_VALUES_PER_BILLION * parameters)
    return int(values * context_tokens * bytes_per_value * max(1, parallel))


def overhead_bytes(weights: int, kv_cache: int) -> int:
    return max(int(OVERHEAD_SHARE * (weights + kv_cache)), MINIMUM_OVERHEAD_BYTES)


def usable_gpu_bytes(hardware: Hardware) -> int:
    """GPU memory a model may fill: Apple's share as is, discrete cards minus a small reserve."""
    if hardware.unified_memory:
        return hardware.gpu_memory_bytes
    return sum(max(0, gpu.memory_bytes - DISCRETE_GPU_RESERVE_BYTES) for gpu in hardware.gpus)


def usable_ram_bytes(hardware: Hardware) -> int:
    """RAM left for CPU inference after the system's headroom (0 when RAM is unknown)."""
    total = hardware.ram_total_bytes or 0
    headroom = max(CPU_MINIMUM_HEADROOM_BYTES, int(CPU_HEADROOM_SHARE * total))
    return max(0, total - headroom)


def classify_fit(total_bytes: int, hardware: Hardware) -> tuple[FitClass, float]:
    """The fit class and the fraction of the model that sits on the GPU."""
    gpu = usable_gpu_bytes(hardware)
    ram = usable_ram_bytes(hardware)
    if gpu > 0:
        if total_bytes <= gpu:
            return "full_gpu", 1.0
        cpu_pool = ram - gpu if hardware.unified_memory else ram
        if total_bytes - gpu <= cpu_pool:
            return "partial_offload", gpu / total_bytes
        return "does_not_fit", 0.0
    if total_bytes <= ram:
        return "cpu_only", 0.0
    return "does_not_fit", 0.0


def memory_bandwidth(hardware: Hardware, catalog: Catalog, override: float | None) -> Bandwidth:
    """GPU and RAM bandwidth: ``--bandwidth``, else the table, else unknown (GPU) or assumed."""
    names = [gpu.name for gpu in hardware.gpus]
    found = [lookup_bandwidth(name, catalog.bandwidth) for name in names]
    gpu: float | None = None
    if found and all(value is not None for value in found):
        gpu = min(value for value in found if value is not None)  # slowest card paces a split
    cpu = catalog.cpu_bandwidth_gb_per_second
    source = f"table ({', '.join(names)})" if gpu is not None else ""
    assumed = False
    if hardware.unified_memory and gpu is not None:
        cpu = gpu  # Apple: CPU and GPU read the same memory
    elif not source and names and _planned_only(hardware) and catalog.typical_gpu_bandwidth:
        memory = min(gpu.memory_bytes for gpu in hardware.gpus)
        gpu = typical_bandwidth(memory, catalog.typical_gpu_bandwidth)
        assumed = True
        source = (
            f"assumed: typical for {memory / GB:g} GB of GPU memory; "
            "set the card's own with --bandwidth"
        )
    elif not source:
        source = f"assumed {cpu:g} GB/s RAM" if not names else "GPU not in the table: --bandwidth"
    if override is not None:
        if hardware.gpus:
            gpu = override
        else:
            cpu = override
        source = "--bandwidth"
        assumed = False
    return Bandwidth(gpu=gpu, cpu=cpu, source=source, assumed=assumed)


def _planned_only(hardware: Hardware) -> bool:
    """Every GPU was stated by hand (``--vram``), so only its memory size is known."""
    return all(gpu.vendor == "planned" for gpu in hardware.gpus)


def typical_bandwidth(memory_bytes: int, table: tuple[TypicalBandwidth, ...]) -> float:
    """The bandwidth typical for a GPU with this much memory: the first row it fits under,
    else the last row."""
    for row in table:
        if memory_bytes <= row.up_to_gb * GB:
            return row.gb_per_second
    return table[-1].gb_per_second


def lookup_bandwidth(name: str, entries: tuple[BandwidthEntry, ...]) -> float | None:
    """The table entry whose words all appear in ``name`` in order; the most words wins."""
    words = _words(name)
    best: tuple[int, float] | None = None
    for entry in entries:
        wanted = _words(entry.match)
        if wanted and _in_order(wanted, words) and (best is None or len(wanted) > best[0]):
            best = (len(wanted), entry.gb_per_second)
    return best[1] if best else None


def tokens_per_second(
    model: CatalogModel,
    fit: FitClass,
    gpu_share: float,
    bandwidth: Bandwidth,
    efficiency: tuple[float, float],
) -> tuple[float, float] | None:
    """Decode speed range (tokens/s): bandwidth / active bytes per token * efficiency."""
    active = model.active_weights_bytes / GB  # GB read per token
    if fit == "does_not_fit" or active <= 0:
        return None
    if fit == "cpu_only":
        seconds = active / bandwidth.cpu
    elif bandwidth.gpu is None:
        return None
    else:
        seconds = active * gpu_share / bandwidth.gpu + active * (1 - gpu_share) / bandwidth.cpu
    low, high = efficiency
    return (low / seconds, high / seconds)


def estimate_model(
    model: CatalogModel,
    hardware: Hardware,
    bandwidth: Bandwidth,
    settings: PlanSettings,
    efficiency: tuple[float, float],
    *,
    installed: bool = False,
) -> Estimate:
    context = min(settings.context_tokens, model.context_length)
    bytes_per_value = KV_CACHE_BYTES.get(settings.kv_cache_type, 2.0)
    kv_cache = kv_cache_bytes(model, context, bytes_per_value, settings.parallel)
    overhead = overhead_bytes(model.weights_bytes, kv_cache)
    fit, gpu_share = classify_fit(model.weights_bytes + kv_cache + overhead, hardware)
    speed = tokens_per_second(model, fit, gpu_share, bandwidth, efficiency)
    unsuitable = unsuitable_reason(model, settings.context_tokens)
    if unsuitable:
        fits_well = False
    elif speed is None:
        fits_well = fit == "full_gpu"
    else:
        fits_well = fit != "does_not_fit" and speed[0] >= settings.min_tokens_per_second
    return Estimate(
        model=model,
        context_tokens=context,
        weights_bytes=model.weights_bytes,
        kv_cache_bytes=kv_cache,
        overhead_bytes=overhead,
        fit=fit,
        gpu_share=gpu_share,
        tokens_per_second=speed,
        fits_well=fits_well,
        installed=installed,
        unsuitable=unsuitable,
    )


def unsuitable_reason(model: CatalogModel, context_tokens: int) -> str:
    """Why ``model`` cannot do route's job (chat prompts, ``context_tokens`` of context), or
    "" when it can. Memory and speed are judged apart from this."""
    reasons: list[str] = []
    if model.context_length < context_tokens:
        reasons.append(
            f"holds at most {model.context_length:,} tokens of context, "
            f"not the {context_tokens:,} planned"
        )
    if not model.follows_instructions:
        reasons.append(model.note or "a completion model: does not follow chat instructions")
    return "; ".join(reasons)


def rank(estimates: list[Estimate] | tuple[Estimate, ...]) -> tuple[Estimate, ...]:
    """Models that fit well first (best quality, then fastest); then the rest by fit class;
    unsuitable models last."""

    def key(estimate: Estimate) -> tuple[int, int, int, float, str]:
        speed = estimate.tokens_per_second[0] if estimate.tokens_per_second else 0.0
        fit_position = 0 if estimate.fits_well else FIT_ORDER.index(estimate.fit)
        return (
            0 if estimate.fits_well else 2 if estimate.unsuitable else 1,
            fit_position,
            -estimate.model.quality_tier,
            -speed,
            estimate.model.tag,
        )

    return tuple(sorted(estimates, key=key))


def recommend(
    catalog: Catalog,
    hardware: Hardware,
    settings: PlanSettings,
    installed: frozenset[str] = frozenset(),
) -> Recommendation:
    """Estimate every catalog model on ``hardware`` and rank them."""
    bandwidth = memory_bandwidth(hardware, catalog, settings.bandwidth_gb_per_second)
    installed_tags = {normalize_tag(name) for name in installed}
    estimates = [
        estimate_model(
            model,
            hardware,
            bandwidth,
            settings,
            catalog.efficiency,
            installed=normalize_tag(model.tag) in installed_tags,
        )
        for model in catalog.models
    ]
    return Recommendation(
        hardware=hardware,
        bandwidth=bandwidth,
        settings=settings,
        estimates=rank(estimates),
        catalog_date=catalog.catalog_date,
    )


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def _in_order(wanted: list[str], words: list[str]) -> bool:
    iterator = iter(words)
    return all(word in iterator for word in wanted)
