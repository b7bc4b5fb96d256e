"""Where verify's output points: ``path:line`` locations in the files route wrote, and those lines
shown with a few around them, marked, with the error text (what a repair round shows the model).

Verify output is hostile input (the model's code printed part of it): it is only matched line by
line against the forms compilers, linters and test runners print, and a location counts only
when its path is one of the files route wrote. The forms:

- ``path:line[:col]: message`` (ruff's concise form, mypy, pyflakes, gcc, go, eslint's unix
  form, pytest's ``path:line: in func`` and ``path:line: AssertionError``);
- ``path(line,col): error TS…`` (tsc without ``--pretty``), ``path:line:col - error TS…`` (tsc);
- ``--> path:line:col`` under a header line holding the message (cargo, rustc, ruff's full form);
- Python tracebacks: ``File "path", line N, in func``, the message being the exception line that
  ends the traceback;
- eslint's stylish form: the path alone on a line, then ``  line:col  error  message  rule``.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from route.prompting.prompt import fenced

# How many locations a repair message shows, and lines of context on each side.
MAX_LOCATIONS = 5
CONTEXT_LINES = 3
# A message longer than this is cut (an assertion can print a whole object).
MAX_MESSAGE_CHARACTERS = 300

_PATH = r"[^\s:()\"'`<>|]+"
_COLON_FORM = re.compile(
    rf"^\s*(?:[A-Za-z]:)?(?P<path>{_PATH}):(?P<line>\d+)(?::(?P<column>\d+))?(?::|\s+-)\s*(?P<message>.*)$"
)
_TSC_PAREN_FORM = re.compile(
    rf"^\s*(?P<path>{_PATH})\((?P<line>\d+),(?P<column>\d+)\):\s*(?P<message>.*)$"
)
_ARROW_FORM = re.compile(rf"^\s*-->\s*(?P<path>{_PATH}):(?P<line>\d+)(?::(?P<column>\d+))?\s*$")
_TRACEBACK_FRAME = re.compile(r'^\s*File "(?P<path>[^"]+)", line (?P<line>\d+)(?:, in .*)?$')
_EXCEPTION_LINE = re.compile(
    r"^(?:E\s+)?(?P<name>[A-Za-z_][\w.]*(?:Error|Exception|Exit|Warning))\b.*$"
)
_BARE_EXCEPTION = re.compile(r"[A-Za-z_][\w.]*(?:Error|Exception)")
_STYLISH_ROW = re.compile(
    r"^\s+(?P<line>\d+):(?P<column>\d+)\s+(?:error|warning)\s+(?P<message>.+)$"
)
_STYLISH_PATH = re.compile(rf"^(?P<path>/?{_PATH}\.[A-Za-z0-9]+)\s*$")


@dataclass(frozen=True, slots=True)
class Location:
    """One place verify's output points to, in a file route wrote."""

    path: str  # relative to the project root, POSIX, as route wrote it
    line: int  # 1-based
    column: int | None
    message: str  # the error text ("" when the output gave none)

    @property
    def label(self) -> str:
        where = f"{self.path}:{self.line}" + (f":{self.column}" if self.column else "")
        return f"{where}: {self.message}" if self.message else where


def find_locations(output: str, written: Iterable[str], root: Path | None = None) -> tuple[
    Location, ...
]:  # fmt: skip
    """The locations in ``output`` that point into ``written`` files, in the order they appear,
    each (path, line) once. Paths printed absolute (under ``root``) or with ``./`` count too."""
    files = {posixpath.normpath(path): path for path in written}
    if not files:
        return ()
    lines = output.splitlines()
    found: list[Location] = []
    seen: set[tuple[str, int]] = set()
    for location in _scan(lines):
        path = _project_path(location.path, files, root)
        if path is None or location.line < 1 or (path, location.line) in seen:
            continue
        seen.add((path, location.line))
        message = _clip(location.message)
        found.append(Location(path, location.line, location.column, message))
    return tuple(found)


