"""What the Ollama and OpenAI-compatible backends share: the prompt-fit check, the output cap,
reading a server's error text, the errors for timeouts, cut streams and over-long prompts, and
the streamed request with its transport errors translated.

Both backends refuse a prompt that cannot fit before generating (``check_prompt_fits``), stop
reading a server that ignores the output limit (``output_chunk_cap``), and turn httpx's
exceptions into ``route.errors`` classes through ``route.backends.transport``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from route.errors import (
    BackendAuthError,
    BackendBusy,
    BackendError,
    BackendResponseError,
    BackendTimeout,
    BackendUnreachable,
    ModelNotFound,
    PromptTooLong,
)
from route.values import ChatRequest

if TYPE_CHECKING:
    import httpx

Answer = TypeVar("Answer")

MINIMUM_OUTPUT_TOKENS = 256  # a prompt that leaves less than this for the answer is refused
OUTPUT_CAP_SLACK = 64  # chunks tolerated beyond max_output_tokens before route stops reading
_ERROR_TEXT_LIMIT = 300
# How servers say a prompt does not fit: Ollama with truncate:false, llama-server, vLLM/OpenAI.
_CONTEXT_OVERFLOW_PHRASES = (
    "exceeds the context length",
    "exceeds the available context size",
    "exceed_context_size",
    "maximum context length",
    "context_length_exceeded",
)


@dataclass(frozen=True, slots=True)
class ServerMessages:
    """What a backend tells the user when its server fails: ``str.format`` templates filled with
    ``endpoint``, ``detail`` (``HTTP 503: <what the server said>``) and ``model``."""

    unreachable: str  # no connection at all
    not_found: str  # 404: the model (or the endpoint path) does not exist
    refused: str  # 401 / 403: the key is missing or wrong
    busy: str  # one of busy_statuses: overloaded, rate-limited or queue full
    other: str  # any other error status
    busy_statuses: tuple[int, ...] = (429,)


def auth_headers(api_key: str | None) -> dict[str, str]:
    """The ``Authorization`` header for ``api_key`` (the only place a key is ever sent)."""
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def wire_messages(request: ChatRequest) -> list[dict[str, str]]:
    """The request's messages as both APIs take them: ``[{"role": ..., "content": ...}]``."""
    return [{"role": message.role, "content": message.content} for message in request.messages]


def check_prompt_fits(prompt_tokens: int, context_limit: int | None, *, model: str) -> None:
    """Raise ``PromptTooLong`` when the estimated prompt plus a minimal answer cannot fit."""
    if context_limit is None or context_limit <= 0:
        return
    if prompt_tokens + MINIMUM_OUTPUT_TOKENS <= context_limit:
        return
    raise PromptTooLong(
        f"the prompt is about {prompt_tokens} tokens, and with at least {MINIMUM_OUTPUT_TOKENS} "
        f"tokens for the answer it does not fit in the {context_limit}-token context of {model} — "
        "cite fewer skill sections, pass fewer or smaller context files (-c), or use a model "
        "with a longer context"
    )


def reasoning_tokens(reasoning_chunks: int, output_tokens: int) -> int:
    """Reasoning tokens from the streamed chunks that carried reasoning (about one token each),
    never more than the server's output count when it gave one."""
    return min(reasoning_chunks, output_tokens) if output_tokens > 0 else reasoning_chunks


def output_chunk_cap(max_output_tokens: int) -> int:
    """How many streamed chunks route reads before it stops a server that ignores the limit."""
    return max_output_tokens + OUTPUT_CAP_SLACK


def context_overflow_error(endpoint: str, said: str) -> PromptTooLong | None:
    """``PromptTooLong`` when the server's error text says the prompt does not fit, else None."""
    lowered = said.lower()
    if not any(phrase in lowered for phrase in _CONTEXT_OVERFLOW_PHRASES):
        return None
    return PromptTooLong(
        f"the server at {endpoint} refused the prompt as longer than the model's context "
        f"({said}) — cite fewer skill sections, pass fewer or smaller context files (-c), or use "
        "a model with a longer context"
    )


