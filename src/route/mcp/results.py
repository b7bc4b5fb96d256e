"""What ``generate`` answers: the compact result an orchestrator reads after each hand-off.

A success is a few hundred characters: status, files, whether verify passed, attempts, run id.
A failure adds its message once, the failing verify output once (the tail, bounded) and the
next step; a failed verify with a hand-back (issue 20: the files kept, the located errors, what
was tried, the next step) carries that instead of the tail and the step. A dry run adds the
diff, bounded. Everything else (tokens, cost, each attempt) only
with ``detail: true``. docs/handoff-size.md measures these sizes; ``route cost`` uses them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from route.values import RunResult, VerifyResult

SUCCESS_BUDGET_CHARACTERS = 400  # a success result is at most this long (tested)
TAIL_LINES = 20  # verify output the orchestrator reads on a failure: the last lines ...
TAIL_LINE_CHARACTERS = 200  # ... each cut to this many characters ...
TAIL_CHARACTERS = 1500  # ... and at most this many in all
DIFF_CHARACTERS = 6000  # a dry run's diff, at most

NEXT_STEPS: dict[str, str] = {
    "verify_failed": (
        "fix the failing lines yourself, or call generate again with a fuller spec, the "
        "missing convention sections and the files it must fit as context_paths"
    ),
    "no_files": (
        "name the files to write in targets and in the task, then call generate again, or "
        "write them yourself"
    ),
    "refused": (
        "name the target paths (inside the project, not protected) in the task and targets, "
        "or write these files yourself"
    ),
    "backend_error": "fix the model server as the message says, then call generate again",
    "interrupted": "the run stopped: call generate again when ready",
    "cancelled": "the project is as it was: call generate again when ready",
    "dry_run": "nothing was written: call generate without dry_run to write it",
    "error": "fix what the message says, then call generate again",
}


def compact_result(result: RunResult, *, diff: str | None = None) -> dict[str, Any]:
    """The result of one run for the orchestrator: small on success, the facts to act on
    (message, verify tail, next step) on failure; a dry run's diff, bounded."""
    from route.run.report import final_verify

    data: dict[str, Any] = {
        "status": result.status,
        "exit_code": result.exit_code,
        "run_id": result.run_id,
        "files": _files(result),
        "verify": verify_summary(final_verify(result)),
        "attempts": len(result.attempts),
    }
    if result.status != "success":
        data["message"] = _message(result)
        if result.handback and result.status == "verify_failed":
            # The hand-back holds the located errors (or verify's last lines), the files kept
            # and the next step: the orchestrator reads them once, there. (A refusal or an
            # answer without files says all it has in the message and the refused paths.)
            data["handback"] = result.handback
            if data["verify"]:
                data["verify"].pop("tail", None)
        else:
            next_step = NEXT_STEPS.get(result.status)
            if next_step:
                data["next"] = next_step
    if diff is not None:
        data["diff"] = bounded(diff, DIFF_CHARACTERS)
    if result.warnings:
        data["warnings"] = list(result.warnings)
    return data


def compact_text(data: Mapping[str, Any]) -> str:
    """One line of JSON without spaces: what the orchestrator reads (and pays for)."""
    import json

    from route.mcp.wording import for_mcp

    return for_mcp(json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=str))


def _message(result: RunResult) -> str:
    """The run's message, said once: a refusal's reasons are in ``files.refused`` already."""
    if result.status == "refused" and result.refused:
        return "every change the model proposed was refused: see files.refused"
    return result.message


def _files(result: RunResult) -> dict[str, Any]:
    files: dict[str, Any] = {"created": list(result.created), "changed": list(result.changed)}
    if result.refused:
        unique = dict.fromkeys((item.path, item.reason) for item in result.refused)
        files["refused"] = [{"path": path, "reason": reason} for path, reason in unique]
    return files


def verify_summary(verify: VerifyResult | None) -> dict[str, Any]:
    """``passed`` true or false, or null when verify did not run (skipped, or never reached);
    a failing verify adds its command, exit code and the bounded tail of its output."""
    if verify is None:
        return {"passed": None}
    if verify.skipped_reason:
        return {"passed": None, "skipped": verify.skipped_reason}
    data: dict[str, Any] = {"passed": verify.passed}
    if not verify.passed:
        data["command"] = verify.command
        data["exit_code"] = verify.exit_code
        if verify.timed_out:
            data["timed_out"] = True
        data["tail"] = verify_tail(verify.output_tail)
    return data


def verify_tail(output: str) -> str:
    """The last lines of verify's output, each line and the whole bounded."""
    lines = [_cut(line, TAIL_LINE_CHARACTERS) for line in output.splitlines()[-TAIL_LINES:]]
    text = "\n".join(lines)
    return text if len(text) <= TAIL_CHARACTERS else "…" + text[-TAIL_CHARACTERS:]


def _cut(line: str, limit: int) -> str:
    return line if len(line) <= limit else line[: limit - 1] + "…"


def bounded(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n… ({len(text) - limit} more characters: read the files instead)"


def detailed_result(report: Mapping[str, Any]) -> dict[str, Any]:
    """The full report (``route gen --json``'s shape) without the verify output each attempt
    repeats, and a dry run's diff bounded."""
    data = dict(report)
    attempts = []
    for attempt in data.get("attempts", []):
        verify = attempt.get("verify")
        if isinstance(verify, dict):
            verdict = {k: v for k, v in verify.items() if k not in ("command", "output_tail")}
            attempts.append({**attempt, "verify": verdict})
        else:
            attempts.append(attempt)
    data["attempts"] = attempts
    if isinstance(data.get("diff"), str):
        data["diff"] = bounded(data["diff"], DIFF_CHARACTERS)
    return data
