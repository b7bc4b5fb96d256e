"""Build the messages sent to the local model, from versioned Markdown templates in package data.

Templates (``route/data/prompts/*.md``) hold ``{{name}}`` markers. Each marker is replaced once,
in a single pass, so braces, dollar signs or ``{{task}}`` inside user content are never
interpreted. The same inputs always give byte-identical messages, so a server can reuse its
prompt cache across repair rounds.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import re
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path, PurePosixPath

from route.errors import ContextFileError, UsageError
from route.prompting.skills import merge_excerpts
from route.prompting.tokens import LOCAL_CHARS_PER_TOKEN, estimate_messages_tokens
from route.settings.locations import PACKAGE_DATA
from route.values import ContextFile, Message, Prompt, SkillExcerpt

TEMPLATE_VERSION = "7"
# A context file larger than this is refused: cite a smaller file or the relevant part.
MAX_CONTEXT_FILE_BYTES = 200_000
# Names that usually hold secrets; refused as context unless named with --allow.
SECRET_NAME_PATTERNS = (
    ".env*",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "credentials*",
    ".netrc",
    ".pgpass",
)

_PLACEHOLDER = re.compile(r"\{\{([a-z_]+)\}\}")
_GLOB_CHARACTERS = re.compile(r"[*?\[]")
_BACKTICK_RUN = re.compile(r"`+")
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_LANGUAGES = {
    ".py": "python",
    ".pyi": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".jsx": "jsx",
    ".ts": "typescript",
    ".tsx": "tsx",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
    ".kt": "kotlin",
    ".rb": "ruby",
    ".php": "php",
    ".cs": "csharp",
    ".c": "c",
    ".h": "c",
    ".cpp": "cpp",
    ".hpp": "cpp",
    ".swift": "swift",
    ".sh": "bash",
    ".sql": "sql",
    ".html": "html",
    ".css": "css",
    ".md": "markdown",
    ".json": "json",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".toml": "toml",
    ".ini": "ini",
    ".cfg": "ini",
}
_LANGUAGES_BY_NAME = {"makefile": "make", "dockerfile": "dockerfile"}


# --------------------------------------------------------------------------- templates


@cache
def load_template(name: str) -> str:
    """The text of ``route/data/prompts/<name>.md``, without its final newline."""
    return (PACKAGE_DATA / "prompts" / f"{name}.md").read_text(encoding="utf-8").rstrip("\n")


def render_template(template: str, values: Mapping[str, str]) -> str:
    """Replace each ``{{name}}`` marker with its value, in one pass.

    Every marker must have a value and every value a marker (a mismatch is a bug in route's
    templates, raised as ``ValueError``). Values are inserted verbatim and never re-scanned.
    """
    pieces = _PLACEHOLDER.split(template)
    names = pieces[1::2]
    if set(names) != set(values):
        raise ValueError(f"template markers {sorted(names)} do not match values {sorted(values)}")
    return "".join(values[piece] if index % 2 else piece for index, piece in enumerate(pieces))


# --------------------------------------------------------------------------- fenced blocks


def fence_for(text: str) -> str:
    """A backtick fence longer than any backtick run in ``text`` (at least three)."""
    longest = max((len(run) for run in _BACKTICK_RUN.findall(text)), default=0)
    return "`" * max(3, longest + 1)


def language_for(path: str) -> str:
    """The fence info string for a file path (``"python"`` for ``.py``), or ``""``."""
    name = PurePosixPath(path).name.lower()
    return _LANGUAGES_BY_NAME.get(name) or _LANGUAGES.get(PurePosixPath(name).suffix, "")


def fenced(text: str, language: str = "") -> str:
    """``text`` in a fenced block that nothing inside it can close."""
    fence = fence_for(text)
    body = text if text.endswith("\n") or not text else text + "\n"
    return f"{fence}{language}\n{body}{fence}"


# --------------------------------------------------------------------------- prompt


def build_prompt(
    task: str,
    excerpts: Sequence[SkillExcerpt],
    context: Sequence[ContextFile],
    *,
    conventions: str = "",
    targets: Sequence[str] = (),
    names: str = "",
) -> Prompt:
    """The system and user messages for one generation (deterministic). ``targets`` are the
    project paths the answer must write (``--target``), named in the closing instruction;
    ``names`` the rendered name index (``prompting.name_index``), shown when not empty."""
    if not task.strip():
        raise UsageError("the task is empty — describe what the local model should write")
    # The edit format is offered only when there are project files to edit: small models
    # otherwise copy its example instead of writing the new file.
    system = render_template(
        load_template("system"),
        {
            "conventions": conventions.strip()
            or "None beyond the conventions given with the task.",
            "edit_format": load_template("edit-format") + "\n\n" if context else "",
        },
    )
    user = render_template(
        load_template("user"),
        {
            "task": task.strip(),
            "skills": _render_excerpts(excerpts),
            "context": _render_context(context),
            "names": _render_names(names),
            "answer": _render_answer(targets),
        },
    )
    messages = (Message(role="system", content=system), Message(role="user", content=user))
    return Prompt(
        messages=messages,
        template_version=TEMPLATE_VERSION,
        estimated_tokens=estimate_messages_tokens([message.content for message in messages]),
    )


def _render_answer(targets: Sequence[str]) -> str:
    if not targets:
        return load_template("answer")
    names = [f"`{target}`" for target in targets]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return render_template(load_template("answer-targets"), {"targets": listed})


def answer_prefill(target: str) -> str:
    """The start of an answer that writes ``target``: its path line and the opening fence. Sent
    as a final assistant message, the server continues it, so the model writes that file rather
    than repeating one it was shown (small models do)."""
    return f"{target}\n```{language_for(target)}\n"


def _render_excerpts(excerpts: Sequence[SkillExcerpt]) -> str:
    """Each skill once, labelled with the references that cited it."""
    if not excerpts:
        return "No skill was cited: follow the style of the project files."
    return "\n\n".join(
        f"From skill `{excerpt.ref}`:\n\n{fenced(excerpt.text, 'markdown')}"
        for excerpt in merge_excerpts(excerpts)
    )


def _render_context(context: Sequence[ContextFile]) -> str:
    """The section of existing files, or nothing. Each file is labelled in a line that is not
    the answer format (``path`` alone on its line): small models otherwise continue the pattern
    and repeat the last file shown instead of writing the new one."""
    if not context:
        return ""
    files = "\n\n".join(
        f"Existing file `{item.path}`:\n{fenced(item.text, language_for(item.path))}"
        for item in context
    )
    # Templates lose their final newlines when loaded: the blank line before the next heading
    # is added here (without it the closing fence ran into "# Task" and did not close).
    return render_template(load_template("context"), {"files": files}) + "\n\n"


def _render_names(names: str) -> str:
    """The name index section, or nothing."""
    if not names.strip():
        return ""
    return render_template(load_template("names"), {"modules": names.strip()}) + "\n\n"


# --------------------------------------------------------------------------- repair


def build_repair_message(
    *,
    reason: str,
    verify_command: str | None,
    verify_output: str,
    written: Sequence[str],
    max_output_tokens: int = 1500,
    located: str = "",
) -> Message:
    """The user message that asks for corrected files after a failed attempt (deterministic).

    Holds why the attempt failed, the last part of the verify output (about
    ``max_output_tokens`` tokens, the cut marked), the lines it points to in the files route
    wrote (``located``, from ``prompting.locations``; left out when empty), the files written
    so far, and a short reminder of the output format.
    """
    max_characters = max(0, int(max_output_tokens * LOCAL_CHARS_PER_TOKEN))
    output = tail_text(clean_output(verify_output), max_characters)
    content = render_template(
        load_template("repair"),
        {
            "reason": " ".join(reason.split()) or "it could not be used.",
            "verify": _render_verify(verify_command, output),
            "located": f"{located.strip()}\n\n" if located.strip() else "",
            "written": _render_written(written),
        },
    )
    return Message(role="user", content=content)


def clean_output(text: str) -> str:
    """Terminal output as plain text: colour codes removed, line endings made ``\\n``."""
    text = _ANSI_ESCAPE.sub("", text)
    return text.replace("\r\n", "\n").replace("\r", "\n").strip("\n")


def tail_text(text: str, max_characters: int) -> str:
    """The end of ``text`` within ``max_characters``, from a line start where one is near,
    after a line saying how much was cut."""
    if len(text) <= max_characters:
        return text
    tail = text[len(text) - max_characters :] if max_characters else ""
    newline = tail.find("\n")
    if 0 <= newline < len(tail) - 1:
        tail = tail[newline + 1 :]
    return f"[… {len(text) - len(tail)} earlier characters of output cut …]\n{tail}"


def _render_verify(command: str | None, output: str) -> str:
    if output:
        source = f"`{command}`" if command else "the verify command"
        return f"The last part of the output of {source}:\n\n{fenced(output)}"
    if command:
        return f"`{command}` printed nothing."
    return "No verify output is available."


def _render_written(written: Sequence[str]) -> str:
    if not written:
        return "No files were written."
    return "Files on disk now from your previous answer:\n" + "\n".join(
        f"- {path}" for path in written
    )


# --------------------------------------------------------------------------- context files


def read_context_files(
    patterns: Sequence[str],
    root: Path,
    cwd: Path | None = None,
    *,
    allow: Sequence[str] = (),
) -> tuple[ContextFile, ...]:
    """Read the files named by ``patterns`` (paths or globs, ``**`` allowed, relative to ``cwd``,
    default ``root``) as context for the model.

    Returns them sorted by path relative to ``root`` (POSIX), each once. Raises
    ``ContextFileError`` for a pattern that matches no file, a file outside ``root``, a file that
    looks like a secret (unless its relative path is in ``allow``), a file above
    ``MAX_CONTEXT_FILE_BYTES``, and an unreadable or non-UTF-8 file.
    """
    resolved_root = root.resolve()
    base = (cwd if cwd is not None else root).absolute()
    allowed = {_normalise_allowed(entry, resolved_root) for entry in allow}
    found: dict[str, Path] = {}
    for pattern in patterns:
        for path in _expand(pattern, base):
            relative = _relative_to_root(path, resolved_root, pattern)
            found.setdefault(relative, path)
    files = []
    for relative in sorted(found):
        _refuse_secret(relative, allowed)
        files.append(ContextFile(path=relative, text=_read_context_text(found[relative], relative)))
    return tuple(files)


def _expand(pattern: str, base: Path) -> tuple[Path, ...]:
    expanded = os.path.expanduser(pattern.strip())
    if not expanded:
        raise ContextFileError("an empty context path was given — name a file or a glob")
    if _GLOB_CHARACTERS.search(expanded):
        matches = glob.glob(expanded, root_dir=base, recursive=True)
        paths = tuple(base / match for match in sorted(matches) if (base / match).is_file())
        if not paths:
            raise ContextFileError(
                f"context glob '{pattern}' matches no file in {base} — check the pattern "
                "(hidden files match only when the pattern names them)"
            )
        return paths
    path = base / expanded
    if path.is_dir():
        raise ContextFileError(
            f"context path '{pattern}' is a folder — name files, or use a glob such as "
            f"'{pattern.rstrip('/')}/**/*.py'"
        )
    if not path.exists():
        raise ContextFileError(f"context file '{pattern}' does not exist in {base}")
    return (path,)


def _relative_to_root(path: Path, root: Path, pattern: str) -> str:
    resolved = path.resolve()
    if not resolved.is_relative_to(root):
        raise ContextFileError(
            f"context file '{path}' (from '{pattern}') is outside the project root {root} — "
            "only files inside the project can be sent"
        )
    return resolved.relative_to(root).as_posix()


def _normalise_allowed(entry: str, root: Path) -> str:
    path = Path(os.path.expanduser(entry))
    if path.is_absolute():
        resolved = path.resolve()
        return resolved.relative_to(root).as_posix() if resolved.is_relative_to(root) else entry
    return PurePosixPath(os.path.normpath(entry).replace(os.sep, "/")).as_posix()


def looks_like_secret(relative_path: str) -> bool:
    """True when the file's name matches ``SECRET_NAME_PATTERNS`` (case-insensitive)."""
    name = PurePosixPath(relative_path).name.lower()
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in SECRET_NAME_PATTERNS)


def _refuse_secret(relative: str, allowed: set[str]) -> None:
    if looks_like_secret(relative) and relative not in allowed:
        raise ContextFileError(
            f"context file '{relative}' looks like a secret and was not sent — "
            f"pass --allow {relative} if it holds nothing secret"
        )


def _read_context_text(path: Path, relative: str) -> str:
    if not path.is_file():
        raise ContextFileError(
            f"context file '{relative}' is not a regular file — send only text files"
        )
    try:
        size = path.stat().st_size
        if size > MAX_CONTEXT_FILE_BYTES:
            raise ContextFileError(
                f"context file '{relative}' is {size} bytes, above the "
                f"{MAX_CONTEXT_FILE_BYTES}-byte limit — send a smaller file"
            )
        data = path.read_bytes()
    except OSError as exc:
        raise ContextFileError(
            f"context file '{relative}' cannot be read ({exc.strerror or exc}) — "
            "check its permissions"
        ) from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ContextFileError(
            f"context file '{relative}' is not UTF-8 text (byte {exc.start}) — send only text files"
        ) from exc
    if "\x00" in text:
        raise ContextFileError(
            f"context file '{relative}' looks binary (it holds NUL bytes) — send only text files"
        )
    return text
