"""The only sequencer of a run.

``resolve skills → build prompt → (stream completion → parse → plan writes → write → verify),
repeated for repair rounds → result``. Every step is a function from another module taking
and returning frozen values; this module only puts them in order, keeps the conversation for
repair rounds byte-identical, and turns errors and interrupts into a ``RunResult``. It never
prints: progress goes to the ``RunEvents`` it is given.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from route.backends.base import Backend
from route.errors import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_UNSAFE,
    EXIT_USAGE,
    EXIT_VERIFY_FAILED,
    BackendError,
    Cancelled,
    PromptTooLong,
    RouteError,
)
from route.safety.fix_step import FixSettings
from route.safety.verify import VerifySettings
from route.values import (
    Attempt,
    ChatRequest,
    Completion,
    ContextFile,
    FileBlock,
    FileChange,
    FixResult,
    Message,
    ParsedAnswer,
    Prompt,
    Refusal,
    RunResult,
    RunStatus,
    SkillExcerpt,
    Strategy,
    ThinkMode,
    Usage,
    VerifyResult,
    WritePlan,
)

if TYPE_CHECKING:
    from route.prompting.name_index import NameIndex
    from route.repair.rounds import FocusedRequest, NameLookup


@dataclass(frozen=True, slots=True)
class GenOptions:
    """Everything one ``route gen`` run needs, already merged from flags and config."""

    task: str
    skill_refs: tuple[str, ...]
    project_root: Path
    cwd: Path
    model: str
    context_patterns: tuple[str, ...] = ()
    skills_dir: Path | None = None
    max_attempts: int = 3
    max_output_tokens: int = 4096
    temperature: float | None = 0.2
    seed: int | None = None
    num_ctx: int | None = None
    keep_alive: str | None = None
    verify: VerifySettings | None = field(default_factory=VerifySettings)  # None: --no-verify
    verify_output_tokens: int = 1500
    allow: tuple[str, ...] = ()
    protected_extra: tuple[str, ...] = ()
    force: bool = False
    dry_run: bool = False
    rollback: bool = False
    lock_home: Path | None = None  # where the project lock lives; None: no lock
    lock_timeout_seconds: float = 900.0
    # Files (relative to the project root) a whole-file block may replace besides the context
    # files, e.g. what this task wrote in an earlier batch round.
    modifiable: tuple[str, ...] = ()
    # Files (relative to the project root, POSIX) the answer must write (--target): named in the
    # prompt, the first one's path and fence start every answer, and an answer without them fails.
    targets: tuple[str, ...] = ()
    # Reasoning models (route.backends.thinking): --think, the output budget when the model
    # reasons (None: never raised), and whether the catalog lists the model as reasoning.
    think: ThinkMode = "auto"
    thinking_output_tokens: int | None = None
    model_thinks: bool | None = None
    # The project's fixers, run on the files each attempt wrote before verify; None: no fix step.
    fix: FixSettings | None = None
    # The name index's share of the first prompt, in tokens; 0: no index.
    name_index_tokens: int = 500


WriteGuard = Callable[[WritePlan], WritePlan]
"""Looks at each attempt's plan just before it is written and may move changes to refusals
(``route batch`` uses one so two tasks never write the same file)."""


@dataclass(frozen=True, slots=True)
class Prepared:
    """The resolved inputs of a run: what ``--print-prompt`` shows."""

    excerpts: tuple[SkillExcerpt, ...]
    context: tuple[ContextFile, ...]
    prompt: Prompt
    warnings: tuple[str, ...]
    # The start of every answer (the first --target's path and fence), sent as a final
    # assistant message; "" without targets.
    prefill: str = ""
    # The names the project defines beside the task's files (None: no index).
    index: NameIndex | None = None


class RunEvents(Protocol):
    """How the pipeline reports progress. The CLI renders these; tests record them."""

    def attempt_started(self, number: int, total: int) -> None: ...

    def text(self, chunk: str) -> None: ...

    def thinking(self, chunk: str) -> None:
        """A chunk of a reasoning model's thoughts (never part of the answer)."""
        ...

    def generation_finished(self, completion: Completion) -> None: ...

    def verify_started(self, command: str) -> None: ...

    def attempt_finished(self, attempt: Attempt) -> None: ...

    def notice(self, message: str) -> None: ...


