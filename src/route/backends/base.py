"""The one interface every model server backend implements.

A backend streams a chat completion: it calls ``on_text`` with each answer chunk as it arrives
(and ``on_reasoning``, when given, with each chunk of a reasoning model's thoughts: those never
reach ``on_text`` nor the completion's ``text``) and returns a ``Completion`` holding the whole
answer and the server's usage metrics. It raises
only ``route.errors.BackendError`` subclasses (and ``PromptTooLong``). The ``httpx.Client`` is
injected, so tests pass a client with a mock transport or point it at a loopback server.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from route.values import ChatRequest, Completion

TextSink = Callable[[str], None]


class Backend(Protocol):
    name: str  # "ollama" or "openai"
    endpoint: str  # base URL shown to users and stored in the ledger (no credentials)

    def context_length(self, model: str) -> int | None:
        """The model's maximum context in tokens, or None when the server does not say."""
        ...

    def chat(
        self, request: ChatRequest, on_text: TextSink, on_reasoning: TextSink | None = None
    ) -> Completion:
        """Stream one completion; call ``on_text`` for every answer chunk and ``on_reasoning``
        for every reasoning chunk; return the whole answer."""
        ...
