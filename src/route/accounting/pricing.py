"""Cloud prices and the savings model: dated price data in, cost figures out.

Prices come from ``route/data/prices.yaml`` (dated, per million tokens) plus the user's ``prices``
overrides from config. Cloud token counts for text the local model read and wrote are estimates
from characters (each tokenizer family has a characters-per-token figure); every figure this
module returns is labelled as an estimate.
"""

from __future__ import annotations

import difflib
import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from route.errors import ConfigError, UnknownCloudModel
from route.values import CostReport

PRICE_KEYS = ("input", "output", "cache_write", "cache_read")
OVERRIDE_KEYS = frozenset((*PRICE_KEYS, "tokenizer", "chars_per_token"))
TOKENS_PER_MILLION = 1_000_000
JOULES_PER_KILOWATT_HOUR = 3.6e6


@dataclass(frozen=True, slots=True)
class Price:
    """One cloud model's prices in USD per million tokens and how to estimate its tokens."""

    model: str
    input: float
    output: float
    cache_write: float
    cache_read: float
    tokenizer_family: str
    chars_per_token: float
    source: str  # "package 2026-11-01" or "config"

    def tokens(self, characters: int) -> int:
        """Estimated tokens of ``characters`` characters of text (rounded up)."""
        if characters <= 0:
            return 0
        return math.ceil(characters / self.chars_per_token)

    def dollars(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input + output_tokens * self.output) / TOKENS_PER_MILLION


