"""Server addresses: OLLAMA_HOST as the official client reads it, OpenAI base URLs, redaction."""

from __future__ import annotations

from pathlib import Path

import pytest

from route.backends.hosts import ollama_base_url, openai_base_url, redact_url, server_root
from route.errors import ConfigError


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "http://127.0.0.1:11434"),
        ("", "http://127.0.0.1:11434"),
        ("  ", "http://127.0.0.1:11434"),
        ("1.2.3.4", "http://1.2.3.4:11434"),
        (":56789", "http://127.0.0.1:56789"),
        ("1.2.3.4:56789", "http://1.2.3.4:56789"),
        ("http://1.2.3.4", "http://1.2.3.4:80"),
        ("https://1.2.3.4", "https://1.2.3.4:443"),
        ("https://1.2.3.4:56789", "https://1.2.3.4:56789"),
        ("example.com", "http://example.com:11434"),
        ("example.com:56789", "http://example.com:56789"),
        ("example.com/", "http://example.com:11434"),
        ("example.com/path", "http://example.com:11434/path"),
        ("example.com/path/", "http://example.com:11434/path"),
        ("https://example.com:56789/path/", "https://example.com:56789/path"),
        ("[0001:002:003:0004::1]", "http://[0001:002:003:0004::1]:11434"),
        ("[0001:002:003:0004::1]:56789", "http://[0001:002:003:0004::1]:56789"),
        ("http://[0001:002:003:0004::1]", "http://[0001:002:003:0004::1]:80"),
        ("0.0.0.0", "http://127.0.0.1:11434"),
        ("0.0.0.0:11500", "http://127.0.0.1:11500"),
        ("[::]:11434", "http://[::1]:11434"),
    ],
)
def test_ollama_host_is_parsed_like_the_official_client(value: str | None, expected: str) -> None:
    assert ollama_base_url(value) == expected


@pytest.mark.parametrize(
    "value", ["127.0.0.1:99999", "127.0.0.1:port", "ftp://1.2.3.4", "unix:///tmp/sock"]
)
def test_invalid_ollama_host_names_the_variable_and_an_example(value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        ollama_base_url(value)
    assert "OLLAMA_HOST" in str(caught.value)
    assert "e.g." in str(caught.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("http://127.0.0.1:8080/v1", "http://127.0.0.1:8080/v1"),
        ("http://127.0.0.1:8080/v1/", "http://127.0.0.1:8080/v1"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/v1"),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080/v1"),
        ("127.0.0.1:1234", "http://127.0.0.1:1234/v1"),
        ("https://gpu.example.com/openai/v1", "https://gpu.example.com/openai/v1"),
        ("http://127.0.0.1:8080/v1/chat/completions", "http://127.0.0.1:8080/v1"),
        ("http://user:pw@10.0.0.2:8000/v1", "http://user:pw@10.0.0.2:8000/v1"),
    ],
)
def test_openai_base_url_is_normalized(value: str, expected: str) -> None:
    assert openai_base_url(value) == expected
    assert openai_base_url(expected) == expected  # idempotent


@pytest.mark.parametrize("value", ["", "   ", "ftp://host/v1", "http://:8080/v1", "http://h:99999"])
def test_invalid_openai_base_url_is_a_config_error_with_an_example(value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        openai_base_url(value)
    assert "--base-url http://127.0.0.1:8080/v1" in str(caught.value)


def test_invalid_openai_base_url_error_does_not_show_the_password() -> None:
    with pytest.raises(ConfigError) as caught:
        openai_base_url("ftp://user:hunter2@host/v1")
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://user:secret@10.0.0.2:8000/v1", "http://10.0.0.2:8000/v1"),
        ("https://token@gpu.example.com/v1", "https://gpu.example.com/v1"),
        ("http://127.0.0.1:8080/v1?api_key=secret#frag", "http://127.0.0.1:8080/v1"),
        ("http://[::1]:11434", "http://[::1]:11434"),
        ("http://127.0.0.1:11434", "http://127.0.0.1:11434"),
        ("user:secret@host:1/v1", "host:1/v1"),
    ],
)
def test_redact_url_drops_credentials(url: str, expected: str) -> None:
    assert redact_url(url) == expected
    assert "secret" not in redact_url(url)


def test_server_root_drops_the_v1_suffix() -> None:
    assert server_root("http://127.0.0.1:8080/v1") == "http://127.0.0.1:8080"
    assert server_root("http://127.0.0.1:8080/v1/") == "http://127.0.0.1:8080"
    assert server_root("https://h/openai/v1") == "https://h/openai"


# --------------------------------------------------------------------------- issue 19 item 9


@pytest.mark.parametrize(
    ("flags", "env", "file", "layer"),
    [
        ({"host": ":::"}, {}, "", "--host ':::'"),
        ({}, {"OLLAMA_HOST": ":::"}, "", "OLLAMA_HOST ':::'"),
        ({}, {}, "host: ':::'\n", "host in "),
        ({"base_url": "ftp://x"}, {}, "", "--base-url 'ftp://x'"),
    ],
)
def test_a_bad_address_names_the_layer_that_set_it(
    tmp_path: Path, flags: dict[str, str], env: dict[str, str], file: str, layer: str
) -> None:
    from route.settings.resolve import resolve_context

    if file:
        (tmp_path / "route.yaml").write_text(file)
    context = resolve_context(
        tmp_path, root=tmp_path, flags=flags, env=env, user_file=tmp_path / "none.yaml"
    )
    with pytest.raises(ConfigError) as caught:
        context.server(env)
    message = str(caught.value)
    assert message.startswith(layer)
    if flags:  # the example says how to set it the same way
        assert f"e.g. {layer.split(maxsplit=1)[0]} " in message
    assert "OLLAMA_HOST=" not in message or "OLLAMA_HOST" in env
