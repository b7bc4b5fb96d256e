"""Model answer text -> ``ParsedAnswer``: whole files and SEARCH/REPLACE edits, prose dropped.

The format the prompt asks for is a line holding only the relative path, then a fenced code
block with the whole file; or, for an existing file, the path line and a fence holding one or
more SEARCH/REPLACE blocks::

    src/app/models.py
    ```python
    <<<<<<< SEARCH
    exact existing lines
    =======
    replacement lines
    >>>>>>> REPLACE
    ```

Accepted variants, because models drift from any format:

- the path line decorated: `` `path` ``, ``### path``, ``**path**``, ``path:``, ``File: path``,
  ``- path`` (and combinations such as ``### File: `path` ``); or, failing that, one backticked
  path with a ``/`` or a common source extension in the sentence just before the fence
  ("Here is `src/app.py`:"); a path line may sit up to two prose lines above the fence;
- a path in the fence's info string: ```` ```python src/x.py ````, ```` ```src/x.py ````,
  ```` ```python:src/x.py ````, ```` ```python title="src/x.py" ````;
- a first line inside the block naming the file: ``# file: path``, ``// file: path``,
  ``<!-- file: path -->`` (any common comment syntax, with or without the ``file:`` label);
- SEARCH/REPLACE blocks outside any fence, several blocks in one fence, a path line inside the
  fence before a block, and later blocks without a path reusing the previous edit's path.

Where several sources name a path, the most specific wins: info string, then a labelled
first-line marker (``# file: x``), then the line before the fence, then a bare first-line path
comment (``# src/x.py``). The first line is *removed* from the content when it is a labelled
marker, or a bare path comment naming the block's own path: both are metadata about the block,
not code. Everything else in the block is kept byte for byte (only CRLF becomes LF).

A path candidate must look like a relative file path: no whitespace, and a ``/`` or an
extension holding a letter (``app.py``, ``.gitignore``); well-known extension-less names
(``Makefile``, ``Dockerfile``, ...) count too, and any other extension-less name only inside
backticks or after a ``File:`` label. So "Here is the code:" or "Note: ..." never become paths.
The parser does not judge safety: ``../x`` or ``/etc/passwd`` come through as written and the
writer refuses them.

Fences: 3 or more backticks or tildes; a fence closes on a line of the same character at least
as long, with nothing else on it. Two heuristics keep nested code intact: inside a block, an
opening fence of the same kind *with an info string* (```` ```bash ````) opens a nested level
that the next closing fence ends, and fences inside a SEARCH/REPLACE block are content. A block
that never closes (an answer cut off at the length limit) is reported and not used. A fenced
block without a path whose own content holds file blocks (an answer wrapped in ```` ```markdown
````) is parsed recursively, two levels at most. Every line is looked at a bounded number of
times, so parsing is linear in the answer's length.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from route.values import EditBlock, FileBlock, ParsedAnswer

__all__ = [
    "PathCandidate",
    "close_open_edit",
    "looks_like_path",
    "parse_answer",
    "path_from_comment",
    "path_from_info",
    "path_from_line",
    "path_from_sentence",
]

_FENCE = re.compile(r"^ {0,3}(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_SEARCH = re.compile(r"^<{5,9} ?SEARCH\s*$")
_DIVIDER = re.compile(r"^={5,9}\s*$")
_REPLACE = re.compile(r"^>{5,9} ?REPLACE\s*$")

_HEADING = re.compile(r"^#{1,6}\s+")
_LIST_ITEM = re.compile(r"^(?:[-*+]|\d{1,3}[.)])\s+")
_LABEL = re.compile(
    r"^(?:\*\*|__)?(?:file\s*name|file\s*path|file|path|new\s+file|updated?\s+file|"
    r"create|update|modify|edit)\s*:\s*(?:\*\*|__)?\s*",
    re.IGNORECASE,
)
_WRAPPERS = ("**", "__", "`", "*", "_", '"', "'")
_COMMENT_OPENERS = ("<!--", "{#", "(*", "/*", "//", "--", "#", ";", "%")
_COMMENT_CLOSERS = ("-->", "#}", "*)", "*/")
_INFO_KEY = re.compile(r"^\{?(?:title|file|filename|path)=", re.IGNORECASE)
_EXTENSION_CHARACTERS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+~-"
)
_BACKTICKED = re.compile(r"`([^`\s]+)`")
_NOT_IN_PATHS = frozenset("`*<>|\"'")
_MAX_CANDIDATE = 8192
_MAX_NESTING = 2

KNOWN_BARE_NAMES = frozenset(
    {
        "Makefile",
        "makefile",
        "GNUmakefile",
        "Dockerfile",
        "Containerfile",
        "Procfile",
        "Gemfile",
        "Rakefile",
        "Jenkinsfile",
        "Vagrantfile",
        "Justfile",
        "justfile",
        "Brewfile",
        "Pipfile",
        "LICENSE",
        "README",
        "CODEOWNERS",
        "BUILD",
        "WORKSPACE",
    }
)
"""Extension-less file names accepted as paths in every form, even a bare line."""

SENTENCE_EXTENSIONS = frozenset(
    (
        *("py", "pyi", "js", "jsx", "ts", "tsx", "mjs", "cjs", "json", "md", "rst", "txt"),
        *("toml", "yaml", "yml", "ini", "cfg", "html", "css", "scss", "go", "rs", "java"),
        *("kt", "c", "h", "cc", "cpp", "hpp", "rb", "php", "cs", "swift", "sql", "sh"),
        *("bash", "vue", "svelte", "xml", "csv", "lock"),
    )
)
"""Extensions that let a backticked name inside a sentence count as the block's path."""