def _scan(lines: Sequence[str]) -> Iterable[Location]:
    """Every location-looking line of the output, with its raw path."""
    stylish_path: str | None = None
    for index, line in enumerate(lines):
        frame = _TRACEBACK_FRAME.match(line)
        if frame:
            yield Location(frame["path"], int(frame["line"]), None, _exception_after(lines, index))
            continue
        arrow = _ARROW_FORM.match(line)
        if arrow:
            yield Location(
                arrow["path"], int(arrow["line"]), _number(arrow["column"]), _header(lines, index)
            )
            continue
        stylish = _STYLISH_ROW.match(line)
        if stylish and stylish_path is not None:
            message = " ".join(stylish["message"].split())
            yield Location(stylish_path, int(stylish["line"]), _number(stylish["column"]), message)
            continue
        match = _TSC_PAREN_FORM.match(line) or _COLON_FORM.match(line)
        if match:
            message = match["message"].strip()
            if not message or message.startswith("in "):  # pytest: `path:12: in test_x`
                message = _exception_after(lines, index)
            elif _BARE_EXCEPTION.fullmatch(message):  # pytest: `path:12: AssertionError`
                message = _pytest_explanation(lines, index) or message
            yield Location(match["path"], int(match["line"]), _number(match["column"]), message)
            continue
        path_line = _STYLISH_PATH.match(line)
        stylish_path = path_line["path"] if path_line else (stylish_path if line.strip() else None)


def _number(text: str | None) -> int | None:
    return int(text) if text else None


def _header(lines: Sequence[str], index: int) -> str:
    """The message above an arrow line: the nearest non-blank line before it."""
    for line in reversed(lines[max(0, index - 3) : index]):
        if line.strip():
            return line.strip()
    return ""


def _exception_after(lines: Sequence[str], index: int) -> str:
    """The exception line that ends the traceback (or pytest report) holding line ``index``."""
    for line in lines[index + 1 : index + 60]:
        stripped = line.strip()
        if _TRACEBACK_FRAME.match(line) or stripped.startswith("Traceback "):
            continue
        match = _EXCEPTION_LINE.match(stripped)
        if match and (":" in stripped or stripped.endswith(match["name"])):
            return stripped[match.start("name") :]
    return ""


def _pytest_explanation(lines: Sequence[str], index: int) -> str:
    """The ``E   ...`` lines pytest prints just above ``path:12: AssertionError``."""
    explanation: list[str] = []
    for line in reversed(lines[max(0, index - 12) : index]):
        if not line.startswith("E "):
            if explanation or line.strip():
                break
            continue
        explanation.append(line[1:].strip())
    return " ".join(reversed(explanation[:6]))


def _clip(message: str) -> str:
    message = " ".join(message.split())
    if len(message) <= MAX_MESSAGE_CHARACTERS:
        return message
    return message[: MAX_MESSAGE_CHARACTERS - 1] + "…"


def _project_path(raw: str, files: dict[str, str], root: Path | None) -> str | None:
    """The written file ``raw`` names, or None. Absolute paths count when under ``root``."""
    candidate = raw.replace("\\", "/")
    if candidate.startswith("/"):
        if root is None:
            return None
        for base in {root.as_posix(), root.resolve().as_posix()}:
            prefix = base.rstrip("/") + "/"
            if candidate.startswith(prefix):
                candidate = candidate[len(prefix) :]
                break
        else:
            return None
    return files.get(posixpath.normpath(candidate))


# --------------------------------------------------------------------------- showing them


def render_locations(
    locations: Sequence[Location],
    texts: dict[str, str],
    *,
    context_lines: int = CONTEXT_LINES,
    max_locations: int = MAX_LOCATIONS,
) -> str:
    """Each location's lines with ``context_lines`` around them, numbered, the pointed line
    marked with ``>>``, under a line with the error text. ``texts`` maps paths to their current
    content; a location whose line is not in the file is shown by its label alone. Deterministic;
    "" when there are no locations."""
    blocks: list[str] = []
    for location in locations[:max_locations]:
        text = texts.get(location.path)
        lines = text.splitlines() if text is not None else []
        if not 1 <= location.line <= len(lines):
            blocks.append(f"{location.label}")
            continue
        first = max(1, location.line - context_lines)
        last = min(len(lines), location.line + context_lines)
        width = len(str(last))
        numbered = "\n".join(
            f"{'>>' if number == location.line else '  '} {number:>{width}} | {lines[number - 1]}"
            for number in range(first, last + 1)
        )
        blocks.append(f"{location.label}\n{fenced(numbered)}")
    more = len(locations) - max_locations
    if more > 0:
        blocks.append(f"({more} more location(s) in the output above.)")
    return "\n\n".join(blocks)


def numbered_file(text: str) -> str:
    """The whole file with line numbers (``  12 | code``), for a focused repair."""
    lines = text.splitlines()
    width = len(str(max(1, len(lines))))
    return "\n".join(f"{number:>{width}} | {line}" for number, line in enumerate(lines, 1))


def read_texts(paths: Iterable[str], root: Path) -> dict[str, str]:
    """The current text of each path under ``root`` that can be read as UTF-8 (others left out)."""
    texts: dict[str, str] = {}
    for path in paths:
        try:
            texts[path] = (root / path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
    return texts
