"""One task of a batch: its options, its prompt for each round, and one run of it.

Each round of a task is one ``route.run.pipeline.run_generation`` call (without verify unless
``verify_each``) with the batch's defaults, the task's own fields, the files its dependencies
wrote as context, its declared files as targets, and the attempts it has left. A repair round
continues the task's last conversation with the batch verify's repair message. The backend is
watched so the scheduler can tell an unreachable server (move the task) from a failed task.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from route.batch.result import failed_result
from route.errors import BackendUnreachable, RouteError
from route.values import Attempt, ChatRequest, Completion, Message, Prompt, RunResult

if TYPE_CHECKING:
    from route.backends.base import Backend, TextSink
    from route.batch.claims import WriteClaims
    from route.batch.plan import TaskSpec
    from route.batch.runner import BatchEvents, BatchOptions, EndpointSpec
    from route.run.pipeline import GenOptions, Prepared


@dataclass
class TaskRun:
    """The mutable bookkeeping of one task; touched by one thread at a time."""

    spec: TaskSpec
    rounds: list[RunResult] = field(default_factory=list)
    prepared: Prepared | None = None
    conversation: tuple[Message, ...] = ()  # the last prompt sent, plus the answer
    repair: Message | None = None  # the next round's repair message
    endpoint: str = ""
    skipped: str = ""

    @property
    def attempts_used(self) -> int:
        return sum(len(result.attempts) for result in self.rounds)

    @property
    def written(self) -> tuple[str, ...]:
        paths = (path for result in self.rounds for path in (*result.created, *result.changed))
        return tuple(dict.fromkeys(paths))


class WatchedBackend:
    """Passes calls through and remembers whether the server could not be reached."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend
        self.name = backend.name
        self.endpoint = backend.endpoint
        self.unreachable = False

    def context_length(self, model: str) -> int | None:
        return self._backend.context_length(model)

    def chat(
        self, request: ChatRequest, on_text: TextSink, on_reasoning: TextSink | None = None
    ) -> Completion:
        try:
            return self._backend.chat(request, on_text, on_reasoning)
        except BackendUnreachable:
            self.unreachable = True
            raise


class TaskEvents:
    """``RunEvents`` of one task, forwarded to the batch's events; stops the stream when the
    batch is cancelled (the pipeline then ends the task as interrupted, writing nothing)."""

    def __init__(
        self, task_id: str, endpoint: str, events: BatchEvents, cancel: threading.Event
    ) -> None:
        self._id = task_id
        self._endpoint = endpoint
        self._events = events
        self._cancel = cancel
        self._detail = ""
        self._thinking = False

    def attempt_started(self, number: int, total: int) -> None:
        self._detail = f"attempt {number}/{total} on {self._endpoint}"
        self._thinking = False
        self._events.task_state(self._id, "generating", self._detail)

    def thinking(self, chunk: str) -> None:
        if self._cancel.is_set():
            raise KeyboardInterrupt
        if not self._thinking:
            self._thinking = True
            self._events.task_state(self._id, "thinking", self._detail)
        self._events.task_chunk(self._id)

    def text(self, chunk: str) -> None:
        if self._cancel.is_set():
            raise KeyboardInterrupt
        if self._thinking:
            self._thinking = False
            self._events.task_state(self._id, "generating", self._detail)
        self._events.task_chunk(self._id)

    def generation_finished(self, completion: Completion) -> None:
        usage = completion.usage
        self._events.task_tokens(self._id, usage.output_tokens, usage.tokens_per_second)

    def verify_started(self, command: str) -> None:
        self._events.task_state(self._id, "verifying", command)

    def attempt_finished(self, attempt: Attempt) -> None:
        if attempt.failure:
            self._events.task_state(self._id, "retrying", attempt.failure)

    def notice(self, message: str) -> None:
        self._events.notice(f"{self._id}: {message}")


@dataclass(frozen=True, slots=True)
class TaskRunner:
    """Runs one round of one task of a batch (called from the scheduler's worker threads)."""

    options: BatchOptions
    tasks: Mapping[str, TaskRun]
    claims: WriteClaims
    events: BatchEvents
    cancel: threading.Event

    def run(
        self, task: TaskRun, endpoint: EndpointSpec, backend: Backend
    ) -> tuple[RunResult, bool]:
        """One round of ``task`` on ``endpoint``: its result, and whether the server could not
        be reached (then the round is not kept unless it made an attempt)."""
        from route.run.pipeline import prepare, run_generation

        task.endpoint = endpoint.name
        options = self.gen_options(task, endpoint)
        if task.prepared is None:
            try:
                task.prepared = prepare(options)
            except RouteError as error:
                result = failed_result(options, "error", error.exit_code, str(error))
                task.rounds.append(result)
                return result, False
        prepared = _round_prompt(task)
        watched = WatchedBackend(backend)
        result = run_generation(
            options,
            lambda: watched,
            events=TaskEvents(task.spec.id, endpoint.name, self.events, self.cancel),
            prepared=prepared,
            guard=self.claims.guard(task.spec.id),
        )
        if result.attempts:
            answer = Message("assistant", result.attempts[-1].completion.text)
            task.conversation = (*prepared.prompt.messages, answer)
            task.repair = None
        if result.attempts or not watched.unreachable:
            task.rounds.append(result)
        return result, watched.unreachable

    def gen_options(self, task: TaskRun, endpoint: EndpointSpec) -> GenOptions:
        """The batch's defaults with the task's own fields, for its next round on ``endpoint``."""
        defaults = self.options.defaults
        spec = task.spec
        root = defaults.project_root
        context = list(spec.context)
        if task.prepared is None:  # the files of its dependencies, once they exist
            for dependency in spec.depends_on:
                for path in self.tasks[dependency].written:
                    if (root / path).is_file():
                        context.append(str(root / path))
        left = max(1, defaults.max_attempts - task.attempts_used)
        model = spec.model or endpoint.model or defaults.model
        return replace(
            defaults,
            task=spec.task,
            skill_refs=spec.skill_refs,
            context_patterns=tuple(dict.fromkeys(context)),
            model=model,
            model_thinks=defaults.model_thinks if model == defaults.model else _thinks(model),
            verify=defaults.verify if self.options.verify_each else None,
            max_attempts=left,
            modifiable=(*defaults.modifiable, *task.written),
            targets=spec.files,  # its declared files: named, the first prefilled, required
        )


def _thinks(model: str) -> bool | None:
    """Whether the catalog lists a task's own model as reasoning."""
    from route.local_models.catalog import catalog_thinks

    return catalog_thinks(model)


def _round_prompt(task: TaskRun) -> Prepared:
    """The task's first prompt, or its last conversation plus the pending repair message."""
    from route.prompting.tokens import estimate_messages_tokens

    prepared = task.prepared
    assert prepared is not None
    if task.repair is None:
        return prepared
    messages = (*task.conversation, task.repair)
    prompt = Prompt(
        messages=messages,
        template_version=prepared.prompt.template_version,
        estimated_tokens=estimate_messages_tokens([m.content for m in messages]),
    )
    return replace(prepared, prompt=prompt, warnings=())
