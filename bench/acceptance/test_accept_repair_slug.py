"""Acceptance (hidden from the model): slugify in app/schemas/slug.py, as the project's own
tests/test_slug.py (which verify runs) specifies it."""

from __future__ import annotations

from app.schemas.slug import slugify


def test_the_projects_own_examples() -> None:
    assert slugify("Hello, World!") == "hello-world"
    assert slugify("  Many   spaces -- and   dashes  ") == "many-spaces-and-dashes"
    assert slugify("!!!") == ""


def test_digits_stay() -> None:
    assert slugify("Release 2.0 notes") == "release-2-0-notes"
