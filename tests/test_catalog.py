"""The model catalog (real package data) and the memory / speed estimate, by hand-computed cases."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from route.errors import ConfigError
from route.local_models.catalog import (
    Bandwidth,
    PlanSettings,
    classify_fit,
    estimate_model,
    kv_cache_bytes,
    load_catalog,
    lookup_bandwidth,
    memory_bandwidth,
    normalize_tag,
    parse_catalog,
    recommend,
    usable_gpu_bytes,
    usable_ram_bytes,
)
from route.local_models.hardware import GIB, Gpu, Hardware

GB = 10**9

SEVEN_B: dict[str, Any] = {
    "tag": "coder:7b",
    "quantization": "Q4_K_M",
    "download_gb": 4.7,
    "context_length": 32768,
    "quality_tier": 2,
    "license": "Apache-2.0",
    "capabilities": ["completion"],
    "parameters_billions": 7,
    "kv": {"layers": 28, "kv_heads": 4, "head_dim": 128},
}


def small_catalog(*models: dict[str, Any]) -> dict[str, Any]:
    return {
        "catalog_date": "2026-07-15",
        "source": "test",
        "efficiency": [0.55, 0.85],
        "cpu_bandwidth_gb_per_second": 60,
        "bandwidth": [
            {"match": "RTX 4060", "gb_per_second": 272},
            {"match": "RTX 4090", "gb_per_second": 1008},
        ],
        "models": list(models) or [SEVEN_B],
    }


def model(**changes: Any) -> dict[str, Any]:
    entry = copy.deepcopy(SEVEN_B)
    entry.update(changes)
    return entry


def gpu_machine(name: str, memory: int, ram: int = 32 * GB) -> Hardware:
    return Hardware(gpus=(Gpu("nvidia", name, memory),), ram_total_bytes=ram)


# --------------------------------------------------------------------------- real catalog


def test_the_packaged_catalog_loads_with_real_tags() -> None:
    catalog = load_catalog()
    tags = {entry.tag for entry in catalog.models}
    assert len(tags) == len(catalog.models) >= 30
    assert {"qwen2.5-coder:7b", "qwen3-coder:30b", "deepseek-coder-v2:16b"} <= tags
    assert catalog.catalog_date == "2026-07-15"


def test_tags_that_do_not_exist_are_absent() -> None:
    tags = {normalize_tag(entry.tag) for entry in load_catalog().models}
    assert "qwen3-coder:8b" not in tags
    assert "deepseek-coder-v3:16b" not in tags
    assert not any(tag.startswith("deepseek-coder-v3") for tag in tags)
    qwen3_coder = {tag for tag in tags if tag.startswith("qwen3-coder:")}
    assert qwen3_coder == {"qwen3-coder:30b", "qwen3-coder:480b"}


def test_every_packaged_model_is_complete() -> None:
    for entry in load_catalog().models:
        assert entry.download_gb > 0, entry.tag
        assert entry.context_length >= 8192, entry.tag
        assert entry.license, entry.tag
        assert "completion" in entry.capabilities, entry.tag
        if entry.active_parameters_billions is not None:
            assert entry.parameters_billions is not None
            assert entry.active_parameters_billions < entry.parameters_billions, entry.tag


def test_mixture_of_experts_reads_only_active_weights() -> None:
    qwen3 = load_catalog().find("qwen3-coder:30b")
    assert qwen3 is not None
    assert qwen3.weights_bytes == 19 * GB
    assert qwen3.active_weights_bytes == 19 * GB * 3 // 30


def test_find_treats_latest_as_the_default_tag() -> None:
    catalog = load_catalog()
    found = catalog.find("qwen3-coder-next:latest")
    assert found is not None
    assert found.tag == "qwen3-coder-next"
    assert catalog.find("qwen3-coder:8b") is None


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("NVIDIA GeForce RTX 4090", 1008),
        ("NVIDIA GeForce RTX 4070 Ti SUPER", 672),
        ("NVIDIA GeForce RTX 4070 Ti", 504),
        ("NVIDIA GeForce RTX 4090 Laptop GPU", 576),
        ("NVIDIA H100 80GB HBM3", 3350),
        ("NVIDIA H100 PCIe", 2000),
        ("NVIDIA A100-SXM4-80GB", 1935),
        ("NVIDIA L40S", 864),
        ("NVIDIA L4", 300),
        ("Navi 31 [Radeon RX 7900 XTX]", 960),
        ("Apple M2 Max", 400),
        ("Apple M2", 100),
        ("Apple M4 Pro", 273),
        ("Matrox G200", None),
    ],
)
def test_bandwidth_table_lookup(name: str, expected: float | None) -> None:
    assert lookup_bandwidth(name, load_catalog().bandwidth) == expected


# --------------------------------------------------------------------------- validation


def test_an_unknown_key_is_an_error_naming_it() -> None:
    with pytest.raises(ConfigError, match=r"models\.0\.download_gigs"):
        parse_catalog(small_catalog(model(download_gigs=3)))


def test_a_duplicate_tag_is_an_error() -> None:
    with pytest.raises(ConfigError, match="coder:7b twice"):
        parse_catalog(small_catalog(model(), model(tag="coder:7b")))


def test_a_tier_out_of_range_is_an_error() -> None:
    with pytest.raises(ConfigError, match="quality_tier 7"):
        parse_catalog(small_catalog(model(quality_tier=7)))


def test_a_missing_field_is_an_error() -> None:
    entry = model()
    del entry["download_gb"]
    with pytest.raises(ConfigError, match="download_gb"):
        parse_catalog(small_catalog(entry))


def test_a_broken_yaml_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "models.yaml"
    path.write_text("models: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="cannot read the model catalog"):
        load_catalog(path)


# --------------------------------------------------------------------------- estimate


def test_kv_cache_hand_computed() -> None:
    entry = parse_catalog(small_catalog()).models[0]
    # 2 (K,V) x 28 layers x 4 heads x 128 x 16384 tokens x 2 bytes
    assert kv_cache_bytes(entry, 16384) == 939_524_096
    assert kv_cache_bytes(entry, 16384, bytes_per_value=1.0) == 469_762_048
    assert kv_cache_bytes(entry, 16384, parallel=2) == 1_879_048_192


def test_kv_cache_guess_without_a_shape() -> None:
    entry = parse_catalog(small_catalog(model(kv=None))).models[0]
    # 8192 values per token per billion parameters x 7B x 1000 tokens x 2 bytes
    assert kv_cache_bytes(entry, 1000) == 8192 * 7 * 1000 * 2


def test_full_gpu_estimate_hand_computed() -> None:
    catalog = parse_catalog(small_catalog())
    hardware = gpu_machine("NVIDIA GeForce RTX 4060", 8 * GIB)
    bandwidth = memory_bandwidth(hardware, catalog, None)
    estimate = estimate_model(
        catalog.models[0], hardware, bandwidth, PlanSettings(), catalog.efficiency
    )
    assert estimate.weights_bytes == 4_700_000_000
    assert estimate.kv_cache_bytes == 939_524_096
    assert estimate.overhead_bytes == 563_952_409  # 10 % of weights + KV cache
    assert estimate.total_bytes == 6_203_476_505
    assert estimate.fit == "full_gpu"
    assert estimate.gpu_share == 1.0
    assert estimate.tokens_per_second == pytest.approx((31.83, 49.19), abs=0.01)
    assert estimate.fits_well


def test_partial_offload_estimate_hand_computed() -> None:
    catalog = parse_catalog(small_catalog())
    hardware = gpu_machine("NVIDIA GeForce RTX 4060", 4 * GIB)
    bandwidth = memory_bandwidth(hardware, catalog, None)
    estimate = estimate_model(
        catalog.models[0], hardware, bandwidth, PlanSettings(), catalog.efficiency
    )
    assert estimate.fit == "partial_offload"
    # usable GPU = 4 GiB - 512 MiB = 3,758,096,384 of 6,203,476,505 bytes
    assert estimate.gpu_share == pytest.approx(0.6058, abs=1e-4)
    # 4.7 GB x 0.6058 / 272 GB/s + 4.7 GB x 0.3942 / 60 GB/s = 0.04135 s per token
    assert estimate.tokens_per_second == pytest.approx((13.30, 20.56), abs=0.01)
    assert estimate.fits_well


def test_cpu_only_and_the_speed_floor() -> None:
    catalog = parse_catalog(small_catalog())
    hardware = Hardware(ram_total_bytes=32 * GB)
    bandwidth = memory_bandwidth(hardware, catalog, None)
    estimate = estimate_model(
        catalog.models[0], hardware, bandwidth, PlanSettings(), catalog.efficiency
    )
    assert estimate.fit == "cpu_only"
    assert estimate.tokens_per_second == pytest.approx((60 / 4.7 * 0.55, 60 / 4.7 * 0.85))
    assert not estimate.fits_well  # 7.0 tokens/s is below the default floor of 10
    relaxed = PlanSettings(min_tokens_per_second=5)
    again = estimate_model(catalog.models[0], hardware, bandwidth, relaxed, catalog.efficiency)
    assert again.fits_well


def test_does_not_fit_anywhere() -> None:
    catalog = parse_catalog(small_catalog())
    hardware = Hardware(ram_total_bytes=8 * GB)  # 8 GB - 2 GB headroom = 6.0 GB < 6.2 GB
    bandwidth = memory_bandwidth(hardware, catalog, None)
    estimate = estimate_model(
        catalog.models[0], hardware, bandwidth, PlanSettings(), catalog.efficiency
    )
    assert usable_ram_bytes(hardware) == 6 * GB
    assert estimate.fit == "does_not_fit"
    assert estimate.tokens_per_second is None
    assert not estimate.fits_well


def test_context_is_capped_at_the_model_maximum() -> None:
    catalog = parse_catalog(small_catalog(model(context_length=8192)))
    hardware = gpu_machine("NVIDIA GeForce RTX 4090", 24 * GIB)
    bandwidth = memory_bandwidth(hardware, catalog, None)
    estimate = estimate_model(
        catalog.models[0],
        hardware,
        bandwidth,
        PlanSettings(context_tokens=65536),
        catalog.efficiency,
    )
    assert estimate.context_tokens == 8192
    assert estimate.kv_cache_bytes == 939_524_096 // 2


def test_a_small_model_gets_the_minimum_overhead() -> None:
    catalog = parse_catalog(small_catalog(model(download_gb=0.4, kv=None, parameters_billions=0.5)))
    hardware = gpu_machine("NVIDIA GeForce RTX 4090", 24 * GIB)
    bandwidth = memory_bandwidth(hardware, catalog, None)
    estimate = estimate_model(
        catalog.models[0], hardware, bandwidth, PlanSettings(), catalog.efficiency
    )
    assert estimate.overhead_bytes == GB // 2


def test_usable_memory_rules() -> None:
    two_cards = Hardware(
        gpus=(Gpu("nvidia", "a", 24 * GIB), Gpu("nvidia", "b", 24 * GIB)),
        ram_total_bytes=100 * GB,
    )
    assert usable_gpu_bytes(two_cards) == 2 * (24 * GIB - 512 * 1024**2)
    assert usable_ram_bytes(two_cards) == 85 * GB  # 15 % headroom above 2 GB
    apple = Hardware(
        gpus=(Gpu("apple", "Apple M3 Pro", 24 * GIB),),
        ram_total_bytes=36 * GIB,
        unified_memory=True,
    )
    assert usable_gpu_bytes(apple) == 24 * GIB
    assert usable_ram_bytes(Hardware()) == 0


def test_unified_memory_offload_only_uses_what_the_gpu_share_leaves() -> None:
    apple = Hardware(
        gpus=(Gpu("apple", "Apple M3 Pro", 10 * GB),),
        ram_total_bytes=20 * GB,
        unified_memory=True,
    )
    # RAM after headroom: 20 - 3 = 17 GB, of which the GPU share takes 10 GB.
    assert classify_fit(16 * GB, apple)[0] == "partial_offload"
    assert classify_fit(18 * GB, apple)[0] == "does_not_fit"
    discrete = Hardware(gpus=(Gpu("nvidia", "x", 10 * GB),), ram_total_bytes=20 * GB)
    assert classify_fit(18 * GB, discrete)[0] == "partial_offload"


def test_bandwidth_sources() -> None:
    catalog = parse_catalog(small_catalog())
    two = Hardware(
        gpus=(Gpu("nvidia", "RTX 4090", GIB), Gpu("nvidia", "RTX 4060", GIB)),
        ram_total_bytes=GB,
    )
    assert memory_bandwidth(two, catalog, None).gpu == 272  # the slowest card paces a split
    unknown = gpu_machine("Some Future GPU", 8 * GIB)
    assert memory_bandwidth(unknown, catalog, None).gpu is None
    assert memory_bandwidth(unknown, catalog, 500).gpu == 500
    cpu = memory_bandwidth(Hardware(ram_total_bytes=GB), catalog, 90)
    assert (cpu.gpu, cpu.cpu, cpu.source) == (None, 90, "--bandwidth")


def test_unknown_gpu_bandwidth_gives_no_speed_but_full_gpu_still_fits_well() -> None:
    catalog = parse_catalog(small_catalog())
    hardware = gpu_machine("Some Future GPU", 8 * GIB)
    estimate = estimate_model(
        catalog.models[0],
        hardware,
        Bandwidth(gpu=None, cpu=60, source="test"),
        PlanSettings(),
        catalog.efficiency,
    )
    assert estimate.tokens_per_second is None
    assert estimate.fits_well


# --------------------------------------------------------------------------- ranking


def test_ranking_quality_first_among_good_fits_then_speed() -> None:
    catalog = parse_catalog(
        small_catalog(
            model(tag="big:180b", quality_tier=5, download_gb=100, parameters_billions=180),
            model(tag="dense:14b", quality_tier=3, download_gb=9, parameters_billions=14),
            model(
                tag="moe:30b",
                quality_tier=3,
                download_gb=12,
                parameters_billions=30,
                active_parameters_billions=3,
            ),
            model(tag="tiny:1b", quality_tier=1, download_gb=1, parameters_billions=1),
            model(tag="slow:22b", quality_tier=4, download_gb=20, parameters_billions=22),
        )
    )
    hardware = gpu_machine("NVIDIA GeForce RTX 4060", 16 * GIB, ram=64 * GB)
    result = recommend(catalog, hardware, PlanSettings(), frozenset({"tiny:1b", "moe:30b"}))
    order = [estimate.model.tag for estimate in result.estimates]
    # good fits: tier 3 (moe faster than dense), then tier 1; then partial offload (slow:22b is
    # below 10 tokens/s), then what does not fit at all
    assert order == ["moe:30b", "dense:14b", "tiny:1b", "slow:22b", "big:180b"]
    assert result.top is not None
    assert result.top.model.tag == "moe:30b"
    assert [e.installed for e in result.estimates] == [True, False, True, False, False]
    fits = {e.model.tag: e.fit for e in result.estimates}
    assert fits["slow:22b"] == "partial_offload"
    assert fits["big:180b"] == "does_not_fit"


def test_no_top_pick_when_nothing_fits_well() -> None:
    catalog = parse_catalog(small_catalog())
    result = recommend(catalog, Hardware(ram_total_bytes=4 * GB), PlanSettings())
    assert result.top is None
    assert result.estimates[0].fit == "does_not_fit"


def test_installed_names_match_latest_and_case() -> None:
    catalog = parse_catalog(small_catalog(model(tag="coder")))
    hardware = gpu_machine("NVIDIA GeForce RTX 4090", 24 * GIB)
    result = recommend(catalog, hardware, PlanSettings(), frozenset({"Coder:latest"}))
    assert result.estimates[0].installed


def test_real_catalog_on_a_24_gb_card_picks_a_fast_capable_model() -> None:
    hardware = gpu_machine("NVIDIA GeForce RTX 4090", 24564 * 1024**2, ram=64 * GIB)
    result = recommend(load_catalog(), hardware, PlanSettings())
    assert result.top is not None
    assert result.top.model.quality_tier >= 4
    assert result.top.fits_well
    tags = [estimate.model.tag for estimate in result.estimates]
    assert tags.index("qwen3-coder:480b") > tags.index("qwen2.5-coder:7b")


def test_real_catalog_cpu_only_with_8_gb_picks_a_small_model() -> None:
    result = recommend(load_catalog(), Hardware(ram_total_bytes=8 * GB), PlanSettings())
    assert result.top is not None
    assert result.top.fit == "cpu_only"
    assert result.top.total_bytes <= usable_ram_bytes(Hardware(ram_total_bytes=8 * GB))


# --------------------------------------------------------------------------- unsuitable models


def test_a_model_whose_maximum_context_is_below_the_plan_is_unsuitable_and_says_why() -> None:
    catalog = parse_catalog(
        small_catalog(model(tag="short:7b", context_length=8192), model(tag="long:7b"))
    )
    hardware = gpu_machine("NVIDIA GeForce RTX 4090", 24 * GIB)
    result = recommend(catalog, hardware, PlanSettings(context_tokens=32768))
    short = next(e for e in result.estimates if e.model.tag == "short:7b")
    assert not short.fits_well
    assert "8,192" in short.unsuitable and "32,768" in short.unsuitable
    assert result.top is not None and result.top.model.tag == "long:7b"
    assert result.estimates[-1] is short  # unsuitable models rank last


def test_a_completion_only_model_is_unsuitable_whatever_its_quality() -> None:
    catalog = parse_catalog(
        small_catalog(
            model(tag="base:7b", quality_tier=5, follows_instructions=False, note="base model"),
            model(tag="chat:7b", quality_tier=1),
        )
    )
    result = recommend(catalog, gpu_machine("RTX 4090", 24 * GIB), PlanSettings())
    base = next(e for e in result.estimates if e.model.tag == "base:7b")
    assert (base.fits_well, base.unsuitable) == (False, "base model")
    assert result.top is not None and result.top.model.tag == "chat:7b"


def test_no_pick_when_no_model_holds_the_context() -> None:
    catalog = load_catalog()
    result = recommend(catalog, gpu_machine("RTX 4090", 24 * GIB), PlanSettings(10**12))
    assert result.top is None
    assert all(estimate.unsuitable for estimate in result.estimates)
    assert result.largest_context == max(m.context_length for m in catalog.models)


def test_the_packaged_completion_models_are_marked() -> None:
    catalog = load_catalog()
    completion_only = {m.tag for m in catalog.models if not m.follows_instructions}
    assert {"codegemma:2b", "starcoder2:3b", "starcoder2:7b", "starcoder2:15b"} <= completion_only
    assert "qwen2.5-coder:7b" not in completion_only


def test_a_gpu_stated_only_by_its_memory_gets_a_typical_bandwidth_marked_assumed() -> None:
    catalog = load_catalog()
    planned = Hardware(gpus=(Gpu("planned", "planned GPU", 8 * GB),), ram_total_bytes=32 * GB)
    speeds = memory_bandwidth(planned, catalog, None)
    assert speeds.assumed and speeds.gpu is not None and speeds.gpu > 0
    assert "assumed" in speeds.source and "--bandwidth" in speeds.source
    bigger = Hardware(gpus=(Gpu("planned", "planned GPU", 24 * GB),), ram_total_bytes=32 * GB)
    assert memory_bandwidth(bigger, catalog, None).gpu != speeds.gpu
    stated = memory_bandwidth(planned, catalog, 500)
    assert (stated.gpu, stated.assumed) == (500, False)
    result = recommend(catalog, planned, PlanSettings())
    assert all(e.tokens_per_second is not None for e in result.estimates if e.fit != "does_not_fit")


def test_reasoning_models_list_their_think_values() -> None:
    catalog = load_catalog()
    gpt_oss = catalog.find("gpt-oss:20b")
    assert gpt_oss is not None and gpt_oss.thinks
    assert gpt_oss.think == ("on", "low", "medium", "high")  # no "off": it always reasons
    glm = catalog.find("glm-4.7-flash")
    assert glm is not None and glm.think == ("on", "off")
    coder = catalog.find("qwen2.5-coder:7b")
    assert coder is not None and not coder.thinks and coder.think == ()


def test_think_values_need_the_thinking_capability() -> None:
    with pytest.raises(ConfigError, match="think values only with"):
        parse_catalog(small_catalog(model(think=["on", "off"])))
    with pytest.raises(ConfigError, match="think value 'sometimes'"):
        parse_catalog(
            small_catalog(model(capabilities=["completion", "thinking"], think=["sometimes"]))
        )


def test_catalog_thinks_reads_the_fact_without_validating(tmp_path: Path) -> None:
    from route.local_models.catalog import catalog_thinks

    assert catalog_thinks("gpt-oss:20b") is True
    assert catalog_thinks("GLM-4.7-flash:latest") is True
    assert catalog_thinks("qwen2.5-coder:7b") is False
    assert catalog_thinks("my-own-finetune:3b") is None
    broken = tmp_path / "models.yaml"
    broken.write_text("models: [unclosed\n", encoding="utf-8")
    assert catalog_thinks("gpt-oss:20b", broken) is None
