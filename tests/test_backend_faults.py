"""Server faults over real loopback HTTP: each gives its specific error, never a hang.

Every fault kind of ``FakeModelServer`` is played against both backends; the server keeps working
afterwards, and the API key never shows up in an error.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from route.backends.base import Backend
from route.backends.ollama import OllamaBackend
from route.backends.openai import OpenAIBackend
from route.errors import (
    BackendAuthError,
    BackendBusy,
    BackendError,
    BackendResponseError,
    BackendTimeout,
    BackendUnreachable,
    ModelNotFound,
)
from route.values import ChatRequest, Message
from tests.servers import FAULT_KINDS, FakeModelServer, free_port

SECRET = "sk-fault-secret-9999"
APIS = ["ollama", "openai"]


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=httpx.Timeout(5.0, read=0.5)) as client:
        yield client


def make_backend(api: str, client: httpx.Client, url: str) -> Backend:
    if api == "ollama":
        return OllamaBackend(client, url, api_key=SECRET)
    return OpenAIBackend(
        client, f"{url}/v1", api_key=SECRET, load_wait_seconds=1.0, sleep=lambda _s: None
    )


def request(max_output_tokens: int = 256) -> ChatRequest:
    messages = (Message("system", "You write code."), Message("user", "write hello.py"))
    return ChatRequest(model="fake-model", messages=messages, max_output_tokens=max_output_tokens)


def fail_with(api: str, fault: str, client: httpx.Client) -> BackendError:
    """Play ``fault`` against ``api``, return the error, and check that the server still works."""
    with FakeModelServer(mode=api) as server:  # type: ignore[arg-type]
        server.enqueue_fault(fault)
        server.enqueue("recovered")
        backend = make_backend(api, client, server.url)
        seen: list[str] = []
        with pytest.raises(BackendError) as caught:
            backend.chat(request(), seen.append)
        assert SECRET not in str(caught.value)
        assert backend.chat(request(), lambda _text: None).text == "recovered"
        return caught.value


@pytest.mark.parametrize("api", APIS)
def test_refused_connection(api: str, client: httpx.Client) -> None:
    backend = make_backend(api, client, f"http://127.0.0.1:{free_port()}")
    with pytest.raises(BackendUnreachable) as caught:
        backend.chat(request(), lambda _text: None)
    assert "127.0.0.1" in str(caught.value)
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize("api", APIS)
def test_http_404(api: str, client: httpx.Client) -> None:
    error = fail_with(api, "http_404", client)
    assert isinstance(error, ModelNotFound)
    assert "fake-model" in str(error)


@pytest.mark.parametrize("api", APIS)
def test_http_500(api: str, client: httpx.Client) -> None:
    error = fail_with(api, "http_500", client)
    assert isinstance(error, BackendResponseError)
    assert "HTTP 500" in str(error)
    assert "internal server error" in str(error)


@pytest.mark.parametrize("api", APIS)
def test_http_401(api: str, client: httpx.Client) -> None:
    error = fail_with(api, "http_401", client)
    assert isinstance(error, BackendAuthError)


@pytest.mark.parametrize("fault", ["http_503", "http_503_plain"])
def test_ollama_503_is_busy(fault: str, client: httpx.Client) -> None:
    error = fail_with("ollama", fault, client)
    assert isinstance(error, BackendBusy)
    assert "OLLAMA_MAX_QUEUE" in str(error)


@pytest.mark.parametrize("fault", ["http_503", "http_503_plain"])
def test_openai_503_retries_then_is_busy(fault: str, client: httpx.Client) -> None:
    with FakeModelServer(mode="openai") as server:
        for _ in range(10):
            server.enqueue_fault(fault)
        delays: list[float] = []
        backend = OpenAIBackend(
            client, server.openai_url, load_wait_seconds=1.5, sleep=delays.append
        )
        with pytest.raises(BackendBusy) as caught:
            backend.chat(request(), lambda _text: None)
        assert delays == [0.5, 1.0]
        assert len(server.requests) == 3
        assert "503" in str(caught.value)


@pytest.mark.parametrize("api", APIS)
def test_midstream_error(api: str, client: httpx.Client) -> None:
    error = fail_with(api, "midstream_error", client)
    assert isinstance(error, BackendResponseError)
    assert "an error was encountered while running the model" in str(error)


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("fault", ["cut", "truncated"])
def test_cut_stream(api: str, fault: str, client: httpx.Client) -> None:
    error = fail_with(api, fault, client)
    assert isinstance(error, BackendResponseError)
    assert "ended before the answer was complete" in str(error)
    assert "nothing was written" in str(error)


@pytest.mark.parametrize("api", APIS)
def test_stall_times_out_with_a_clear_message(api: str, client: httpx.Client) -> None:
    error = fail_with(api, "stall", client)
    assert isinstance(error, BackendTimeout)
    assert "0.5 seconds" in str(error)
    assert "read_timeout" in str(error)


@pytest.mark.parametrize("api", APIS)
def test_malformed_line(api: str, client: httpx.Client) -> None:
    error = fail_with(api, "malformed", client)
    assert isinstance(error, BackendResponseError)
    assert "is not JSON" in str(error)
    assert "line " in str(error)


@pytest.mark.parametrize("api", APIS)
def test_endless_stream_is_capped(api: str, client: httpx.Client) -> None:
    with FakeModelServer(mode=api) as server:  # type: ignore[arg-type]
        server.enqueue_fault("endless")
        server.enqueue("recovered")
        backend = make_backend(api, client, server.url)
        completion = backend.chat(request(max_output_tokens=40), lambda _text: None)
        assert completion.usage.done_reason == "length"
        assert completion.text.startswith("again again")
        assert completion.text.count("again") == 40 + 64 + 1
        assert any("stopped reading" in warning for warning in completion.warnings)
        assert backend.chat(request(), lambda _text: None).text == "recovered"


@pytest.mark.parametrize("api", APIS)
def test_empty_queue_without_default_answer_is_a_500(api: str, client: httpx.Client) -> None:
    with FakeModelServer(mode=api, default_answer=None) as server:  # type: ignore[arg-type]
        backend = make_backend(api, client, server.url)
        with pytest.raises(BackendResponseError, match="no answer queued"):
            backend.chat(request(), lambda _text: None)


def test_every_fault_kind_is_covered() -> None:
    covered = {
        "http_401",
        "http_404",
        "http_500",
        "http_503",
        "http_503_plain",
        "midstream_error",
        "cut",
        "truncated",
        "stall",
        "malformed",
        "endless",
        "loading_then_ok",  # tests/test_backend_openai.py::test_loopback_retry_while_loading
    }
    assert covered == set(FAULT_KINDS)


def test_unknown_fault_kind_is_refused() -> None:
    with FakeModelServer() as server, pytest.raises(ValueError, match="unknown fault"):
        server.enqueue_fault("explode")


def test_stop_is_idempotent_and_frees_the_port(client: httpx.Client) -> None:
    server = FakeModelServer(mode="openai")
    assert server.url.startswith("http://127.0.0.1:")
    assert client.get(f"{server.url}/health").json() == {"status": "ok"}
    server.stop()
    server.stop()
    with pytest.raises(httpx.ConnectError):
        client.get(f"{server.url}/health")


def test_stop_does_not_hang_on_a_stalled_stream() -> None:
    server = FakeModelServer(mode="ollama")
    server.enqueue_fault("stall")
    with (
        httpx.Client(timeout=httpx.Timeout(5.0, read=5.0)) as client,
        client.stream(
            "POST", f"{server.url}/api/chat", json={"model": "m", "messages": []}
        ) as response,
    ):
        lines = response.iter_lines()
        assert '"done": false' in next(lines)
        server.stop()  # wakes the stalled handler and shuts the connection
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            list(lines)