class SilentEvents:
    """Events that go nowhere (``--quiet`` and the MCP server use their own)."""

    def attempt_started(self, number: int, total: int) -> None:
        return None

    def text(self, chunk: str) -> None:
        return None

    def thinking(self, chunk: str) -> None:
        return None

    def generation_finished(self, completion: Completion) -> None:
        return None

    def verify_started(self, command: str) -> None:
        return None

    def attempt_finished(self, attempt: Attempt) -> None:
        return None

    def notice(self, message: str) -> None:
        return None


def prepare(options: GenOptions) -> Prepared:
    """Resolve the skill references and context files and build the first prompt."""
    from route.prompting import prompt as prompts
    from route.prompting import skills

    directories = skills.skill_search_dirs(options.cwd, options.skills_dir)
    excerpts = tuple(
        skills.resolve_reference(ref, directories, options.cwd) for ref in options.skill_refs
    )
    context = prompts.read_context_files(
        options.context_patterns, options.project_root, options.cwd, allow=options.allow
    )
    index: NameIndex | None = None
    names = ""
    if options.name_index_tokens > 0:
        from route.repair import rounds

        index = rounds.name_index(options.project_root, excerpts, context, options.targets)
        names = rounds.index_text(index, context, options.name_index_tokens)
    prompt = prompts.build_prompt(
        options.task, excerpts, context, targets=options.targets, names=names
    )
    warnings = tuple(warning for excerpt in excerpts for warning in excerpt.warnings)
    prefill = prompts.answer_prefill(options.targets[0]) if options.targets else ""
    return Prepared(
        excerpts=excerpts,
        context=context,
        prompt=prompt,
        warnings=warnings,
        prefill=prefill,
        index=index,
    )


@dataclass
class _RunState:
    """The mutable bookkeeping of one run, private to ``run_generation``."""

    attempts: list[Attempt] = field(default_factory=list)
    originals: dict[str, FileChange] = field(
        default_factory=dict
    )  # path -> first before, last after
    refused: list[Refusal] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    model: str = ""
    backend: str = ""
    endpoint: str = ""
    # Where names are defined, shared by the repairs of the files as they are now (a write
    # drops it: the files it read may have changed).
    lookup: NameLookup | None = None

    def name_lookup(self, root: Path, index: NameIndex | None) -> NameLookup:
        if self.lookup is None:
            from route.repair.rounds import NameLookup

            self.lookup = NameLookup(root, index)
        return self.lookup

    def record_changes(self, changes: Sequence[FileChange]) -> None:
        if changes:
            self.lookup = None
        for change in changes:
            first = self.originals.get(change.path)
            before = change.before if first is None else first.before
            self.originals[change.path] = FileChange(
                change.path, "create" if before is None else "modify", before, change.after
            )

    @property
    def written_paths(self) -> frozenset[str]:
        return frozenset(self.originals)


