"""Tolerant SEARCH matching: what a small model copies almost exactly still applies, in exactly
one place, and nothing looser does."""

from __future__ import annotations

from pathlib import Path

import pytest

from route.prompting.locations import numbered_file
from route.safety.edit_match import Tolerant, tolerant_apply
from route.safety.writer import plan_writes
from route.values import EditBlock, ParsedAnswer

FILE = (
    "import re\n"
    "\n"
    "\n"
    "def slugify(text: str) -> str:\n"
    "    text = text.lower()\n"
    "    return re.sub(r'[^a-z0-9]+', '-', text)\n"
    "\n"
    "\n"
    "def other() -> int:\n"
    "    return 1\n"
)


def applied(current: str, search: str, replace: str) -> str:
    result = tolerant_apply(current, search, replace)
    assert isinstance(result, Tolerant), result
    return result.text


def test_line_numbers_copied_from_the_numbered_view_are_removed() -> None:
    numbered = numbered_file(FILE).splitlines()
    search = "\n".join(numbered[5:6]) + "\n"  # "  6 | return re.sub(...)"
    assert search.lstrip().startswith("6 |")
    replace = "    return re.sub(r'[^a-z0-9]+', '-', text).strip('-')\n"
    assert applied(FILE, search, replace) == FILE.replace("'-', text)\n", "'-', text).strip('-')\n")


def test_line_numbers_in_replace_are_removed_when_every_line_has_one() -> None:
    search = " 5 |     text = text.lower()\n"
    replace = " 5 |     text = text.strip().lower()\n"
    assert "text = text.strip().lower()\n" in applied(FILE, search, replace)
    assert "|" not in applied(FILE, search, replace)


def test_a_number_on_only_some_lines_is_code_not_a_copied_number() -> None:
    current = "values = [\n    1,\n    2: x\n]\n"
    # "2: x" looks numbered but the other line is not: no rule strips, nothing matches.
    assert tolerant_apply(current, "values = {\n2: y\n", "z\n") == 0


def test_trailing_whitespace_and_blank_lines_around_the_search_are_ignored() -> None:
    search = "\n    text = text.lower()   \n\n"
    replace = "\n    text = text.casefold()\n\n"
    assert applied(FILE, search, replace) == FILE.replace("text.lower()", "text.casefold()")


def test_a_block_shifted_left_is_matched_and_the_replacement_shifted_back() -> None:
    search = "text = text.lower()\nreturn re.sub(r'[^a-z0-9]+', '-', text)\n"
    replace = (
        "text = text.lower()\nif not text:\n    return ''\n"
        "return re.sub(r'[^a-z0-9]+', '-', text)\n"
    )
    result = applied(FILE, search, replace)
    assert (
        "    text = text.lower()\n    if not text:\n        return ''\n    return re.sub" in result
    )
    assert result.startswith("import re\n") and result.endswith(
        "def other() -> int:\n    return 1\n"
    )


def test_a_block_shifted_right_is_matched_too() -> None:
    search = "        def other() -> int:\n            return 1\n"
    replace = "        def other() -> int:\n            return 2\n"
    assert applied(FILE, search, replace).endswith("def other() -> int:\n    return 2\n")


def test_an_uneven_shift_is_not_a_match() -> None:
    search = "text = text.lower()\n        return re.sub(r'[^a-z0-9]+', '-', text)\n"
    assert tolerant_apply(FILE, search, "x\n") == 0


def test_two_places_that_match_once_whitespace_is_ignored_are_reported_as_several() -> None:
    current = "def a():\n    return 1\n\n\ndef b():\n        return 1\n"
    assert tolerant_apply(current, "return 1\n", "return 2\n") == 2


def test_a_changed_word_still_fails() -> None:
    assert tolerant_apply(FILE, "    text = text.upper()\n", "x\n") == 0


def test_deleting_lines_leaves_no_blank_line_behind() -> None:
    assert applied(FILE, "  text = text.lower()\n", "") == FILE.replace(
        "    text = text.lower()\n", ""
    )


def test_crlf_files_keep_their_line_ends() -> None:
    current = FILE.replace("\n", "\r\n")
    result = applied(current, "text = text.lower()\n", "text = text.casefold()\n")
    assert result == current.replace("text.lower()", "text.casefold()")


def test_a_file_without_a_final_newline_keeps_it_so() -> None:
    current = "a = 1\nb = 2"
    assert applied(current, "  b = 2  \n", "b = 3\n") == "a = 1\nb = 3"


def test_an_empty_or_blank_search_is_never_tolerated() -> None:
    assert tolerant_apply(FILE, "\n\n", "x\n") == 0


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'demo'\n", encoding="utf-8")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "slug.py").write_text(FILE, encoding="utf-8")
    return tmp_path


def test_the_writer_applies_a_numbered_search_from_a_focused_round(project: Path) -> None:
    answer = ParsedAnswer(
        edits=(
            EditBlock(
                "app/slug.py",
                " 5 |     text = text.lower()\n",
                "    text = text.lower().strip()\n",
            ),
        )
    )
    plan = plan_writes(answer, project, modifiable=("app/slug.py",))
    assert plan.failures == ()
    assert (
        plan.changes[0].after == FILE.replace("text.lower()\n", "text.lower().strip()\n").encode()
    )


def test_the_writer_says_when_a_tolerant_match_is_ambiguous(project: Path) -> None:
    (project / "app" / "two.py").write_text("x = 1\nif x:\n        x = 1\n", encoding="utf-8")
    answer = ParsedAnswer(edits=(EditBlock("app/two.py", "            x = 1\n", "x = 2\n"),))
    plan = plan_writes(answer, project, modifiable=("app/two.py",))
    assert not plan.applicable
    assert "matches several places once whitespace is ignored" in plan.failures[0]
