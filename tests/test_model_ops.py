"""Talking to Ollama about models: /api/tags, /api/ps (respx), /api/pull (a loopback server
that streams, cuts and resumes like Ollama), and the smoke check (respx, route's own backend)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import respx

from route.backends.ollama_admin import (
    PullProgress,
    check_answer_format,
    check_model,
    list_installed,
    list_loaded,
    pull_model,
)
from route.errors import (
    BackendAuthError,
    BackendBusy,
    BackendResponseError,
    BackendUnreachable,
    ModelNotFound,
)

BASE = "http://ollama.test:11434"

TAGS = {
    "models": [
        {
            "name": "qwen2.5-coder:7b",
            "model": "qwen2.5-coder:7b",
            "modified_at": "2025-05-10T08:06:48.639712648-07:00",
            "size": 4683075271,
            "digest": "0a8c26",
            "details": {
                "format": "gguf",
                "family": "qwen2",
                "families": ["qwen2"],
                "parameter_size": "7.6B",
                "quantization_level": "Q4_K_M",
            },
        },
        {"name": "odd:latest", "size": "not a number"},
        "not an object",
    ]
}

PS = {
    "models": [
        {
            "name": "qwen2.5-coder:7b",
            "model": "qwen2.5-coder:7b",
            "size": 6_000_000_000,
            "digest": "2ae6f6",
            "details": {"parameter_size": "7.6B", "quantization_level": "Q4_K_M"},
            "expires_at": "2024-06-04T14:38:31.83753-07:00",
            "size_vram": 4_500_000_000,
            "context_length": 4096,
        },
        {"name": "old-server:latest", "size": 100, "size_vram": 100},
    ]
}


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5.0) as http:
        yield http


# --------------------------------------------------------------------------- tags and ps


@respx.mock
def test_installed_models_from_tags(client: httpx.Client) -> None:
    respx.get(f"{BASE}/api/tags").respond(json=TAGS)
    models = list_installed(client, BASE)
    assert [m.name for m in models] == ["qwen2.5-coder:7b", "odd:latest"]
    first = models[0]
    assert (first.size_bytes, first.parameter_size, first.quantization, first.family) == (
        4683075271,
        "7.6B",
        "Q4_K_M",
        "qwen2",
    )
    assert models[1].size_bytes == 0  # a malformed size is unknown, not a crash


@respx.mock
def test_api_key_is_sent_as_bearer(client: httpx.Client) -> None:
    route = respx.get(f"{BASE}/api/tags").respond(json={"models": []})
    assert list_installed(client, BASE, api_key="secret") == ()
    assert route.calls.last.request.headers["Authorization"] == "Bearer secret"


@respx.mock
def test_loaded_models_from_ps(client: httpx.Client) -> None:
    respx.get(f"{BASE}/api/ps").respond(json=PS)
    loaded, old = list_loaded(client, BASE)
    assert loaded.context_length == 4096
    assert loaded.gpu_share == pytest.approx(0.75)
    assert loaded.partly_on_cpu
    assert loaded.expires_at.startswith("2024-06-04")
    assert old.context_length is None  # servers before 0.10.0 do not say
    assert not old.partly_on_cpu


@respx.mock
def test_refused_connection_says_how_to_start_ollama(client: httpx.Client) -> None:
    respx.get(f"{BASE}/api/tags").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(BackendUnreachable, match="ollama serve"):
        list_installed(client, BASE)


@pytest.mark.parametrize(
    ("status", "error"),
    [(401, BackendAuthError), (503, BackendBusy), (500, BackendResponseError)],
)
@respx.mock
def test_http_errors_are_translated(client: httpx.Client, status: int, error: type) -> None:
    respx.get(f"{BASE}/api/ps").respond(status, json={"error": "boom"})
    with pytest.raises(error, match="boom"):
        list_loaded(client, BASE)


@respx.mock
def test_a_server_that_is_not_ollama(client: httpx.Client) -> None:
    respx.get(f"{BASE}/api/tags").respond(text="<html>hello</html>")
    with pytest.raises(BackendResponseError, match="not JSON"):
        list_installed(client, BASE)
    respx.get(f"{BASE}/api/ps").respond(json={"data": []})
    with pytest.raises(BackendResponseError, match="`models` list"):
        list_loaded(client, BASE)


# --------------------------------------------------------------------------- pull server


LAYERS = {"sha256:aaa": 1000, "sha256:bbb": 3000}


class PullServer:
    """A loopback server for ``POST /api/pull``. ``script`` picks how each call behaves:
    ``ok`` (resumes from what earlier calls delivered), ``cut`` (stops halfway, connection
    closed mid-stream), ``missing`` (the error line Ollama sends for an unknown tag), ``404``."""

    def __init__(self, script: list[str]) -> None:
        self.script = list(script)
        self.delivered: dict[str, int] = dict.fromkeys(LAYERS, 0)
        self.bodies: list[dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                server.bodies.append(json.loads(self.rfile.read(length)))
                server.answer(self, server.script.pop(0))

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)

    def __enter__(self) -> PullServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.shutdown()
        self.http.server_close()

    def answer(self, handler: BaseHTTPRequestHandler, kind: str) -> None:
        if kind == "404":
            body = b'{"error":"pull model manifest: file does not exist"}'
            handler.send_response(404)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
            return
        handler.send_response(200)
        handler.send_header("Content-Type", "application/x-ndjson")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        send = self.chunk_writer(handler)
        send({"status": "pulling manifest"})
        if kind == "missing":
            send({"error": "pull model manifest: file does not exist"})
            handler.wfile.write(b"0\r\n\r\n")
            return
        for digest, total in LAYERS.items():
            first = {"status": f"pulling {digest[7:]}", "digest": digest, "total": total}
            if self.delivered[digest]:  # like Ollama: `completed` is omitted while it is 0
                first["completed"] = self.delivered[digest]
            send(first)
            while self.delivered[digest] < total:
                if kind == "cut" and digest == "sha256:bbb" and self.delivered[digest] >= 1500:
                    handler.wfile.flush()
                    handler.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.delivered[digest] += 500
                send(
                    {
                        "status": f"pulling {digest[7:]}",
                        "digest": digest,
                        "total": total,
                        "completed": self.delivered[digest],
                    }
                )
        for status in ("verifying sha256 digest", "writing manifest", "success"):
            send({"status": status})
        handler.wfile.write(b"0\r\n\r\n")

    @staticmethod
    def chunk_writer(handler: BaseHTTPRequestHandler) -> Any:
        def send(line: dict[str, Any]) -> None:
            data = (json.dumps(line) + "\n").encode()
            handler.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            handler.wfile.flush()

        return send


class Steps:
    """A clock that moves one second per reading."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def test_pull_streams_progress_summed_per_layer(client: httpx.Client) -> None:
    seen: list[PullProgress] = []
    with PullServer(["ok"]) as server:
        result = pull_model(client, server.url, "qwen2.5-coder:7b", seen.append, clock=Steps())
    assert server.bodies == [{"model": "qwen2.5-coder:7b", "stream": True}]
    assert result.total_bytes == 4000
    assert result.downloaded_bytes == 4000
    assert seen[0].status == "pulling manifest"
    assert seen[0].fraction is None
    assert seen[-1].status == "success"
    completed = [p.completed_bytes for p in seen]
    assert completed == sorted(completed)  # never goes back
    last_download = [p for p in seen if p.status == "pulling bbb"][-1]
    assert (last_download.completed_bytes, last_download.total_bytes) == (4000, 4000)
    assert last_download.layers == 2
    assert last_download.bytes_per_second is not None
    assert last_download.bytes_per_second > 0
    assert last_download.seconds_left == 0