@dataclass(frozen=True, slots=True)
class PathCandidate:
    """A path found in a line, and whether it came in a strong form (``File:`` or backticks),
    the only forms in which an unknown extension-less name counts."""

    path: str
    labelled: bool


@dataclass(slots=True)
class _Result:
    files: list[FileBlock] = field(default_factory=list)
    edits: list[EditBlock] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def parse_answer(text: str) -> ParsedAnswer:
    """Split a model's answer into whole files, edits and problems, in answer order."""
    lines = text.replace("\r\n", "\n").split("\n")
    result = _Result()
    _Scanner(lines, 0, result, nesting=0).run()
    if not result.files and not result.edits and not result.problems:
        result.problems.append(
            "the answer holds no code block: give each file as a line with its relative "
            "path followed by a fenced code block"
        )
    return ParsedAnswer(tuple(result.files), tuple(result.edits), tuple(result.problems))


# --------------------------------------------------------------------------- path candidates


def looks_like_path(candidate: str, *, labelled: bool = False) -> bool:
    """Whether ``candidate`` has the shape of a relative file path (not a safety check)."""
    if not candidate or len(candidate) > _MAX_CANDIDATE or "://" in candidate:
        return False
    if any(character.isspace() for character in candidate):
        return False
    if any(character in _NOT_IN_PATHS for character in candidate):
        return False
    name = candidate.replace("\\", "/").rsplit("/", 1)[-1]
    if not name or name.strip(".") == "":
        return False
    if "/" in candidate.replace("\\", "/") or name in KNOWN_BARE_NAMES:
        return True
    if has_extension(name):
        return True
    return labelled and re.fullmatch(r"[\w.+-]+", name) is not None


def has_extension(name: str) -> bool:
    """Whether a file name ends with an extension holding a letter (``x.py``, ``.env``)."""
    _stem, dot, extension = name.rpartition(".")
    return (
        bool(dot)
        and bool(extension)
        and all(character in _EXTENSION_CHARACTERS for character in extension)
        and any(character.isalpha() for character in extension)
    )


def complete_answer(prefill: str, text: str) -> str:
    """The whole answer to a request whose answer was started with ``prefill`` (a path line and
    an opening fence). Servers differ: llama-server returns the prefill and its continuation,
    Ollama only the continuation, and a server that ignores prefills starts a new answer (with
    its own path line, for the same file or another). Each gives one answer to parse."""
    if text.startswith(prefill) or _opens_a_file_block(text):
        return text
    return prefill + text