def run_generation(
    options: GenOptions,
    backend_factory: Callable[[], Backend],
    *,
    events: RunEvents | None = None,
    prepared: Prepared | None = None,
    clock: Callable[[], float] = time.time,
    guard: WriteGuard | None = None,
    cancel: threading.Event | None = None,
) -> RunResult:
    """Run one delegation end to end and return its result. Never raises ``RouteError`` or
    ``KeyboardInterrupt``: both become a result with the matching status and exit code.
    ``guard``, when given, sees every attempt's write plan before anything is written.
    ``cancel``, once set, stops the run between streamed chunks, before writing and while
    verify runs (its process group is killed); the files the run wrote are put back and the
    status is ``cancelled``."""
    events = events if events is not None else SilentEvents()
    if cancel is not None:
        events = _CancellableEvents(events, cancel)
    run_id = uuid.uuid4().hex
    started = clock()
    state = _RunState(model=options.model)
    prompt_characters = 0
    status: RunStatus = "error"
    exit_code = EXIT_USAGE
    message = ""
    try:
        prepared = prepared if prepared is not None else prepare(options)
        prompt_characters = prepared.prompt.characters
        state.warnings.extend(prepared.warnings)
        backend = backend_factory()
        state.backend, state.endpoint = backend.name, backend.endpoint
        status, exit_code, message = _attempts(
            options, prepared, backend, state, events, guard=guard, cancel=cancel
        )
    except Cancelled as error:
        status, exit_code, message = "cancelled", error.exit_code, str(error)
    except KeyboardInterrupt:
        status, exit_code, message = "interrupted", EXIT_INTERRUPTED, "interrupted"
    except BackendError as error:
        status, exit_code, message = "backend_error", error.exit_code, str(error)
    except RouteError as error:
        status, exit_code, message = "error", error.exit_code, str(error)
    written = sorted(state.written_paths)
    if status == "cancelled" and state.originals:
        message = _roll_back(options, state, message, "the files it wrote were put back")
    elif options.rollback and state.originals and status not in ("success", "dry_run"):
        message = _roll_back(options, state, message, "--rollback restored the previous files")
    result = RunResult(
        run_id=run_id,
        task=options.task,
        skill_refs=options.skill_refs,
        project_root=options.project_root,
        status=status,
        exit_code=exit_code,
        attempts=tuple(state.attempts),
        created=tuple(sorted(p for p, c in state.originals.items() if c.kind == "create")),
        changed=tuple(sorted(p for p, c in state.originals.items() if c.kind == "modify")),
        refused=tuple(dict.fromkeys(state.refused)),  # one line per refusal, not per attempt
        started_at=started,
        duration_seconds=clock() - started,
        model=state.model,
        backend=state.backend,
        endpoint=state.endpoint,
        prompt_characters=prompt_characters,
        # What the cloud model would have written instead: the final answer, once.
        output_characters=len(state.attempts[-1].completion.text) if state.attempts else 0,
        message=message,
        warnings=tuple(dict.fromkeys(state.warnings)),
    )
    return _with_handback(
        result, options, written, rolled_back=bool(written) and not state.originals
    )


def _with_handback(
    result: RunResult, options: GenOptions, written: Sequence[str], *, rolled_back: bool
) -> RunResult:
    """A failed run's result with its hand-back (what the orchestrator needs to take over); a
    run stopped on purpose (cancelled, interrupted) has none."""
    if result.status in ("success", "dry_run", "cancelled", "interrupted"):
        return result
    from route.repair.handback import hand_back
    from route.repair.rounds import located_errors

    final = next((a.verify for a in reversed(result.attempts) if a.verify is not None), None)
    located = located_errors(final, written, options.project_root)
    return replace(result, handback=hand_back(result, located=located, rolled_back=rolled_back))