def test_a_pull_cut_halfway_says_how_far_and_resumes(client: httpx.Client) -> None:
    seen: list[PullProgress] = []
    with PullServer(["cut", "ok"]) as server:
        with pytest.raises(BackendResponseError) as caught:
            pull_model(client, server.url, "qwen2.5-coder:7b", seen.append)
        message = str(caught.value)
        assert "stopped at 62%" in message
        assert "route models pull qwen2.5-coder:7b" in message
        assert "resumes" in message
        assert seen[-1].completed_bytes == 2500
        resumed = pull_model(client, server.url, "qwen2.5-coder:7b", lambda _p: None)
    assert resumed.total_bytes == 4000
    assert resumed.downloaded_bytes == 1500  # only what the first try had not delivered


def test_an_unknown_tag_in_the_stream_is_model_not_found(client: httpx.Client) -> None:
    with PullServer(["missing"]) as server, pytest.raises(ModelNotFound) as caught:
        pull_model(client, server.url, "qwen3-coder:8b", lambda _p: None)
    assert "qwen3-coder:8b" in str(caught.value)
    assert "file does not exist" in str(caught.value)
    assert "ollama.com/library" in str(caught.value)


def test_a_404_pull_is_model_not_found(client: httpx.Client) -> None:
    with PullServer(["404"]) as server, pytest.raises(ModelNotFound, match="HTTP 404"):
        pull_model(client, server.url, "deepseek-coder-v3:16b", lambda _p: None)


