"""A fake backend with queued answers, for pipeline and CLI tests (no HTTP)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from route.errors import BackendError
from route.values import ChatRequest, Completion, Usage


@dataclass(frozen=True)
class Reasoned:
    """A reasoning model's answer: ``reasoning`` streams to ``on_reasoning`` first; with
    ``cut`` the budget ends inside the reasoning (no answer, done_reason "length")."""

    text: str
    reasoning: str
    cut: bool = False


class FakeBackend:
    """Answers each chat with the next queued text (or raises the next queued error) and keeps
    every request it received in ``history``."""

    name = "fake"
    endpoint = "fake://local"

    def __init__(self, *answers: str | Reasoned | BaseException, chunk_size: int = 7) -> None:
        self._queue: list[str | Reasoned | BaseException] = list(answers)
        self.history: list[ChatRequest] = []
        self._chunk_size = chunk_size

    def enqueue(self, answer: str | Reasoned | BaseException) -> None:
        self._queue.append(answer)

    def context_length(self, model: str) -> int | None:
        return 32768

    def chat(
        self,
        request: ChatRequest,
        on_text: Callable[[str], None],
        on_reasoning: Callable[[str], None] | None = None,
    ) -> Completion:
        self.history.append(request)
        if not self._queue:
            raise BackendError("the fake backend has no more queued answers")
        answer = self._queue.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        if isinstance(answer, Reasoned):
            return self._reasoned(request, answer, on_text, on_reasoning)
        for start in range(0, len(answer), self._chunk_size):
            on_text(answer[start : start + self._chunk_size])
        usage = Usage(
            prompt_tokens=sum(len(m.content) for m in request.messages) // 4,
            output_tokens=max(1, len(answer) // 4),
            generation_seconds=0.5,
            total_seconds=0.6,
            done_reason="stop",
        )
        return Completion(answer, usage, request.model, self.name, self.endpoint)

    def _reasoned(
        self,
        request: ChatRequest,
        answer: Reasoned,
        on_text: Callable[[str], None],
        on_reasoning: Callable[[str], None] | None,
    ) -> Completion:
        chunks = [
            answer.reasoning[start : start + self._chunk_size]
            for start in range(0, len(answer.reasoning), self._chunk_size)
        ]
        for chunk in chunks:
            if on_reasoning is not None:
                on_reasoning(chunk)
        text = "" if answer.cut else answer.text
        if text:
            on_text(text)
        usage = Usage(
            prompt_tokens=100,
            output_tokens=len(chunks) + (0 if answer.cut else max(1, len(text) // 4)),
            generation_seconds=2.0,
            total_seconds=2.5,
            done_reason="length" if answer.cut else "stop",
            reasoning_tokens=len(chunks),
            reasoning_seconds=1.5,
        )
        return Completion(
            text,
            usage,
            request.model,
            self.name,
            self.endpoint,
            reasoning=answer.reasoning,
            still_reasoning=answer.cut,
            reasoning_source="server",
            max_output_tokens=request.max_output_tokens,
        )
