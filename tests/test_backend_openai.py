"""OpenAI-compatible backend: SSE shapes replayed with respx, streaming over loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
import respx

from route.backends.openai import OpenAIBackend
from route.errors import (
    BackendAuthError,
    BackendBusy,
    BackendResponseError,
    BackendTimeout,
    BackendUnreachable,
    ModelNotFound,
    PromptTooLong,
)
from route.values import ChatRequest
from tests.helpers import TickingClock, chat_request, mock_client
from tests.servers import FakeModelServer

ROOT = "http://llama.test:8080"
BASE = f"{ROOT}/v1"
MODEL = "qwen2.5-coder-1.5b"
SECRET = "sk-do-not-leak-4242"


def event(
    delta: dict[str, object] | None = None, finish: str | None = None, **extra: object
) -> str:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    data = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "choices": choices, **extra}
    return f"data: {json.dumps(data)}\n\n"


TIMINGS = {
    "cache_n": 30,
    "prompt_n": 70,
    "prompt_ms": 350.0,
    "predicted_n": 12,
    "predicted_ms": 400.0,
    "predicted_per_second": 30.0,
}
USAGE = {
    "prompt_tokens": 100,
    "completion_tokens": 12,
    "total_tokens": 112,
    "prompt_tokens_details": {"cached_tokens": 30},
}


def sse(*parts: str) -> bytes:
    return "".join(parts).encode()


def full_stream(*texts: str, finish: str = "stop") -> bytes:
    return sse(
        event({"role": "assistant", "content": ""}),
        *(event({"content": text}) for text in texts),
        event({}, finish, timings=TIMINGS),
        event(None, usage=USAGE, timings=TIMINGS),
        "data: [DONE]\n\n",
    )


@pytest.fixture
def router() -> respx.Router:
    return respx.Router(base_url=ROOT, assert_all_mocked=True)


def backend_for(router: respx.Router, **kwargs: object) -> OpenAIBackend:
    kwargs.setdefault("context_size", 32768)
    return OpenAIBackend(mock_client(router), BASE, **kwargs)  # type: ignore[arg-type]


def request(text: str = "write a service", **kwargs: object) -> ChatRequest:
    return chat_request(MODEL, text, **kwargs)


def ignore(_text: str) -> None:
    return None


# ---------------------------------------------------------------- streaming and usage


def test_streams_text_and_reads_usage_and_timings(router: respx.Router) -> None:
    body = sse(
        ": keep-alive comment\n\n",
        "event: message\n",
        event({"role": "assistant", "content": None}),
        event({"reasoning_content": "thinking..."}),
        event({"content": "def "}),
        event({"content": "f(): pass"}),
        event({}, "stop", timings=TIMINGS),
        event(None, usage=USAGE),
        "data: [DONE]\n\n",
    )
    chat = router.post("/v1/chat/completions").respond(
        content=body, headers={"content-type": "text/event-stream"}
    )
    seen: list[str] = []
    completion = backend_for(router).chat(request(), seen.append)

    assert seen == ["def ", "f(): pass"]
    assert completion.text == "def f(): pass"
    usage = completion.usage
    assert (usage.prompt_tokens, usage.output_tokens, usage.cached_prompt_tokens) == (100, 12, 30)
    assert usage.prompt_seconds == pytest.approx(0.35)
    assert usage.generation_seconds == pytest.approx(0.4)
    assert usage.tokens_per_second == pytest.approx(30.0)
    assert usage.done_reason == "stop"
    assert usage.context_size == 32768
    assert completion.backend == "openai"
    assert completion.endpoint == BASE
    assert completion.warnings == ()
    assert chat.call_count == 1


def test_request_body(router: respx.Router) -> None:
    chat = router.post("/v1/chat/completions").respond(content=full_stream("x"))
    backend_for(router).chat(request(max_output_tokens=900, temperature=0.0, seed=5), ignore)
    body = json.loads(chat.calls[0].request.content)
    assert body == {
        "model": MODEL,
        "messages": [
            {"role": "system", "content": "You write code."},
            {"role": "user", "content": "write a service"},
        ],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 900,
        "temperature": 0.0,
        "seed": 5,
    }


def test_unset_temperature_and_seed_are_not_sent(router: respx.Router) -> None:
    chat = router.post("/v1/chat/completions").respond(content=full_stream("x"))
    backend_for(router).chat(request(temperature=None, seed=None), ignore)
    body = json.loads(chat.calls[0].request.content)
    assert "temperature" not in body
    assert "seed" not in body


def test_counts_fall_back_to_timings(router: respx.Router) -> None:
    body = sse(event({"content": "x"}), event({}, "stop", timings=TIMINGS), "data: [DONE]\n\n")
    router.post("/v1/chat/completions").respond(content=body)
    completion = backend_for(router).chat(request(), ignore)
    assert completion.usage.prompt_tokens == 100  # prompt_n + cache_n
    assert completion.usage.output_tokens == 12
    assert completion.usage.cached_prompt_tokens == 30
    assert completion.warnings == ()


def test_no_counts_at_all_is_a_warning_and_time_is_measured(router: respx.Router) -> None:
    body = sse(event({"content": "a"}), event({"content": "b"}), event({"content": "c"}))
    router.post("/v1/chat/completions").respond(
        content=body + sse(event({}, "stop"), "data: [DONE]\n\n")
    )
    completion = backend_for(router, clock=TickingClock()).chat(request(), ignore)
    usage = completion.usage
    assert (usage.prompt_tokens, usage.output_tokens, usage.cached_prompt_tokens) == (0, 0, None)
    assert any("did not report token counts" in warning for warning in completion.warnings)
    # clock readings: start=1, texts at 2, 3, 4, end=5
    assert usage.prompt_seconds == pytest.approx(1.0)
    assert usage.generation_seconds == pytest.approx(2.0)
    assert usage.total_seconds == pytest.approx(4.0)


def test_length_finish_warns(router: respx.Router) -> None:
    router.post("/v1/chat/completions").respond(content=full_stream("x", finish="length"))
    completion = backend_for(router).chat(request(max_output_tokens=64), ignore)
    assert completion.usage.done_reason == "length"
    assert any("length limit of 64 tokens" in warning for warning in completion.warnings)


def test_finish_reason_without_done_marker_is_accepted(router: respx.Router) -> None:
    router.post("/v1/chat/completions").respond(content=sse(event({"content": "ok"}, "stop")))
    completion = backend_for(router).chat(request(), ignore)
    assert completion.text == "ok"
    assert completion.usage.done_reason == "stop"


def test_output_cap_stops_an_endless_answer(router: respx.Router) -> None:
    body = sse(*(event({"content": "t"}) for _ in range(300)), "data: [DONE]\n\n")
    router.post("/v1/chat/completions").respond(content=body)
    completion = backend_for(router).chat(request(max_output_tokens=20), ignore)
    assert len(completion.text) == 20 + 64 + 1
    assert completion.usage.done_reason == "length"
    assert completion.usage.output_tokens == 85
    assert any("stopped reading" in warning for warning in completion.warnings)


# ---------------------------------------------------------------- context length


def test_configured_context_size_wins_over_props(router: respx.Router) -> None:
    props = router.get("/props").respond(json={"default_generation_settings": {"n_ctx": 2048}})
    backend = backend_for(router, context_size=16384)
    assert backend.context_length(MODEL) == 16384
    assert props.call_count == 0


@pytest.mark.parametrize(
    ("props", "expected"),
    [
        ({"default_generation_settings": {"n_ctx": 4096}, "total_slots": 2}, 4096),
        ({"n_ctx": 8192}, 8192),
        ({"default_generation_settings": {}, "n_ctx": 1024}, 1024),
        ({"total_slots": 1}, None),
    ],
)
def test_context_length_from_props(
    router: respx.Router, props: dict[str, object], expected: int | None
) -> None:
    route = router.get("/props").respond(json=props)
    backend = backend_for(router, context_size=None)
    assert backend.context_length(MODEL) == expected
    assert backend.context_length(MODEL) == expected
    assert route.call_count == 1


def test_no_props_endpoint_means_unknown(router: respx.Router) -> None:
    router.get("/props").respond(404, text="404 page not found")
    assert backend_for(router, context_size=None).context_length(MODEL) is None


def test_props_while_loading_is_asked_again(router: respx.Router) -> None:
    route = router.get("/props").mock(
        side_effect=[
            httpx.Response(503, json={"error": {"message": "Loading model"}}),
            httpx.Response(200, json={"default_generation_settings": {"n_ctx": 4096}}),
        ]
    )
    backend = backend_for(router, context_size=None)
    assert backend.context_length(MODEL) is None
    assert backend.context_length(MODEL) == 4096
    assert route.call_count == 2


def test_prompt_too_long_for_n_ctx_stops_before_generating(router: respx.Router) -> None:
    router.get("/props").respond(json={"default_generation_settings": {"n_ctx": 2048}})
    chat = router.post("/v1/chat/completions").respond(content=full_stream("x"))
    with pytest.raises(PromptTooLong, match="2048"):
        backend_for(router, context_size=None).chat(request("x" * 7_000), ignore)
    assert chat.call_count == 0


def test_context_size_is_reported_in_usage(router: respx.Router) -> None:
    router.get("/props").respond(json={"default_generation_settings": {"n_ctx": 4096}})
    router.post("/v1/chat/completions").respond(content=full_stream("x"))
    completion = backend_for(router, context_size=None).chat(request(), ignore)
    assert completion.usage.context_size == 4096


# ---------------------------------------------------------------- 503 retry


def test_503_is_retried_with_exponential_backoff(router: respx.Router) -> None:
    loading = httpx.Response(503, json={"error": {"code": 503, "message": "Loading model"}})
    chat = router.post("/v1/chat/completions").mock(
        side_effect=[loading, loading, loading, httpx.Response(200, content=full_stream("ok"))]
    )
    delays: list[float] = []
    completion = backend_for(router, sleep=delays.append).chat(request(), ignore)
    assert completion.text == "ok"
    assert delays == [0.5, 1.0, 2.0]
    assert chat.call_count == 4


def test_503_until_the_wait_is_spent_is_busy(router: respx.Router) -> None:
    router.post("/v1/chat/completions").respond(503)
    delays: list[float] = []
    backend = backend_for(router, sleep=delays.append, load_wait_seconds=5.0)
    with pytest.raises(BackendBusy) as caught:
        backend.chat(request(), ignore)
    assert delays == [0.5, 1.0, 2.0, 1.5]
    assert sum(delays) == pytest.approx(5.0)
    assert "load_wait_seconds" in str(caught.value)


def test_backoff_delay_is_bounded(router: respx.Router) -> None:
    router.post("/v1/chat/completions").respond(503)
    delays: list[float] = []
    with pytest.raises(BackendBusy):
        backend_for(router, sleep=delays.append, load_wait_seconds=60.0).chat(request(), ignore)
    assert max(delays) == 8.0
    assert sum(delays) == pytest.approx(60.0)


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("status", "error_type", "hint"),
    [
        (429, BackendBusy, "retry later"),
        (401, BackendAuthError, "api_key_env"),
        (403, BackendAuthError, "api_key_env"),
        (404, ModelNotFound, "/v1"),
        (500, BackendResponseError, "the model crashed"),
        (400, BackendResponseError, "the model crashed"),
    ],
)
def test_http_errors_map_to_actionable_errors(
    router: respx.Router, status: int, error_type: type[Exception], hint: str
) -> None:
    error = {"error": {"code": status, "message": "the model crashed", "type": "x"}}
    router.post("/v1/chat/completions").respond(status, json=error)
    with pytest.raises(error_type) as caught:
        backend_for(router, api_key=SECRET).chat(request(), ignore)
    assert hint in str(caught.value)
    assert BASE in str(caught.value)
    assert SECRET not in str(caught.value)


def test_refused_connection_says_what_to_start(router: respx.Router) -> None:
    router.post("/v1/chat/completions").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(BackendUnreachable) as caught:
        backend_for(router).chat(request(), ignore)
    message = str(caught.value)
    assert f"not reachable at {BASE}" in message
    assert "llama-server" in message
    assert "--base-url" in message


def test_refused_connection_on_props(router: respx.Router) -> None:
    router.get("/props").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(BackendUnreachable):
        backend_for(router, context_size=None).chat(request(), ignore)


def test_midstream_error_event(router: respx.Router) -> None:
    body = sse(
        event({"content": "par"}),
        'data: {"error": {"code": 500, "message": "KV cache is full", "type": "server_error"}}\n\n',
    )
    router.post("/v1/chat/completions").respond(content=body)
    seen: list[str] = []
    with pytest.raises(BackendResponseError, match="KV cache is full"):
        backend_for(router).chat(request(), seen.append)
    assert seen == ["par"]


def test_bare_json_error_line_is_caught(router: respx.Router) -> None:
    body = sse(event({"content": "a"})) + b'{"error": "upstream went away"}\n'
    router.post("/v1/chat/completions").respond(content=body)
    with pytest.raises(BackendResponseError, match="upstream went away"):
        backend_for(router).chat(request(), ignore)


def test_cut_stream_is_an_incomplete_answer(router: respx.Router) -> None:
    router.post("/v1/chat/completions").respond(content=sse(event({"content": "half"})))
    with pytest.raises(BackendResponseError) as caught:
        backend_for(router).chat(request(), ignore)
    assert "ended before the answer was complete" in str(caught.value)
    assert "nothing was written" in str(caught.value)


def test_malformed_event_names_its_line(router: respx.Router) -> None:
    body = sse(event({"content": "a"}), "data: {oops\n\n", "data: [DONE]\n\n")
    router.post("/v1/chat/completions").respond(content=body)
    with pytest.raises(BackendResponseError, match="line 3"):
        backend_for(router).chat(request(), ignore)


def test_read_timeout_is_a_timeout_error() -> None:
    router = respx.Router(base_url=ROOT)
    router.post("/v1/chat/completions").mock(side_effect=httpx.ReadTimeout("slow"))
    client = httpx.Client(transport=httpx.MockTransport(router.handler), timeout=7.5)
    backend = OpenAIBackend(client, BASE, context_size=4096)
    with pytest.raises(BackendTimeout, match=r"7\.5 seconds"):
        backend.chat(request(), ignore)


# ---------------------------------------------------------------- API key


def test_api_key_is_sent_as_bearer_and_never_shown(router: respx.Router) -> None:
    props = router.get("/props").respond(json={"n_ctx": 8192})
    chat = router.post("/v1/chat/completions").respond(content=full_stream("x"))
    backend = backend_for(router, api_key=SECRET, context_size=None)
    completion = backend.chat(request(), ignore)
    assert chat.calls[0].request.headers["authorization"] == f"Bearer {SECRET}"
    assert props.calls[0].request.headers["authorization"] == f"Bearer {SECRET}"
    assert SECRET not in completion.endpoint
    assert all(SECRET not in warning for warning in completion.warnings)


def test_no_authorization_header_without_a_key(router: respx.Router) -> None:
    chat = router.post("/v1/chat/completions").respond(content=full_stream("x"))
    backend_for(router).chat(request(), ignore)
    assert "authorization" not in chat.calls[0].request.headers


def test_credentials_in_the_base_url_are_redacted() -> None:
    with httpx.Client() as client:
        backend = OpenAIBackend(client, f"http://user:{SECRET}@127.0.0.1:8080")
        assert backend.endpoint == "http://127.0.0.1:8080/v1"


# ---------------------------------------------------------------- loopback server


def test_streams_from_a_loopback_llama_server() -> None:
    with (
        FakeModelServer(mode="openai", context_length=8192, parallel=2, chunk_size=4) as server,
        httpx.Client() as client,
    ):
        server.enqueue("print('hello, world')", prompt_tokens=50, output_tokens=6, cached_tokens=20)
        seen: list[str] = []
        backend = OpenAIBackend(client, server.openai_url)
        completion = backend.chat(request(), seen.append)
        assert len(seen) > 2
        assert completion.text == "print('hello, world')"
        assert completion.usage.prompt_tokens == 50
        assert completion.usage.output_tokens == 6
        assert completion.usage.cached_prompt_tokens == 20
        assert completion.usage.generation_seconds > 0
        assert completion.usage.context_size == 4096  # per slot: 8192 / 2
        assert server.requests[0]["stream_options"] == {"include_usage": True}


def test_streams_from_ollamas_v1_without_timings() -> None:
    with FakeModelServer(mode="ollama") as server, httpx.Client() as client:
        server.enqueue("abc", output_tokens=3)
        completion = OpenAIBackend(client, server.openai_url).chat(request(), ignore)
        assert completion.text == "abc"
        assert completion.usage.output_tokens == 3
        assert completion.usage.context_size is None  # Ollama has no /props
        assert completion.warnings == ()


def test_loopback_retry_while_loading() -> None:
    with FakeModelServer(mode="openai") as server, httpx.Client() as client:
        server.enqueue_fault("loading_then_ok", times=3)
        server.enqueue("ready now")
        delays: list[float] = []
        backend = OpenAIBackend(client, server.openai_url, sleep=delays.append)
        assert backend.chat(request(), ignore).text == "ready now"
        assert delays == [0.5, 1.0, 2.0]
        assert len(server.requests) == 4


def test_loopback_server_honours_max_tokens() -> None:
    with FakeModelServer(mode="openai", chunk_size=1) as server, httpx.Client() as client:
        server.enqueue("0123456789")
        completion = OpenAIBackend(client, server.openai_url).chat(
            request(max_output_tokens=4), ignore
        )
        assert completion.text == "0123"
        assert completion.usage.done_reason == "length"


def test_loopback_without_usage_chunk_uses_timings() -> None:
    with FakeModelServer(mode="openai", send_usage=False) as server, httpx.Client() as client:
        server.enqueue("abc", prompt_tokens=9, output_tokens=2)
        completion = OpenAIBackend(client, server.openai_url).chat(request(), ignore)
        assert (completion.usage.prompt_tokens, completion.usage.output_tokens) == (9, 2)


def test_llama_server_context_overflow_is_prompt_too_long(router: respx.Router) -> None:
    error = {
        "error": {
            "code": 400,
            "message": "the request exceeds the available context size, try increasing it",
            "type": "exceed_context_size_error",
        }
    }
    router.post("/v1/chat/completions").respond(400, json=error)
    with pytest.raises(PromptTooLong, match="exceeds the available context size"):
        backend_for(router).chat(request(), ignore)


class RecordingStream(httpx.SyncByteStream):
    """A response body that records whether it was closed."""

    def __init__(self, parts: list[bytes]) -> None:
        self.parts = parts
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        yield from self.parts

    def close(self) -> None:
        self.closed = True


def test_keyboard_interrupt_propagates_and_closes_the_response(router: respx.Router) -> None:
    stream = RecordingStream([sse(event({"content": "a"})), full_stream("b")])
    router.post("/v1/chat/completions").mock(return_value=httpx.Response(200, stream=stream))

    def interrupt(_text: str) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        backend_for(router).chat(request(), interrupt)
    assert stream.closed
