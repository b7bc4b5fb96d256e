"""Loopback servers for the benchmarks (127.0.0.1 only, a free port, stopped on exit).

``FastOllamaServer`` streams Ollama's ``/api/chat`` NDJSON as fast as the socket takes it: the whole
body of ``num_predict`` one-token lines is built once per size and sent in large writes, so the
client side (route, or the bare loop it is compared with) is what the timings measure. It also
answers ``/api/version``, ``/api/tags`` and ``/api/show`` (a 1M-token context) like Ollama.

``RecordingProxy`` sits between route and a real llama-server: it forwards every request, relays
the streamed answer as it arrives, and keeps each exchange (path, request body, response text),
so the harness can read what route sent and what the server reported per request (llama.cpp
``timings``: prompt tokens evaluated and reused from the cache).
"""

from __future__ import annotations

import http.client
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

HOST = "127.0.0.1"
MODEL = "bench-stream"
CONTEXT_LENGTH = 1_048_576
# Each token is one short piece of a code file, so route parses a real (long) file from it.
GENERATED_PATH = "app/generated.py"
FILE_HEADER = f"{GENERATED_PATH}\n```python\n"
FILE_FOOTER = "```\n"
TOKEN_CYCLE = ("total", " =", " total", " +", " 1", "\n")
RELAY_BYTES = 65536


def answer_tokens(count: int) -> list[str]:
    """``count`` text pieces forming one fenced Python file (header and footer are one token
    each, so the count is exact for count >= 2)."""
    if count < 2:
        return [FILE_HEADER][:count]
    body = [TOKEN_CYCLE[index % len(TOKEN_CYCLE)] for index in range(count - 2)]
    if body and not body[-1].endswith("\n"):
        body[-1] += "\n"
    return [FILE_HEADER, *body, FILE_FOOTER]


def _prompt_tokens(request: dict[str, Any]) -> int:
    """The prompt size a real server would report, from route's own estimator."""
    from route.prompting.tokens import estimate_messages_tokens

    messages = request.get("messages") or []
    return estimate_messages_tokens([str(message.get("content", "")) for message in messages])


def ndjson_body(count: int, model: str = MODEL, *, prompt_tokens: int = 100) -> bytes:
    """Ollama's streamed chat answer: ``count`` content lines, then the ``done`` line."""
    created = "2026-01-01T00:00:00.000000Z"
    lines = [
        json.dumps(
            {
                "model": model,
                "created_at": created,
                "message": {"role": "assistant", "content": token},
                "done": False,
            },
            separators=(",", ":"),
        )
        for token in answer_tokens(count)
    ]
    final = {
        "model": model,
        "created_at": created,
        "message": {"role": "assistant", "content": ""},
        "done": True,
        "done_reason": "stop",
        "total_duration": 1_000_000,
        "load_duration": 0,
        "prompt_eval_count": prompt_tokens,
        "prompt_eval_duration": 1_000,
        "eval_count": count,
        "eval_duration": 1_000_000,
    }
    lines.append(json.dumps(final, separators=(",", ":")))
    return ("\n".join(lines) + "\n").encode()


class _StreamHandler(BaseHTTPRequestHandler):
    server: _StreamHTTPServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        for start in range(0, len(body), RELAY_BYTES):
            self.wfile.write(body[start : start + RELAY_BYTES])

    def do_GET(self) -> None:
        if self.path == "/api/version":
            self._send(200, b'{"version":"0.0.0-bench"}')
        elif self.path == "/api/tags":
            self._send(200, json.dumps({"models": [{"name": MODEL, "model": MODEL}]}).encode())
        else:
            self._send(404, b'{"error":"not found"}')

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        request = json.loads(self.rfile.read(length) or b"{}")
        if self.path == "/api/show":
            info = {"general.architecture": "bench", "bench.context_length": CONTEXT_LENGTH}
            self._send(200, json.dumps({"model_info": info}).encode())
        elif self.path == "/api/chat":
            self.server.chat_requests.append(request)
            count = int(request.get("options", {}).get("num_predict", 1000))
            body = self.server.body(count, _prompt_tokens(request))
            self._send(200, body, "application/x-ndjson")
        else:
            self._send(404, b'{"error":"not found"}')


