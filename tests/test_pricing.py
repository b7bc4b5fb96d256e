"""Prices data, config overrides, lookups and the savings model, against hand-computed figures."""

from __future__ import annotations

import pytest

from route.accounting.pricing import Price, energy_dollars, estimate_cost, load_prices
from route.errors import EXIT_USAGE, ConfigError, UnknownCloudModel

REFERENCE_MODELS = {
    # model: (input, output, cache_read, tokenizer family) from shared/reference/prices.md
    "claude-opus-5": (5, 25, 0.50, "claude-new"),
    "claude-opus-4-8": (5, 25, 0.50, "claude-new"),
    "claude-opus-4-7": (5, 25, 0.50, "claude-new"),
    "claude-opus-4-6": (5, 25, 0.50, "claude"),
    "claude-opus-4-5": (5, 25, 0.50, "claude"),
    "claude-opus-4-1": (15, 75, 1.50, "claude"),
    "claude-opus-4": (15, 75, 1.50, "claude"),
    "claude-sonnet-5": (2, 10, 0.20, "claude-new"),
    "claude-sonnet-4-6": (3, 15, 0.30, "claude"),
    "claude-sonnet-4-5": (3, 15, 0.30, "claude"),
    "claude-sonnet-4": (3, 15, 0.30, "claude"),
    "claude-haiku-4-5": (1, 5, 0.10, "claude"),
    "claude-3-5-haiku": (0.80, 4, 0.08, "claude"),
    "gpt-5": (1.25, 10, 0.125, "openai"),
    "gpt-5.1": (1.25, 10, 0.125, "openai"),
    "gpt-5.2": (1.75, 14, 0.175, "openai"),
    "gpt-5.4": (2.50, 15, 0.25, "openai"),
    "gpt-5.5": (5, 30, 0.50, "openai"),
    "gpt-5-mini": (0.25, 2, 0.025, "openai"),
    "gpt-4.1": (2, 8, 0.50, "openai"),
    "gemini-2.5-pro": (1.25, 10, 0.125, "gemini"),
    "gemini-2.5-flash": (0.30, 2.50, 0.03, "gemini"),
    "gemini-3-pro": (2, 12, 0.20, "gemini"),
    "gemini-3.1-pro": (2, 12, 0.20, "gemini"),
    "gemini-3-flash": (0.50, 3, 0.05, "gemini"),
}
CHARS_PER_TOKEN = {"claude": 3.0, "claude-new": 2.2, "openai": 4.0, "gemini": 4.0}


def test_package_table_is_dated_and_covers_every_reference_model() -> None:
    table = load_prices()
    assert table.date == "2026-11-01"
    # Where the figures come from, as a reader can follow it: URLs and document names, never a
    # path inside route's own development tree.
    assert "https://www.anthropic.com/pricing" in table.source
    assert "litellm" in table.source
    assert "../" not in table.source and ".md" not in table.source
    assert "Sonnet 5" in table.note
    for model, (input_price, output_price, cache_read, family) in REFERENCE_MODELS.items():
        price = table.get(model)
        assert (price.input, price.output, price.cache_read) == (
            input_price,
            output_price,
            cache_read,
        ), model
        assert price.tokenizer_family == family, model
        assert price.chars_per_token == CHARS_PER_TOKEN[family], model
        assert price.source == "package 2026-11-01"


def test_anthropic_cache_write_is_the_five_minute_price() -> None:
    table = load_prices()
    assert table.get("claude-sonnet-4-5").cache_write == 3.75
    assert table.get("claude-opus-4-1").cache_write == 18.75
    assert table.get("gpt-5").cache_write == table.get("gpt-5").input


def test_override_replaces_only_the_fields_it_names() -> None:
    table = load_prices({"claude-sonnet-5": {"input": 3, "output": 15}})
    price = table.get("claude-sonnet-5")
    assert (price.input, price.output) == (3.0, 15.0)
    assert price.cache_read == 0.20  # kept from the package entry
    assert price.tokenizer_family == "claude-new"
    assert price.source == "config"
    assert table.get("claude-sonnet-4-5").source == "package 2026-11-01"


def test_override_adds_a_new_model() -> None:
    table = load_prices(
        {"my-gateway-model": {"input": 0.5, "output": 1.5, "tokenizer": "openai"}},
    )
    price = table.get("my-gateway-model")
    assert price == Price(
        model="my-gateway-model",
        input=0.5,
        output=1.5,
        cache_write=0.5,
        cache_read=0.5,
        tokenizer_family="openai",
        chars_per_token=4.0,
        source="config",
    )


def test_override_may_give_chars_per_token_instead_of_a_family() -> None:
    price = load_prices({"odd": {"input": 1, "output": 2, "chars_per_token": 3.5}}).get("odd")
    assert price.chars_per_token == 3.5
    assert price.tokenizer_family == "custom"


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ({"input": 1, "output": 2, "tokenizer": "openai", "outptu": 3}, ["odd", "outptu"]),
        ({"input": -1, "output": 2, "tokenizer": "openai"}, ["odd", "input", "negative"]),
        ({"input": 1, "output": "cheap", "tokenizer": "openai"}, ["odd", "output"]),
        ({"input": True, "output": 2, "tokenizer": "openai"}, ["odd", "input"]),
        ({"input": 1, "tokenizer": "openai"}, ["odd", "output", "missing"]),
        ({"input": 1, "output": 2}, ["odd", "tokenizer"]),
        ({"input": 1, "output": 2, "tokenizer": "klingon"}, ["odd", "klingon"]),
        ({"input": 1, "output": 2, "chars_per_token": 0}, ["odd", "chars_per_token"]),
    ],
)
def test_invalid_override_is_a_config_error_naming_model_and_key(
    entry: dict[str, object], words: list[str]
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_prices({"odd": entry})
    for word in words:
        assert word in str(caught.value)


def test_override_that_is_not_a_mapping_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"prices\.gpt-5"):
        load_prices({"gpt-5": 3})  # type: ignore[dict-item]


