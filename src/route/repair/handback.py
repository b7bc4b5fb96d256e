"""The hand-back: when a run ends without passing, what the orchestrator needs to take over in
one read, bounded (``MAX_CHARACTERS``): the task, the files written (kept on disk, or rolled
back), the located errors (or the last lines of verify's output), what was tried, and the next
step. It is plain text built from the run's values; the routing skill tells the orchestrator what
to do with it.
"""

from __future__ import annotations

from collections.abc import Sequence

from route.prompting.locations import Location
from route.values import Attempt, RunResult

MAX_CHARACTERS = 1500
_TASK_CHARACTERS = 200
_ERROR_LINES = 5
_OUTPUT_TAIL_LINES = 8
_STRATEGY_WORDS = {
    "first": "the first answer",
    "repair": "a repair round with the located errors",
    "focused": "a focused SEARCH/REPLACE round on one file",
}


def hand_back(
    result: RunResult,
    *,
    located: Sequence[Location],
    rolled_back: bool,
    limit: int = MAX_CHARACTERS,
) -> str:
    """The hand-back text of a failed run ("" for a run that passed or wrote nothing to try)."""
    if result.status in ("success", "dry_run"):
        return ""
    parts = [
        f"route could not finish the task ({result.status}): {_cut(result.task, _TASK_CHARACTERS)}",
        _files_line(result, rolled_back),
        _errors(result, located),
        _tried(result.attempts, result.model),
        _next_step(result, rolled_back),
    ]
    text = "\n".join(part for part in parts if part)
    return _cut(text, limit)


def _files_line(result: RunResult, rolled_back: bool) -> str:
    written = [*result.created, *result.changed]
    if rolled_back:
        attempted = sorted({c.path for a in result.attempts for c in a.plan.changes})
        return "Files: rolled back with --rollback (the project is as before): " + (
            ", ".join(attempted) or "none"
        )
    if not written:
        return "Files: none written."
    pieces = []
    if result.created:
        pieces.append("created " + ", ".join(result.created))
    if result.changed:
        pieces.append("changed " + ", ".join(result.changed))
    return "Files kept on disk: " + "; ".join(pieces) + "."


def _errors(result: RunResult, located: Sequence[Location]) -> str:
    if located:
        lines = [f"- {_cut(location.label, 200)}" for location in located[:_ERROR_LINES]]
        more = len(located) - _ERROR_LINES
        if more > 0:
            lines.append(f"- ({more} more)")
        return "Errors:\n" + "\n".join(lines)
    verify = next((a.verify for a in reversed(result.attempts) if a.verify is not None), None)
    if verify is not None and not verify.passed and verify.output_tail.strip():
        tail = [line for line in verify.output_tail.splitlines() if line.strip()]
        shown = "\n".join(_cut(line, 160) for line in tail[-_OUTPUT_TAIL_LINES:])
        return f"Last output of `{verify.command}`:\n{shown}"
    failure = next((a.failure for a in reversed(result.attempts) if a.failure), None)
    return f"Why: {_cut(failure or result.message, 300)}" if (failure or result.message) else ""


def _tried(attempts: Sequence[Attempt], model: str) -> str:
    if not attempts:
        return ""
    steps = [_STRATEGY_WORDS.get(a.strategy, a.strategy) for a in attempts]
    fixed = sum(1 for a in attempts if a.fix is not None and a.fix.changes)
    text = f"Tried: {len(attempts)} attempt(s) with {model or 'the local model'}: " + "; ".join(
        steps
    )
    if fixed:
        text += f"; the fix command changed files in {fixed} attempt(s)"
    imported = sorted({line.split(": ", 1)[-1] for a in attempts for line in a.imports})
    if imported:
        text += "; route added " + _cut(", ".join(f"`{line}`" for line in imported), 200)
    if any(a.failure and "repeated its previous answer" in a.failure for a in attempts):
        text += "; the model repeated an answer word for word"
    return text + "."


def _next_step(result: RunResult, rolled_back: bool) -> str:
    if result.status in ("backend_error", "interrupted", "error"):
        return f"Next: {_cut(result.message, 200)}" if result.message else ""
    if rolled_back or not (result.created or result.changed):
        return "Next: write the files yourself (the located errors say what to avoid)."
    return (
        "Next: fix the lines above in the kept files yourself and run the verify command; "
        "do not start the whole task again."
    )


def _cut(text: str, limit: int) -> str:
    text = text.strip()
    if len(text) <= limit:
        return text
    return text[: limit - 1] + "…"