def _attempts(
    options: GenOptions,
    prepared: Prepared,
    backend: Backend,
    state: _RunState,
    events: RunEvents,
    *,
    guard: WriteGuard | None = None,
    cancel: threading.Event | None = None,
) -> tuple[RunStatus, int, str]:
    """The attempt loop: generate, write, fix, verify, and repair until verify passes. A model
    that repeats its answer gets one focused round (a fresh conversation on the failing file)."""
    from route.backends.thinking import budget_failure
    from route.safety.tool_names import verify_tool_names

    messages = prepared.prompt.messages
    replaceable = _replaceable_paths(options, prepared)
    tool_names = verify_tool_names(options.project_root)
    last_failure = ""
    stopped = ""  # why the loop ended before max_attempts, when the model got stuck
    previous: ParsedAnswer | None = None
    prefill = prepared.prefill
    strategy: Strategy = "first"
    focused_path = ""  # the one file a focused round may change
    for number in range(1, options.max_attempts + 1):
        events.attempt_started(number, options.max_attempts)
        # A partial answer (interrupt, cut stream) raises here: nothing of it is written.
        try:
            completion = _generate(options, messages, prefill, backend, events)
        except PromptTooLong as error:
            if number == 1:
                raise
            # The repair conversation outgrew the context: the run ends with what it has.
            last_failure = f"{last_failure}; no room for another repair round ({error})"
            break
        if strategy == "focused":
            from route.prompting.parse import close_open_edit

            completion = replace(completion, text=close_open_edit(completion.text))
        attempt, failure = _attempt(
            options,
            number,
            completion,
            replaceable,
            tool_names,
            state=state,
            events=events,
            guard=guard,
            cancel=cancel,
            strategy=strategy,
            only=focused_path,
            index=prepared.index,
        )
        if options.dry_run:
            return "dry_run", EXIT_OK, "dry run: nothing was written"
        if attempt.verify is not None and attempt.verify.tampered:
            return "tampered", EXIT_UNSAFE, _tampered_message(attempt.verify)
        if failure is None:
            return "success", EXIT_OK, _success_message(attempt)
        if budget_failure(attempt.completion) is not None:
            # The budget went to reasoning: another round would spend it the same way.
            return _budget_spent(state, failure)
        last_failure = failure
        if strategy == "focused":
            stopped = _focused_stop(focused_path)
            break
        if previous is not None and _same_answer(attempt.parsed, previous):
            # Stuck in this conversation: ask once more in a fresh one, about one file.
            focused = (
                _focused_round(options, prepared, state) if number < options.max_attempts else None
            )
            if focused is None:
                stopped = STUCK
                events.notice("the model repeated its previous answer: no further attempts")
                break
            events.notice(
                "the model repeated its previous answer: asking for SEARCH/REPLACE edits to "
                f"{focused.path} in a fresh conversation"
            )
            messages, prefill, focused_path = focused.messages, focused.prefill, focused.path
            strategy = "focused"
            continue
        previous = attempt.parsed
        if number < options.max_attempts:
            repair = _repair_message(options, attempt, failure, state, prepared.index)
            messages = (*messages, Message("assistant", completion.text), repair)
            strategy = "repair"
    return _final_failure(state, last_failure, stopped)


def _replaceable_paths(options: GenOptions, prepared: Prepared) -> frozenset[str]:
    """The files a whole-file block may replace besides what the run wrote: the context files,
    the files the task owns, the declared targets."""
    return frozenset(item.path for item in prepared.context) | frozenset(
        (*options.modifiable, *options.targets)
    )


def _chat_request(options: GenOptions, messages: tuple[Message, ...], prefill: str) -> ChatRequest:
    """One attempt's request: the conversation so far, then the answer's start when set."""
    return ChatRequest(
        model=options.model,
        messages=(*messages, Message("assistant", prefill)) if prefill else messages,
        max_output_tokens=options.max_output_tokens,
        temperature=options.temperature,
        seed=options.seed,
        num_ctx=options.num_ctx,
        keep_alive=options.keep_alive,
        think=options.think,
        thinking_output_tokens=options.thinking_output_tokens,
        model_thinks=options.model_thinks,
    )


def _generate(
    options: GenOptions,
    messages: tuple[Message, ...],
    prefill: str,
    backend: Backend,
    events: RunEvents,
) -> Completion:
    """Stream one answer; with a prefill, the answer's text starts with it."""
    from route.prompting.parse import complete_answer

    request = _chat_request(options, messages, prefill)
    completion = backend.chat(request, events.text, events.thinking)
    if prefill:
        completion = replace(completion, text=complete_answer(prefill, completion.text))
    return completion


