"""Hardware detection from recorded tool outputs (tests/fixtures/hardware), never real tools."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from route.errors import UsageError
from route.local_models.hardware import (
    GIB,
    MEMINFO_PATH,
    MIB,
    NVIDIA_COMMAND,
    ROCM_COMMAND,
    SYSCTL_BRAND_COMMAND,
    SYSCTL_MEMORY_COMMAND,
    VM_STAT_COMMAND,
    Gpu,
    Hardware,
    apple_usable_share,
    apply_overrides,
    detect_hardware,
    parse_meminfo,
    parse_memory_size,
    parse_nvidia_smi,
    parse_rocm_smi,
    parse_vm_stat,
    run_command,
)

FIXTURES = Path(__file__).parent / "fixtures" / "hardware"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


class FakeTools:
    """A command runner answering from fixtures; records what was run."""

    def __init__(self, outputs: Mapping[tuple[str, ...], str | None]) -> None:
        self.outputs = dict(outputs)
        self.calls: list[tuple[str, ...]] = []

    def __call__(self, command: Sequence[str]) -> str | None:
        self.calls.append(tuple(command))
        return self.outputs.get(tuple(command))


def linux(
    nvidia: str | None = None, rocm: str | None = None, meminfo: str | None = "meminfo.txt"
) -> Hardware:
    tools = FakeTools(
        {
            NVIDIA_COMMAND: fixture(nvidia) if nvidia else None,
            ROCM_COMMAND: fixture(rocm) if rocm else None,
        }
    )
    memory = {MEMINFO_PATH: fixture(meminfo)} if meminfo else {}
    return detect_hardware(tools, memory.get, system="Linux")


def mac(brand: str, memsize: str, vm_stat: str | None = "vm_stat.txt") -> Hardware:
    tools = FakeTools(
        {
            SYSCTL_BRAND_COMMAND: fixture(brand),
            SYSCTL_MEMORY_COMMAND: fixture(memsize),
            VM_STAT_COMMAND: fixture(vm_stat) if vm_stat else None,
        }
    )
    return detect_hardware(tools, {}.get, system="Darwin")


# --------------------------------------------------------------------------- NVIDIA


def test_no_nvidia_tool_means_no_gpu_with_a_reason() -> None:
    hardware = linux()
    assert hardware.gpus == ()
    assert hardware.gpu_memory_bytes == 0
    assert any(reason.startswith("nvidia-smi: not installed") for reason in hardware.reasons)
    assert any(reason.startswith("rocm-smi: not installed") for reason in hardware.reasons)


def test_one_nvidia_gpu() -> None:
    hardware = linux(nvidia="nvidia-smi-one.txt")
    assert hardware.gpus == (Gpu("nvidia", "NVIDIA GeForce RTX 4090", 24564 * MIB, 1187 * MIB),)
    assert hardware.notes == ()


def test_two_nvidia_gpus_are_listed_and_summed_with_a_split_note() -> None:
    hardware = linux(nvidia="nvidia-smi-two.txt")
    assert [gpu.name for gpu in hardware.gpus] == [
        "NVIDIA GeForce RTX 3090",
        "NVIDIA GeForce RTX 3090 Ti",
    ]
    assert hardware.gpu_memory_bytes == (24576 + 24564) * MIB
    assert len(hardware.notes) == 1
    assert "split across cards" in hardware.notes[0]


def test_nvidia_listing_no_device_is_no_gpu() -> None:
    hardware = linux(nvidia="nvidia-smi-no-devices.txt")
    assert hardware.gpus == ()
    assert any("nvidia-smi" in reason for reason in hardware.reasons)


def test_nvidia_without_a_memory_figure_is_skipped_with_a_reason() -> None:
    gpus, problems = parse_nvidia_smi(fixture("nvidia-smi-unsupported.txt"))
    assert gpus == ()
    assert problems == ("nvidia-smi: could not read the line 'NVIDIA GB10, [N/A], [N/A]'",)


def test_nvidia_garbage_output_is_no_gpu() -> None:
    hardware = linux(nvidia="nvidia-smi-garbage.txt")
    assert hardware.gpus == ()
    assert sum("nvidia-smi: could not read" in reason for reason in hardware.reasons) == 2


def test_nvidia_keeps_good_lines_and_reports_broken_ones() -> None:
    gpus, problems = parse_nvidia_smi(fixture("nvidia-smi-partly-broken.txt"))
    assert gpus == (Gpu("nvidia", "NVIDIA A100-SXM4-80GB", 81920 * MIB, None),)
    assert len(problems) == 1
    assert "this line, is, broken" in problems[0]


def test_a_gpu_name_holding_a_comma_is_kept_whole() -> None:
    gpus, problems = parse_nvidia_smi("Tesla V100, PCIe, 16384, 0\n")
    assert problems == ()
    assert gpus[0].name == "Tesla V100, PCIe"
    assert gpus[0].memory_bytes == 16384 * MIB


# --------------------------------------------------------------------------- AMD


def test_one_amd_gpu_after_a_warning_line() -> None:
    hardware = linux(rocm="rocm-smi-one.json")
    assert hardware.gpus == (Gpu("amd", "Navi 31 [Radeon RX 7900 XTX]", 25753026560, 1302802432),)


def test_two_amd_gpus_with_lower_case_keys() -> None:
    gpus, problems = parse_rocm_smi(fixture("rocm-smi-two.json"))
    assert problems == ()
    assert [gpu.name for gpu in gpus] == ["AMD Instinct MI300X", "AMD Instinct MI300X"]
    assert sum(gpu.memory_bytes for gpu in gpus) == 2 * 205822885888


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("rocm-smi-garbage.txt", "rocm-smi: the output is not JSON"),
        ("rocm-smi-truncated.json", "rocm-smi: the output is not JSON"),
        ("rocm-smi-no-vram.json", "rocm-smi: no VRAM size for card0"),
    ],
)
def test_amd_malformed_output_is_no_gpu_with_the_reason(name: str, reason: str) -> None:
    hardware = linux(rocm=name)
    assert hardware.gpus == ()
    assert reason in hardware.reasons


def test_nvidia_and_amd_together() -> None:
    hardware = linux(nvidia="nvidia-smi-one.txt", rocm="rocm-smi-one.json")
    assert [gpu.vendor for gpu in hardware.gpus] == ["nvidia", "amd"]
    assert len(hardware.notes) == 1


# --------------------------------------------------------------------------- RAM (Linux)


def test_meminfo_total_and_available() -> None:
    assert parse_meminfo(fixture("meminfo.txt")) == (65776460 * 1024, 41346112 * 1024)


def test_meminfo_without_memavailable_adds_free_buffers_and_cache() -> None:
    total, available = parse_meminfo(fixture("meminfo-old-kernel.txt"))
    assert total == 8058108 * 1024
    assert available == (512000 + 100000 + 1388000) * 1024


def test_garbage_meminfo_means_ram_unknown_with_a_reason() -> None:
    hardware = linux(meminfo="meminfo-garbage.txt")
    assert hardware.ram_total_bytes is None
    assert any("MemTotal" in reason and "--ram" in reason for reason in hardware.reasons)


def test_unreadable_meminfo_means_ram_unknown_with_a_reason() -> None:
    hardware = linux(meminfo=None)
    assert hardware.ram_total_bytes is None
    assert any(reason.startswith(MEMINFO_PATH) for reason in hardware.reasons)


# --------------------------------------------------------------------------- Apple


@pytest.mark.parametrize(
    ("memsize", "total", "usable"),
    [
        ("sysctl-memsize-16gb.txt", 16 * GIB, 16 * GIB * 2 // 3),
        ("sysctl-memsize-36gb.txt", 36 * GIB, 36 * GIB * 2 // 3),
        ("sysctl-memsize-128gb-named.txt", 128 * GIB, 128 * GIB * 3 // 4),
    ],
)
def test_apple_silicon_gpu_share_of_unified_memory(memsize: str, total: int, usable: int) -> None:
    hardware = mac("sysctl-brand-m3-pro.txt", memsize)
    assert hardware.ram_total_bytes == total
    assert hardware.unified_memory is True
    assert hardware.gpus == (Gpu("apple", "Apple M3 Pro", usable),)
    assert hardware.ram_available_bytes == (41210 + 398712 + 2201) * 16384


def test_apple_share_switches_above_36_gb() -> None:
    assert apple_usable_share(36 * GIB) == int(36 * GIB * 2 / 3)
    assert apple_usable_share(48 * GIB) == int(48 * GIB * 3 / 4)


def test_sysctl_without_dash_n_is_read_too() -> None:
    hardware = mac("sysctl-brand-m2-ultra-named.txt", "sysctl-memsize-16gb.txt")
    assert hardware.chip == "Apple M2 Ultra"
    assert hardware.gpus[0].name == "Apple M2 Ultra"


def test_intel_mac_has_no_apple_gpu_but_has_ram() -> None:
    hardware = mac("sysctl-brand-intel.txt", "sysctl-memsize-16gb.txt")
    assert hardware.gpus == ()
    assert hardware.unified_memory is False
    assert hardware.ram_total_bytes == 16 * GIB
    assert any("no Apple GPU" in reason for reason in hardware.reasons)


def test_mac_with_garbage_memsize_and_no_vm_stat() -> None:
    hardware = mac("sysctl-brand-m1.txt", "sysctl-memsize-garbage.txt", vm_stat=None)
    assert hardware.gpus == ()
    assert hardware.ram_total_bytes is None
    assert hardware.ram_available_bytes is None
    assert "sysctl hw.memsize: no readable memory size" in hardware.reasons
    assert "vm_stat: no readable free memory" in hardware.reasons


def test_vm_stat_without_page_size_is_unknown() -> None:
    assert parse_vm_stat("Pages free: 12.\n") is None


# --------------------------------------------------------------------------- never crashes


def test_a_runner_that_raises_is_no_gpu() -> None:
    def broken(command: Sequence[str]) -> str | None:
        raise OSError("exec format error")

    def unreadable(path: str) -> str | None:
        raise PermissionError(path)

    hardware = detect_hardware(broken, unreadable, system="Linux")
    assert hardware.gpus == ()
    assert hardware.ram_total_bytes is None
    assert len(hardware.reasons) == 3


def test_odd_numbers_do_not_crash_parsers() -> None:
    gpus, problems = parse_nvidia_smi("GPU, inf, nan\nGPU, 1e400, 0\n")
    assert gpus == ()
    assert len(problems) == 2
    assert parse_rocm_smi('["card0"]') == ((), ("rocm-smi: the output is not JSON",))


def test_run_command_missing_tool_is_none() -> None:
    assert run_command(["route-test-no-such-tool-0f3a"]) is None


def test_run_command_returns_stdout_and_none_on_failure() -> None:
    assert run_command(["sh", "-c", "echo hello"]) == "hello\n"
    assert run_command(["sh", "-c", "echo broken; exit 3"]) is None


# --------------------------------------------------------------------------- overrides


def test_gpu_none_plans_for_cpu_only() -> None:
    hardware = apply_overrides(linux(nvidia="nvidia-smi-two.txt"), no_gpu=True)
    assert hardware.gpus == ()
    assert hardware.notes == ("--gpu none: planning for CPU inference only",)


def test_vram_and_ram_overrides_replace_detection() -> None:
    detected = linux(nvidia="nvidia-smi-two.txt")
    hardware = apply_overrides(detected, vram_bytes=48 * 10**9, ram_bytes=128 * 10**9)
    assert hardware.gpus == (Gpu("planned", "planned GPU", 48 * 10**9),)
    assert hardware.ram_total_bytes == 128 * 10**9
    assert hardware.ram_available_bytes is None
    assert not any("split" in note for note in hardware.notes)
    assert "--vram: GPU memory set by hand" in hardware.notes


def test_vram_override_on_a_mac_keeps_unified_memory_planning() -> None:
    detected = mac("sysctl-brand-m3-pro.txt", "sysctl-memsize-36gb.txt")
    hardware = apply_overrides(detected, vram_bytes=20 * 10**9)
    assert hardware.gpu_memory_bytes == 20 * 10**9


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("24GB", 24 * 10**9),
        ("24 GiB", 24 * GIB),
        ("512MB", 512 * 10**6),
        ("1.5TB", 1_500 * 10**9),
        ("64", 64 * 10**9),
        ("16g", 16 * 10**9),
    ],
)
def test_parse_memory_size(text: str, expected: int) -> None:
    assert parse_memory_size(text) == expected


@pytest.mark.parametrize("text", ["", "lots", "0GB", "-4GB", "24XB", "GB"])
def test_parse_memory_size_rejects_nonsense(text: str) -> None:
    with pytest.raises(UsageError, match="24GB"):
        parse_memory_size(text)


def test_a_real_h100_as_nvidia_smi_printed_it() -> None:
    """Recorded on an NVIDIA H100 80GB HBM3 (driver 580.159.04) lent to this project, with
    route's own query; the same machine's `route models hardware` reported this GPU."""
    hardware = linux(nvidia="nvidia-smi-h100-real.txt")
    assert hardware.gpus == (Gpu("nvidia", "NVIDIA H100 80GB HBM3", 81559 * MIB, 0),)
    assert hardware.notes == ()
    from route.local_models.catalog import load_catalog, memory_bandwidth

    bandwidth = memory_bandwidth(hardware, load_catalog(), None)
    assert bandwidth.gpu is not None and bandwidth.gpu > 3000  # the H100 row, not a guess
    assert "H100" in bandwidth.source
