"""A loopback fake model server for tests: Ollama's native API or an OpenAI-compatible server.

``FakeModelServer`` is a real HTTP server on 127.0.0.1 (a free port, one daemon thread per
connection) that streams answers the way Ollama and llama.cpp's llama-server do, and misbehaves
on request. Use it wherever a test needs a model server on the wire::

    from tests.servers import FakeModelServer

    with FakeModelServer(mode="ollama") as server:
        server.enqueue("path/to/file.py\\n```python\\nprint(1)\\n```\\n", output_tokens=12)
        server.enqueue_fault("cut")
        ... # point route at server.url (Ollama) or server.openai_url (OpenAI-compatible)
        assert server.requests[0]["options"]["num_ctx"] == 4096

Modes:

- ``"ollama"``: ``GET /`` ("Ollama is running"), ``GET /api/version``, ``GET /api/tags``,
  ``GET /api/ps``, ``POST /api/show`` (``model_info["llama.context_length"]``), ``POST /api/chat``
  (NDJSON), and Ollama's OpenAI-compatible ``POST /v1/chat/completions`` (no ``timings``) and
  ``GET /v1/models``.
- ``"openai"`` (like llama-server): ``/api/*`` answers 404, ``GET /health`` ``{"status":"ok"}``,
  ``GET /props`` (per-slot ``n_ctx`` = ``context_length // parallel``), ``GET /v1/models``,
  ``POST /v1/chat/completions`` (SSE with a usage chunk and llama.cpp ``timings``).

Answers and faults share one first-in, first-out queue consumed by the chat endpoints only
(``/api/chat`` and ``/v1/chat/completions``). When the queue is empty the server streams
``default_answer``, or answers HTTP 500 ``{"error": "no answer queued"}`` when ``default_answer``
is None. Text is streamed in pieces of ``chunk_size`` characters; one piece counts as one token
for ``num_predict`` / ``max_tokens`` (a longer answer is cut there with ``done_reason``
"length"); ``chunk_delay`` seconds pass between pieces (a slow model). Unless given, the prompt
token count is
``route.prompting.tokens.estimate_messages_tokens`` of the request's messages,
and the output count is the number of pieces sent.

Reasoning models: ``enqueue(text, reasoning="...", reasoning_as=...)`` streams the reasoning
first, in pieces of ``chunk_size`` like the text (they count as output tokens too):
``"field"`` puts it in Ollama's ``message.thinking`` or OpenAI's ``delta.reasoning_content``,
``"reasoning"`` in OpenAI's ``delta.reasoning`` (Ollama's ``/v1``), ``"inline"`` in the content
as ``<think>…</think>`` (``"inline_thinking"``: ``<thinking>…</thinking>``). ``capabilities``
and ``family`` are what ``/api/show`` reports.

A chat request for a model not in ``models`` (when ``models`` is given) answers 404 without
consuming the queue, as does ``/api/show``. For connection-refused tests use ``free_port()``: an
address where nothing listens.

Fault kinds for ``enqueue_fault``: see ``FAULT_KINDS``. Every sleeping fault waits on an event
that ``stop()`` sets, so ``stop()`` never hangs; ``stop()`` also shuts down open connections and is
idempotent. Nothing listens anywhere but 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

from route.prompting.tokens import estimate_messages_tokens

Mode = Literal["ollama", "openai"]
Api = Literal["ollama", "openai"]

DEFAULT_ANSWER = (
    "hello.py\n```python\ndef hello() -> str:\n    return 'hello'\n```\n"
    "The function returns a greeting.\n"
)

FAULT_KINDS = {
    "http_401": "401 with a JSON error body",
    "http_404": "404 with a JSON error body (model not found)",
    "http_500": "500 with a JSON error body",
    "http_503": "503 with a JSON error body (Ollama: queue full; OpenAI: Loading model)",
    "http_503_plain": "503 with an empty body",
    "midstream_error": "200, two text chunks, then an error line, then the body ends",
    "cut": "200, half of the default answer, then the socket closes mid-body",
    "truncated": "200, half of the default answer, then a clean end without done / [DONE]",
    "stall": "200, headers and one chunk, then nothing until the server stops",
    "malformed": "200, one chunk, then a line that is not JSON, then the rest of the answer",
    "endless": "200, text chunks forever, never done, until the client disconnects",
    "loading_then_ok": (
        "503 'Loading model' `times` times (default loading_responses), then whatever is next "
        "in the queue (or the default answer)"
    ),
}


@dataclass(frozen=True)
class Answer:
    """One queued answer."""

    text: str
    prompt_tokens: int | None = None
    output_tokens: int | None = None
    done_reason: str = "stop"
    cached_tokens: int = 0
    reasoning: str = ""
    reasoning_as: str = "field"  # "field", "reasoning", "inline" or "inline_thinking"


REASONING_SHAPES = ("field", "reasoning", "inline", "inline_thinking")


@dataclass(frozen=True)
class Fault:
    kind: str


def free_port() -> int:
    """A TCP port on 127.0.0.1 where nothing listens (for connection-refused tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


class _ClientGone(Exception):
    """The client closed the connection while the server was writing."""


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeModelServer


class FakeModelServer:
    """A fake Ollama / OpenAI-compatible server on 127.0.0.1; see the module docstring."""

    def __init__(
        self,
        mode: Mode = "ollama",
        *,
        context_length: int = 32768,
        chunk_size: int = 8,
        chunk_delay: float = 0.0,
        parallel: int = 1,
        default_answer: str | None = DEFAULT_ANSWER,
        models: Iterable[str] | None = None,
        props: Mapping[str, Any] | None = None,
        loading_responses: int = 2,
        send_usage: bool = True,
        send_timings: bool | None = None,
        version: str = "0.12.6",
        capabilities: Iterable[str] = ("completion",),
        family: str = "llama",
    ) -> None:
        if mode not in ("ollama", "openai"):
            raise ValueError(f"mode must be 'ollama' or 'openai', not {mode!r}")
        self.mode: Mode = mode
        self.context_length = context_length
        self.chunk_size = max(1, chunk_size)
        self.chunk_delay = chunk_delay  # seconds between streamed pieces: a slow model
        self.parallel = max(1, parallel)
        self.default_answer = default_answer
        self.models = None if models is None else tuple(models)
        self.props = dict(props) if props is not None else None
        self.loading_responses = loading_responses
        self.send_usage = send_usage
        self.send_timings = mode == "openai" if send_timings is None else send_timings
        self.version = version
        self.capabilities = list(capabilities)
        self.family = family
        self.requests: list[dict[str, Any]] = []  # JSON bodies received on chat endpoints
        self.headers: list[dict[str, str]] = []  # headers of those requests, same order
        self.paths: list[str] = []  # "METHOD /path" of every request, in arrival order
        self._lock = threading.Lock()
        self._queue: deque[Answer | Fault] = deque()
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._threads: set[threading.Thread] = set()
        self._stopped = False
        self._server = _HTTPServer(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fake-model-server-{self.port}",
            daemon=True,
        )
        self._thread.start()

    # ------------------------------------------------------------------ public

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_url(self) -> str:
        return f"{self.url}/v1"

    def enqueue(
        self,
        text: str,
        *,
        prompt_tokens: int | None = None,
        output_tokens: int | None = None,
        done_reason: str = "stop",
        cached_tokens: int = 0,
        reasoning: str = "",
        reasoning_as: str = "field",
    ) -> None:
        """Queue an answer for the next chat request (with ``reasoning`` streamed first)."""
        if reasoning_as not in REASONING_SHAPES:
            raise ValueError(f"reasoning_as must be one of {REASONING_SHAPES}")
        with self._lock:
            self._queue.append(
                Answer(
                    text,
                    prompt_tokens,
                    output_tokens,
                    done_reason,
                    cached_tokens,
                    reasoning,
                    reasoning_as,
                )
            )

    def enqueue_fault(self, kind: str, *, times: int | None = None) -> None:
        """Queue a fault for the next chat request (``times`` only for ``loading_then_ok``)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; known: {', '.join(sorted(FAULT_KINDS))}")
        with self._lock:
            if kind == "loading_then_ok":
                count = self.loading_responses if times is None else times
                self._queue.extend(Fault("http_503_loading") for _ in range(count))
            else:
                self._queue.append(Fault(kind))

    @property
    def pending(self) -> int:
        """How many queued answers and faults have not been served yet."""
        with self._lock:
            return len(self._queue)

    def stop(self) -> None:
        """Stop serving, wake sleeping faults, close open connections. Safe to call twice."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            connections = list(self._connections)
            threads = list(self._threads)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(timeout=5)
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeModelServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ used by the handler

    def _register(self, connection: socket.socket, *, opened: bool) -> None:
        with self._lock:
            if opened:
                self._connections.add(connection)
                self._threads.add(threading.current_thread())
            else:
                self._connections.discard(connection)
                self._threads.discard(threading.current_thread())

    def _record(self, method: str, path: str) -> None:
        with self._lock:
            self.paths.append(f"{method} {path}")

    def _record_chat(self, body: dict[str, Any], headers: dict[str, str]) -> None:
        with self._lock:
            self.requests.append(body)
            self.headers.append(headers)

    def _next(self) -> Answer | Fault | None:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        if self.default_answer is None:
            return None
        return Answer(self.default_answer)

    def _known_model(self, model: object) -> bool:
        return self.models is None or model in self.models

    def _model_names(self) -> tuple[str, ...]:
        return self.models if self.models is not None else ("fake-model",)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    # ------------------------------------------------------------------ plumbing

    def setup(self) -> None:
        super().setup()
        self.server.fake._register(self.connection, opened=True)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        self.server.fake._register(self.connection, opened=False)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: tests read ``paths`` and ``requests`` instead."""

    @property
    def fake(self) -> FakeModelServer:
        return self.server.fake

    def _send_json(self, status: int, data: object) -> None:
        self._send_bytes(status, json.dumps(data).encode(), "application/json")

    def _send_bytes(self, status: int, payload: bytes, content_type: str) -> None:
        self.close_connection = True
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            pass

    def _start_stream(self, content_type: str) -> None:
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()

    def _write_chunk(self, payload: bytes) -> None:
        try:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(payload), payload))
            self.wfile.flush()
        except OSError as exc:
            raise _ClientGone from exc

    def _end_stream(self) -> None:
        try:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            pass

    def _read_body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            data = json.loads(raw or b"{}")
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    # ------------------------------------------------------------------ routing

    def do_GET(self) -> None:
        self.fake._record("GET", self.path)
        path = self.path.split("?")[0]
        if self.fake.mode == "ollama":
            self._get_ollama(path)
        else:
            self._get_openai(path)

    def do_POST(self) -> None:
        self.fake._record("POST", self.path)
        path = self.path.split("?")[0]
        body = self._read_body()
        if path == "/v1/chat/completions":
            self._chat(body, "openai")
        elif self.fake.mode == "ollama" and path == "/api/chat":
            self._chat(body, "ollama")
        elif self.fake.mode == "ollama" and path == "/api/show":
            self._show(body)
        else:
            self._not_found()

    def _not_found(self) -> None:
        if self.fake.mode == "ollama":
            self._send_bytes(404, b"404 page not found", "text/plain")
        else:
            self._send_json(
                404,
                {"error": {"code": 404, "message": "File Not Found", "type": "not_found_error"}},
            )

    def _get_ollama(self, path: str) -> None:
        fake = self.fake
        if path == "/":
            self._send_bytes(200, b"Ollama is running", "text/plain")
        elif path == "/api/version":
            self._send_json(200, {"version": fake.version})
        elif path == "/api/tags":
            self._send_json(200, {"models": [_tag(name) for name in fake._model_names()]})
        elif path == "/api/ps":
            self._send_json(200, {"models": []})
        elif path == "/v1/models":
            self._send_json(200, _model_list(fake._model_names()))
        else:
            self._not_found()

    def _get_openai(self, path: str) -> None:
        fake = self.fake
        if path == "/health":
            self._send_json(200, {"status": "ok"})
        elif path == "/props":
            props = fake.props or {
                "default_generation_settings": {"n_ctx": fake.context_length // fake.parallel},
                "total_slots": fake.parallel,
                "model_path": "fake-model.gguf",
            }
            self._send_json(200, props)
        elif path == "/v1/models":
            self._send_json(200, _model_list(fake._model_names()))
        elif path == "/":
            self._send_bytes(200, b"<html><body>llama.cpp</body></html>", "text/html")
        else:
            self._not_found()

    def _show(self, body: dict[str, Any]) -> None:
        model = body.get("model") or body.get("name")
        if not self.fake._known_model(model):
            self._send_json(404, {"error": f"model '{model}' not found"})
            return
        self._send_json(
            200,
            {
                "details": {"family": self.fake.family, "quantization_level": "Q4_K_M"},
                "model_info": {
                    "general.architecture": self.fake.family,
                    "general.parameter_count": 1_500_000_000,
                    f"{self.fake.family}.context_length": self.fake.context_length,
                },
                "capabilities": self.fake.capabilities,
            },
        )

    # ------------------------------------------------------------------ chat

    def _chat(self, body: dict[str, Any], api: Api) -> None:
        fake = self.fake
        fake._record_chat(body, {key.lower(): value for key, value in self.headers.items()})
        model = body.get("model")
        if not fake._known_model(model):
            self._send_error(404, api, f"model '{model}' not found, try pulling it first")
            return
        item = fake._next()
        if item is None:
            self._send_error(500, api, "no answer queued")
            return
        try:
            if isinstance(item, Fault):
                self._fault(item.kind, body, api)
            elif body.get("stream", api == "ollama") is False:
                self._whole(item, body, api)
            else:
                self._stream_answer(item, body, api)
        except _ClientGone:
            pass

    def _send_error(self, status: int, api: Api, message: str) -> None:
        if api == "ollama":
            self._send_json(status, {"error": message})
        else:
            kind = {401: "authentication_error", 404: "not_found_error"}.get(status, "server_error")
            self._send_json(status, {"error": {"code": status, "message": message, "type": kind}})

    def _fault(self, kind: str, body: dict[str, Any], api: Api) -> None:
        statuses = {"http_401": 401, "http_404": 404, "http_500": 500}
        if kind in statuses:
            messages = {401: "unauthorized", 404: f"model '{body.get('model')}' not found"}
            status = statuses[kind]
            self._send_error(status, api, messages.get(status, "internal server error"))
        elif kind == "http_503":
            busy = "server busy, please try again.  maximum pending requests exceeded"
            self._send_error(503, api, busy if api == "ollama" else "Loading model")
        elif kind == "http_503_loading":
            self._send_error(503, api, "Loading model")
        elif kind == "http_503_plain":
            self._send_bytes(503, b"", "text/plain")
        else:
            self._stream_fault(kind, body, api)

    def _stream_fault(self, kind: str, body: dict[str, Any], api: Api) -> None:
        encoder = _Encoder(api, body, self.fake)
        pieces = _pieces(self.fake.default_answer or DEFAULT_ANSWER, self.fake.chunk_size)
        self._start_stream(encoder.content_type)
        if kind == "midstream_error":
            for piece in pieces[:2]:
                self._write_chunk(encoder.text(piece))
            self._write_chunk(encoder.error("an error was encountered while running the model"))
            self._end_stream()
        elif kind in ("cut", "truncated"):
            for piece in pieces[: max(1, len(pieces) // 2)]:
                self._write_chunk(encoder.text(piece))
            if kind == "truncated":
                self._end_stream()
            # "cut": return without the final zero-length chunk; the socket closes mid-body
        elif kind == "stall":
            self._write_chunk(encoder.text(pieces[0]))
            self.fake._stopping.wait()
        elif kind == "malformed":
            self._write_chunk(encoder.text(pieces[0]))
            self._write_chunk(encoder.malformed())
            for chunk in encoder.answer(Answer("".join(pieces[1:]))):
                self._write_chunk(chunk)
            self._end_stream()
        elif kind == "endless":
            while not self.fake._stopping.is_set():
                self._write_chunk(encoder.text("again "))

    def _stream_answer(self, answer: Answer, body: dict[str, Any], api: Api) -> None:
        encoder = _Encoder(api, body, self.fake)
        self._start_stream(encoder.content_type)
        for chunk in encoder.answer(answer):
            self._write_chunk(chunk)
            if self.fake.chunk_delay > 0:
                self.fake._stopping.wait(self.fake.chunk_delay)
        self._end_stream()

    def _whole(self, answer: Answer, body: dict[str, Any], api: Api) -> None:
        self._send_json(200, _Encoder(api, body, self.fake).whole(answer))


class _Encoder:
    """Turns answers into the wire format of one API (NDJSON lines or SSE events)."""

    def __init__(self, api: Api, body: dict[str, Any], fake: FakeModelServer) -> None:
        self.api = api
        self.body = body
        self.fake = fake
        self.model = str(body.get("model") or "fake-model")
        self.content_type = "application/x-ndjson" if api == "ollama" else "text/event-stream"

    # ------------------------------------------------------------------ pieces

    def _line(self, data: object) -> bytes:
        encoded = json.dumps(data).encode()
        return encoded + b"\n" if self.api == "ollama" else b"data: " + encoded + b"\n\n"

    def _openai_chunk(self, delta: dict[str, Any], finish_reason: str | None) -> dict[str, Any]:
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        }

    def text(self, piece: str, reasoning_as: str | None = None) -> bytes:
        """One streamed chunk: answer text, or reasoning in the field ``reasoning_as`` names."""
        if self.api == "ollama":
            key = "content" if reasoning_as is None else "thinking"
            message = {"role": "assistant", "content": ""} | {key: piece}
            return self._line(
                {
                    "model": self.model,
                    "created_at": "2025-07-07T20:22:19.19314Z",
                    "message": message,
                    "done": False,
                }
            )
        keys = {None: "content", "field": "reasoning_content", "reasoning": "reasoning"}
        return self._line(self._openai_chunk({keys[reasoning_as]: piece}, None))

    def error(self, message: str) -> bytes:
        if self.api == "ollama":
            return self._line({"error": message})
        return self._line({"error": {"code": 500, "message": message, "type": "server_error"}})

    def malformed(self) -> bytes:
        return b"this is not JSON {\n" if self.api == "ollama" else b"data: {not json\n\n"

    # ------------------------------------------------------------------ whole answers

    def _limit(self) -> int | None:
        if self.api == "ollama":
            options = self.body.get("options")
            value = options.get("num_predict") if isinstance(options, dict) else None
        else:
            value = self.body.get("max_tokens") or self.body.get("max_completion_tokens")
        return value if isinstance(value, int) and value > 0 else None

    def _measure(self, answer: Answer) -> tuple[list[tuple[str | None, str]], int, int, str]:
        """((reasoning field or None, piece) to send, prompt tokens, output tokens, reason)."""
        pieces = _reasoned_pieces(answer, self.fake.chunk_size)
        done_reason = answer.done_reason
        limit = self._limit()
        if limit is not None and len(pieces) > limit:
            pieces, done_reason = pieces[:limit], "length"
        messages = self.body.get("messages")
        contents = [
            str(message.get("content", ""))
            for message in (messages if isinstance(messages, list) else [])
            if isinstance(message, dict)
        ]
        prompt = (
            answer.prompt_tokens
            if answer.prompt_tokens is not None
            else estimate_messages_tokens(contents)
        )
        output = answer.output_tokens if answer.output_tokens is not None else len(pieces)
        return pieces, prompt, output, done_reason

    def _ollama_metrics(self, prompt: int, output: int, done_reason: str) -> dict[str, Any]:
        return {
            "done_reason": done_reason,
            "done": True,
            "total_duration": 1_000_000 + prompt * 1_000_000 + output * 10_000_000,
            "load_duration": 1_000_000,
            "prompt_eval_count": prompt,
            "prompt_eval_duration": prompt * 1_000_000,
            "eval_count": output,
            "eval_duration": output * 10_000_000,
        }

    def _timings(self, answer: Answer, prompt: int, output: int) -> dict[str, Any]:
        return {
            "cache_n": answer.cached_tokens,
            "prompt_n": prompt - answer.cached_tokens,
            "prompt_ms": float(prompt),
            "prompt_per_second": 1000.0,
            "predicted_n": output,
            "predicted_ms": output * 10.0,
            "predicted_per_second": 100.0,
        }

    def _usage(self, answer: Answer, prompt: int, output: int) -> dict[str, Any]:
        return {
            "prompt_tokens": prompt,
            "completion_tokens": output,
            "total_tokens": prompt + output,
            "prompt_tokens_details": {"cached_tokens": answer.cached_tokens},
        }

    def answer(self, answer: Answer) -> Iterator[bytes]:
        """Every line or event of a complete streamed answer."""
        pieces, prompt, output, done_reason = self._measure(answer)
        if self.api == "openai":
            yield self._line(self._openai_chunk({"role": "assistant", "content": ""}, None))
        for field_name, piece in pieces:
            yield self.text(piece, field_name)
        if self.api == "ollama":
            final = {
                "model": self.model,
                "created_at": "2025-07-07T20:22:19.19314Z",
                "message": {"role": "assistant", "content": ""},
                **self._ollama_metrics(prompt, output, done_reason),
            }
            yield self._line(final)
            return
        last = self._openai_chunk({}, done_reason)
        if self.fake.send_timings:
            last["timings"] = self._timings(answer, prompt, output)
        yield self._line(last)
        options = self.body.get("stream_options")
        if self.fake.send_usage and isinstance(options, dict) and options.get("include_usage"):
            usage_chunk: dict[str, Any] = {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": 1700000000,
                "model": self.model,
                "choices": [],
                "usage": self._usage(answer, prompt, output),
            }
            if self.fake.send_timings:
                usage_chunk["timings"] = self._timings(answer, prompt, output)
            yield self._line(usage_chunk)
        yield b"data: [DONE]\n\n"

    def whole(self, answer: Answer) -> dict[str, Any]:
        """The non-streamed answer (``"stream": false``)."""
        pieces, prompt, output, done_reason = self._measure(answer)
        text = "".join(piece for field_name, piece in pieces if field_name is None)
        if self.api == "ollama":
            return {
                "model": self.model,
                "created_at": "2025-07-07T20:22:19.19314Z",
                "message": {"role": "assistant", "content": text},
                **self._ollama_metrics(prompt, output, done_reason),
            }
        result: dict[str, Any] = {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 1700000000,
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": done_reason,
                }
            ],
        }
        if self.fake.send_usage:
            result["usage"] = self._usage(answer, prompt, output)
        if self.fake.send_timings:
            result["timings"] = self._timings(answer, prompt, output)
        return result


def _reasoned_pieces(answer: Answer, size: int) -> list[tuple[str | None, str]]:
    """The pieces of an answer: reasoning (in its field, or inline as tags), then the text."""
    if not answer.reasoning:
        return [(None, piece) for piece in _pieces(answer.text, size)]
    if answer.reasoning_as.startswith("inline"):
        tag = "thinking" if answer.reasoning_as == "inline_thinking" else "think"
        inline = f"<{tag}>{answer.reasoning}</{tag}>\n\n{answer.text}"
        return [(None, piece) for piece in _pieces(inline, size)]
    thoughts = [(answer.reasoning_as, piece) for piece in _pieces(answer.reasoning, size)]
    return thoughts + [(None, piece) for piece in _pieces(answer.text, size) if piece]


def _pieces(text: str, size: int) -> list[str]:
    return [text[start : start + size] for start in range(0, len(text), size)] or [""]


def _tag(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "model": name,
        "modified_at": "2025-05-10T08:06:48.639712648-07:00",
        "size": 986_000_000,
        "digest": "0" * 64,
        "details": {
            "format": "gguf",
            "family": "llama",
            "parameter_size": "1.5B",
            "quantization_level": "Q4_K_M",
        },
    }


def _model_list(names: Iterable[str]) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [{"id": name, "object": "model", "owned_by": "fake"} for name in names],
    }