def _attempt(
    options: GenOptions,
    number: int,
    completion: Completion,
    replaceable: frozenset[str],
    tool_names: frozenset[str],
    *,
    state: _RunState,
    events: RunEvents,
    guard: WriteGuard | None,
    cancel: threading.Event | None = None,
    strategy: Strategy = "first",
    only: str = "",
    index: NameIndex | None = None,
) -> tuple[Attempt, str | None]:
    """Parse one answer, plan its writes (through ``guard``), write, fix and verify them, and
    record the attempt. ``only``: the one file this answer may change (a focused round).
    Returns the attempt and why it failed (or None). An answer cut while the model was still
    reasoning is not parsed: it failed for its budget."""
    from route.backends.thinking import budget_failure
    from route.prompting.parse import parse_answer

    state.model = completion.model or state.model
    state.warnings.extend(completion.warnings)
    events.generation_finished(completion)
    spent = budget_failure(completion)
    if spent is not None:
        attempt = Attempt(
            number, completion, ParsedAnswer(), WritePlan(), False, None, spent, strategy
        )
        state.attempts.append(attempt)
        events.attempt_finished(attempt)
        return attempt, spent
    parsed = parse_answer(completion.text)
    if only:
        from route.repair.rounds import only_file

        parsed = only_file(parsed, only)
    may_change = replaceable | state.written_paths
    plan = _plan(options, parsed, may_change, tool_names)
    if guard is not None:
        plan = guard(plan)
    state.refused.extend(plan.refusals)
    draft = Attempt(number, completion, parsed, plan, written=False, verify=None, strategy=strategy)
    attempt, failure = _write_and_verify(
        options,
        plan,
        draft,
        state,
        events,
        may_change=may_change,
        cancel=cancel,
        tool_names=tool_names,
        index=index,
    )
    state.attempts.append(attempt)
    events.attempt_finished(attempt)
    return attempt, failure


# Why a run stopped early: a model that answers a repair request with its last answer, word for
# word, is stuck; further rounds repeat it too (seen at any temperature with small models).
STUCK = (
    "; stopped there: the model repeated its previous answer word for word, so more rounds "
    "would not help — fix it by hand or use a stronger model"
)


def _budget_spent(state: _RunState, failure: str) -> tuple[RunStatus, int, str]:
    """A run whose model spent the whole output budget reasoning: ``no_files`` with the reason,
    unless an earlier round wrote files (then verify still fails)."""
    if state.originals:
        return _final_failure(state, failure)
    return "no_files", EXIT_VERIFY_FAILED, failure


def _focused_stop(path: str) -> str:
    """Why the run stopped after the focused round (appended to the last failure)."""
    return (
        f"; stopped there: the model repeated its previous answer word for word, and a focused "
        f"round on {path} did not pass either — fix it by hand or use a stronger model"
    )


def _focused_round(
    options: GenOptions, prepared: Prepared, state: _RunState
) -> FocusedRequest | None:
    """The focused round's request, from the last verify that ran (the repeated answer changed
    nothing, so it has none of its own); None when there is no written file to focus on."""
    from route.repair import rounds

    verify = next((a.verify for a in reversed(state.attempts) if a.verify is not None), None)
    written = sorted(state.written_paths)
    return rounds.focused_request(
        locations=rounds.located_errors(verify, written, options.project_root),
        verify=verify,
        targets=options.targets,
        written=written,
        root=options.project_root,
        lookup=state.name_lookup(options.project_root, prepared.index),
        max_output_tokens=options.verify_output_tokens,
        task=options.task,
    )


def _repair_message(
    options: GenOptions,
    attempt: Attempt,
    failure: str,
    state: _RunState,
    index: NameIndex | None = None,
) -> Message:
    """The next round's request: why the attempt failed, with the failed verify's output and
    the lines it points to in the files route wrote (and where an undefined name is defined)."""
    from route.prompting.prompt import build_repair_message
    from route.repair.rounds import located_errors, located_section

    verify = attempt.verify
    written = sorted(state.written_paths)
    located = located_errors(verify, written, options.project_root)
    return build_repair_message(
        reason=failure,
        verify_command=verify.command if verify is not None else None,
        verify_output=_failed_output(verify),
        written=written,
        max_output_tokens=options.verify_output_tokens,
        located=located_section(
            located, options.project_root, state.name_lookup(options.project_root, index)
        ),
    )


def _same_answer(answer: ParsedAnswer, previous: ParsedAnswer) -> bool:
    """The same file blocks and edits as the previous attempt (text outside them ignored)."""
    return not answer.empty and answer.files == previous.files and answer.edits == previous.edits


