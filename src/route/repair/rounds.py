"""The parts of a run's attempts loop that help a failed attempt converge, as small functions the
pipeline calls: the name index for the first prompt, the located errors for a repair message,
the focused round's request, the fix step, and the hand-back.

Each takes frozen values and returns them; the pipeline keeps the order and the bookkeeping.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from route.prompting.locations import Location, find_locations, read_texts, render_locations
from route.prompting.name_index import NameIndex, undefined_names, where_defined
from route.values import (
    ContextFile,
    FixResult,
    Message,
    ParsedAnswer,
    SkillExcerpt,
    VerifyResult,
)

# How many source files a repair's look-up of undefined names reads, at most.
LOOKUP_MAX_FILES = 2000


def name_index(
    root: Path,
    excerpts: Sequence[SkillExcerpt],
    context: Sequence[ContextFile],
    targets: Sequence[str],
) -> NameIndex:
    """The names defined beside the task's files: the targets', the context files' and the
    folders the cited sections name (the targets themselves left out: they are to be written)."""
    from route.prompting.name_index import build_index, index_folders

    folders = index_folders(
        root, [excerpt.text for excerpt in excerpts], [*targets, *(item.path for item in context)]
    )
    return build_index(root, folders, skip=set(targets))


def index_text(index: NameIndex, context: Sequence[ContextFile], budget_tokens: int) -> str:
    """The index as shown in the first prompt ("" when off or empty); the context files, shown
    whole, are left out."""
    if budget_tokens <= 0:
        return ""
    from route.prompting.name_index import render_index

    return render_index(
        index, budget_tokens=budget_tokens, leave_out={item.path for item in context}
    )


def failed_output(verify: VerifyResult | None) -> str:
    return verify.output_tail if verify is not None and not verify.passed else ""


def located_errors(
    verify: VerifyResult | None, written: Sequence[str], root: Path
) -> tuple[Location, ...]:
    """Where the failed verify's output points in the files route wrote."""
    return find_locations(failed_output(verify), written, root)


class NameLookup:
    """Where names are defined, for the repairs of one verify's output: the run's index when it
    defines every name asked about, else the project's whole index (bounded), built on first
    need and kept, so the import step, the repair message and the focused round share it."""

    def __init__(self, root: Path, index: NameIndex | None) -> None:
        self._root = root
        self._index = index
        self._whole: NameIndex | None = None

    def index_for(self, names: Sequence[str]) -> NameIndex:
        if self._index is not None and all(self._index.defined_in(name) for name in names):
            return self._index
        if self._whole is None:
            from route.prompting.name_index import build_index, project_folders

            folders = project_folders(self._root)
            self._whole = build_index(self._root, folders, max_files=LOOKUP_MAX_FILES)
        return self._whole


def located_section(locations: Sequence[Location], root: Path, lookup: NameLookup) -> str:
    """The repair message's part that points: each location's lines, marked, and where any name
    the errors call undefined is defined. "" when nothing was located."""
    if not locations:
        return ""
    texts = read_texts(sorted({location.path for location in locations}), root)
    text = "Where the output points, in the files you wrote:\n\n" + render_locations(
        locations, texts
    )
    names = undefined_names(location.message for location in locations)
    if names:
        index = lookup.index_for(names)
        text += "\n\nThe names it says are undefined:\n" + where_defined(index, names)
    return text


@dataclass(frozen=True, slots=True)
class FocusedRequest:
    """The focused round: a fresh conversation about one file."""

    path: str
    messages: tuple[Message, ...]
    prefill: str


def focused_request(
    *,
    locations: Sequence[Location],
    verify: VerifyResult | None,
    targets: Sequence[str],
    written: Sequence[str],
    root: Path,
    lookup: NameLookup,
    max_output_tokens: int,
    task: str = "",
) -> FocusedRequest | None:
    """The focused round's request, or None when there is no written file to focus on."""
    from route.prompting.prompt import clean_output, tail_text
    from route.repair.focused import (
        build_focused_messages,
        errors_budget,
        failing_file,
        focused_prefill,
        focused_span,
        project_imports,
    )

    path = failing_file(locations, [t for t in targets if t in written], written)
    if path is None:
        return None
    texts = read_texts([path], root)
    if path not in texts:
        return None
    mine = [location for location in locations if location.path == path]
    errors = located_section(mine, root, lookup) if mine else ""
    if not errors:
        output = tail_text(clean_output(failed_output(verify)), errors_budget(max_output_tokens))
        errors = f"The checks printed:\n\n```\n{output}\n```" if output else ""
    imports = read_texts(project_imports(path, texts[path], root), root)
    span = focused_span(
        path,
        texts[path],
        [location.line for location in mine],
        with_imports=_importable(mine, lookup),
    )
    messages = build_focused_messages(
        path=path,
        text=texts[path],
        errors=errors,
        imports=[ContextFile(name, text) for name, text in imports.items()],
        span=span,
        task=task,
    )
    return FocusedRequest(path, messages, focused_prefill(path, texts[path], span))


def _importable(locations: Sequence[Location], lookup: NameLookup) -> bool:
    """Whether an error calls a name undefined that the project defines elsewhere: the fix is
    then an import, so the focused span takes in the file's imports."""
    names = undefined_names(location.message for location in locations)
    if not names:
        return False
    known = lookup.index_for(names)
    return any(known.defined_in(name) for name in names)


def only_file(parsed: ParsedAnswer, path: str) -> ParsedAnswer:
    """The answer's blocks for ``path`` alone (a focused round changes one file)."""
    wanted = posixpath.normpath(path)
    return ParsedAnswer(
        files=tuple(b for b in parsed.files if posixpath.normpath(b.path) == wanted),
        edits=tuple(e for e in parsed.edits if posixpath.normpath(e.path) == wanted),
        problems=parsed.problems,
    )


def fix_notice(result: FixResult) -> str | None:
    """One line for the user about a fix step, or None when there is nothing to say."""
    if result.problem:
        return f"fix step: {result.problem}"
    if result.changes:
        paths = ", ".join(change.path for change in result.changes)
        return f"fix step: `{result.command}` changed {paths}"
    return None