def test_unknown_cloud_model_lists_known_models_and_suggests_a_close_one() -> None:
    table = load_prices()
    with pytest.raises(UnknownCloudModel) as caught:
        table.get("claude-sonet-4-5")
    message = str(caught.value)
    assert "did you mean 'claude-sonnet-4-5'" in message
    assert "gpt-5-mini" in message
    assert "gemini-3-flash" in message
    assert "--cloud-model" in message
    assert caught.value.exit_code == EXIT_USAGE


def test_unknown_cloud_model_without_a_close_match_still_lists_the_known_ones() -> None:
    with pytest.raises(UnknownCloudModel) as caught:
        load_prices().get("zzzz")
    assert "did you mean" not in str(caught.value)
    assert "claude-opus-5" in str(caught.value)


@pytest.mark.parametrize(
    ("written", "model"),
    [
        ("Claude-Sonnet-4-5", "claude-sonnet-4-5"),
        ("claude-opus-4.7", "claude-opus-4-7"),
        ("anthropic/claude-haiku-4-5", "claude-haiku-4-5"),
        ("openai/gpt-5.1", "gpt-5.1"),
    ],
)
def test_lookup_forgives_case_dots_and_provider_prefixes(written: str, model: str) -> None:
    assert load_prices().get(written).model == model


SONNET = Price(
    model="claude-sonnet-4-5",
    input=3.0,
    output=15.0,
    cache_write=3.75,
    cache_read=0.30,
    tokenizer_family="claude",
    chars_per_token=3.0,
    source="package 2026-11-01",
)


def test_successful_run_saves_cloud_cost_minus_hand_off() -> None:
    report = estimate_cost(
        price=SONNET,
        prices_date="2026-11-01",
        prompt_characters=3000,  # 1000 tokens x $3/M = 0.003
        output_characters=6000,  # 2000 tokens x $15/M = 0.030
        handoff_input_characters=300,  # 100 tokens x $3/M = 0.0003
        handoff_output_characters=150,  # 50 tokens x $15/M = 0.00075
        succeeded=True,
    )
    assert report.cloud_input_tokens_estimate == 1000
    assert report.cloud_output_tokens_estimate == 2000
    assert report.cloud_only_dollars == pytest.approx(0.033)
    assert report.handoff_input_tokens_estimate == 100
    assert report.handoff_output_tokens_estimate == 50
    assert report.handoff_dollars == pytest.approx(0.00105)
    assert report.local_energy_dollars == 0.0
    assert report.net_saving_dollars == pytest.approx(0.03195)
    assert report.net_saving_percent == pytest.approx(100 * 0.03195 / 0.033)
    assert report.cloud_model == "claude-sonnet-4-5"
    assert report.prices_date == "2026-11-01"
    assert any("estimate" in note for note in report.notes)
    assert any("energy not counted" in note for note in report.notes)


def test_failed_run_saves_nothing_and_costs_the_hand_off_and_energy() -> None:
    report = estimate_cost(
        price=SONNET,
        prices_date="2026-11-01",
        prompt_characters=3000,
        output_characters=6000,
        handoff_input_characters=300,
        handoff_output_characters=150,
        succeeded=False,
        generation_seconds=36.0,
        power_watts=100.0,  # 100 W x 36 s = 0.001 kWh
        price_per_kwh=0.5,  # -> $0.0005
    )
    assert report.local_energy_dollars == pytest.approx(0.0005)
    assert report.net_saving_dollars == pytest.approx(-(0.00105 + 0.0005))
    assert report.net_saving_percent == pytest.approx(-100 * 0.00155 / 0.033)
    assert any("did not succeed" in note for note in report.notes)
    assert not any("energy not counted" in note for note in report.notes)


def test_token_estimates_round_up_and_empty_text_costs_nothing() -> None:
    report = estimate_cost(
        price=SONNET,
        prices_date="d",
        prompt_characters=1,
        output_characters=4,
        handoff_input_characters=0,
        handoff_output_characters=0,
        succeeded=True,
    )
    assert report.cloud_input_tokens_estimate == 1
    assert report.cloud_output_tokens_estimate == 2
    empty = estimate_cost(
        price=SONNET,
        prices_date="d",
        prompt_characters=0,
        output_characters=0,
        handoff_input_characters=0,
        handoff_output_characters=0,
        succeeded=True,
    )
    assert empty.cloud_only_dollars == 0.0
    assert empty.net_saving_percent == 0.0


def test_new_tokenizer_family_estimates_more_tokens_for_the_same_text() -> None:
    table = load_prices()
    old = table.get("claude-opus-4-6").tokens(2200)
    new = table.get("claude-opus-4-7").tokens(2200)
    assert (old, new) == (734, 1000)


def test_energy_needs_both_settings() -> None:
    assert energy_dollars(3600.0, 1000.0, None) == 0.0
    assert energy_dollars(3600.0, None, 0.3) == 0.0
    assert energy_dollars(3600.0, 1000.0, 0.3) == pytest.approx(0.3)
