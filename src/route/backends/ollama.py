"""Ollama's native API: ``POST /api/chat`` streamed as NDJSON, context sized with ``num_ctx``.

Why the native API rather than Ollama's ``/v1``: only the native API can set ``num_ctx``. Without
it the server picks a default (2048 to 262144 depending on version and GPU memory) and silently
cuts longer prompts. So route asks ``/api/show`` for the model's context length, sends a
``num_ctx`` from a small set of stable sizes (powers of two from 4096, so successive calls do not
reload the model), refuses a prompt that cannot fit before generating, and sends the undocumented
``truncate: false`` so newer servers answer with an error rather than a shortened prompt.

Reasoning models: ``/api/show``'s ``capabilities`` say whether the model thinks; ``--think``
becomes the ``think`` field (``route.backends.thinking``), reasoning streamed in
``message.thinking`` (chat) or ``thinking`` (generate) is kept apart from the answer, and so is
reasoning inline in the content (``route.backends.reasoning``).

What both backends share (the prompt-fit check, the output cap, error texts, the streamed
request) lives in ``route.backends.common``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from route.backends.base import TextSink
from route.backends.common import (
    ServerMessages,
    auth_headers,
    check_prompt_fits,
    context_overflow_error,
    cut_stream_error,
    decode_json,
    error_message,
    output_chunk_cap,
    reasoning_tokens,
    status_error,
    stream_response,
    timeout_error,
    unreachable_error,
    wire_messages,
)
from route.backends.hosts import redact_url
from route.backends.reasoning import StreamText
from route.backends.thinking import (
    UNKNOWN,
    ThinkSupport,
    check_think,
    ollama_think,
    output_budget,
    support_from_show,
)
from route.errors import BackendError, BackendResponseError, PromptTooLong
from route.prompting.tokens import estimate_messages_tokens
from route.values import ChatRequest, Completion, Usage

if TYPE_CHECKING:
    import httpx

SMALLEST_CONTEXT = 4096
NANOSECONDS = 1e9
# The truncation warning: a server count below half of route's estimate, on a prompt large enough
# for the estimate to be meaningful. Ollama reports the whole prompt in prompt_eval_count even when
# most of it came from its prompt cache, so a repeated prompt does not trigger the warning.
TRUNCATION_RATIO = 0.5
TRUNCATION_MIN_ESTIMATE = 1000
MESSAGES = ServerMessages(
    unreachable="Ollama is not reachable at {endpoint} — start it with `ollama serve` or set "
    "OLLAMA_HOST",
    not_found="model {model} is not pulled on {endpoint} ({detail}) — run `ollama pull {model}`",
    refused="Ollama at {endpoint} refused the request ({detail}) — set OLLAMA_API_KEY to a key "
    "this server accepts",
    busy="Ollama at {endpoint} is busy ({detail}) — retry later, or raise OLLAMA_MAX_QUEUE / "
    "OLLAMA_NUM_PARALLEL on the server",
    other="Ollama at {endpoint} answered {detail} — check the request and the server log "
    "(`ollama serve` output)",
    busy_statuses=(429, 503),
)


def choose_num_ctx(prompt_tokens: int, max_output_tokens: int, model_limit: int | None) -> int:
    """The context size to send: the smallest power of two >= 4096 that holds the prompt and the
    output budget, capped at the model's context length when it is known."""
    needed = prompt_tokens + max_output_tokens
    size = SMALLEST_CONTEXT
    while size < needed:
        size *= 2
    if model_limit is not None and model_limit > 0:
        return min(size, model_limit)
    return size


@dataclass(frozen=True, slots=True)
class _StreamResult:
    stream: StreamText
    final: dict[str, Any] | None  # the done:true line, None when route stopped reading
    chunks: int
    ended: float  # the clock when the stream ended