def _plan(
    options: GenOptions,
    parsed: ParsedAnswer,
    modifiable: frozenset[str],
    tool_names: frozenset[str],
) -> WritePlan:
    from route.safety.path_rules import DEFAULT_PROTECTED
    from route.safety.writer import plan_writes

    return plan_writes(
        parsed,
        options.project_root,
        allow=options.allow,
        modifiable=modifiable,
        force=options.force,
        protected=(*DEFAULT_PROTECTED, *options.protected_extra),
        tool_names=tool_names,
    )


def _refused_failure(plan: WritePlan, may_change: Collection[str]) -> str:
    """Why an answer with refused blocks failed: each refused path and why, and what the model
    may write instead (the repair message carries this)."""
    refused = "; ".join(f"`{refusal.path}`: {refusal.reason}" for refusal in plan.refusals)
    allowed = ", ".join(f"`{path}`" for path in sorted(may_change)[:20])
    existing = f" and these existing files: {allowed}" if allowed else ""
    return (
        f"part of the answer was refused, so nothing of it was written — {refused}. "
        f"Write only new files inside the project{existing}"
    )


def _tampered_message(verify: VerifyResult) -> str:
    """The run's message when verify changed what it must not: every path, and what could not
    be put back."""
    message = (
        f"verify `{verify.command}` changed files it must not: {', '.join(verify.tampered)} — "
        "they were restored; the code route wrote may be hostile: review it before running "
        "anything"
    )
    if verify.unrestored:
        message += "; NOT restored: " + "; ".join(verify.unrestored)
    return message


def _failed_output(verify: VerifyResult | None) -> str:
    return verify.output_tail if verify is not None and not verify.passed else ""


def _write_and_verify(
    options: GenOptions,
    plan: WritePlan,
    draft: Attempt,
    state: _RunState,
    events: RunEvents,
    *,
    may_change: Collection[str],
    cancel: threading.Event | None = None,
    tool_names: frozenset[str] = frozenset(),
    index: NameIndex | None = None,
) -> tuple[Attempt, str | None]:
    """Apply one attempt's plan and verify it; when verify fails on names the project defines
    elsewhere, the import step adds those imports and verify runs again. Returns the attempt
    and why it failed (or None)."""
    parsed = draft.parsed

    def attempt(written: bool, verify: VerifyResult | None, failure: str | None) -> Attempt:
        return replace(draft, written=written, verify=verify, failure=failure)

    if parsed.empty:
        problems = "; ".join(parsed.problems) or "the answer held no path line + code block"
        failure = f"no usable file blocks ({problems})"
        return attempt(False, None, failure), failure
    missing = _missing_targets(options.targets, parsed)
    if missing:
        failure = _missing_failure(missing, parsed)
        return attempt(False, None, failure), failure
    if plan.failures:
        failure = "edits could not be applied: " + "; ".join(plan.failures)
        return attempt(False, None, failure), failure
    if plan.refusals:  # all or nothing: one refused block and the answer writes nothing
        failure = _refused_failure(plan, may_change)
        return attempt(False, None, failure), failure
    if not plan.changes:
        failure = _unchanged_failure(parsed)
        return attempt(False, None, failure), failure
    if options.dry_run:
        return attempt(False, None, None), None
    from route.safety.verify_step import project_locked, verify_failure, verify_project

    with project_locked(
        options.project_root,
        options.lock_home,
        timeout_seconds=options.lock_timeout_seconds,
        on_wait=events.notice,
    ):
        _check_cancel(cancel, "before writing: nothing was written")
        if plan.changes:
            from route.safety.writer import apply_plan

            apply_plan(plan, options.project_root)
            state.record_changes(plan.changes)
        fix = _fix(options, plan, state, events, cancel)
        verify = verify_project(
            options.project_root, options.verify, on_start=events.verify_started, cancel=cancel
        )
        imports: tuple[str, ...] = ()
        if not verify.passed and not verify.tampered:
            imports = _import_step(
                options, verify, state, events, tool_names=tool_names, index=index, cancel=cancel
            )
            if imports:
                _check_cancel(cancel, "after the import step")
                verify = verify_project(
                    options.project_root,
                    options.verify,
                    on_start=events.verify_started,
                    cancel=cancel,
                )
    if verify.skipped_reason and options.verify is not None:
        state.warnings.append(f"verify skipped: {verify.skipped_reason}")
    if verify.sandbox == "unavailable":
        state.warnings.append(
            "--sandbox-best-effort: this system cannot isolate verify; it ran unisolated"
        )
    verdict = None if verify.passed else verify_failure(verify)
    return replace(attempt(bool(plan.changes), verify, verdict), fix=fix, imports=imports), verdict


