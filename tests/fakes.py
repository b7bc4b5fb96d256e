"""A fake backend with queued answers, for pipeline and CLI tests (no HTTP)."""

from __future__ import annotations

from collections.abc import Callable

from route.errors import BackendError
from route.values import ChatRequest, Completion, Usage


class FakeBackend:
    """Answers each chat with the next queued text (or raises the next queued error) and keeps
    every request it received in ``history``."""

    name = "fake"
    endpoint = "fake://local"

    def __init__(self, *answers: str | BaseException, chunk_size: int = 7) -> None:
        self._queue: list[str | BaseException] = list(answers)
        self.history: list[ChatRequest] = []
        self._chunk_size = chunk_size

    def enqueue(self, answer: str | BaseException) -> None:
        self._queue.append(answer)

    def context_length(self, model: str) -> int | None:
        return 32768

    def chat(self, request: ChatRequest, on_text: Callable[[str], None]) -> Completion:
        self.history.append(request)
        if not self._queue:
            raise BackendError("the fake backend has no more queued answers")
        answer = self._queue.pop(0)
        if isinstance(answer, BaseException):
            raise answer
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
