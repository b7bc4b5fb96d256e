"""Everything route shows on a terminal. The only module that imports rich.

Commands hand plain values to these functions. On a terminal output is formatted with rich;
otherwise (pipes, CI, orchestrators) it is plain, stable text. rich itself is imported lazily,
so commands that print nothing fancy start fast.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from route.run.report import RunReport
    from route.values import Attempt, Completion, VerifyResult


def escape_terminal(text: str, *, multiline: bool = False) -> str:
    """``text`` with every control and invisible formatting character shown as an escape
    (``\\x1b``, ``\\u202e``), so that nothing a model, a file name or verify output holds can
    move the cursor, clear the screen, set the clipboard or reorder a line. With ``multiline``,
    newlines and tabs are kept (streamed code, verify output); otherwise they are escaped too.
    Use it for every string that did not come from route itself."""
    return text.translate(_MULTILINE_ESCAPES if multiline else _LINE_ESCAPES)


class _Escapes(dict[int, str]):
    """A ``str.translate`` table computed on demand: control (Cc), format (Cf) and line or
    paragraph separator characters become visible escapes; everything else stays."""

    def __init__(self, keep: str) -> None:
        super().__init__()
        self._keep = frozenset(map(ord, keep))

    def __missing__(self, code: int) -> str:
        import unicodedata

        character = chr(code)
        if code in self._keep or unicodedata.category(character) not in ("Cc", "Cf", "Zl", "Zp"):
            escaped = character
        elif code < 0x100:
            escaped = f"\\x{code:02x}"
        else:
            escaped = f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
        self[code] = escaped
        return escaped


_LINE_ESCAPES = _Escapes("")
_MULTILINE_ESCAPES = _Escapes("\n\t")


def is_terminal(stream: TextIO | None = None) -> bool:
    stream = stream if stream is not None else sys.stdout
    if os.environ.get("ROUTE_FORCE_TERMINAL") == "1":
        return True
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def print_text(text: str = "", *, err: bool = False) -> None:
    stream = sys.stderr if err else sys.stdout
    stream.write(text + "\n")
    stream.flush()


def print_error(message: str) -> None:
    """One line on stderr: what failed and what to do next."""
    print_text(f"route: error: {escape_terminal(message)}", err=True)


def print_warning(message: str) -> None:
    print_text(f"route: warning: {escape_terminal(message)}", err=True)


def print_json(value: Any) -> None:
    """One compact JSON object on stdout (for orchestrators)."""
    sys.stdout.write(json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str))
    sys.stdout.write("\n")
    sys.stdout.flush()


def print_table(
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    plain: bool | None = None,
) -> None:
    """A table: rich on a terminal, tab-free aligned plain text otherwise."""
    _print_table(title, columns, rows, plain=plain, err=False)


def _print_table(
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    plain: bool | None,
    err: bool,
) -> None:
    """``print_table`` on stdout, or on stderr with ``err`` (plain unless that is a terminal)."""
    if plain is None:
        plain = not is_terminal(sys.stderr if err else None)
    if plain:
        print_text(plain_table(title, columns, rows), err=err)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title or None)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    Console(stderr=err).print(table)


def plain_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [len(column) for column in columns]
    for row in rows:
        for index, cell in enumerate(row):
            widths[index] = max(widths[index], len(cell))
    lines = [title] if title else []
    lines.append("  ".join(column.ljust(widths[i]) for i, column in enumerate(columns)).rstrip())
    for row in rows:
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
    return "\n".join(lines)


# --------------------------------------------------------------------------- route gen: live view


class LiveView:
    """Shows a run as it happens: the model's answer streamed as it arrives, and a status line
    (model, tokens, tokens/s, elapsed) kept under it on a terminal.

    Text is written once, as it arrives; the status line is redrawn at most ten times a second
    and only between complete lines, so the cost stays linear in the length of the answer.

    While a reasoning model thinks, the status reads "thinking · N tokens · t s"; the reasoning
    itself is shown (dimmed, on the status stream, never with the answer) only with
    ``show_thinking``.
    """

    def __init__(
        self,
        *,
        model: str,
        text_stream: TextIO | None = None,
        status_stream: TextIO | None = None,
        show_text: bool = True,
        show_status: bool = True,
        show_thinking: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._model = model
        self._show_thinking = show_thinking
        self._thinking = 0  # reasoning chunks of this attempt
        self._thinking_started: float | None = None
        self._thinking_open = False  # reasoning is streaming and no answer has come yet
        self._text = text_stream if text_stream is not None else sys.stdout
        self._status = status_stream if status_stream is not None else sys.stderr
        self._show_text = show_text
        self._show_status = show_status
        self._clock = clock
        self._partial: list[str] = []
        self._chunks = 0
        self._started = clock()
        self._last_draw = 0.0
        self._status_drawn = False

    # RunEvents ---------------------------------------------------------------------------
    def attempt_started(self, number: int, total: int) -> None:
        self._chunks = 0
        self._thinking, self._thinking_started, self._thinking_open = 0, None, False
        self._started = self._clock()
        if number > 1 or self._show_status:
            self._line(f"── attempt {number}/{total} · {self._model}")

    def thinking(self, chunk: str) -> None:
        """A chunk of the model's reasoning: counted, shown only with ``show_thinking``."""
        self._thinking += 1
        if self._thinking_started is None:
            self._thinking_started = self._clock()
        self._thinking_open = True
        if self._show_thinking and self._show_status:
            self._clear_status()
            _write(self._status, f"\x1b[2m{escape_terminal(chunk, multiline=True)}\x1b[0m")
            return
        self._maybe_status()

    def text(self, chunk: str) -> None:
        if self._thinking_open:
            self._end_thinking()
        self._chunks += 1
        if not self._show_text:
            self._maybe_status()
            return
        if not self._show_status:
            self._write_text(chunk)  # no status line to keep clear of: text as it arrives
            return
        newline = chunk.rfind("\n")
        if newline < 0:
            # A partial line waits for its end: the status line is drawn only between complete
            # lines (text and status may share one terminal even on two streams).
            self._partial.append(chunk)
            return
        self._clear_status()
        self._write_text("".join(self._partial) + chunk[: newline + 1])
        self._partial = [chunk[newline + 1 :]] if newline + 1 < len(chunk) else []
        self._maybe_status()

    def generation_finished(self, completion: Completion) -> None:
        if self._thinking_open:
            self._end_thinking()
        if self._partial:
            self._clear_status()
            self._write_text("".join(self._partial))
            self._partial.clear()
        if self._show_text:
            self._write_text("\n")
        self._clear_status()
        usage = completion.usage
        speed = f"{usage.tokens_per_second:.1f} tok/s" if usage.tokens_per_second else "—"
        reasoning = (
            f" ({usage.reasoning_tokens} reasoning, {usage.reasoning_seconds:.1f} s)"
            if usage.reasoning_tokens
            else ""
        )
        self._line(
            f"   {usage.prompt_tokens} prompt + {usage.output_tokens} output tokens{reasoning} · "
            f"{speed} · {usage.total_seconds:.1f} s"
        )

    def verify_started(self, command: str) -> None:
        self._line(f"   verifying: {escape_terminal(command)}")

    def attempt_finished(self, attempt: Attempt) -> None:
        # Refused files are listed once, in the report (an attempt's failure names them).
        if attempt.failure:
            self._line(f"   ✗ {escape_terminal(attempt.failure)}")
        elif attempt.verify is not None and not attempt.verify.skipped_reason:
            self._line("   ✓ verify passed")

    def notice(self, message: str) -> None:
        self._line(f"   {escape_terminal(message)}")

    # drawing -----------------------------------------------------------------------------
    def _end_thinking(self) -> None:
        """The answer starts (or the stream ended): say how long the model thought."""
        self._thinking_open = False
        if self._show_thinking and self._show_status:
            _write(self._status, "\n")
        started = self._thinking_started if self._thinking_started is not None else self._clock()
        self._line(f"   thought for ~{self._thinking} tokens · {self._clock() - started:.1f} s")

    def _write_text(self, text: str) -> None:
        _write(self._text, escape_terminal(text, multiline=True))

    def _line(self, text: str) -> None:
        if not self._show_status:
            return
        self._clear_status()
        _write(self._status, text + "\n")

    def _maybe_status(self) -> None:
        if not self._show_status:
            return
        now = self._clock()
        if now - self._last_draw < 0.1:
            return
        self._last_draw = now
        elapsed = now - self._started
        if self._thinking_open:
            thought = now - (self._thinking_started or now)
            status = f"{self._model} · thinking · {self._thinking} tokens · {thought:.1f} s"
        else:
            rate = _rate(self._chunks, elapsed)
            status = f"{self._model} · ~{self._chunks} tokens · {rate:.1f} tok/s · {elapsed:.1f} s"
        _write(self._status, f"\r\x1b[2K\x1b[2m{status}\x1b[0m")
        self._status_drawn = True

    def _clear_status(self) -> None:
        if self._status_drawn:
            _write(self._status, "\r\x1b[2K")
            self._status_drawn = False