def _import_step(
    options: GenOptions,
    verify: VerifyResult,
    state: _RunState,
    events: RunEvents,
    *,
    tool_names: frozenset[str],
    index: NameIndex | None,
    cancel: threading.Event | None = None,
) -> tuple[str, ...]:
    """Import the names verify calls undefined, in the files route wrote, from the one project
    module that defines each (``repair/auto_import``); the same planner and fix step as an
    answer's files. The imports added, as "path: from module import name"."""
    from route.repair.auto_import import import_texts
    from route.repair.rounds import located_errors
    from route.safety.writer import apply_plan

    written = state.written_paths
    locations = located_errors(verify, sorted(written), options.project_root)
    lookup = state.name_lookup(options.project_root, index)
    texts, added = import_texts(locations, options.project_root, lookup)
    if not added:
        return ()
    parsed = ParsedAnswer(files=tuple(FileBlock(path, text) for path, text in texts.items()))
    plan = _plan(options, parsed, written, tool_names)
    if not plan.applicable or not plan.changes:
        return ()
    apply_plan(plan, options.project_root)
    state.record_changes(plan.changes)
    lines = tuple(f"{item.path}: {item.line}" for item in added)
    events.notice("import step: added " + "; ".join(lines) + "; verify runs again")
    _fix(options, plan, state, events, cancel)
    return lines


def _fix(
    options: GenOptions,
    plan: WritePlan,
    state: _RunState,
    events: RunEvents,
    cancel: threading.Event | None = None,
) -> FixResult | None:
    """The fix step on this attempt's files; its changes become route's changes."""
    if options.fix is None or not plan.changes:
        return None
    from route.repair.rounds import fix_notice
    from route.safety.fix_step import run_fix

    result = run_fix(
        options.project_root,
        options.fix,
        [change.path for change in plan.changes],
        state.written_paths,
        cancel=cancel,
    )
    state.record_changes(result.changes)
    notice = fix_notice(result)
    if notice is not None:
        events.notice(notice)
    if result.problem:
        state.warnings.append(f"fix step: {result.problem}")
    return result


def _missing_targets(targets: Sequence[str], parsed: ParsedAnswer) -> list[str]:
    """The ``--target`` files the answer does not write (paths compared normalized)."""
    import posixpath

    written = {posixpath.normpath(block.path) for block in parsed.files}
    written |= {posixpath.normpath(edit.path) for edit in parsed.edits}
    return [target for target in targets if posixpath.normpath(target) not in written]


def _missing_failure(missing: Sequence[str], parsed: ParsedAnswer) -> str:
    """Why an answer that leaves out a ``--target`` file failed (nothing of it is written)."""
    paths = sorted({block.path for block in parsed.files} | {edit.path for edit in parsed.edits})
    wrote = ", ".join(f"`{path}`" for path in paths[:5]) + (" ..." if len(paths) > 5 else "")
    wanted = ", ".join(f"`{path}`" for path in missing)
    return (
        f"the answer does not write {wanted}, which the task asks for (it wrote {wrote}); "
        "nothing was written — write the asked-for file under its own path"
    )


def _unchanged_failure(parsed: ParsedAnswer) -> str:
    """Why an answer that changes nothing failed, naming what it repeated (a small model often
    repeats an existing file it was shown instead of writing the new one)."""
    paths = sorted({block.path for block in parsed.files} | {edit.path for edit in parsed.edits})
    shown = ", ".join(f"`{path}`" for path in paths[:5]) + (" ..." if len(paths) > 5 else "")
    return (
        f"the answer changes nothing: it only repeats {shown} exactly as on disk — leave "
        "existing files out unless the task changes them, and write the new files the task "
        "asks for, each under its own path"
    )


