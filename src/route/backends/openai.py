"""OpenAI-compatible servers: ``POST {base}/chat/completions`` streamed as Server-Sent Events.

Works with llama.cpp's llama-server, LM Studio, vLLM, SGLang and Ollama's ``/v1``. Token counts
come from the final usage chunk (``stream_options.include_usage``); llama-server's ``timings``
add prompt and generation speed and cached tokens. When a server sends no timings, route times
the stream itself: prompt time is the wait for the first text, generation time the rest.

The context size comes from config, else from llama-server's ``GET /props`` (per-slot ``n_ctx``),
else it is unknown; when known, the prompt is checked against it before generating. A 503 (a
llama-server still loading its model) is retried with exponential backoff for up to
``load_wait_seconds``. The API key is only ever put in the ``Authorization`` header.

Reasoning models: ``delta.reasoning_content`` (llama.cpp, vLLM, SGLang, DeepSeek) and
``delta.reasoning`` (Ollama's ``/v1``, OpenRouter) are kept apart from the answer, and so is
reasoning inline at the start of the content (``route.backends.reasoning``). ``--think`` becomes
``chat_template_kwargs.enable_thinking`` or ``reasoning_effort`` (``route.backends.thinking``);
the server cannot say which values a model accepts, so they are sent unchecked.
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
from route.backends.hosts import openai_base_url, redact_url, server_root
from route.backends.reasoning import StreamText
from route.backends.thinking import openai_think_fields, output_budget
from route.errors import (
    BackendBusy,
    BackendError,
    BackendResponseError,
    PromptTooLong,
)
from route.prompting.tokens import estimate_messages_tokens
from route.values import ChatRequest, Completion, Usage

if TYPE_CHECKING:
    import httpx

FIRST_RETRY_DELAY = 0.5  # seconds before the first retry of a 503; doubled each time
LONGEST_RETRY_DELAY = 8.0
MILLISECONDS = 1000.0
_DONE = "[DONE]"
MESSAGES = ServerMessages(
    unreachable="the OpenAI-compatible server is not reachable at {endpoint} — start "
    "llama-server, LM Studio or vLLM, or fix --base-url",
    not_found="the server at {endpoint} has no model {model} or no /chat/completions endpoint "
    "({detail}) — check the model name (GET {endpoint}/models lists them) and that --base-url "
    "includes /v1",
    refused="the server at {endpoint} rejected the API key ({detail}) — set the environment "
    "variable named by `api_key_env` in the route config to a valid key",
    busy="the server at {endpoint} is busy or rate-limited ({detail}) — retry later",
    other="the server at {endpoint} answered {detail} — check the request and the server log",
)


@dataclass(slots=True)
class _StreamState:
    """What the SSE reader has seen so far (mutable, private to one ``chat`` call)."""

    stream: StreamText
    chunks: int = 0
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    timings: dict[str, Any] | None = None
    done: bool = False  # [DONE] arrived
    capped: bool = False  # route stopped reading at the output cap
    first_text_at: float | None = None
    last_text_at: float | None = None


class OpenAIBackend:
    """Streams chat completions from an OpenAI-compatible ``/chat/completions`` endpoint."""

    name = "openai"

    def __init__(
        self,
        client: httpx.Client,
        base_url: str,
        *,
        api_key: str | None = None,
        context_size: int | None = None,
        load_wait_seconds: float = 120.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._base_url = openai_base_url(base_url)
        self.endpoint = redact_url(self._base_url)
        self._headers = auth_headers(api_key)
        self._context_size = context_size
        self._load_wait_seconds = load_wait_seconds
        self._sleep = sleep
        self._clock = clock
        self._context_lengths: dict[str, int | None] = {}

    # ------------------------------------------------------------------ context length

    def context_length(self, model: str) -> int | None:
        """The configured context size, else llama-server's per-slot ``n_ctx`` from ``/props``,
        else None (vLLM, LM Studio and Ollama's ``/v1`` have no ``/props``)."""
        if self._context_size is not None:
            return self._context_size
        if model not in self._context_lengths:
            found, definitive = self._fetch_props_context()
            if not definitive:
                return found
            self._context_lengths[model] = found
        return self._context_lengths[model]

    def _fetch_props_context(self) -> tuple[int | None, bool]:
        """``(n_ctx or None, whether the answer may be cached)``."""
        with self._translated_errors():
            response = self._client.get(
                f"{server_root(self._base_url)}/props", headers=self._headers
            )
        if response.status_code == 503:
            return None, False  # still loading: ask again next time
        if response.status_code >= 400:
            return None, True
        try:
            data = response.json()
        except ValueError:
            return None, True
        return _context_from_props(data), True

    # ------------------------------------------------------------------ chat

    def chat(
        self, request: ChatRequest, on_text: TextSink, on_reasoning: TextSink | None = None
    ) -> Completion:
        """Stream one completion; retry while the server reports it is loading (503).
        Reasoning goes to ``on_reasoning``, never to ``on_text``."""
        estimate = estimate_messages_tokens([message.content for message in request.messages])
        limit = self.context_length(request.model)
        check_prompt_fits(estimate, limit, model=request.model)
        budget = output_budget(request, None)
        body = self._chat_body(request, budget)
        started = self._clock()
        state = self._stream_with_retries(body, request, on_text, on_reasoning)
        total_seconds = self._clock() - started
        return self._completion(
            request, state, started, total_seconds, context_size=limit, budget=budget
        )

    def _chat_body(self, request: ChatRequest, budget: int) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": request.model,
            "messages": wire_messages(request),
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": budget,
        }
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.seed is not None:
            body["seed"] = request.seed
        body.update(openai_think_fields(request.think))
        return body

    def _stream_with_retries(
        self,
        body: dict[str, Any],
        request: ChatRequest,
        on_text: TextSink,
        on_reasoning: TextSink | None,
    ) -> _StreamState:
        waited = 0.0
        delay = FIRST_RETRY_DELAY
        while True:
            stream = StreamText(on_text, on_reasoning, clock=self._clock)
            state = self._stream_once(body, request, stream)
            if state is not None:
                return state
            if waited >= self._load_wait_seconds:
                raise BackendBusy(
                    f"the server at {self.endpoint} still answered 503 (loading or busy) after "
                    f"waiting {waited:g} seconds — wait for it to finish loading (GET /health), "
                    "or raise `load_wait_seconds` in the route config"
                )
            step = min(delay, self._load_wait_seconds - waited)
            self._sleep(step)
            waited += step
            delay = min(delay * 2, LONGEST_RETRY_DELAY)

    def _stream_once(
        self, body: dict[str, Any], request: ChatRequest, stream: StreamText
    ) -> _StreamState | None:
        """One request; None when the server answered 503 and the call should be retried."""

        def read(response: httpx.Response) -> _StreamState | None:
            if response.status_code == 503:
                response.read()
                return None
            if response.status_code >= 400:
                response.read()
                raise self._status_error(response, request.model)
            cap = output_chunk_cap(body["max_tokens"])
            return self._read_events(response.iter_lines(), cap, stream)

        return stream_response(
            self._client,
            f"{self._base_url}/chat/completions",
            body,
            headers=self._headers,
            endpoint=self.endpoint,
            read=read,
            messages=MESSAGES,
        )

    def _read_events(self, lines: Iterator[str], cap: int, stream: StreamText) -> _StreamState:
        state = _StreamState(stream)
        for number, line in enumerate(lines, start=1):
            payload = _data_payload(line)
            if payload is None:
                continue
            if payload == _DONE:
                state.done = True
                break
            self._apply_event(state, self._decode_event(payload, number))
            if state.chunks > cap:
                state.capped = True
                break
        if not (state.done or state.capped or state.finish_reason is not None):
            raise cut_stream_error(self.endpoint)
        stream.finish()
        return state

    def _decode_event(self, payload: str, number: int) -> dict[str, Any]:
        try:
            data = decode_json(payload)
        except ValueError as exc:
            raise BackendResponseError(
                f"line {number} of the stream from {self.endpoint} is not JSON "
                f"({payload[:80]!r}); nothing was written — check --base-url and run again"
            ) from exc
        message = error_message(data)
        if message is not None:
            raise context_overflow_error(self.endpoint, message) or BackendResponseError(
                f"the server at {self.endpoint} reported an error while generating: {message} — "
                "check the server log and run again"
            )
        if not isinstance(data, dict):
            raise BackendResponseError(
                f"line {number} of the stream from {self.endpoint} is not a JSON object "
                f"({payload[:80]!r}); nothing was written — check --base-url"
            )
        return data

    def _apply_event(self, state: _StreamState, data: dict[str, Any]) -> None:
        choices = data.get("choices")
        if isinstance(choices, list) and choices and isinstance(choices[0], dict):
            choice = choices[0]
            reasoning, content = _delta_text(choice.get("delta"))
            if reasoning or content:
                now = self._clock()
                if state.first_text_at is None:
                    state.first_text_at = now
                state.last_text_at = now
                state.stream.reasoning_field(reasoning)
                state.stream.content(content)
            state.chunks += 1
            reason = choice.get("finish_reason")
            if isinstance(reason, str) and reason:
                state.finish_reason = reason
        usage = data.get("usage")
        if isinstance(usage, dict):
            state.usage = usage
        timings = data.get("timings")
        if isinstance(timings, dict):
            state.timings = timings

    def _completion(
        self,
        request: ChatRequest,
        state: _StreamState,
        started: float,
        total_seconds: float,
        *,
        context_size: int | None,
        budget: int,
    ) -> Completion:
        usage, warnings = _usage(state, started, total_seconds, context_size)
        stream = state.stream
        counted = _number(_details(state.usage), "reasoning_tokens")
        usage = replace(
            usage,
            reasoning_tokens=int(counted)
            if counted is not None
            else reasoning_tokens(stream.reasoning_chunks, usage.output_tokens),
            reasoning_seconds=stream.reasoning_seconds(started + total_seconds),
        )
        if state.capped:
            usage = replace(
                usage, done_reason="length", output_tokens=usage.output_tokens or state.chunks
            )
            warnings.append(
                f"the server kept streaming past the output limit of {budget} "
                f"tokens; route stopped reading after {state.chunks} chunks — the answer is cut"
            )
        elif usage.done_reason == "length":
            warnings.append(
                f"output stopped at the length limit of {budget} tokens — raise max_output_tokens"
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


def _data_payload(line: str) -> str | None:
    """The payload of an SSE ``data:`` line, None for comments, blanks and other fields.

    A bare JSON object line (some proxies send errors that way) is treated as data too.
    """
    stripped = line.strip()
    if stripped.startswith("data:"):
        return stripped[len("data:") :].strip()
    if stripped.startswith("{"):
        return stripped
    return None


def _delta_text(delta: object) -> tuple[str, str]:
    """``(reasoning, content)`` of one streamed delta: reasoning in ``reasoning_content``
    (llama.cpp, vLLM, DeepSeek) or ``reasoning`` (Ollama's ``/v1``, OpenRouter)."""
    if not isinstance(delta, dict):
        return "", ""
    reasoning = delta.get("reasoning_content")
    if not isinstance(reasoning, str) or not reasoning:
        reasoning = delta.get("reasoning")
    content = delta.get("content")
    return (
        reasoning if isinstance(reasoning, str) else "",
        content if isinstance(content, str) else "",
    )


def _details(usage: dict[str, Any] | None) -> dict[str, Any] | None:
    details = usage.get("completion_tokens_details") if usage is not None else None
    return details if isinstance(details, dict) else None


def _context_from_props(data: object) -> int | None:
    if not isinstance(data, dict):
        return None
    settings = data.get("default_generation_settings")
    candidates = [settings.get("n_ctx") if isinstance(settings, dict) else None, data.get("n_ctx")]
    for value in candidates:
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def _number(mapping: dict[str, Any] | None, key: str) -> float | None:
    if mapping is None:
        return None
    value = mapping.get(key)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _usage(
    state: _StreamState, started: float, total_seconds: float, context_size: int | None
) -> tuple[Usage, list[str]]:
    """Usage from the usage chunk, else from llama.cpp timings, else zeros with a warning."""
    warnings: list[str] = []
    usage, timings = state.usage, state.timings
    prompt = _number(usage, "prompt_tokens")
    output = _number(usage, "completion_tokens")
    if prompt is None and timings is not None:
        processed = _number(timings, "prompt_n")
        cached = _number(timings, "cache_n") or 0.0
        prompt = None if processed is None else processed + cached
    if output is None:
        output = _number(timings, "predicted_n")
    if prompt is None and output is None:
        warnings.append(
            "the server did not report token counts; token figures are 0 for this answer"
        )
    details = usage.get("prompt_tokens_details") if usage is not None else None
    cached_tokens = _number(details if isinstance(details, dict) else None, "cached_tokens")
    if cached_tokens is None:
        cached_tokens = _number(timings, "cache_n")
    prompt_ms = _number(timings, "prompt_ms")
    predicted_ms = _number(timings, "predicted_ms")
    if prompt_ms is not None and predicted_ms is not None:
        prompt_seconds, generation_seconds = prompt_ms / MILLISECONDS, predicted_ms / MILLISECONDS
    else:
        prompt_seconds, generation_seconds = _measured_seconds(state, started)
    return (
        Usage(
            prompt_tokens=int(prompt or 0),
            output_tokens=int(output or 0),
            cached_prompt_tokens=None if cached_tokens is None else int(cached_tokens),
            prompt_seconds=prompt_seconds,
            generation_seconds=generation_seconds,
            total_seconds=total_seconds,
            done_reason=state.finish_reason or "",
            context_size=context_size,
        ),
        warnings,
    )


def _measured_seconds(state: _StreamState, started: float) -> tuple[float, float]:
    """(time to first text, time from first to last text) as measured by route."""
    if state.first_text_at is None or state.last_text_at is None:
        return 0.0, 0.0
    return state.first_text_at - started, state.last_text_at - state.first_text_at