def _write(stream: TextIO, text: str) -> None:
    """Write and flush at once: live views must show up while the model is still streaming."""
    stream.write(text)
    stream.flush()


def _rate(tokens: int, seconds: float) -> float:
    """Tokens per second, 0 before any time has passed."""
    return tokens / seconds if seconds > 0 else 0.0


# --------------------------------------------------------------------------- route gen: report


def render_run_report(report: RunReport, *, plain: bool | None = None) -> None:
    """The end-of-run report (``route.run.report.RunReport``): files, verify per attempt, and
    the cost table. Goes to stderr so stdout stays the model's text (or JSON).

    A run that failed before the model answered (server down, bad skill reference) is one
    error line with what to do, and where its ledger row went: there is nothing to report."""
    from route.run.pipeline import total_usage
    from route.run.report import cost_dict, final_verify

    result = report.result
    if not result.attempts and result.status in ("backend_error", "error", "interrupted"):
        print_error(result.message)
        _print_ledger_line(report)
        return
    lines = [f"route: {result.status} — {result.message}"]
    lines.extend(f"  created  {path}" for path in result.created)
    lines.extend(f"  changed  {path}" for path in result.changed)
    lines.extend(f"  refused  {refusal.path} — {refusal.reason}" for refusal in result.refused)
    for attempt in result.attempts:
        verify = attempt.verify
        if verify is None:
            state = attempt.failure or "not verified"
        elif verify.skipped_reason:
            state = f"verify skipped ({verify.skipped_reason})"
        else:
            state = "verify passed" if verify.passed else attempt.failure or "verify failed"
        lines.append(f"  attempt {attempt.number}: {state}")
    usage = total_usage(result)
    if usage.reasoning_tokens:
        lines.append(
            f"  reasoning: {usage.reasoning_tokens} of {usage.output_tokens} output tokens, "
            f"{usage.reasoning_seconds:.1f} s ({usage.reasoning_share:.0%} of the model's time)"
        )
    final = final_verify(result)
    if final is not None and not final.passed:
        lines.extend(_verify_tail(final.output_tail))
    lines.extend(_verify_safety_lines(final))
    lines.extend(f"  warning: {warning}" for warning in result.warnings)
    if result.handback:
        lines.append("hand-back:")
        lines.extend(f"  {line}" for line in result.handback.splitlines())
    _print_lines(lines)
    figures = {
        "tokens": {"prompt": usage.prompt_tokens, "output": usage.output_tokens},
        "duration_seconds": result.duration_seconds,
        "tokens_per_second": usage.tokens_per_second,
        "cost": cost_dict(result),
    }
    _print_cost_table(figures, "cost (cloud figures are estimates)", "command", plain)
    _print_ledger_line(report)


