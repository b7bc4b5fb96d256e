"""YAML reading with libyaml's C parser when PyYAML has it (about 8 times faster than the pure
Python one on route's data files), else PyYAML's own safe loader. Same errors either way:
``yaml.YAMLError``."""

from __future__ import annotations

from typing import Any


def load_yaml(text: str) -> Any:
    """Parse one YAML document safely (no arbitrary objects), like ``yaml.safe_load``."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(text, Loader=loader)