def server_error_text(response: httpx.Response) -> str:
    """The server's own error message from a read response: ``{"error": "..."}``,
    ``{"error": {"message": "..."}}``, or the start of a plain-text body ("" when empty)."""
    body = response.text.strip()
    try:
        data = json.loads(body)
    except ValueError:
        return body[:_ERROR_TEXT_LIMIT]
    return error_message(data) or body[:_ERROR_TEXT_LIMIT]


def status_detail(response: httpx.Response) -> str:
    """``HTTP 503: <the server's message>``, or ``HTTP 503`` when it said nothing."""
    said = server_error_text(response)
    return f"HTTP {response.status_code}: {said}" if said else f"HTTP {response.status_code}"


_DECODER = json.JSONDecoder()


def decode_json(text: str) -> object:
    """One JSON value per streamed line, as ``json.loads`` but on the hot path: the decoder's
    ``raw_decode`` directly (no per-line type checks and whitespace regex of ``loads``). Extra
    text after the value is a ``ValueError``, like ``loads``."""
    if text[:1].isspace():
        text = text.lstrip()
    value, end = _DECODER.raw_decode(text)
    if end != len(text) and not text[end:].isspace():
        raise ValueError(f"extra data after the JSON value at character {end}")
    return value


def error_message(data: object) -> str | None:
    """The message of an ``error`` field in a decoded JSON value, or None when it has none."""
    if not isinstance(data, dict) or "error" not in data:
        return None
    error = data["error"]
    if isinstance(error, dict):
        message = error.get("message")
        return str(message) if message is not None else json.dumps(error)
    return str(error)


def timeout_error(client: httpx.Client, endpoint: str) -> BackendTimeout:
    """The error for a server that sent nothing for longer than the client's read timeout."""
    seconds = client.timeout.read
    waited = f"{seconds:g} seconds" if seconds is not None else "the read timeout"
    return BackendTimeout(
        f"the server at {endpoint} sent nothing for {waited} — it may be loading a large model "
        "or overloaded; raise `read_timeout` in the route config, or try again"
    )


def cut_stream_error(endpoint: str) -> BackendResponseError:
    """The error for a stream that ended before the server said the answer was complete."""
    return BackendResponseError(
        f"the stream from {endpoint} ended before the answer was complete (connection cut or "
        "server stopped); nothing was written — check the server log and run again"
    )


def status_error(
    response: httpx.Response, endpoint: str, model: str, messages: ServerMessages
) -> BackendError | PromptTooLong:
    """The error for a read response with an error status (a prompt the server found too
    long is ``PromptTooLong`` whatever the status)."""
    status = response.status_code
    detail = status_detail(response)
    fields = {"endpoint": endpoint, "detail": detail, "model": model}
    if status == 404:
        return ModelNotFound(messages.not_found.format(**fields))
    if status in (401, 403):
        return BackendAuthError(messages.refused.format(**fields))
    if status in messages.busy_statuses:
        return BackendBusy(messages.busy.format(**fields))
    overflow = context_overflow_error(endpoint, detail)
    if overflow is not None:
        return overflow
    return BackendResponseError(messages.other.format(**fields))


def stream_response(
    client: httpx.Client,
    url: str,
    body: dict[str, Any],
    *,
    headers: Mapping[str, str],
    endpoint: str,
    read: Callable[[httpx.Response], Answer],
    messages: ServerMessages,
) -> Answer:
    """POST ``body`` to ``url`` as a stream and return what ``read`` makes of the response.

    httpx's errors become route's: a read timeout ``BackendTimeout``, a connection cut
    mid-stream ``BackendResponseError``, any other transport failure ``BackendUnreachable``
    (``messages.unreachable``).
    """
    from route.backends.transport import translated_transport_errors

    with (
        translated_transport_errors(
            unreachable=lambda: unreachable_error(endpoint, messages),
            timeout=lambda: timeout_error(client, endpoint),
            cut=lambda: cut_stream_error(endpoint),
        ),
        client.stream("POST", url, json=body, headers=headers) as response,
    ):
        return read(response)


def unreachable_error(endpoint: str, messages: ServerMessages) -> BackendUnreachable:
    """The error for a server that does not answer at all."""
    return BackendUnreachable(messages.unreachable.format(endpoint=endpoint))