def _print_ledger_line(report: RunReport) -> None:
    recorded = report.ledger
    if recorded is None:
        return
    run = f"(run {report.result.run_id[:8]})"
    note = report.result.ledger_note
    if not recorded.recorded:
        _print_lines([f"  ledger: NOT recorded ({note}): {recorded.local} {run}"])
    elif note:  # a team ledger that was down, or a local file that failed
        _print_lines([f"  ledger: {note} {run}"])
    elif recorded.team is not None:
        _print_lines([f"  ledger: recorded in {recorded.team} and {recorded.local} {run}"])
    else:
        _print_lines([f"  ledger: recorded in {recorded.local} {run}"])


def _print_lines(lines: Sequence[str]) -> None:
    """Report lines on stderr, each escaped: paths, messages and verify output come from the
    model and the project, and none of them may draw on the terminal or fake a line."""
    print_text("\n".join(escape_terminal(line) for line in lines), err=True)


def _round_verdict(verify: dict[str, Any]) -> str:
    from route.safety.verify_step import verify_verdict

    return verify_verdict(
        verify["exit_code"],
        timed_out=bool(verify.get("timed_out")),
        duration_seconds=verify["duration_seconds"],
    )


def _verify_safety_lines(verify: VerifyResult | None) -> list[str]:
    """What the tamper check and the redaction did, one line each (an unisolated
    ``--sandbox-best-effort`` verify is among the run's warnings)."""
    if verify is None:
        return []
    lines = [f"  TAMPERED (restored): {path}" for path in verify.tampered]
    lines.extend(f"  NOT restored: {problem}" for problem in verify.unrestored)
    if verify.redactions:
        lines.append(f"  {verify.redactions} secret(s) redacted from verify's output")
    return lines