class _StreamHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__((HOST, 0), _StreamHandler)
        self._bodies: dict[tuple[int, int], bytes] = {}
        self.chat_requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def body(self, count: int, prompt_tokens: int = 0) -> bytes:
        with self._lock:
            key = (count, prompt_tokens)
            if key not in self._bodies:
                self._bodies[key] = ndjson_body(count, prompt_tokens=prompt_tokens)
            return self._bodies[key]


class _Background:
    """Start a ThreadingHTTPServer on a thread; stop it (idempotently) on exit."""

    def __init__(self, server: ThreadingHTTPServer) -> None:
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exception_type: type[BaseException] | None,
        exception: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class FastOllamaServer(_Background):
    """The fast NDJSON streamer (see the module docstring); ``url`` is what ``--host`` takes."""

    def __init__(self) -> None:
        self._stream_server = _StreamHTTPServer()
        super().__init__(self._stream_server)

    @property
    def chat_requests(self) -> list[dict[str, Any]]:
        """Every ``/api/chat`` body received, oldest first (what route sent)."""
        return list(self._stream_server.chat_requests)


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request relayed by the proxy and the full text of its answer."""

    method: str
    path: str
    request: dict[str, Any] | None
    status: int
    response_text: str


class _ProxyHandler(BaseHTTPRequestHandler):
    server: _ProxyHTTPServer
    protocol_version = "HTTP/1.0"  # the relayed body ends when the connection closes

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._relay(None)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self._relay(self.rfile.read(length))

    def _relay(self, body: bytes | None) -> None:
        upstream = urlsplit(self.server.upstream)
        connection = http.client.HTTPConnection(upstream.hostname or HOST, upstream.port)
        headers = {"Content-Type": self.headers.get("Content-Type", "application/json")}
        connection.request(self.command, self.path, body=body, headers=headers)
        response = connection.getresponse()
        self.send_response(response.status)
        self.send_header("Content-Type", response.getheader("Content-Type", "application/json"))
        self.end_headers()
        received = bytearray()
        while block := response.read1(RELAY_BYTES):
            received += block
            self.wfile.write(block)
            self.wfile.flush()
        connection.close()
        request = json.loads(body) if body else None
        self.server.record(
            Exchange(self.command, self.path, request, response.status, received.decode())
        )


class _ProxyHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream: str) -> None:
        super().__init__((HOST, 0), _ProxyHandler)
        self.upstream = upstream
        self.exchanges: list[Exchange] = []
        self._lock = threading.Lock()

    def record(self, exchange: Exchange) -> None:
        with self._lock:
            self.exchanges.append(exchange)


class RecordingProxy(_Background):
    """A relaying proxy to ``upstream`` (a server root URL); ``exchanges`` lists what passed."""

    def __init__(self, upstream: str) -> None:
        self._proxy = _ProxyHTTPServer(upstream.rstrip("/"))
        super().__init__(self._proxy)

    @property
    def exchanges(self) -> list[Exchange]:
        return list(self._proxy.exchanges)

    def chats(self) -> list[Exchange]:
        """The chat-completion exchanges, oldest first."""
        return [item for item in self._proxy.exchanges if item.path.endswith("/chat/completions")]


def sse_timings(response_text: str) -> dict[str, Any] | None:
    """The last llama.cpp ``timings`` object in a relayed Server-Sent-Events answer."""
    timings: dict[str, Any] | None = None
    for line in response_text.splitlines():
        if not line.startswith("data:"):
            continue
        payload = line[len("data:") :].strip()
        if payload == "[DONE]":
            continue
        try:
            data = json.loads(payload)
        except ValueError:
            continue
        if isinstance(data, dict) and isinstance(data.get("timings"), dict):
            timings = data["timings"]
    return timings