def close_open_edit(answer: str) -> str:
    """An answer whose SEARCH/REPLACE block ends with the closing fence but no ``>>>>>>>
    REPLACE`` line (small models drop it after a prefilled SEARCH part): the marker put back
    before that fence. Anything else as is, an empty replacement above all: a model that closes
    the fence at once wrote no fix, and the marker would turn that into deleting the lines."""
    lines = answer.splitlines(keepends=True)
    divider = next((i for i, line in enumerate(lines) if _DIVIDER.match(line)), None)
    if divider is None:
        return answer
    for index in range(divider + 1, len(lines)):
        if _REPLACE.match(lines[index]):
            return answer
        if _closing_length(lines[index], "`") or _closing_length(lines[index], "~"):
            if not any(line.strip() for line in lines[divider + 1 : index]):
                return answer
            return "".join([*lines[:index], ">>>>>>> REPLACE\n", *lines[index:]])
    return answer


def _opens_a_file_block(text: str) -> bool:
    """True when the first fence line of ``text`` follows a path line: the text opens a file
    block of its own (a continuation's first fence closes the prefilled block instead)."""
    previous = ""
    for line in text.splitlines():
        if _FENCE.match(line):
            return path_from_line(previous) is not None
        previous = line
    return False


def path_from_line(line: str) -> PathCandidate | None:
    """The path a prose line names when the whole line is a (decorated) path, else None."""
    text = line.strip()
    if not text or len(text) > _MAX_CANDIDATE:
        return None
    labelled = False
    for _ in range(8):
        before = text
        match = _HEADING.match(text) or _LIST_ITEM.match(text)
        if match:
            text = text[match.end() :]
        label = _LABEL.match(text)
        if label and label.end() < len(text):
            text, labelled = text[label.end() :], True
        text = text.strip()
        if text.endswith(":"):
            text = text[:-1].rstrip()
        if looks_like_path(text, labelled=labelled):
            break  # "__init__.py" is a path, not "init" in bold
        for wrapper in _WRAPPERS:
            size = len(wrapper)
            if len(text) > 2 * size and text.startswith(wrapper) and text.endswith(wrapper):
                text = text[size:-size].strip()
                labelled = labelled or wrapper == "`"
                break
        if text == before:
            break
    return PathCandidate(text, labelled) if looks_like_path(text, labelled=labelled) else None


def path_from_sentence(line: str) -> str | None:
    """The one backticked path with a ``/`` or a source extension in a prose sentence."""
    found = [
        token
        for token in _BACKTICKED.findall(line)
        if looks_like_path(token)
        and ("/" in token or token.rsplit(".", 1)[-1].lower() in SENTENCE_EXTENSIONS)
    ]
    unique = list(dict.fromkeys(found))
    return unique[0] if len(unique) == 1 else None


def path_from_info(info: str) -> str | None:
    """A path given in a fence's info string (```` ```python src/x.py ```` and friends)."""
    for position, raw_token in enumerate(info.split()):
        token = _INFO_KEY.sub("", raw_token).strip("{}\"'")
        if position == 0 and ":" in token and not re.match(r"^[A-Za-z]:[\\/]", token):
            token = token.split(":", 1)[1]
        if token.startswith(".") and "/" not in token and token.count(".") == 1:
            continue  # ".py" is a language hint, not a file
        name = token.replace("\\", "/").rsplit("/", 1)[-1]
        if ("/" in token or has_extension(name)) and looks_like_path(token):
            return token
    return None