@respx.mock
def test_a_stream_ending_without_success_is_an_interrupted_pull(client: httpx.Client) -> None:
    lines = [{"status": "pulling manifest"}, {"status": "pulling x", "digest": "x", "total": 10}]
    body = "".join(json.dumps(line) + "\n" for line in lines)
    respx.post(f"{BASE}/api/pull").respond(200, text=body)
    with pytest.raises(BackendResponseError, match="stopped at 0%"):
        pull_model(client, BASE, "m:1b", lambda _p: None)


@respx.mock
def test_a_pull_error_that_is_not_a_missing_model(client: httpx.Client) -> None:
    respx.post(f"{BASE}/api/pull").respond(200, text='{"error":"no space left on device"}\n')
    with pytest.raises(BackendResponseError, match="no space left on device"):
        pull_model(client, BASE, "m:1b", lambda _p: None)


def test_pull_from_nowhere_is_unreachable(client: httpx.Client) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(BackendUnreachable, match=f"127.0.0.1:{port}"):
        pull_model(client, f"http://127.0.0.1:{port}", "m:1b", lambda _p: None)


# --------------------------------------------------------------------------- check


GOOD_ANSWER = "calc.py\n```python\ndef add(a, b):\n    return a + b\n```\n"


def chat_stream(text: str) -> str:
    pieces = [text[i : i + 7] for i in range(0, len(text), 7)]
    lines: list[dict[str, Any]] = [
        {"model": "m", "message": {"role": "assistant", "content": piece}, "done": False}
        for piece in pieces
    ]
    lines.append(
        {
            "model": "m",
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": "stop",
            "load_duration": 2_500_000_000,
            "prompt_eval_count": 600,
            "prompt_eval_duration": 300_000_000,
            "eval_count": 20,
            "eval_duration": 400_000_000,
        }
    )
    return "".join(json.dumps(line) + "\n" for line in lines)


@respx.mock
def test_check_reports_speed_context_placement_and_format(client: httpx.Client) -> None:
    respx.post(f"{BASE}/api/show").respond(json={"capabilities": ["completion"]})
    chat = respx.post(f"{BASE}/api/chat").respond(200, text=chat_stream(GOOD_ANSWER))
    respx.get(f"{BASE}/api/ps").respond(json=PS)
    result = check_model(client, BASE, "qwen2.5-coder:7b")
    body = json.loads(chat.calls.last.request.content)
    assert body["model"] == "qwen2.5-coder:7b"
    assert body["options"]["num_ctx"] == 4096
    assert body["messages"][0]["role"] == "system"
    assert "add(a, b)" in body["messages"][1]["content"]
    assert result.load_seconds == pytest.approx(2.5)
    assert result.prompt_tokens == 600
    assert result.prompt_tokens_per_second == pytest.approx(2000)
    assert result.output_tokens_per_second == pytest.approx(50)
    assert result.allocated_context == 4096
    assert result.fully_on_gpu is False
    assert result.followed_format
    assert result.format_problems == ()
    assert result.thinks is False
    assert result.reasoning_source == ""