def _verify_tail(tail: str | None) -> list[str]:
    """The last lines of a failed verify's output, indented under a heading (none if empty)."""
    if not tail:
        return []
    return ["  last verify output:", *(f"    {line}" for line in tail.splitlines()[-15:])]


def _print_cost_table(report: dict[str, Any], title: str, handoff: str, plain: bool | None) -> None:
    """The local run against the cloud model without route (a run's or a batch's report):
    tokens, time and dollars, on stderr. ``handoff`` names what the orchestrator wrote."""
    from route.accounting.money import dollars

    cost = report["cost"]
    tokens = report["tokens"]
    rows = [
        [
            "local",
            f"{tokens['prompt']} in / {tokens['output']} out (server count)",
            f"{report['duration_seconds']:.1f} s, {report['tokens_per_second']:.1f} tok/s",
            "$0 API",
        ]
    ]
    if cost is not None:
        rows.append(
            [
                f"{cost['cloud_model']} without route",
                f"~{cost['cloud_input_tokens']} in / ~{cost['cloud_output_tokens']} out",
                "estimate",
                dollars(cost["cloud_only_dollars"]),
            ]
        )
        rows.append(
            [f"hand-off ({handoff} + summary)", "", "estimate", dollars(cost["handoff_dollars"])]
        )
        rows.append(
            [
                "net saving",
                "",
                f"prices {cost['prices_date']}",
                f"{dollars(cost['net_saving_dollars'])} ({cost['net_saving_percent']:.0f}%)",
            ]
        )
    _print_table(title, ["", "tokens", "time", "$"], rows, plain=plain, err=True)


def print_prompt(messages: Sequence[tuple[str, str]], estimated_tokens: int) -> None:
    """``--print-prompt``: every message as it would be sent, then the estimate. Control
    characters (an escape sequence pasted into a task) are shown escaped, not obeyed by the
    terminal; newlines and tabs stay as they are."""
    for role, content in messages:
        print_text(f"===== {role} =====")
        print_text(escape_terminal(content, multiline=True))
    print_text(f"===== estimated prompt tokens: ~{estimated_tokens} =====")


# --------------------------------------------------------------------------- route models pull


