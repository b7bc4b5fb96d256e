"""Where a SEARCH text applies when it does not match the file character for character.

Small models copy the lines to change almost exactly: with the line numbers a focused round shows
(``  12 | code``), with their indentation shifted by a level, with trailing spaces dropped or
blank lines added around the block. Each of those is a clear intent, so each is tried, in order,
after the exact match fails, and accepted only where it picks out exactly one place in the file:

1. line numbers copied from the numbered view are removed (from REPLACE too, where every line
   has them);
2. lines are compared without trailing whitespace, and blank lines at either end of the SEARCH
   text are ignored;
3. lines are compared without their indentation, when the whole block is shifted by one amount:
   the REPLACE text is shifted by the same amount.

Anything looser (a changed word, a missing line) is still a failure: guessing which of two
similar places the model meant is how edits land in the wrong place.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

# ``  12 | code`` as route.prompting.locations.numbered_file writes it, and the common ``12: ``.
_NUMBERED = re.compile(r"^\s*\d+ ?(?:\| ?|: )")


@dataclass(frozen=True, slots=True)
class Tolerant:
    """A SEARCH text found by a tolerant match: the new text and how it was found."""

    text: str
    how: str


def tolerant_apply(current: str, search: str, replace: str) -> Tolerant | int:
    """The file with the edit applied by the first tolerant rule that finds exactly one place;
    else how many places the last rule tried found (0, or 2 for several)."""
    best = 0
    stripped = _without_numbers(search, replace)
    if stripped is not None:
        wanted, replacement = stripped
        count = current.count(wanted) if wanted else 0
        if count == 1:
            return Tolerant(current.replace(wanted, replacement, 1), "line numbers removed")
        best = max(best, min(count, 2))
        search, replace = wanted, replacement
    for rule in (_trailing_whitespace, _indentation):
        result = rule(current, search, replace)
        if isinstance(result, Tolerant):
            return result
        best = max(best, result)
    return best


def _without_numbers(search: str, replace: str) -> tuple[str, str] | None:
    """SEARCH (and REPLACE, where every line is numbered) without copied line numbers; None when
    not every non-blank SEARCH line starts with one."""
    lines = [line for line in search.splitlines() if line.strip()]
    if not lines or not all(_NUMBERED.match(line) for line in lines):
        return None
    replace_lines = [line for line in replace.splitlines() if line.strip()]
    numbered_replace = bool(replace_lines) and all(_NUMBERED.match(line) for line in replace_lines)
    return _strip_numbers(search), _strip_numbers(replace) if numbered_replace else replace


def _strip_numbers(text: str) -> str:
    return "".join(_NUMBERED.sub("", line, count=1) for line in text.splitlines(keepends=True))


def _trimmed(text: str, lead: int | None = None, trail: int | None = None) -> list[str]:
    """The lines of ``text`` (line ends dropped) without blank lines at either end: all of them,
    or at most ``lead`` and ``trail`` (the REPLACE text loses what its SEARCH text lost)."""
    lines = text.splitlines()
    start, end = 0, len(lines)
    while start < end and not lines[start].strip() and (lead is None or start < lead):
        start += 1
    while (
        end > start and not lines[end - 1].strip() and (trail is None or len(lines) - end < trail)
    ):
        end -= 1
    return lines[start:end]


def _core(search: str, replace: str) -> tuple[list[str], list[str]]:
    """SEARCH without blank lines at either end, and REPLACE without as many."""
    lines = search.splitlines()
    wanted = _trimmed(search)
    if not wanted:
        return [], []
    lead = next(index for index, line in enumerate(lines) if line.strip())
    trail = len(lines) - lead - len(wanted)
    return wanted, _trimmed(replace, lead, trail)


def _windows(current_lines: list[str], wanted: list[str], key: Callable[[str], str]) -> list[int]:
    """The start of every window of ``current_lines`` equal to ``wanted`` under ``key``."""
    keys = [key(line) for line in wanted]
    size = len(keys)
    first = keys[0]
    return [
        start
        for start in range(len(current_lines) - size + 1)
        if key(current_lines[start]) == first
        and all(key(current_lines[start + i]) == keys[i] for i in range(1, size))
    ]


def _splice(current_lines: list[str], start: int, size: int, replacement: list[str]) -> str:
    """The file with ``size`` lines from ``start`` replaced (line ends as the file has them)."""
    ending = "\r\n" if current_lines and current_lines[0].endswith("\r\n") else "\n"
    body = "".join(line + ending for line in replacement)
    last = current_lines[start + size - 1] if size else ""
    if size and not last.endswith(("\n", "\r")) and body.endswith(ending):
        body = body[: -len(ending)]  # the file ended without a line end there: keep it so
    return "".join(current_lines[:start]) + body + "".join(current_lines[start + size :])


def _trailing_whitespace(current: str, search: str, replace: str) -> Tolerant | int:
    wanted, replacement = _core(search, replace)
    if not wanted:
        return 0
    lines = current.splitlines(keepends=True)
    found = _windows(lines, wanted, str.rstrip)
    if len(found) != 1:
        return min(len(found), 2)
    text = _splice(lines, found[0], len(wanted), replacement)
    return Tolerant(text, "trailing whitespace or blank lines ignored")


def _indentation(current: str, search: str, replace: str) -> Tolerant | int:
    wanted, replacement = _core(search, replace)
    if not wanted:
        return 0
    lines = current.splitlines(keepends=True)
    found = [
        start
        for start in _windows(lines, wanted, str.strip)
        if _shift(lines[start : start + len(wanted)], wanted) is not None
    ]
    if len(found) != 1:
        return min(len(found), 2)
    start = found[0]
    shift = _shift(lines[start : start + len(wanted)], wanted)
    assert shift is not None
    added, removed = shift
    shifted = [_reindent(line, added, removed) for line in replacement]
    text = _splice(lines, start, len(wanted), shifted)
    return Tolerant(text, "indentation shifted to the file's")


def _shift(file_lines: list[str], wanted: list[str]) -> tuple[str, str] | None:
    """(prefix to add, prefix to remove) that turns every non-blank SEARCH line into the file's,
    when one such shift exists for the whole block."""
    shift: tuple[str, str] | None = None
    for raw_have, raw_want in zip(file_lines, wanted, strict=True):
        have, want = raw_have.rstrip(), raw_want.rstrip()
        if not have.strip():
            continue
        have_indent = have[: len(have) - len(have.lstrip())]
        want_indent = want[: len(want) - len(want.lstrip())]
        if have_indent.startswith(want_indent):
            pair = (have_indent[len(want_indent) :], "")
        elif want_indent.startswith(have_indent):
            pair = ("", want_indent[len(have_indent) :])
        else:
            return None
        if shift is None:
            shift = pair
        elif shift != pair:
            return None
    return shift


def _reindent(line: str, added: str, removed: str) -> str:
    if not line.strip():
        return ""
    if removed and line.startswith(removed):
        line = line[len(removed) :]
    return added + line
