"""The project's own tests of app/schemas/slug.py (in the project before the task runs)."""

from __future__ import annotations

from app.schemas.slug import slugify


def test_words_joined_by_single_dashes() -> None:
    assert slugify("Hello, World!") == "hello-world"
    assert slugify("  Many   spaces -- and   dashes  ") == "many-spaces-and-dashes"


def test_only_ascii_letters_and_digits_survive() -> None:
    assert slugify("Café 2024 — Ünïcode") == "caf-2024-n-code"
    assert slugify("!!!") == ""