def path_from_comment(line: str) -> PathCandidate | None:
    """A first line such as ``# file: src/x.py`` or ``<!-- src/x.html -->``, else None."""
    text = line.strip()
    if len(text) > _MAX_CANDIDATE or text.startswith("#!"):
        return None
    opener = next((item for item in _COMMENT_OPENERS if text.startswith(item)), None)
    if opener is None:
        return None
    body = text[len(opener) :].lstrip(";")
    closer = next((item for item in _COMMENT_CLOSERS if body.endswith(item)), None)
    if closer is not None:
        body = body[: -len(closer)]
    body = body.strip()
    label = _LABEL.match(body)
    if label and label.end() < len(body):
        candidate = body[label.end() :].strip().strip("`")
        return PathCandidate(candidate, True) if looks_like_path(candidate, labelled=True) else None
    body = body.strip("`")
    if looks_like_path(body) and ("/" in body or has_extension(body)):
        return PathCandidate(body, False)
    return None


# --------------------------------------------------------------------------- scanning


def _closing_length(line: str, character: str) -> int:
    """Length of the fence when ``line`` is a closing fence of ``character``, else 0."""
    stripped = line.strip()
    if (
        len(stripped) >= 3
        and stripped == character * len(stripped)
        and len(line) - len(line.lstrip(" ")) <= 3
    ):
        return len(stripped)
    return 0


def _opening(line: str) -> tuple[str, str] | None:
    """(fence, info) when ``line`` opens a fenced block, else None."""
    match = _FENCE.match(line)
    if match is None:
        return None
    fence, info = match.group("fence"), match.group("info").strip()
    if fence[0] == "`" and "`" in info:
        return None  # CommonMark: a backtick fence's info string holds no backtick
    return fence, info


def _read_section(lines: list[str], start: int, end: int) -> tuple[str, str, int] | None:
    """Read the SEARCH/REPLACE block whose marker is ``lines[start]``.

    Returns (search, replace, index after the REPLACE marker), or None when it never ends.
    """
    index = start + 1
    while index < end and not _DIVIDER.match(lines[index]):
        index += 1
    if index >= end:
        return None
    divider = index
    index += 1
    while index < end and not _REPLACE.match(lines[index]):
        index += 1
    if index >= end:
        return None
    return _joined(lines[start + 1 : divider]), _joined(lines[divider + 1 : index]), index + 1


def _joined(lines: list[str]) -> str:
    return "\n".join(lines) + "\n" if lines else ""