class OllamaBackend:
    """Streams chat completions from Ollama's native ``/api/chat``."""

    name = "ollama"

    def __init__(
        self,
        client: httpx.Client,
        base_url: str,
        *,
        api_key: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._base_url = base_url.rstrip("/")
        self.endpoint = redact_url(self._base_url)
        self._headers = auth_headers(api_key)
        self._clock = clock
        self._shows: dict[str, object] = {}

    # ------------------------------------------------------------------ /api/show

    def context_length(self, model: str) -> int | None:
        """``model_info["<general.architecture>.context_length"]`` from ``/api/show``, cached."""
        return _context_from_show(self._show(model))

    def think_support(self, model: str) -> ThinkSupport:
        """What ``/api/show``'s ``capabilities`` say about the model's reasoning, cached."""
        return support_from_show(self._show(model))

    def _show(self, model: str) -> object:
        if model not in self._shows:
            self._shows[model] = self._fetch_show(model)
        return self._shows[model]

    def _fetch_show(self, model: str) -> object:
        with self._translated_errors():
            response = self._client.post(
                f"{self._base_url}/api/show", json={"model": model}, headers=self._headers
            )
        if response.status_code >= 400:
            raise self._status_error(response, model)
        try:
            data = response.json()
        except ValueError as exc:
            raise BackendResponseError(
                f"{self.endpoint}/api/show answered with something that is not JSON — is "
                "OLLAMA_HOST pointing at an Ollama server?"
            ) from exc
        return data

    # ------------------------------------------------------------------ chat

    def chat(
        self, request: ChatRequest, on_text: TextSink, on_reasoning: TextSink | None = None
    ) -> Completion:
        """Stream one completion from ``/api/chat``; see the module docstring for sizing.
        Reasoning goes to ``on_reasoning``, never to ``on_text``."""
        estimate = estimate_messages_tokens([message.content for message in request.messages])
        warnings: list[str] = []
        support = self._support_for(request)
        check_think(request.think, support, request.model)
        budget = output_budget(request, support.thinks)
        num_ctx = request.num_ctx
        if num_ctx is None:
            limit = self.context_length(request.model)
            check_prompt_fits(estimate, limit, model=request.model)
            num_ctx = choose_num_ctx(estimate, budget, limit)
            if estimate + budget > num_ctx:
                warnings.append(
                    f"the prompt (about {estimate} tokens) leaves about {num_ctx - estimate} of "
                    f"the {budget} output tokens asked for in the "
                    f"{num_ctx}-token context of {request.model}"
                )
        else:
            check_prompt_fits(estimate, num_ctx, model=request.model)
        body = self._chat_body(request, num_ctx, budget)
        started = self._clock()
        stream = StreamText(on_text, on_reasoning, clock=self._clock)
        result = self._stream_chat(body, request, stream, budget)
        total_seconds = result.ended - started
        return self._completion(
            request,
            result,
            num_ctx=num_ctx,
            budget=budget,
            estimate=estimate,
            total_seconds=total_seconds,
            warnings=warnings,
        )

    def _support_for(self, request: ChatRequest) -> ThinkSupport:
        """Ask ``/api/show`` only when ``--think`` or the budget depends on it."""
        if request.think == "auto" and request.thinking_output_tokens is None:
            return UNKNOWN
        return self.think_support(request.model)

    def _chat_body(self, request: ChatRequest, num_ctx: int, budget: int) -> dict[str, Any]:
        options: dict[str, Any] = {"num_predict": budget, "num_ctx": num_ctx}
        if request.temperature is not None:
            options["temperature"] = request.temperature
        if request.seed is not None:
            options["seed"] = request.seed
        body: dict[str, Any] = {
            "model": request.model,
            "messages": wire_messages(request),
            "stream": True,
            "options": options,
            "truncate": False,
        }
        if request.keep_alive is not None:
            body["keep_alive"] = request.keep_alive
        think = ollama_think(request.think)
        if think is not None:
            body["think"] = think
        return body

    def _stream_chat(
        self, body: dict[str, Any], request: ChatRequest, stream: StreamText, budget: int
    ) -> _StreamResult:
        def read(response: httpx.Response) -> _StreamResult:
            if response.status_code >= 400:
                response.read()
                raise self._status_error(response, request.model)
            cap = output_chunk_cap(budget)
            return self._read_lines(response.iter_lines(), cap, stream)

        return stream_response(
            self._client,
            f"{self._base_url}/api/chat",
            body,
            headers=self._headers,
            endpoint=self.endpoint,
            read=read,
            messages=MESSAGES,
        )

    def _read_lines(self, lines: Iterator[str], cap: int, stream: StreamText) -> _StreamResult:
        chunks = 0
        for number, line in enumerate(lines, start=1):
            if not line or line.isspace():
                continue
            data = self._decode_line(line, number)
            thinking, content = _line_text(data)
            stream.reasoning_field(thinking)
            stream.content(content)
            if data.get("done") is True:
                stream.finish()
                return _StreamResult(stream, data, chunks, self._clock())
            chunks += 1
            if chunks > cap:
                stream.finish()
                return _StreamResult(stream, None, chunks, self._clock())
        raise cut_stream_error(self.endpoint)

    def _decode_line(self, line: str, number: int) -> dict[str, Any]:
        try:
            data = decode_json(line)
        except ValueError as exc:
            raise BackendResponseError(
                f"line {number} of the stream from {self.endpoint} is not JSON ({line[:80]!r}); "
                "nothing was written — check that the server is Ollama and run again"
            ) from exc
        if not isinstance(data, dict):
            raise BackendResponseError(
                f"line {number} of the stream from {self.endpoint} is not a JSON object "
                f"({line[:80]!r}); nothing was written — check that the server is Ollama"
            )
        message = error_message(data)
        if message is not None:
            raise context_overflow_error(self.endpoint, message) or BackendResponseError(
                f"Ollama at {self.endpoint} reported an error while generating: {message} — "
                "check the server log (`ollama serve` output) and run again"
            )
        return data

    def _completion(
        self,
        request: ChatRequest,
        result: _StreamResult,
        *,
        num_ctx: int,
        budget: int,
        estimate: int,
        total_seconds: float,
        warnings: list[str],
    ) -> Completion:
        final = result.final
        stream = result.stream
        if final is None:
            usage = Usage(
                output_tokens=result.chunks,
                total_seconds=total_seconds,
                done_reason="length",
                context_size=num_ctx,
            )
            warnings.append(
                f"the server kept streaming past the output limit of {budget} "
                f"tokens; route stopped reading after {result.chunks} chunks — the answer is cut"
            )
        else:
            usage = _usage_from_final(final, total_seconds, num_ctx)
            warnings.extend(_final_warnings(usage, budget, estimate))
        usage = replace(
            usage,
            reasoning_tokens=reasoning_tokens(stream.reasoning_chunks, usage.output_tokens),
            reasoning_seconds=stream.reasoning_seconds(result.ended),
        )
        return Completion(
            text=stream.text,
            usage=usage,
            model=request.model,
            backend=self.name,
            endpoint=self.endpoint,
            warnings=tuple(warnings),
            reasoning=stream.reasoning_text,
            still_reasoning=stream.still_reasoning,
            reasoning_source=stream.source,
            max_output_tokens=budget,
        )

    # ------------------------------------------------------------------ errors

    def _translated_errors(self) -> contextlib.AbstractContextManager[None]:
        from route.backends.transport import translated_transport_errors

        return translated_transport_errors(
            unreachable=lambda: unreachable_error(self.endpoint, MESSAGES),
            timeout=lambda: timeout_error(self._client, self.endpoint),
        )

    def _status_error(self, response: httpx.Response, model: str) -> BackendError | PromptTooLong:
        return status_error(response, self.endpoint, model, MESSAGES)


def _line_text(data: dict[str, Any]) -> tuple[str, str]:
    """``(reasoning, content)`` of one streamed line: ``message.thinking`` and
    ``message.content`` (``/api/chat``), or ``thinking`` and ``response`` (``/api/generate``)."""
    message = data.get("message")
    source = message if isinstance(message, dict) else data
    thinking = source.get("thinking")
    content = source.get("content") if source is message else data.get("response")
    return (
        thinking if isinstance(thinking, str) else "",
        content if isinstance(content, str) else "",
    )


def _context_from_show(data: object) -> int | None:
    """The context length in an ``/api/show`` answer, or None when it is not there."""
    if not isinstance(data, dict):
        return None
    info = data.get("model_info")
    if not isinstance(info, dict):
        return None
    architecture = info.get("general.architecture")
    value = info.get(f"{architecture}.context_length") if architecture else None
    if value is None:
        value = next(
            (item for key, item in info.items() if key.endswith(".context_length")),
            None,
        )
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None


def _count(final: dict[str, Any], key: str) -> int:
    value = final.get(key, 0)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _usage_from_final(final: dict[str, Any], total_seconds: float, num_ctx: int) -> Usage:
    """Usage from the ``done: true`` line (missing fields are 0, durations in nanoseconds)."""
    done_reason = final.get("done_reason")
    return Usage(
        prompt_tokens=_count(final, "prompt_eval_count"),
        output_tokens=_count(final, "eval_count"),
        load_seconds=_count(final, "load_duration") / NANOSECONDS,
        prompt_seconds=_count(final, "prompt_eval_duration") / NANOSECONDS,
        generation_seconds=_count(final, "eval_duration") / NANOSECONDS,
        total_seconds=total_seconds,
        done_reason=done_reason if isinstance(done_reason, str) else "",
        context_size=num_ctx,
    )


def _final_warnings(usage: Usage, max_output_tokens: int, estimate: int) -> list[str]:
    warnings: list[str] = []
    if usage.done_reason == "length":
        warnings.append(
            f"output stopped at the length limit of {max_output_tokens} tokens — raise "
            "max_output_tokens"
        )
    if estimate > TRUNCATION_MIN_ESTIMATE and 0 < usage.prompt_tokens < estimate * TRUNCATION_RATIO:
        warnings.append(
            f"the server read {usage.prompt_tokens} prompt tokens where route estimated about "
            f"{estimate}: the server may have truncated the prompt — use a model with a longer "
            "context or send less context"
        )
    return warnings
