"""Ollama's native API: ``POST /api/chat`` streamed as NDJSON, context sized with ``num_ctx``.

Why the native API rather than Ollama's ``/v1``: only the native API can set ``num_ctx``. Without
it the server picks a default (2048 to 262144 depending on version and GPU memory) and silently
cuts longer prompts. So route asks ``/api/show`` for the model's context length, sends a
``num_ctx`` from a small set of stable sizes (powers of two from 4096, so successive calls do not
reload the model), refuses a prompt that cannot fit before generating, and sends the undocumented
``truncate: false`` so newer servers answer with an error rather than a shortened prompt.

What both backends share (the prompt-fit check, the output cap, error texts, the streamed
request) lives in ``route.backends.common``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
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
    status_error,
    stream_response,
    timeout_error,
    unreachable_error,
    wire_messages,
)
from route.backends.hosts import redact_url
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
    text: str
    final: dict[str, Any] | None  # the done:true line, None when route stopped reading
    chunks: int


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
        self._context_lengths: dict[str, int | None] = {}

    # ------------------------------------------------------------------ context length

    def context_length(self, model: str) -> int | None:
        """``model_info["<general.architecture>.context_length"]`` from ``/api/show``, cached."""
        if model not in self._context_lengths:
            self._context_lengths[model] = self._fetch_context_length(model)
        return self._context_lengths[model]

    def _fetch_context_length(self, model: str) -> int | None:
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
        return _context_from_show(data)

    # ------------------------------------------------------------------ chat

    def chat(self, request: ChatRequest, on_text: TextSink) -> Completion:
        """Stream one completion from ``/api/chat``; see the module docstring for sizing."""
        estimate = estimate_messages_tokens([message.content for message in request.messages])
        warnings: list[str] = []
        num_ctx = request.num_ctx
        if num_ctx is None:
            limit = self.context_length(request.model)
            check_prompt_fits(estimate, limit, model=request.model)
            num_ctx = choose_num_ctx(estimate, request.max_output_tokens, limit)
            if estimate + request.max_output_tokens > num_ctx:
                warnings.append(
                    f"the prompt (about {estimate} tokens) leaves about {num_ctx - estimate} of "
                    f"the {request.max_output_tokens} output tokens asked for in the "
                    f"{num_ctx}-token context of {request.model}"
                )
        else:
            check_prompt_fits(estimate, num_ctx, model=request.model)
        body = self._chat_body(request, num_ctx)
        started = self._clock()
        result = self._stream_chat(body, request, on_text)
        total_seconds = self._clock() - started
        return self._completion(
            request,
            result,
            num_ctx=num_ctx,
            estimate=estimate,
            total_seconds=total_seconds,
            warnings=warnings,
        )

    def _chat_body(self, request: ChatRequest, num_ctx: int) -> dict[str, Any]:
        options: dict[str, Any] = {"num_predict": request.max_output_tokens, "num_ctx": num_ctx}
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
        return body

    def _stream_chat(
        self, body: dict[str, Any], request: ChatRequest, on_text: TextSink
    ) -> _StreamResult:
        def read(response: httpx.Response) -> _StreamResult:
            if response.status_code >= 400:
                response.read()
                raise self._status_error(response, request.model)
            cap = output_chunk_cap(request.max_output_tokens)
            return self._read_lines(response.iter_lines(), cap, on_text)

        return stream_response(
            self._client,
            f"{self._base_url}/api/chat",
            body,
            headers=self._headers,
            endpoint=self.endpoint,
            read=read,
            messages=MESSAGES,
        )

    def _read_lines(self, lines: Iterator[str], cap: int, on_text: TextSink) -> _StreamResult:
        pieces: list[str] = []
        chunks = 0
        for number, line in enumerate(lines, start=1):
            if not line or line.isspace():
                continue
            data = self._decode_line(line, number)
            message = data.get("message")
            content = message.get("content") if isinstance(message, dict) else None
            if isinstance(content, str) and content:
                pieces.append(content)
                on_text(content)
            if data.get("done") is True:
                return _StreamResult("".join(pieces), data, chunks)
            chunks += 1
            if chunks > cap:
                return _StreamResult("".join(pieces), None, chunks)
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
        estimate: int,
        total_seconds: float,
        warnings: list[str],
    ) -> Completion:
        final = result.final
        if final is None:
            usage = Usage(
                output_tokens=result.chunks,
                total_seconds=total_seconds,
                done_reason="length",
                context_size=num_ctx,
            )
            warnings.append(
                f"the server kept streaming past the output limit of {request.max_output_tokens} "
                f"tokens; route stopped reading after {result.chunks} chunks — the answer is cut"
            )
        else:
            usage = _usage_from_final(final, total_seconds, num_ctx)
            warnings.extend(_final_warnings(usage, request.max_output_tokens, estimate))
        return Completion(
            text=result.text,
            usage=usage,
            model=request.model,
            backend=self.name,
            endpoint=self.endpoint,
            warnings=tuple(warnings),
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