class _Scanner:
    """One pass over ``lines``; appends what it finds to ``result``."""

    def __init__(self, lines: list[str], offset: int, result: _Result, *, nesting: int) -> None:
        self.lines = lines
        self.offset = offset  # line number of lines[0] minus one, for messages
        self.result = result
        self.nesting = nesting
        self.prose: list[str] = []  # the last non-blank prose lines since the previous block
        self.last_edit_path: str | None = None

    def run(self) -> None:
        index, end = 0, len(self.lines)
        while index < end:
            line = self.lines[index]
            opening = _opening(line)
            if opening is not None:
                index = self._fenced_block(index, *opening)
            elif _SEARCH.match(line):
                index = self._bare_edit(index)
            else:
                if line.strip():
                    self.prose = [*self.prose[-1:], line]
                index += 1

    # ----------------------------------------------------------------- helpers

    def _line_number(self, index: int) -> int:
        return self.offset + index + 1

    def _path_before(self) -> str | None:
        """The path named by the prose just above a block (nearest line first)."""
        if not self.prose:
            return None
        last = self.prose[-1]
        candidate = path_from_line(last)
        if candidate is not None:
            return candidate.path
        sentence = path_from_sentence(last)
        if sentence is not None:
            return sentence
        if len(self.prose) >= 2:
            earlier = self.prose[-2]
            candidate = path_from_line(earlier)
            if candidate is not None:
                return candidate.path
        return None

    def _problem(self, message: str) -> None:
        self.result.problems.append(message)

    # ----------------------------------------------------------------- blocks

    def _find_close(self, start: int, fence: str) -> int:
        """Index of the closing fence of the block opened at ``start`` (len(lines) if none)."""
        character, size = fence[0], len(fence)
        depth, in_section = 0, False
        index, end = start + 1, len(self.lines)
        while index < end:
            line = self.lines[index]
            if in_section:
                in_section = _REPLACE.match(line) is None
            elif _SEARCH.match(line):
                in_section = True
            elif _closing_length(line, character) >= size:
                if depth == 0:
                    return index
                depth -= 1
            else:
                opening = _opening(line)
                if (
                    opening is not None
                    and opening[0][0] == character
                    and len(opening[0]) >= size
                    and opening[1]
                ):
                    depth += 1
            index += 1
        return end

    def _fenced_block(self, start: int, fence: str, info: str) -> int:
        close = self._find_close(start, fence)
        if close >= len(self.lines):
            self._problem(
                f"unterminated code block starting at line {self._line_number(start)} "
                "(the answer may have been cut off); it was not used"
            )
            self.prose = []
            return close
        content = self.lines[start + 1 : close]
        before = self._path_before()
        self.prose = []
        if any(_SEARCH.match(line) for line in content):
            self._fenced_edits(start, info, content, before)
        else:
            self._whole_file(start, info, content, before)
        return close + 1

    def _whole_file(self, start: int, info: str, content: list[str], before: str | None) -> None:
        self.last_edit_path = None
        marker = path_from_comment(content[0]) if content else None
        from_info = path_from_info(info)
        labelled = marker.path if marker is not None and marker.labelled else None
        plain = marker.path if marker is not None and not marker.labelled else None
        path = from_info or labelled or before or plain
        if path is None:
            if self.nesting < _MAX_NESTING and any(_opening(line) for line in content):
                nested = _Scanner(
                    content, self.offset + start + 1, _Result(), nesting=self.nesting + 1
                )
                nested.run()
                if nested.result.files or nested.result.edits:
                    self.result.files.extend(nested.result.files)
                    self.result.edits.extend(nested.result.edits)
                    self.result.problems.extend(nested.result.problems)
                    return
            self._problem(
                f"code block without a file path near line {self._line_number(start)}: "
                "put the relative path on the line before the fence"
            )
            return
        if marker is not None and (marker.labelled or marker.path == path):
            content = content[1:]
        self.result.files.append(FileBlock(path, _joined(content)))

    def _fenced_edits(self, start: int, info: str, content: list[str], before: str | None) -> None:
        marker = path_from_comment(content[0]) if content else None
        labelled = marker.path if marker is not None and marker.labelled else None
        plain = marker.path if marker is not None and not marker.labelled else None
        path = path_from_info(info) or labelled or before or plain or self.last_edit_path
        index, end, ignored = 0, len(content), False
        while index < end:
            line = content[index]
            if _SEARCH.match(line):
                section = _read_section(content, index, end)
                if section is None:  # cannot happen: _find_close ended the block after it
                    break
                search, replace, after = section
                self._add_edit(path, search, replace, self.offset + start + 2 + index)
                index = after
                continue
            candidate = path_from_line(line) or path_from_comment(line)
            if candidate is not None:
                path = candidate.path
            elif line.strip():
                ignored = True
            index += 1
        if ignored:
            self._problem(
                f"text outside the SEARCH/REPLACE blocks of the code block at line "
                f"{self._line_number(start)} was ignored"
            )

    def _bare_edit(self, start: int) -> int:
        path = self._path_before() or self.last_edit_path
        self.prose = []
        section = _read_section(self.lines, start, len(self.lines))
        if section is None:
            self._problem(
                f"unterminated SEARCH/REPLACE block starting at line {self._line_number(start)}"
                " (no ======= or >>>>>>> REPLACE line); it was not used"
            )
            return len(self.lines)
        search, replace, after = section
        self._add_edit(path, search, replace, self._line_number(start))
        return after

    def _add_edit(self, path: str | None, search: str, replace: str, line_number: int) -> None:
        if path is None:
            self._problem(
                f"SEARCH/REPLACE block without a file path near line {line_number}: "
                "put the relative path on the line before it"
            )
            return
        self.last_edit_path = path
        self.result.edits.append(EditBlock(path, search, replace))
