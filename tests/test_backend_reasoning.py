"""Reasoning models on the wire: every way reasoning arrives, over loopback, chunked awkwardly;
``--think`` on the wire and checked against ``/api/show``; the reasoning budget."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from route.backends.ollama import OllamaBackend
from route.backends.openai import OpenAIBackend
from route.backends.thinking import budget_failure, support_from_show
from route.errors import ThinkNotSupported
from route.values import ChatRequest
from tests.helpers import chat_request, mock_client
from tests.servers import FakeModelServer

MODEL = "qwen3:8b"
DRAFT = "The file could be:\napp/wrong.py\n```python\nprint('draft')\n```\nNo — better:\n"
ANSWER = "app/right.py\n```python\nprint('right')\n```\n"
SHAPES = {
    "ollama": ("field", "inline", "inline_thinking"),
    "openai": ("field", "reasoning", "inline", "inline_thinking"),
}
CASES = [
    (mode, shape, size) for mode, shapes in SHAPES.items() for shape in shapes for size in (1, 3, 7)
]


def backend(server: FakeModelServer) -> OllamaBackend | OpenAIBackend:
    client = httpx.Client(timeout=10)
    if server.mode == "ollama":
        return OllamaBackend(client, server.url)
    return OpenAIBackend(client, server.openai_url)


def request(**fields: object) -> ChatRequest:
    return chat_request(MODEL, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(("mode", "shape", "chunk_size"), CASES)
def test_reasoning_never_reaches_the_answer_or_the_text_sink(
    mode: str, shape: str, chunk_size: int
) -> None:
    with FakeModelServer(mode, chunk_size=chunk_size) as server:  # type: ignore[arg-type]
        server.enqueue(ANSWER, reasoning=DRAFT, reasoning_as=shape)
        seen: list[str] = []
        thoughts: list[str] = []
        completion = backend(server).chat(request(), seen.append, thoughts.append)
    assert completion.text == ANSWER
    assert "".join(seen) == ANSWER
    assert "wrong" not in "".join(seen)
    assert "".join(thoughts) == DRAFT == completion.reasoning
    assert not completion.still_reasoning
    assert completion.usage.reasoning_tokens > 0
    assert completion.usage.reasoning_tokens <= completion.usage.output_tokens


@pytest.mark.parametrize("mode", ["ollama", "openai"])
@pytest.mark.parametrize("shape", ["field", "inline"])
def test_a_stream_cut_by_the_budget_while_reasoning_is_still_reasoning(
    mode: str, shape: str
) -> None:
    with FakeModelServer(mode, chunk_size=4) as server:  # type: ignore[arg-type]
        server.enqueue(ANSWER, reasoning=DRAFT * 20, reasoning_as=shape)
        seen: list[str] = []
        completion = backend(server).chat(request(max_output_tokens=64), seen.append)
    assert completion.usage.done_reason == "length"
    assert completion.still_reasoning
    assert completion.text == "" and seen == []
    message = budget_failure(completion)
    assert message is not None
    assert f"reasoning ({completion.usage.reasoning_tokens} tokens)" in message
    assert "--max-output-tokens" in message and "--think low/off" in message


def test_a_plain_answer_cut_at_the_length_limit_is_not_a_budget_failure() -> None:
    with FakeModelServer("ollama", chunk_size=4) as server:
        server.enqueue(ANSWER * 40)
        completion = backend(server).chat(request(max_output_tokens=64), lambda _: None)
    assert completion.usage.done_reason == "length"
    assert budget_failure(completion) is None


# ---------------------------------------------------------------------- --think on the wire


@pytest.mark.parametrize(
    ("think", "field"),
    [("auto", None), ("off", False), ("on", True)],
)
def test_ollama_sends_the_think_field(think: str, field: object) -> None:
    with FakeModelServer("ollama", capabilities=["completion", "thinking"]) as server:
        backend(server).chat(request(think=think), lambda _: None)
        body = server.requests[0]
    assert body.get("think", None) == field
    assert ("think" in body) == (think != "auto")


def test_ollama_sends_a_level_to_a_model_that_takes_levels() -> None:
    with FakeModelServer(
        "ollama", capabilities=["completion", "thinking"], family="gptoss"
    ) as server:
        backend(server).chat(request(think="low"), lambda _: None)
        assert server.requests[0]["think"] == "low"


@pytest.mark.parametrize(
    ("think", "fields"),
    [
        ("auto", {}),
        ("off", {"chat_template_kwargs": {"enable_thinking": False}}),
        ("on", {"chat_template_kwargs": {"enable_thinking": True}}),
        ("high", {"reasoning_effort": "high"}),
    ],
)
def test_openai_sends_the_documented_switches(think: str, fields: dict[str, object]) -> None:
    with FakeModelServer("openai") as server:
        backend(server).chat(request(think=think), lambda _: None)
        body = server.requests[0]
    sent = {key: body[key] for key in ("chat_template_kwargs", "reasoning_effort") if key in body}
    assert sent == fields


@pytest.mark.parametrize(
    ("capabilities", "family", "think", "accepted"),
    [
        (["completion"], "llama", "on", "auto|off"),
        (["completion"], "llama", "high", "auto|off"),
        (["completion", "thinking"], "qwen3", "medium", "auto|on|off"),
        (["completion", "thinking"], "gptoss", "off", "auto|on|low|medium|high"),
    ],
)
def test_a_think_value_the_model_does_not_take_is_refused_before_generating(
    capabilities: list[str], family: str, think: str, accepted: str
) -> None:
    with FakeModelServer("ollama", capabilities=capabilities, family=family) as server:
        with pytest.raises(ThinkNotSupported) as caught:
            backend(server).chat(request(think=think), lambda _: None)
        assert server.requests == []  # nothing was generated
    message = str(caught.value)
    assert f"--think {think} is not accepted" in message
    assert f"use --think {accepted}" in message
    assert MODEL in message


def test_think_off_is_sent_to_a_model_that_does_not_think() -> None:
    # Ollama accepts think:false for any model; only true or a level is a 400.
    with FakeModelServer("ollama") as server:
        backend(server).chat(request(think="off"), lambda _: None)
        assert server.requests[0]["think"] is False


def test_an_old_server_without_capabilities_is_not_checked() -> None:
    assert support_from_show({"model_info": {}}).thinks is None
    router = respx.Router(base_url="http://ollama.test", assert_all_mocked=True)
    router.post("/api/show").respond(json={"model_info": {}})
    route = router.post("/api/chat").respond(
        content=b'{"message":{"role":"assistant","content":"x"},"done":true,"eval_count":1}\n'
    )
    client = mock_client(router)
    OllamaBackend(client, "http://ollama.test").chat(request(think="high"), lambda _: None)
    assert json.loads(route.calls[0].request.content)["think"] == "high"


# ---------------------------------------------------------------------- the budget


def test_ollama_raises_the_budget_for_a_model_that_thinks() -> None:
    with FakeModelServer("ollama", capabilities=["completion", "thinking"]) as server:
        completion = backend(server).chat(
            request(max_output_tokens=4096, thinking_output_tokens=16384), lambda _: None
        )
        options = server.requests[0]["options"]
    assert options["num_predict"] == 16384 == completion.max_output_tokens
    assert options["num_ctx"] >= 16384


@pytest.mark.parametrize(
    ("capabilities", "think"),
    [(["completion"], "auto"), (["completion", "thinking"], "off")],
)
def test_ollama_keeps_the_budget_when_the_model_will_not_think(
    capabilities: list[str], think: str
) -> None:
    with FakeModelServer("ollama", capabilities=capabilities) as server:
        backend(server).chat(
            request(max_output_tokens=4096, thinking_output_tokens=16384, think=think),
            lambda _: None,
        )
        assert server.requests[0]["options"]["num_predict"] == 4096


@pytest.mark.parametrize(
    ("model_thinks", "think", "sent"),
    [
        (True, "auto", 16384),
        (None, "auto", 4096),
        (None, "on", 16384),
        (True, "off", 4096),
    ],
)
def test_openai_raises_the_budget_from_the_catalog_or_an_explicit_think(
    model_thinks: bool | None, think: str, sent: int
) -> None:
    with FakeModelServer("openai") as server:
        backend(server).chat(
            request(
                max_output_tokens=4096,
                thinking_output_tokens=16384,
                think=think,
                model_thinks=model_thinks,
            ),
            lambda _: None,
        )
        assert server.requests[0]["max_tokens"] == sent


# ---------------------------------------------------------------------- other shapes


def test_ollama_generate_shaped_lines_keep_thinking_apart() -> None:
    router = respx.Router(base_url="http://ollama.test", assert_all_mocked=True)
    router.post("/api/show").respond(json={"model_info": {}, "capabilities": ["thinking"]})
    lines = [
        {"response": "", "thinking": "app/wrong.py\n```python\n", "done": False},
        {"response": "", "thinking": "x = 1\n```\n", "done": False},
        {"response": ANSWER, "done": False},
        {"response": "", "done": True, "done_reason": "stop", "eval_count": 3},
    ]
    router.post("/api/chat").respond(
        content=b"".join(json.dumps(line).encode() + b"\n" for line in lines)
    )
    seen: list[str] = []
    completion = OllamaBackend(mock_client(router), "http://ollama.test").chat(
        request(think="on"), seen.append
    )
    assert completion.text == ANSWER == "".join(seen)
    assert completion.reasoning == "app/wrong.py\n```python\nx = 1\n```\n"
    assert completion.usage.reasoning_tokens == 2


def test_openai_reasoning_tokens_come_from_the_usage_details_when_given() -> None:
    router = respx.Router(base_url="http://llama.test/v1", assert_all_mocked=True)
    router.get("http://llama.test/props").respond(404)
    events = [
        {"choices": [{"delta": {"reasoning_content": "hmm"}, "finish_reason": None}]},
        {"choices": [{"delta": {"content": ANSWER}, "finish_reason": "stop"}]},
        {
            "choices": [],
            "usage": {
                "prompt_tokens": 10,
                "completion_tokens": 50,
                "completion_tokens_details": {"reasoning_tokens": 42},
            },
        },
    ]
    body = b"".join(b"data: " + json.dumps(event).encode() + b"\n\n" for event in events)
    router.post("/chat/completions").respond(content=body + b"data: [DONE]\n\n")
    completion = OpenAIBackend(mock_client(router), "http://llama.test/v1").chat(
        request(), lambda _: None
    )
    assert completion.usage.reasoning_tokens == 42
    assert completion.text == ANSWER
