"""Client construction, auto detection and backend selection."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import respx

from route.backends.factory import create_backend, detect_backend, make_client
from route.backends.ollama import OllamaBackend
from route.backends.openai import OpenAIBackend
from route.errors import BackendUnreachable, ConfigError
from route.values import ChatRequest, Message
from tests.servers import FakeModelServer, free_port


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with make_client(connect_timeout=2.0, read_timeout=5.0) as client:
        yield client


def request() -> ChatRequest:
    return ChatRequest(model="fake-model", messages=(Message("user", "hi"),))


def nowhere() -> str:
    return f"http://127.0.0.1:{free_port()}"


# ---------------------------------------------------------------- make_client


def test_make_client_timeouts_and_no_environment_proxies() -> None:
    with make_client(connect_timeout=3.0, read_timeout=900.0) as client:
        assert client.timeout.connect == 3.0
        assert client.timeout.read == 900.0
        assert client.timeout.pool == 3.0
        assert client.trust_env is False


def test_environment_proxy_does_not_hijack_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", nowhere())
    monkeypatch.setenv("ALL_PROXY", nowhere())
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with FakeModelServer(mode="ollama") as server, make_client() as client:
        assert client.get(f"{server.url}/api/version").json() == {"version": server.version}


# ---------------------------------------------------------------- detect_backend


def test_detects_ollama(client: httpx.Client) -> None:
    with FakeModelServer(mode="ollama") as server:
        assert detect_backend(client, server.url) == "ollama"


def test_detects_an_openai_compatible_server(client: httpx.Client) -> None:
    with FakeModelServer(mode="openai") as server:
        assert detect_backend(client, server.url) == "openai"
        assert "GET /api/version" in server.paths


def test_nothing_listening_detects_openai(client: httpx.Client) -> None:
    assert detect_backend(client, nowhere()) == "openai"


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, text="<html>welcome</html>"),
        httpx.Response(200, json={"name": "not ollama"}),
        httpx.Response(200, json=["version"]),
        httpx.Response(500, json={"version": "x"}),
    ],
)
def test_answers_that_are_not_ollamas_detect_openai(response: httpx.Response) -> None:
    router = respx.Router(base_url="http://h:1")
    router.get("/api/version").mock(return_value=response)
    with httpx.Client(transport=httpx.MockTransport(router.handler)) as client:
        assert detect_backend(client, "http://h:1") == "openai"


# ---------------------------------------------------------------- create_backend


def test_unknown_kind_is_a_config_error(client: httpx.Client) -> None:
    with pytest.raises(ConfigError) as caught:
        create_backend("llamacpp", client=client, ollama_url=nowhere(), base_url=None)
    assert "auto, ollama, openai" in str(caught.value)


def test_explicit_ollama_does_not_probe(client: httpx.Client) -> None:
    url = nowhere()
    backend = create_backend("ollama", client=client, ollama_url=url, base_url=None)
    assert isinstance(backend, OllamaBackend)
    assert backend.endpoint == url


def test_explicit_openai_normalizes_the_base_url(client: httpx.Client) -> None:
    backend = create_backend(
        "openai",
        client=client,
        ollama_url=nowhere(),
        base_url="http://user:pw@127.0.0.1:8080/",
        context_size=2048,
    )
    assert isinstance(backend, OpenAIBackend)
    assert backend.endpoint == "http://127.0.0.1:8080/v1"
    assert backend.context_length("any") == 2048


def test_explicit_openai_without_base_url_uses_ollamas_v1(client: httpx.Client) -> None:
    with FakeModelServer(mode="ollama") as server:
        backend = create_backend("openai", client=client, ollama_url=server.url, base_url=None)
        assert backend.endpoint == server.openai_url
        server.enqueue("via v1")
        assert backend.chat(request(), lambda _text: None).text == "via v1"
        assert server.paths[-1] == "POST /v1/chat/completions"


def test_auto_picks_ollama_native_when_it_answers(client: httpx.Client) -> None:
    with FakeModelServer(mode="ollama") as server:
        backend = create_backend("auto", client=client, ollama_url=server.url, base_url=None)
        assert isinstance(backend, OllamaBackend)
        server.enqueue("native")
        assert backend.chat(request(), lambda _text: None).text == "native"
        assert server.paths[-1] == "POST /api/chat"


def test_auto_picks_openai_at_the_base_url(client: httpx.Client) -> None:
    with FakeModelServer(mode="openai") as server:
        backend = create_backend(
            "auto",
            client=client,
            ollama_url=nowhere(),
            base_url=server.openai_url,
            api_key="sk-factory",
        )
        assert isinstance(backend, OpenAIBackend)
        assert backend.endpoint == server.openai_url
        server.enqueue("compatible")
        assert backend.chat(request(), lambda _text: None).text == "compatible"
        assert server.headers[-1]["authorization"] == "Bearer sk-factory"


def test_auto_with_a_base_url_on_ollama_uses_the_native_api(client: httpx.Client) -> None:
    with FakeModelServer(mode="ollama") as server:
        backend = create_backend(
            "auto", client=client, ollama_url=nowhere(), base_url=server.openai_url
        )
        assert isinstance(backend, OllamaBackend)
        assert backend.endpoint == server.url


def test_auto_with_a_base_url_ignores_another_ollama(client: httpx.Client) -> None:
    with FakeModelServer(mode="ollama") as ollama, FakeModelServer(mode="openai") as llama:
        backend = create_backend(
            "auto", client=client, ollama_url=ollama.url, base_url=llama.openai_url
        )
        assert isinstance(backend, OpenAIBackend)
        assert ollama.paths == []


def test_auto_with_nothing_running_says_both_ways(client: httpx.Client) -> None:
    with pytest.raises(BackendUnreachable) as caught:
        create_backend("auto", client=client, ollama_url=nowhere(), base_url=None)
    assert "ollama serve" in str(caught.value)
    assert "--base-url" in str(caught.value)


def test_auto_with_a_dead_base_url_says_both_ways(client: httpx.Client) -> None:
    base = f"http://user:secret@127.0.0.1:{free_port()}/v1"
    with pytest.raises(BackendUnreachable) as caught:
        create_backend("auto", client=client, ollama_url=nowhere(), base_url=base)
    message = str(caught.value)
    assert "--base-url" in message
    assert "ollama serve" in message
    assert "secret" not in message


def test_a_plain_http_client_refuses_https_rather_than_skip_verification() -> None:
    with make_client(tls=False) as plain, pytest.raises(httpx.UnsupportedProtocol, match="https"):
        plain.get("https://127.0.0.1:1/api/version")


def test_a_plain_http_client_still_talks_http() -> None:
    with FakeModelServer() as server, make_client(tls=False) as plain:
        assert plain.get(f"{server.url}/api/version").status_code == 200


@pytest.mark.parametrize(
    ("base_url", "tls"), [("http://127.0.0.1:8080", False), ("https://models.example/v1", True)]
)
def test_the_configured_urls_decide_whether_the_client_loads_tls(
    base_url: str, tls: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from route.backends import configured as connect
    from route.backends import factory
    from route.settings.config import Config

    made: list[bool] = []

    def recording_make_client(**kwargs: object) -> httpx.Client:
        made.append(bool(kwargs["tls"]))
        return make_client()

    monkeypatch.setattr(factory, "make_client", recording_make_client)
    connect.backend_for(Config(backend="openai", base_url=base_url))
    assert made == [tls]