class PullProgressView:
    """``route models pull`` on a terminal: a rich progress bar (bytes, speed, time left) on
    stderr, with the current status as its description."""

    def __init__(self, name: str) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._task = self._progress.add_task(name, total=None)
        self._name = name
        self._progress.start()

    def update(self, status: str, completed: int, total: int) -> None:
        self._progress.update(
            self._task,
            description=f"{self._name}: {status}",
            completed=completed,
            total=total or None,
        )

    def close(self) -> None:
        self._progress.stop()

    def __enter__(self) -> PullProgressView:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# --------------------------------------------------------------------------- route batch


BATCH_FINISHED_STATES = frozenset(
    {
        "success",
        "dry_run",
        "verify_failed",
        "no_files",
        "refused",
        "tampered",
        "backend_error",
        "interrupted",
        "error",
        "skipped",
    }
)


class BatchView:
    """Shows a batch as it runs: one line per task (state, tokens, tokens/s) and an overall
    bar, redrawn in place on a terminal at most ten times a second. Without ``live`` it writes
    one plain line per finished task instead. Safe to call from several threads."""

    def __init__(
        self,
        task_ids: Sequence[str],
        *,
        stream: TextIO | None = None,
        live: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        import threading

        self._stream = stream if stream is not None else sys.stderr
        self._live = live
        self._clock = clock
        self._lock = threading.Lock()
        self._started = clock()
        self._order = list(task_ids)
        self._width = max((len(task_id) for task_id in task_ids), default=1)
        self._states = dict.fromkeys(task_ids, "queued")
        self._details = dict.fromkeys(task_ids, "")
        self._chunks = dict.fromkeys(task_ids, 0)
        self._tokens = dict.fromkeys(task_ids, 0)
        self._rates = dict.fromkeys(task_ids, 0.0)
        self._generation_started = dict.fromkeys(task_ids, clock())
        self._notices: list[str] = []
        self._drawn_lines = 0
        self._last_draw = 0.0

    # BatchEvents ---------------------------------------------------------------------------
    def task_state(self, task_id: str, state: str, detail: str) -> None:
        with self._lock:
            if state == "generating" and self._states.get(task_id) != "generating":
                self._generation_started[task_id] = self._clock()
                self._chunks[task_id] = 0
            self._states[task_id] = state
            self._details[task_id] = escape_terminal(" ".join(detail.split()))
            if not self._live and state in BATCH_FINISHED_STATES:
                self._write(f"route batch: {task_id}: {state} — {self._details[task_id]}\n")
            self._draw(force=True)

    def task_chunk(self, task_id: str) -> None:
        with self._lock:
            self._chunks[task_id] = self._chunks.get(task_id, 0) + 1
            self._draw(force=False)

    def task_tokens(self, task_id: str, output_tokens: int, tokens_per_second: float) -> None:
        with self._lock:
            self._tokens[task_id] = self._tokens.get(task_id, 0) + output_tokens
            self._rates[task_id] = tokens_per_second
            self._chunks[task_id] = 0
            self._draw(force=True)

    def notice(self, message: str) -> None:
        message = escape_terminal(message)
        with self._lock:
            if self._live:
                self._notices.append(message)
                self._draw(force=True)
            else:
                self._write(f"route batch: {message}\n")

    def close(self) -> None:
        """Draw the final state once more and leave it on the screen."""
        with self._lock:
            self._draw(force=True)

    # drawing -----------------------------------------------------------------------------
    def lines(self) -> list[str]:
        """The task lines and the overall bar, as drawn (no colours)."""
        now = self._clock()
        lines = [self._task_line(task_id, now) for task_id in self._order]
        finished = sum(1 for state in self._states.values() if state in BATCH_FINISHED_STATES)
        total = len(self._order)
        width = 24
        filled = width * finished // total if total else width
        tokens = sum(self._tokens.values()) + sum(self._chunks.values())
        elapsed = now - self._started
        rate = _rate(tokens, elapsed)
        lines.append(
            f"[{'#' * filled}{'.' * (width - filled)}] {finished}/{total} tasks · "
            f"~{tokens} tokens · {rate:.1f} tok/s overall · {elapsed:.1f} s"
        )
        return lines

    def _task_line(self, task_id: str, now: float) -> str:
        state = self._states.get(task_id, "")
        if state == "generating":
            chunks = self._chunks.get(task_id, 0)
            elapsed = now - self._generation_started.get(task_id, now)
            rate = _rate(chunks, elapsed)
            figures = f"~{self._tokens.get(task_id, 0) + chunks} tokens · {rate:.1f} tok/s"
        else:
            figures = (
                f"{self._tokens.get(task_id, 0)} tokens · {self._rates.get(task_id, 0):.1f} tok/s"
            )
        detail = self._details.get(task_id, "")
        text = f"  {task_id.ljust(self._width)}  {state:<13} {figures}"
        return f"{text} · {detail}" if detail else text

    def _draw(self, *, force: bool) -> None:
        if not self._live:
            return
        now = self._clock()
        if not force and now - self._last_draw < 0.1:
            return
        self._last_draw = now
        parts: list[str] = []
        if self._drawn_lines:
            parts.append(f"\x1b[{self._drawn_lines}F\x1b[J")
        parts.extend(f"{notice}\n" for notice in self._notices)
        self._notices.clear()
        lines = self.lines()
        parts.extend(f"\x1b[2K{line[:200]}\n" for line in lines)
        self._drawn_lines = len(lines)
        self._write("".join(parts))

    def _write(self, text: str) -> None:
        _write(self._stream, text)


def render_batch_report(report: dict[str, Any], *, plain: bool | None = None) -> None:
    """The end-of-batch report from ``route.batch.result.batch_to_dict``: one line per task, the
    verify rounds, failover, and the combined cost table (on stderr)."""
    lines = [f"route batch: {report['status']} — {report['message']}"]
    for task in report["tasks"]:
        files = task.get("files") or {}
        written = [*files.get("created", []), *files.get("changed", [])]
        tokens = task.get("tokens") or {}
        where = f" on {task['endpoint_name']}" if task.get("endpoint_name") else ""
        lines.append(
            f"  {task['id']}: {task['status']}{where} · {tokens.get('output', 0)} tokens · "
            f"{', '.join(written) or 'no files'}"
        )
        if task["status"] not in ("success", "dry_run"):
            lines.append(f"      {task['message']}")
        for refusal in files.get("refused", []):
            lines.append(f"      refused {refusal['path']} — {refusal['reason']}")
    for verify in report["verify_rounds"]:
        if verify.get("skipped"):
            lines.append(f"  verify round {verify['round']}: skipped ({verify['skipped']})")
            continue
        verdict = "passed" if verify["passed"] else _round_verdict(verify)
        repair = f"; repair: {', '.join(verify['repair'])}" if verify["repair"] else ""
        lines.append(f"  verify round {verify['round']}: `{verify['command']}` {verdict}{repair}")
    last = report["verify_rounds"][-1] if report["verify_rounds"] else None
    if last is not None and not last["passed"]:
        lines.extend(_verify_tail(last.get("output_tail")))
    lines.extend(f"  failover: {note}" for note in report["failover"])
    _print_lines(lines)
    _print_cost_table(report, "batch cost (cloud figures are estimates)", "plan", plain)
    # Tasks that are not runs (refused before the model was asked, dry runs) have no ledger path.
    ledgers = [task["ledger"] for task in report["tasks"] if (task.get("ledger") or {}).get("path")]
    if ledgers:
        recorded = sum(1 for ledger in ledgers if ledger["recorded"])
        notes = {ledger["note"] for ledger in ledgers if ledger["note"]}
        prefix = " — NOT recorded: " if recorded < len(ledgers) else " — "
        note = f"{prefix}{'; '.join(sorted(notes))}" if notes else ""
        print_text(
            f"  ledger: {recorded}/{len(ledgers)} task rows in {ledgers[0]['path']} "
            f"(batch {report['batch_id'][:8]}){note}",
            err=True,
        )