@dataclass(frozen=True, slots=True)
class PriceTable:
    date: str  # date of the package price data
    prices: Mapping[str, Price]
    source: str = ""  # where the package figures come from
    note: str = ""

    def get(self, model: str) -> Price:
        """The price of ``model``; ``UnknownCloudModel`` (listing the known ids) if there is none.

        Matching forgives case, dots for dashes (``claude-sonnet-4.5``) and a provider prefix
        (``anthropic/claude-sonnet-4-5``)."""
        found = self.prices.get(model)
        if found is not None:
            return found
        wanted = _normalise(model)
        matches = [key for key in self.prices if _normalise(key) == wanted]
        if len(matches) == 1:
            return self.prices[matches[0]]
        raise UnknownCloudModel(self._unknown_message(model))

    def _unknown_message(self, model: str) -> str:
        known = sorted(self.prices)
        close = difflib.get_close_matches(model.lower(), known, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return (
            f"no price is known for cloud model {model!r}{hint}; known models: "
            f"{', '.join(known)} — pick one with --cloud-model or add its prices under `prices:` "
            f"in route.yaml (input, output, cache_write, cache_read per million tokens, tokenizer)"
        )


def _normalise(model: str) -> str:
    name = model.strip().lower().rsplit("/", 1)[-1]
    return name.replace(".", "-").replace("_", "-")


# --------------------------------------------------------------------------- loading


def load_prices(overrides: Mapping[str, Mapping[str, object]] | None = None) -> PriceTable:
    """The package price table with config ``overrides`` applied.

    An override replaces the named fields of a known model (``{"claude-sonnet-5": {"input": 3}}``)
    or adds a new model, which then needs ``input``, ``output`` and ``tokenizer`` (a family name)
    or ``chars_per_token``; cache prices default to the input price (no cache discount)."""
    data = _read_package_data()
    families = _families(data.get("tokenizer_families"))
    date = str(data.get("date", "unknown"))
    package_source = f"package {date}"
    prices: dict[str, Price] = {}
    models = data.get("models")
    if not isinstance(models, Mapping):
        raise ConfigError("route's prices.yaml has no `models` mapping — reinstall route")
    for model, entry in models.items():
        prices[str(model)] = _package_entry(str(model), entry, families, package_source)
    for model, entry in (overrides or {}).items():
        prices[model] = _override_entry(model, entry, prices.get(model), families)
    return PriceTable(
        date=date,
        prices=dict(sorted(prices.items())),
        source=str(data.get("source", "")).strip(),
        note=str(data.get("note", "")).strip(),
    )


@functools.cache
def _read_package_data() -> dict[str, Any]:
    """The parsed prices.yaml, read once per process (callers only read it)."""
    from route.settings.locations import PACKAGE_DATA
    from route.yamlio import load_yaml

    text = (PACKAGE_DATA / "prices.yaml").read_text(encoding="utf-8")
    data = load_yaml(text)
    if not isinstance(data, dict):
        raise ConfigError("route's prices.yaml is not a mapping — reinstall route")
    return data


def _families(raw: object) -> dict[str, float]:
    if not isinstance(raw, Mapping):
        raise ConfigError("route's prices.yaml has no `tokenizer_families` — reinstall route")
    families: dict[str, float] = {}
    for name, entry in raw.items():
        value = entry.get("chars_per_token") if isinstance(entry, Mapping) else None
        families[str(name)] = _positive_number(
            value, f"tokenizer family {name!r}", "chars_per_token"
        )
    return families


def _package_entry(model: str, entry: object, families: Mapping[str, float], source: str) -> Price:
    if not isinstance(entry, Mapping):
        raise ConfigError(f"route's prices.yaml entry {model!r} is not a mapping — reinstall route")
    return _build(model, dict(entry), None, families, source=source, where="route's prices.yaml")


def _override_entry(
    model: str, entry: object, base: Price | None, families: Mapping[str, float]
) -> Price:
    where = f"config `prices.{model}`"
    if not isinstance(entry, Mapping):
        raise ConfigError(
            f"{where} must be a mapping of input, output, cache_write, cache_read, tokenizer"
        )
    for key in entry:
        if key not in OVERRIDE_KEYS:
            raise ConfigError(
                f"{where}: unknown key {key!r} — use one of {', '.join(sorted(OVERRIDE_KEYS))}"
            )
    return _build(model, dict(entry), base, families, source="config", where=where)


def _build(
    model: str,
    entry: dict[str, object],
    base: Price | None,
    families: Mapping[str, float],
    *,
    source: str,
    where: str,
) -> Price:
    """A Price from ``entry`` laid over ``base`` (the package entry a config override replaces)."""
    figures: dict[str, float] = {}
    for key in ("input", "output"):
        if key in entry:
            figures[key] = _non_negative(entry[key], where, key)
        elif base is not None:
            figures[key] = getattr(base, key)
        else:
            raise ConfigError(f"{where}: missing {key!r} (USD per million tokens)")
    for key in ("cache_write", "cache_read"):
        if key in entry:
            figures[key] = _non_negative(entry[key], where, key)
        elif base is not None:
            figures[key] = getattr(base, key)
        else:
            figures[key] = figures["input"]
    family, chars_per_token = _tokenizer(entry, base, families, where)
    return Price(
        model=model,
        input=figures["input"],
        output=figures["output"],
        cache_write=figures["cache_write"],
        cache_read=figures["cache_read"],
        tokenizer_family=family,
        chars_per_token=chars_per_token,
        source=source,
    )


def _tokenizer(
    entry: Mapping[str, object], base: Price | None, families: Mapping[str, float], where: str
) -> tuple[str, float]:
    family_value = entry.get("tokenizer")
    if family_value is not None:
        family = str(family_value)
        if family not in families:
            raise ConfigError(
                f"{where}: unknown tokenizer {family!r} — use one of {', '.join(families)} "
                f"or give chars_per_token"
            )
        chars_per_token = families[family]
    elif base is not None:
        family, chars_per_token = base.tokenizer_family, base.chars_per_token
    elif "chars_per_token" in entry:
        family, chars_per_token = "custom", 0.0
    else:
        raise ConfigError(
            f"{where}: missing 'tokenizer' — use one of {', '.join(families)} "
            f"or give chars_per_token"
        )
    if "chars_per_token" in entry:
        chars_per_token = _positive_number(entry["chars_per_token"], where, "chars_per_token")
    return family, chars_per_token


def _non_negative(value: object, where: str, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{where}: {key!r} must be a number of USD per million tokens")
    if value < 0:
        raise ConfigError(f"{where}: {key!r} is negative ({value}) — prices must be 0 or more")
    return float(value)


def _positive_number(value: object, where: str, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ConfigError(f"{where}: {key!r} must be a number above 0")
    return float(value)


# --------------------------------------------------------------------------- the savings model


def estimate_cost(
    *,
    price: Price,
    prices_date: str,
    prompt_characters: int,
    output_characters: int,
    handoff_input_characters: int,
    handoff_output_characters: int,
    succeeded: bool,
    generation_seconds: float = 0.0,
    power_watts: float | None = None,
    price_per_kwh: float | None = None,
) -> CostReport:
    """What one run saved against the cloud model doing the work itself (all estimates).

    Without routing the cloud model reads the prompt and writes the output. With routing it
    reads the summary and writes the command (the hand-off), and the local machine spends energy
    (only when ``power_watts`` and ``price_per_kwh`` are both given). A run that did not succeed
    avoided nothing: its work goes back to the cloud model, so its net saving is minus the
    hand-off and energy cost."""
    cloud_input = price.tokens(prompt_characters)
    cloud_output = price.tokens(output_characters)
    cloud_only = price.dollars(cloud_input, cloud_output)
    handoff_input = price.tokens(handoff_input_characters)
    handoff_output = price.tokens(handoff_output_characters)
    handoff = price.dollars(handoff_input, handoff_output)
    energy = energy_dollars(generation_seconds, power_watts, price_per_kwh)
    avoided = cloud_only if succeeded else 0.0
    net = avoided - handoff - energy
    percent = 100.0 * net / cloud_only if cloud_only > 0 else 0.0
    origin = "prices from config" if price.source == "config" else f"prices of {prices_date}"
    notes = [
        f"estimates: cloud tokens = characters / {price.chars_per_token:g} "
        f"({price.tokenizer_family} tokenizer family), {origin}",
    ]
    if not succeeded:
        notes.append(
            "the run did not succeed, so the work goes back to the cloud model: nothing was "
            "avoided and the net saving is minus the hand-off and energy cost"
        )
    if power_watts is None or price_per_kwh is None:
        notes.append("local energy not counted (set power_watts and price_per_kwh in config)")
    return CostReport(
        cloud_model=price.model,
        prices_date=prices_date,
        tokenizer_family=price.tokenizer_family,
        cloud_input_tokens_estimate=cloud_input,
        cloud_output_tokens_estimate=cloud_output,
        cloud_only_dollars=cloud_only,
        handoff_input_tokens_estimate=handoff_input,
        handoff_output_tokens_estimate=handoff_output,
        handoff_dollars=handoff,
        local_energy_dollars=energy,
        net_saving_dollars=net,
        net_saving_percent=percent,
        notes=tuple(notes),
    )


def energy_dollars(
    generation_seconds: float, power_watts: float | None, price_per_kwh: float | None
) -> float:
    """Watts x seconds in kWh x price; 0 unless both settings are configured."""
    if power_watts is None or price_per_kwh is None or generation_seconds <= 0:
        return 0.0
    return power_watts * generation_seconds / JOULES_PER_KILOWATT_HOUR * price_per_kwh