def thinking_stream(reasoning: str, answer: str, *, inline: bool) -> str:
    if inline:
        return chat_stream(f"<think>{reasoning}</think>\n{answer}")
    lines = [
        {"model": "m", "message": {"role": "assistant", "content": "", "thinking": reasoning}}
        | {"done": False}
    ]
    return "".join(json.dumps(line) + "\n" for line in lines) + chat_stream(answer)


@respx.mock
@pytest.mark.parametrize(("inline", "source"), [(False, "server"), (True, "inline")])
def test_check_reports_how_the_server_hands_over_the_reasoning(
    client: httpx.Client, inline: bool, source: str
) -> None:
    show = {"capabilities": ["completion", "thinking"], "details": {"family": "qwen3"}}
    respx.post(f"{BASE}/api/show").respond(json=show)
    draft = "wrong.py\n```python\nx = 1\n```\n"
    respx.post(f"{BASE}/api/chat").respond(
        200, text=thinking_stream(draft, GOOD_ANSWER, inline=inline)
    )
    respx.get(f"{BASE}/api/ps").respond(json={"models": []})
    result = check_model(client, BASE, "qwen3:8b")
    assert result.reasoning_source == source
    assert result.reasoning_tokens >= 1
    assert result.thinks is True and result.think_values == ("auto", "on", "off")
    assert result.followed_format and result.answer == GOOD_ANSWER


@respx.mock
def test_check_of_a_model_that_ignores_the_format(client: httpx.Client) -> None:
    respx.post(f"{BASE}/api/show").respond(json={"model_info": {}})
    respx.post(f"{BASE}/api/chat").respond(
        200, text=chat_stream("Sure! def add(a, b): return a + b")
    )
    respx.get(f"{BASE}/api/ps").respond(json={"models": []})
    result = check_model(client, BASE, "tiny:1b")
    assert not result.followed_format
    assert result.format_problems
    assert result.allocated_context is None
    assert result.fully_on_gpu is None


@respx.mock
def test_check_of_a_model_that_is_not_pulled(client: httpx.Client) -> None:
    respx.post(f"{BASE}/api/show").respond(404, json={"error": "model 'x:1b' not found"})
    with pytest.raises(ModelNotFound, match="x:1b"):
        check_model(client, BASE, "x:1b")


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        (GOOD_ANSWER, None),
        ("```python\ndef add(a, b):\n    return a + b\n```\n", "path"),
        ("calc.py\n```python\ndef add(a, b)\n    return a + b\n```\n", "not valid Python"),
        ("calc.py\n```python\ndef plus(a, b):\n    return a + b\n```\n", "does not define"),
        ("calc.py\n```python\ndef add(a, b, c):\n    return a + b\n```\n", "two arguments"),
        ("src/calc.py\n```python\ndef add(a, b):\n    return a + b\n```\n", "instead of"),
        ("notes.md\n```markdown\n# add\n```\n", "no Python file"),
    ],
)
def test_check_answer_format(answer: str, problem: str | None) -> None:
    problems = check_answer_format(answer)
    if problem is None:
        assert problems == ()
    else:
        assert any(problem in text for text in problems), problems


@pytest.mark.parametrize(
    "name", ["qwen2.5-coder:7b", "hf.co/bartowski/Qwen2.5-Coder-7B-GGUF:Q4_K_M"]
)
def test_real_model_names_pass_the_name_check(name: str) -> None:
    from route.backends.ollama_admin import check_model_name

    assert check_model_name(name) == name


def test_pull_model_refuses_an_empty_name_before_sending(client: httpx.Client) -> None:
    from route.backends.ollama_admin import check_model_name
    from route.errors import UsageError

    with pytest.raises(UsageError, match="empty"):
        check_model_name("")
    with pytest.raises(UsageError, match="empty"):
        pull_model(client, "http://127.0.0.1:9", "", lambda progress: None)
