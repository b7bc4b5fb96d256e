"""Detect GPUs and memory for ``route models``: what a local model can use on this machine.

Detection runs tools (``nvidia-smi``, ``rocm-smi``, ``sysctl``, ``vm_stat``) through an injected
command runner and reads ``/proc/meminfo`` through an injected file reader, so tests feed recorded
outputs. It never raises: a missing tool or output it cannot read means "no GPU of that kind",
and the reason is kept in ``Hardware.reasons`` for ``--verbose``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

Runner = Callable[[Sequence[str]], str | None]  # stdout, or None when the tool is missing/failed
FileReader = Callable[[str], str | None]  # text, or None when the file cannot be read

Vendor = Literal["nvidia", "amd", "apple", "planned"]

MIB = 1024**2
GIB = 1024**3
KIB = 1024

NVIDIA_COMMAND = (
    "nvidia-smi",
    "--query-gpu=name,memory.total,memory.used",
    "--format=csv,noheader,nounits",
)
ROCM_COMMAND = ("rocm-smi", "--showproductname", "--showmeminfo", "vram", "--json")
SYSCTL_BRAND_COMMAND = ("sysctl", "-n", "machdep.cpu.brand_string")
SYSCTL_MEMORY_COMMAND = ("sysctl", "-n", "hw.memsize")
VM_STAT_COMMAND = ("vm_stat",)
MEMINFO_PATH = "/proc/meminfo"

# Metal's recommendedMaxWorkingSetSize: about 2/3 of unified memory up to 36 GB, 3/4 above.
APPLE_SMALL_SHARE = 2 / 3
APPLE_LARGE_SHARE = 3 / 4
APPLE_SHARE_THRESHOLD = 36 * GIB


@dataclass(frozen=True, slots=True)
class Gpu:
    vendor: Vendor
    name: str
    memory_bytes: int  # total memory of the card (for Apple: the usable unified-memory share)
    used_bytes: int | None = None  # in use by other programs when detected, None if unknown


@dataclass(frozen=True, slots=True)
class Hardware:
    """What detection (and the user's overrides) found."""

    gpus: tuple[Gpu, ...] = ()
    ram_total_bytes: int | None = None
    ram_available_bytes: int | None = None
    chip: str = ""  # CPU brand string when known ("Apple M2 Max")
    unified_memory: bool = False  # Apple Silicon: the GPU share comes out of RAM
    reasons: tuple[str, ...] = ()  # why a kind of GPU or memory figure was not found
    notes: tuple[str, ...] = ()  # things the user should know (multi-GPU split, overrides)

    @property
    def gpu_memory_bytes(self) -> int:
        """Memory all GPUs offer together (0 without a GPU)."""
        return sum(gpu.memory_bytes for gpu in self.gpus)


# --------------------------------------------------------------------------- parsers


def parse_nvidia_smi(output: str) -> tuple[tuple[Gpu, ...], tuple[str, ...]]:
    """GPUs from ``nvidia-smi --query-gpu=name,memory.total,memory.used`` CSV (MiB)."""
    gpus: list[Gpu] = []
    problems: list[str] = []
    for line in output.splitlines():
        if not line.strip():
            continue
        name, _, numbers = line.rpartition(",")  # the name may itself hold commas
        name, _, total_text = name.rpartition(",")
        total = _integer(total_text)
        used = _integer(numbers)
        if not name.strip() or total is None or total <= 0:
            problems.append(f"nvidia-smi: could not read the line {line.strip()[:80]!r}")
            continue
        used_bytes = used * MIB if used is not None else None
        gpus.append(Gpu("nvidia", name.strip(), total * MIB, used_bytes))
    if not gpus and not problems:
        problems.append("nvidia-smi: listed no GPU")
    return tuple(gpus), tuple(problems)


def parse_rocm_smi(output: str) -> tuple[tuple[Gpu, ...], tuple[str, ...]]:
    """GPUs from ``rocm-smi --showproductname --showmeminfo vram --json``."""
    document = _json_object(output)
    if document is None:
        return (), ("rocm-smi: the output is not JSON",)
    gpus: list[Gpu] = []
    problems: list[str] = []
    for card, fields in sorted(document.items()):
        if not card.lower().startswith("card") or not isinstance(fields, dict):
            continue
        total = _integer(str(fields.get("VRAM Total Memory (B)", "")))
        if total is None or total <= 0:
            problems.append(f"rocm-smi: no VRAM size for {card}")
            continue
        used = _integer(str(fields.get("VRAM Total Used Memory (B)", "")))
        gpus.append(Gpu("amd", _amd_name(fields, card), total, used))
    if not gpus and not problems:
        problems.append("rocm-smi: listed no GPU")
    return tuple(gpus), tuple(problems)


def parse_meminfo(text: str) -> tuple[int | None, int | None]:
    """(total, available) bytes from Linux ``/proc/meminfo``."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        number = _integer(rest.strip().removesuffix("kB"))
        if number is not None:
            values[key.strip()] = number * KIB
    total = values.get("MemTotal")
    available = values.get("MemAvailable")
    if available is None and "MemFree" in values:
        available = values["MemFree"] + values.get("Buffers", 0) + values.get("Cached", 0)
    return total, available


def parse_vm_stat(text: str) -> int | None:
    """Available bytes from macOS ``vm_stat``: free, inactive and speculative pages."""
    size_match = re.search(r"page size of (\d+) bytes", text)
    if size_match is None:
        return None
    page_size = int(size_match.group(1))
    pages = 0
    found = False
    for label in ("Pages free", "Pages inactive", "Pages speculative"):
        match = re.search(rf"^{label}:\s+(\d+)", text, re.MULTILINE)
        if match:
            pages += int(match.group(1))
            found = True
    return pages * page_size if found else None


def parse_memory_size(text: str) -> int:
    """Bytes for ``--vram``/``--ram`` values: ``24GB`` (10^9), ``24GiB`` (2^30), ``512MB``,
    ``1.5TB``; a bare number means GB."""
    from route.errors import UsageError

    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)b?\s*", text.lower())
    if match is None:
        raise UsageError(
            f"cannot read the memory size {text!r} — write it like 24GB, 24GiB or 512MB"
        )
    number, prefix, binary = float(match.group(1)), match.group(2) or "g", match.group(3)
    power = "kmgt".index(prefix) + 1
    size = int(number * (1024**power if binary else 1000**power))
    if size <= 0:
        raise UsageError(
            f"the memory size {text!r} is zero — give the memory to plan for, like 24GB; "
            "for no GPU at all use --gpu none"
        )
    return size


def apple_usable_share(memory_bytes: int) -> int:
    """The part of unified memory Metal lets the GPU use (≈2/3 up to 36 GB, ≈3/4 above)."""
    share = APPLE_SMALL_SHARE if memory_bytes <= APPLE_SHARE_THRESHOLD else APPLE_LARGE_SHARE
    return int(memory_bytes * share)


# --------------------------------------------------------------------------- detection


def detect_hardware(
    run: Runner | None = None, read_file: FileReader | None = None, system: str | None = None
) -> Hardware:
    """Detect GPUs and RAM; never raises. ``system`` is ``platform.system()`` ("Linux", ...)."""
    import platform

    run = run if run is not None else run_command
    read_file = read_file if read_file is not None else read_text
    system = system if system is not None else platform.system()
    if system == "Darwin":
        return _detect_mac(run)
    return _detect_discrete(run, read_file)


def _detect_discrete(run: Runner, read_file: FileReader) -> Hardware:
    reasons: list[str] = []
    gpus: list[Gpu] = []
    for command, parser, tool in (
        (NVIDIA_COMMAND, parse_nvidia_smi, "nvidia-smi"),
        (ROCM_COMMAND, parse_rocm_smi, "rocm-smi"),
    ):
        output = _safe_run(run, command)
        if output is None:
            reasons.append(f"{tool}: not installed or failed (no GPU of that kind)")
            continue
        found, problems = _safe_parse(parser, output, tool)
        gpus.extend(found)
        reasons.extend(problems)
    total, available = _safe_meminfo(read_file, reasons)
    return Hardware(
        gpus=tuple(gpus),
        ram_total_bytes=total,
        ram_available_bytes=available,
        reasons=tuple(reasons),
        notes=_multi_gpu_notes(gpus),
    )


def _detect_mac(run: Runner) -> Hardware:
    reasons: list[str] = []
    brand = (_sysctl_value(_safe_run(run, SYSCTL_BRAND_COMMAND)) or "").strip()
    memory = _integer(_sysctl_value(_safe_run(run, SYSCTL_MEMORY_COMMAND)) or "")
    if memory is None or memory <= 0:
        reasons.append("sysctl hw.memsize: no readable memory size")
        memory = None
    vm_stat = _safe_run(run, VM_STAT_COMMAND)
    available = parse_vm_stat(vm_stat) if vm_stat is not None else None
    if available is None:
        reasons.append("vm_stat: no readable free memory")
    gpus: tuple[Gpu, ...] = ()
    apple = brand.startswith("Apple")
    if apple and memory is not None:
        gpus = (Gpu("apple", brand, apple_usable_share(memory)),)
    elif not apple:
        reasons.append(f"sysctl machdep.cpu.brand_string: {brand or 'unreadable'} (no Apple GPU)")
    return Hardware(
        gpus=gpus,
        ram_total_bytes=memory,
        ram_available_bytes=available,
        chip=brand,
        unified_memory=bool(gpus),
        reasons=tuple(reasons),
    )


def apply_overrides(
    hardware: Hardware,
    *,
    vram_bytes: int | None = None,
    ram_bytes: int | None = None,
    no_gpu: bool = False,
) -> Hardware:
    """Plan for another machine: ``--vram``, ``--ram``, ``--gpu none``."""
    notes = list(hardware.notes)
    if no_gpu:
        hardware = replace(hardware, gpus=(), unified_memory=False)
        notes = ["--gpu none: planning for CPU inference only"]
    elif vram_bytes is not None:
        name = hardware.gpus[0].name if len(hardware.gpus) == 1 else "planned GPU"
        hardware = replace(hardware, gpus=(Gpu("planned", name, vram_bytes),))
        notes = [n for n in notes if "split" not in n] + ["--vram: GPU memory set by hand"]
    if ram_bytes is not None:
        hardware = replace(hardware, ram_total_bytes=ram_bytes, ram_available_bytes=None)
        notes.append("--ram: RAM set by hand")
    return replace(hardware, notes=tuple(notes))


# --------------------------------------------------------------------------- real seams


def run_command(command: Sequence[str], timeout_seconds: float = 5.0) -> str | None:
    """Run a tool and return its stdout; None when it is missing, fails or hangs."""
    import shutil
    import subprocess

    if shutil.which(command[0]) is None:
        return None
    try:
        completed = subprocess.run(
            list(command), capture_output=True, text=True, timeout=timeout_seconds, check=False
        )
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    return completed.stdout if completed.returncode == 0 else None


def read_text(path: str) -> str | None:
    """The text of a file, or None when it cannot be read."""
    from pathlib import Path

    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


# --------------------------------------------------------------------------- helpers


def _safe_run(run: Runner, command: Sequence[str]) -> str | None:
    try:
        return run(command)
    except Exception:  # an injected runner may fail in any way; detection must not
        return None


def _safe_parse(
    parser: Callable[[str], tuple[tuple[Gpu, ...], tuple[str, ...]]], output: str, tool: str
) -> tuple[tuple[Gpu, ...], tuple[str, ...]]:
    try:
        return parser(output)
    except Exception as error:  # a parser bug on odd output must not stop detection
        return (), (f"{tool}: unreadable output ({type(error).__name__})",)


def _safe_meminfo(read_file: FileReader, reasons: list[str]) -> tuple[int | None, int | None]:
    try:
        text = read_file(MEMINFO_PATH)
    except Exception:
        text = None
    if text is None:
        reasons.append(f"{MEMINFO_PATH}: not readable (RAM unknown; use --ram)")
        return None, None
    total, available = parse_meminfo(text)
    if total is None:
        reasons.append(f"{MEMINFO_PATH}: no MemTotal line (RAM unknown; use --ram)")
    return total, available


def _multi_gpu_notes(gpus: Sequence[Gpu]) -> tuple[str, ...]:
    if len(gpus) < 2:
        return ()
    return (
        f"{len(gpus)} GPUs: memory is summed, so a large model is split across cards "
        "(each token passes through every card in turn)",
    )


def _sysctl_value(output: str | None) -> str | None:
    """``sysctl -n`` prints the value; plain ``sysctl`` prints ``name: value``."""
    if output is None:
        return None
    line = output.strip().splitlines()[0] if output.strip() else ""
    if re.match(r"^[a-z_.]+:\s", line):
        line = line.split(":", 1)[1]
    return line.strip()


def _integer(text: str) -> int | None:
    cleaned = text.strip()
    if not cleaned:
        return None
    try:
        return int(float(cleaned)) if "." in cleaned else int(cleaned)
    except (ValueError, OverflowError):
        return None


def _json_object(output: str) -> dict[str, Any] | None:
    """The JSON object in a tool's output (rocm-smi may print warnings before it)."""
    start = output.find("{")
    if start < 0:
        return None
    try:
        value = json.loads(output[start:])
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _amd_name(fields: dict[str, Any], card: str) -> str:
    for key in ("Card Series", "Card series", "Marketing Name", "Card SKU", "Card model"):
        value = fields.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return f"AMD GPU ({card})"