def _check_cancel(cancel: threading.Event | None, when: str) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled(f"cancelled {when}")


class _CancellableEvents:
    """The run's events, stopping the run at the next streamed chunk once ``cancel`` is set
    (raised from inside the backend's stream, which then closes the connection)."""

    def __init__(self, events: RunEvents, cancel: threading.Event) -> None:
        self._events = events
        self._cancel = cancel

    def attempt_started(self, number: int, total: int) -> None:
        _check_cancel(self._cancel, "before generating")
        self._events.attempt_started(number, total)

    def text(self, chunk: str) -> None:
        _check_cancel(self._cancel, "while the model wrote: nothing of its answer was written")
        self._events.text(chunk)

    def thinking(self, chunk: str) -> None:
        _check_cancel(self._cancel, "while the model thought: nothing was written")
        self._events.thinking(chunk)

    def generation_finished(self, completion: Completion) -> None:
        self._events.generation_finished(completion)

    def verify_started(self, command: str) -> None:
        self._events.verify_started(command)

    def attempt_finished(self, attempt: Attempt) -> None:
        self._events.attempt_finished(attempt)

    def notice(self, message: str) -> None:
        self._events.notice(message)


def _success_message(attempt: Attempt) -> str:
    verify = attempt.verify
    if verify is None or verify.skipped_reason:
        return "files written; verify skipped"
    return f"files written; `{verify.command}` passed on attempt {attempt.number}"


def _final_failure(
    state: _RunState, last_failure: str, stopped: str = ""
) -> tuple[RunStatus, int, str]:
    """The status and message of a run that did not succeed: what failed last, after how many
    attempts, and (``stopped``) why it ended early."""
    attempts = len(state.attempts)
    after = f"{last_failure} after {attempts} attempt(s){stopped}"
    last = state.attempts[-1] if state.attempts else None
    if last is not None and last.plan.refusals and not last.written:
        return "refused", EXIT_UNSAFE, f"model output refused as unsafe: {last_failure}{stopped}"
    if any(a.written for a in state.attempts) or state.originals:
        return "verify_failed", EXIT_VERIFY_FAILED, after
    if state.refused and all(a.parsed.files or a.parsed.edits for a in state.attempts):
        return "refused", EXIT_UNSAFE, f"model output refused as unsafe: {last_failure}{stopped}"
    if any(a.verify is not None for a in state.attempts):
        return "verify_failed", EXIT_VERIFY_FAILED, after
    return "no_files", EXIT_VERIFY_FAILED, after


def _roll_back(options: GenOptions, state: _RunState, message: str, done: str) -> str:
    from route.safety.verify_step import restore

    originals = tuple(state.originals.values())
    message, restored = restore(originals, options.project_root, message, done=done)
    if restored:
        state.originals.clear()
    return message


def total_usage(result: RunResult) -> Usage:
    """The sum of every attempt's server metrics."""
    usages = [attempt.completion.usage for attempt in result.attempts]
    cached = [u.cached_prompt_tokens for u in usages if u.cached_prompt_tokens is not None]
    return Usage(
        prompt_tokens=sum(u.prompt_tokens for u in usages),
        output_tokens=sum(u.output_tokens for u in usages),
        cached_prompt_tokens=sum(cached) if cached else None,
        load_seconds=sum(u.load_seconds for u in usages),
        prompt_seconds=sum(u.prompt_seconds for u in usages),
        generation_seconds=sum(u.generation_seconds for u in usages),
        total_seconds=sum(u.total_seconds for u in usages),
        done_reason=usages[-1].done_reason if usages else "",
        context_size=usages[-1].context_size if usages else None,
        reasoning_tokens=sum(u.reasoning_tokens for u in usages),
        reasoning_seconds=sum(u.reasoning_seconds for u in usages),
    )
