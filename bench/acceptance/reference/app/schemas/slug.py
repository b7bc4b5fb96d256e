"""URL slugs from titles."""

from __future__ import annotations

import re


def slugify(text: str) -> str:
    """Lower-case ASCII words of ``text`` joined by single dashes."""
    words = re.findall(r"[a-z0-9]+", text.lower())
    return "-".join(words)
