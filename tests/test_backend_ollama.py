"""Ollama's native backend: documented shapes replayed with respx, streaming over loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
import respx

from route.backends.common import MINIMUM_OUTPUT_TOKENS, check_prompt_fits
from route.backends.ollama import OllamaBackend, choose_num_ctx
from route.errors import (
    BackendAuthError,
    BackendBusy,
    BackendResponseError,
    BackendTimeout,
    BackendUnreachable,
    ModelNotFound,
    PromptTooLong,
)
from route.prompting.tokens import estimate_messages_tokens
from route.values import ChatRequest
from tests.helpers import TickingClock, chat_request, mock_client
from tests.servers import FakeModelServer

BASE = "http://ollama.test:11434"
MODEL = "qwen2.5-coder:1.5b"

CHUNK = {
    "model": MODEL,
    "created_at": "2023-08-04T08:52:19.385406455-07:00",
    "message": {"role": "assistant", "content": "The", "images": None},
    "done": False,
}
FINAL = {
    "model": MODEL,
    "created_at": "2025-07-07T20:22:19.19314Z",
    "message": {"role": "assistant", "content": ""},
    "done_reason": "stop",
    "done": True,
    "total_duration": 182242375,
    "load_duration": 41295167,
    "prompt_eval_count": 169,
    "prompt_eval_duration": 24573166,
    "eval_count": 15,
    "eval_duration": 115959084,
}


def chunk(text: str) -> dict[str, object]:
    return {**CHUNK, "message": {"role": "assistant", "content": text}}


def ndjson(*lines: object) -> bytes:
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


def show_body(context_length: int, architecture: str = "llama") -> dict[str, object]:
    return {
        "model_info": {
            "general.architecture": architecture,
            f"{architecture}.context_length": context_length,
            f"{architecture}.block_count": 28,
        },
        "capabilities": ["completion"],
    }


@pytest.fixture
def router() -> respx.Router:
    return respx.Router(base_url=BASE, assert_all_mocked=True)


def backend_for(router: respx.Router, **kwargs: object) -> OllamaBackend:
    return OllamaBackend(mock_client(router), BASE, **kwargs)  # type: ignore[arg-type]


def request(text: str = "write a service", **kwargs: object) -> ChatRequest:
    return chat_request(MODEL, text, **kwargs)


def sent_json(route: respx.Route, index: int = -1) -> dict[str, object]:
    body: dict[str, object] = json.loads(route.calls[index].request.content)
    return body


# ---------------------------------------------------------------- pure functions


@pytest.mark.parametrize(
    ("prompt", "output", "limit", "expected"),
    [
        (100, 1000, None, 4096),
        (100, 3996, None, 4096),
        (100, 3997, None, 8192),
        (6000, 4096, None, 16384),
        (6000, 4096, 32768, 16384),
        (6000, 4096, 8192, 8192),
        (100, 100, 2048, 2048),
        (200_000, 4096, None, 262144),
    ],
)
def test_choose_num_ctx(prompt: int, output: int, limit: int | None, expected: int) -> None:
    assert choose_num_ctx(prompt, output, limit) == expected


def test_check_prompt_fits_leaves_room_for_a_minimal_answer() -> None:
    check_prompt_fits(4096 - MINIMUM_OUTPUT_TOKENS, 4096, model="m")
    check_prompt_fits(10**6, None, model="m")
    with pytest.raises(PromptTooLong) as caught:
        check_prompt_fits(4096 - MINIMUM_OUTPUT_TOKENS + 1, 4096, model="m")
    message = str(caught.value)
    assert "4096" in message
    assert "fewer" in message
    assert "longer context" in message


# ---------------------------------------------------------------- streaming and usage


def test_chat_streams_chunks_and_reads_the_final_metrics(router: respx.Router) -> None:
    router.post("/api/show").respond(json=show_body(32768))
    chat = router.post("/api/chat").respond(
        content=ndjson(chunk("def "), chunk("f():"), chunk(" pass"), FINAL)
    )
    seen: list[str] = []
    completion = backend_for(router, clock=TickingClock(100.0)).chat(request(), seen.append)

    assert seen == ["def ", "f():", " pass"]
    assert completion.text == "def f(): pass"
    usage = completion.usage
    assert usage.prompt_tokens == 169
    assert usage.output_tokens == 15
    assert usage.load_seconds == pytest.approx(0.041295167)
    assert usage.prompt_seconds == pytest.approx(0.024573166)
    assert usage.generation_seconds == pytest.approx(0.115959084)
    assert usage.tokens_per_second == pytest.approx(15 / 0.115959084)
    assert usage.done_reason == "stop"
    assert usage.context_size == 8192  # a short prompt + the default 4096 output tokens
    assert usage.total_seconds == pytest.approx(1.0)
    assert completion.backend == "ollama"
    assert completion.endpoint == BASE
    assert completion.model == MODEL
    assert completion.warnings == ()
    assert chat.call_count == 1


def test_chat_sends_options_and_keep_alive(router: respx.Router) -> None:
    router.post("/api/show").respond(json=show_body(32768))
    chat = router.post("/api/chat").respond(content=ndjson(chunk("x"), FINAL))
    backend_for(router).chat(
        request(max_output_tokens=1000, temperature=0.0, seed=7, keep_alive="10m"), print
    )
    body = sent_json(chat)
    assert body["stream"] is True
    assert body["truncate"] is False
    assert body["keep_alive"] == "10m"
    assert body["model"] == MODEL
    assert body["messages"] == [
        {"role": "system", "content": "You write code."},
        {"role": "user", "content": "write a service"},
    ]
    assert body["options"] == {"num_predict": 1000, "num_ctx": 4096, "temperature": 0.0, "seed": 7}


def test_chat_leaves_out_unset_options(router: respx.Router) -> None:
    router.post("/api/show").respond(json=show_body(32768))
    chat = router.post("/api/chat").respond(content=ndjson(FINAL))
    backend_for(router).chat(request(temperature=None, seed=None), lambda _text: None)
    body = sent_json(chat)
    assert "keep_alive" not in body
    assert body["options"] == {"num_predict": 4096, "num_ctx": 8192}


def test_missing_metric_fields_count_as_zero(router: respx.Router) -> None:
    router.post("/api/show").respond(json=show_body(32768))
    router.post("/api/chat").respond(content=ndjson(chunk("x"), {"done": True}))
    usage = backend_for(router).chat(request(), lambda _text: None).usage
    assert (usage.prompt_tokens, usage.output_tokens, usage.load_seconds) == (0, 0, 0.0)
    assert usage.done_reason == ""


# ---------------------------------------------------------------- context sizing


def test_num_ctx_grows_with_the_prompt(router: respx.Router) -> None:
    router.post("/api/show").respond(json=show_body(131072))
    chat = router.post("/api/chat").respond(content=ndjson(FINAL))
    big = request("x" * 35_000)  # about 10,000 tokens + 4096 output
    backend_for(router).chat(big, lambda _text: None)
    estimate = estimate_messages_tokens([message.content for message in big.messages])
    assert sent_json(chat)["options"]["num_ctx"] == choose_num_ctx(estimate, 4096, 131072)  # type: ignore[index]
    assert sent_json(chat)["options"]["num_ctx"] == 16384  # type: ignore[index]


def test_num_ctx_is_capped_at_the_model_context_with_a_warning(router: respx.Router) -> None:
    router.post("/api/show").respond(json=show_body(8192, architecture="qwen2"))
    chat = router.post("/api/chat").respond(content=ndjson(FINAL))
    completion = backend_for(router).chat(request("x" * 21_000), lambda _text: None)
    assert sent_json(chat)["options"]["num_ctx"] == 8192  # type: ignore[index]
    assert completion.usage.context_size == 8192
    assert any("8192-token context" in warning for warning in completion.warnings)


def test_prompt_too_long_stops_before_generating(router: respx.Router) -> None:
    router.post("/api/show").respond(json=show_body(4096))
    chat = router.post("/api/chat").respond(content=ndjson(FINAL))
    with pytest.raises(PromptTooLong) as caught:
        backend_for(router).chat(request("x" * 14_000), lambda _text: None)
    assert chat.call_count == 0
    message = str(caught.value)
    assert "4096" in message
    assert MODEL in message
    assert "-c" in message


def test_given_num_ctx_is_sent_as_is_without_asking_the_model(router: respx.Router) -> None:
    show = router.post("/api/show").respond(json=show_body(4096))
    chat = router.post("/api/chat").respond(content=ndjson(FINAL))
    completion = backend_for(router).chat(request(num_ctx=12000), lambda _text: None)
    assert show.call_count == 0
    assert sent_json(chat)["options"]["num_ctx"] == 12000  # type: ignore[index]
    assert completion.usage.context_size == 12000


def test_given_num_ctx_too_small_for_the_prompt_is_refused(router: respx.Router) -> None:
    chat = router.post("/api/chat").respond(content=ndjson(FINAL))
    with pytest.raises(PromptTooLong):
        backend_for(router).chat(request("x" * 7_000, num_ctx=2048), lambda _text: None)
    assert chat.call_count == 0


def test_context_length_is_asked_once_per_model(router: respx.Router) -> None:
    show = router.post("/api/show").respond(json=show_body(32768))
    router.post("/api/chat").respond(content=ndjson(FINAL))
    backend = backend_for(router)
    backend.chat(request(), lambda _text: None)
    backend.chat(request(), lambda _text: None)
    assert backend.context_length(MODEL) == 32768
    assert show.call_count == 1
    assert json.loads(show.calls[0].request.content) == {"model": MODEL}


@pytest.mark.parametrize(
    ("info", "expected"),
    [
        ({"general.architecture": "gemma3", "gemma3.context_length": 131072}, 131072),
        ({"general.architecture": "odd", "llama.context_length": 2048}, 2048),
        ({"general.architecture": "llama"}, None),
        ({"general.architecture": "llama", "llama.context_length": "big"}, None),
    ],
)
def test_context_length_from_model_info(
    router: respx.Router, info: dict[str, object], expected: int | None
) -> None:
    router.post("/api/show").respond(json={"model_info": info})
    assert backend_for(router).context_length(MODEL) == expected


def test_unknown_context_length_still_sizes_num_ctx(router: respx.Router) -> None:
    router.post("/api/show").respond(json={"details": {}})
    chat = router.post("/api/chat").respond(content=ndjson(FINAL))
    backend_for(router).chat(request("x" * 35_000), lambda _text: None)
    assert sent_json(chat)["options"]["num_ctx"] == 16384  # type: ignore[index]


# ---------------------------------------------------------------- warnings


def test_length_stop_warns(router: respx.Router) -> None:
    router.post("/api/show").respond(json=show_body(32768))
    final = {**FINAL, "done_reason": "length"}
    router.post("/api/chat").respond(content=ndjson(chunk("x"), final))
    completion = backend_for(router).chat(request(max_output_tokens=300), lambda _text: None)
    assert completion.usage.done_reason == "length"
    assert any("length limit of 300 tokens" in warning for warning in completion.warnings)


@pytest.mark.parametrize(
    ("prompt_eval_count", "warned"), [(500, True), (2000, False), (0, False), (3500, False)]
)
def test_truncation_warning_when_the_server_read_far_less(
    router: respx.Router, prompt_eval_count: int, warned: bool
) -> None:
    router.post("/api/show").respond(json=show_body(32768))
    final = {**FINAL, "prompt_eval_count": prompt_eval_count}
    router.post("/api/chat").respond(content=ndjson(final))
    completion = backend_for(router).chat(request("x" * 12_000), lambda _text: None)
    truncated = [warning for warning in completion.warnings if "truncated" in warning]
    assert bool(truncated) is warned


def test_no_truncation_warning_for_small_prompts(router: respx.Router) -> None:
    router.post("/api/show").respond(json=show_body(32768))
    router.post("/api/chat").respond(content=ndjson({**FINAL, "prompt_eval_count": 3}))
    completion = backend_for(router).chat(request("x" * 1_000), lambda _text: None)
    assert completion.warnings == ()


# ---------------------------------------------------------------- stream faults


def test_midstream_error_line_raises_with_the_server_message(router: respx.Router) -> None:
    router.post("/api/show").respond(json=show_body(32768))
    error = {"error": "an error was encountered while running the model"}
    router.post("/api/chat").respond(content=ndjson(chunk("can"), error))
    seen: list[str] = []
    with pytest.raises(BackendResponseError) as caught:
        backend_for(router).chat(request(), seen.append)
    assert "an error was encountered while running the model" in str(caught.value)
    assert seen == ["can"]


def test_error_on_a_not_done_line_is_caught(router: respx.Router) -> None:
    router.post("/api/show").respond(json=show_body(32768))
    router.post("/api/chat").respond(content=ndjson({"error": "out of memory", "done": False}))
    with pytest.raises(BackendResponseError, match="out of memory"):
        backend_for(router).chat(request(), lambda _text: None)


def test_malformed_line_names_its_number(router: respx.Router) -> None:
    router.post("/api/show").respond(json=show_body(32768))
    body = ndjson(chunk("a"), chunk("b")) + b"{not json\n" + ndjson(FINAL)
    router.post("/api/chat").respond(content=body)
    with pytest.raises(BackendResponseError, match="line 3"):
        backend_for(router).chat(request(), lambda _text: None)


def test_a_line_that_is_not_an_object_is_malformed(router: respx.Router) -> None:
    router.post("/api/show").respond(json=show_body(32768))
    router.post("/api/chat").respond(content=b'["a"]\n')
    with pytest.raises(BackendResponseError, match="line 1"):
        backend_for(router).chat(request(), lambda _text: None)


def test_stream_without_done_is_an_incomplete_answer(router: respx.Router) -> None:
    router.post("/api/show").respond(json=show_body(32768))
    router.post("/api/chat").respond(content=ndjson(chunk("half"), chunk("way")))
    with pytest.raises(BackendResponseError) as caught:
        backend_for(router).chat(request(), lambda _text: None)
    message = str(caught.value)
    assert "ended before the answer was complete" in message
    assert "nothing was written" in message
    assert BASE in message


def test_blank_lines_are_skipped(router: respx.Router) -> None:
    router.post("/api/show").respond(json=show_body(32768))
    body = b"\n" + ndjson(chunk("a")) + b"\r\n\n" + ndjson(FINAL)
    router.post("/api/chat").respond(content=body)
    assert backend_for(router).chat(request(), lambda _text: None).text == "a"


def test_output_cap_stops_a_server_that_ignores_num_predict(router: respx.Router) -> None:
    router.post("/api/show").respond(json=show_body(32768))
    router.post("/api/chat").respond(content=ndjson(*[chunk("t") for _ in range(500)], FINAL))
    completion = backend_for(router).chat(request(max_output_tokens=10), lambda _text: None)
    assert completion.usage.done_reason == "length"
    assert len(completion.text) == 10 + 64 + 1
    assert any("stopped reading" in warning for warning in completion.warnings)


class RecordingStream(httpx.SyncByteStream):
    """A response body that records whether it was closed."""

    def __init__(self, lines: list[bytes]) -> None:
        self.lines = lines
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        yield from self.lines

    def close(self) -> None:
        self.closed = True


def test_keyboard_interrupt_propagates_and_closes_the_response(router: respx.Router) -> None:
    router.post("/api/show").respond(json=show_body(32768))
    stream = RecordingStream([ndjson(chunk("a")), ndjson(chunk("b")), ndjson(FINAL)])
    router.post("/api/chat").mock(return_value=httpx.Response(200, stream=stream))

    def interrupt(_text: str) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        backend_for(router).chat(request(), interrupt)
    assert stream.closed


# ---------------------------------------------------------------- HTTP and transport errors


def test_refused_connection_says_how_to_start_ollama(router: respx.Router) -> None:
    router.post("/api/show").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(BackendUnreachable) as caught:
        backend_for(router).chat(request(), lambda _text: None)
    message = str(caught.value)
    assert f"Ollama is not reachable at {BASE}" in message
    assert "ollama serve" in message
    assert "OLLAMA_HOST" in message


def test_refused_connection_on_chat(router: respx.Router) -> None:
    router.post("/api/chat").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(BackendUnreachable):
        backend_for(router).chat(request(num_ctx=4096), lambda _text: None)


def test_model_missing_on_show_says_ollama_pull(router: respx.Router) -> None:
    router.post("/api/show").respond(404, json={"error": f"model '{MODEL}' not found"})
    with pytest.raises(ModelNotFound) as caught:
        backend_for(router).chat(request(), lambda _text: None)
    assert f"ollama pull {MODEL}" in str(caught.value)


def test_model_missing_on_chat_says_ollama_pull(router: respx.Router) -> None:
    error = {"error": f'model "{MODEL}" not found, try pulling it first'}
    router.post("/api/chat").respond(404, json=error)
    with pytest.raises(ModelNotFound) as caught:
        backend_for(router).chat(request(num_ctx=4096), lambda _text: None)
    assert f"ollama pull {MODEL}" in str(caught.value)
    assert "try pulling it first" in str(caught.value)


@pytest.mark.parametrize(
    ("status", "error_type", "hint"),
    [
        (503, BackendBusy, "OLLAMA_MAX_QUEUE"),
        (429, BackendBusy, "retry later"),
        (401, BackendAuthError, "OLLAMA_API_KEY"),
        (403, BackendAuthError, "OLLAMA_API_KEY"),
        (500, BackendResponseError, "llama runner process has terminated"),
        (400, BackendResponseError, "llama runner process has terminated"),
        (502, BackendResponseError, "HTTP 502"),
    ],
)
def test_http_errors_map_to_actionable_errors(
    router: respx.Router, status: int, error_type: type[Exception], hint: str
) -> None:
    router.post("/api/chat").respond(status, json={"error": "llama runner process has terminated"})
    with pytest.raises(error_type) as caught:
        backend_for(router).chat(request(num_ctx=4096), lambda _text: None)
    assert hint in str(caught.value)
    assert BASE in str(caught.value)


def test_plain_text_error_body_is_quoted(router: respx.Router) -> None:
    router.post("/api/chat").respond(502, text="Bad Gateway from the proxy")
    with pytest.raises(BackendResponseError, match="Bad Gateway from the proxy"):
        backend_for(router).chat(request(num_ctx=4096), lambda _text: None)


def test_read_timeout_names_the_seconds_and_the_config_key() -> None:
    router = respx.Router(base_url=BASE)
    router.post("/api/chat").mock(side_effect=httpx.ReadTimeout("timed out"))
    client = httpx.Client(transport=httpx.MockTransport(router.handler), timeout=42.0)
    with pytest.raises(BackendTimeout) as caught:
        OllamaBackend(client, BASE).chat(request(num_ctx=4096), lambda _text: None)
    assert "42 seconds" in str(caught.value)
    assert "read_timeout" in str(caught.value)


def test_show_answer_that_is_not_json(router: respx.Router) -> None:
    router.post("/api/show").respond(200, text="<html>proxy login</html>")
    with pytest.raises(BackendResponseError, match="OLLAMA_HOST"):
        backend_for(router).context_length(MODEL)


# ---------------------------------------------------------------- API key


def test_api_key_goes_in_the_header_only(router: respx.Router) -> None:
    router.post("/api/show").respond(json=show_body(32768))
    chat = router.post("/api/chat").respond(401, json={"error": "unauthorized"})
    backend = backend_for(router, api_key="sk-very-secret")
    with pytest.raises(BackendAuthError) as caught:
        backend.chat(request(), lambda _text: None)
    assert chat.calls[0].request.headers["authorization"] == "Bearer sk-very-secret"
    assert "sk-very-secret" not in str(caught.value)
    assert "sk-very-secret" not in backend.endpoint


def test_no_authorization_header_without_a_key(router: respx.Router) -> None:
    router.post("/api/show").respond(json=show_body(32768))
    chat = router.post("/api/chat").respond(content=ndjson(FINAL))
    backend_for(router).chat(request(), lambda _text: None)
    assert "authorization" not in chat.calls[0].request.headers


def test_endpoint_has_no_credentials() -> None:
    client = httpx.Client()
    try:
        backend = OllamaBackend(client, "http://user:pw@127.0.0.1:11434/")
        assert backend.endpoint == "http://127.0.0.1:11434"
    finally:
        client.close()


# ---------------------------------------------------------------- loopback server


def test_streams_from_a_loopback_ollama_server() -> None:
    with FakeModelServer(mode="ollama", chunk_size=5) as server, httpx.Client() as client:
        server.enqueue("hello world, this is the answer", prompt_tokens=40, output_tokens=7)
        seen: list[str] = []
        completion = OllamaBackend(client, server.url).chat(request(seed=3), seen.append)
        assert len(seen) > 3
        assert "".join(seen) == completion.text == "hello world, this is the answer"
        assert completion.usage.prompt_tokens == 40
        assert completion.usage.output_tokens == 7
        assert completion.usage.generation_seconds > 0
        assert server.requests[0]["options"]["num_ctx"] == 8192
        assert server.requests[0]["options"]["seed"] == 3
        assert server.paths[:2] == ["POST /api/show", "POST /api/chat"]


def test_loopback_server_honours_num_predict() -> None:
    with FakeModelServer(mode="ollama", chunk_size=1) as server, httpx.Client() as client:
        server.enqueue("abcdefghijklmnopqrstuvwxyz")
        completion = OllamaBackend(client, server.url).chat(
            request(max_output_tokens=5), lambda _text: None
        )
        assert completion.text == "abcde"
        assert completion.usage.done_reason == "length"
        assert any("length limit of 5 tokens" in warning for warning in completion.warnings)


def test_loopback_unknown_model_is_not_pulled() -> None:
    with (
        FakeModelServer(mode="ollama", models=["llama3.2"]) as server,
        httpx.Client() as client,
    ):
        with pytest.raises(ModelNotFound, match=f"ollama pull {MODEL}"):
            OllamaBackend(client, server.url).chat(request(), lambda _text: None)
        assert server.requests == []


def test_loopback_context_length_from_show() -> None:
    with (
        FakeModelServer(mode="ollama", context_length=4096) as server,
        httpx.Client() as client,
    ):
        with pytest.raises(PromptTooLong):
            OllamaBackend(client, server.url).chat(request("y" * 14_000), lambda _text: None)
        assert server.requests == []


def test_server_refusing_an_over_long_prompt_is_prompt_too_long(router: respx.Router) -> None:
    router.post("/api/chat").respond(
        400, json={"error": "the input length exceeds the context length"}
    )
    with pytest.raises(PromptTooLong) as caught:
        backend_for(router).chat(request(num_ctx=4096), lambda _text: None)
    assert "the input length exceeds the context length" in str(caught.value)
    assert "fewer" in str(caught.value)


def test_midstream_context_overflow_is_prompt_too_long(router: respx.Router) -> None:
    router.post("/api/chat").respond(
        content=ndjson({"error": "the input length exceeds the context length"})
    )
    with pytest.raises(PromptTooLong):
        backend_for(router).chat(request(num_ctx=4096), lambda _text: None)
