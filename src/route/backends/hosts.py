"""Server addresses: parse ``OLLAMA_HOST``, normalize OpenAI-style base URLs, hide credentials.

``ollama_base_url`` follows the official Python client (``ollama._client._parse_host``) so that
route talks to the same server as every other Ollama tool on the machine:

    unset or ""              -> http://127.0.0.1:11434
    1.2.3.4                  -> http://1.2.3.4:11434
    :56789                   -> http://127.0.0.1:56789
    http://1.2.3.4           -> http://1.2.3.4:80
    https://1.2.3.4          -> https://1.2.3.4:443
    https://1.2.3.4:56789    -> https://1.2.3.4:56789
    example.com/path/        -> http://example.com:11434/path
    [0001:002:003:0004::1]   -> http://[0001:002:003:0004::1]:11434

One addition: the "all interfaces" bind addresses ``0.0.0.0`` and ``::`` (what the server is told
to listen on) are turned into the loopback address a client can connect to.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import SplitResult, urlsplit, urlunsplit

from route.errors import ConfigError

OLLAMA_DEFAULT_PORT = 11434
_SCHEME_PORTS = {"http": 80, "https": 443}
_ANY_ADDRESS = {"0.0.0.0": "127.0.0.1", "::": "::1"}
_OLLAMA_EXAMPLE = "e.g. OLLAMA_HOST=127.0.0.1:11434 or OLLAMA_HOST=http://gpu-box:11434"
_OPENAI_EXAMPLE = "e.g. --base-url http://127.0.0.1:8080/v1"
_ENDPOINT_SUFFIX = "/chat/completions"


def _split(url: str, what: str, example: str, shown: str) -> tuple[SplitResult, int | None]:
    """Split ``url`` and read its port, turning a bad port into a ``ConfigError`` that quotes
    ``shown`` (the value as it was set)."""
    try:
        split = urlsplit(url)
        port = split.port
    except ValueError as exc:
        raise ConfigError(f"{what} {shown!r} is not a valid address ({exc}); {example}") from exc
    return split, port


def _ollama_example(setting: str) -> str:
    """How to set an Ollama address the way ``setting`` names it."""
    if setting == "OLLAMA_HOST":
        return _OLLAMA_EXAMPLE
    if setting.startswith("--"):
        return f"e.g. {setting} 127.0.0.1:11434 or {setting} http://gpu-box:11434"
    return "e.g. 127.0.0.1:11434 or http://gpu-box:11434"


def _host_for_url(host: str) -> str:
    """The host as it must appear in a URL: IPv6 addresses in brackets, bind-all made loopback."""
    host = _ANY_ADDRESS.get(host, host)
    try:
        if isinstance(ipaddress.ip_address(host), ipaddress.IPv6Address):
            return f"[{host}]"
    except ValueError:
        pass
    return host


def ollama_base_url(value: str | None, setting: str = "OLLAMA_HOST") -> str:
    """The Ollama server URL for an ``OLLAMA_HOST`` value (see the module docstring). Errors
    name ``setting``, the layer the value came from (``--host``, ``host in route.yaml``)."""
    text = (value or "").strip()
    example = _ollama_example(setting)
    port = OLLAMA_DEFAULT_PORT
    scheme, separator, hostport = text.partition("://")
    if not separator:
        scheme, hostport = "http", text
    elif scheme not in _SCHEME_PORTS:
        raise ConfigError(
            f"{setting} {text!r} has the scheme {scheme!r}; only http and https are supported "
            f"({example})"
        )
    else:
        port = _SCHEME_PORTS[scheme]
    split, given_port = _split(f"{scheme}://{hostport}", setting, example, text)
    if split.query or split.fragment:
        raise ConfigError(
            f"{setting} {text!r} holds a query or fragment, which a server address cannot have "
            f"({example})"
        )
    host = _host_for_url(split.hostname or "127.0.0.1")
    url = f"{scheme}://{host}:{given_port or port}"
    path = split.path.strip("/")
    return f"{url}/{path}" if path else url


def openai_base_url(value: str, setting: str = "the base URL") -> str:
    """Normalize an OpenAI-style base URL such as ``http://127.0.0.1:8080/v1``.

    A missing scheme means ``http``; a URL without a path gets ``/v1`` (what llama-server, LM
    Studio, vLLM, SGLang and Ollama serve); a pasted ``.../chat/completions`` endpoint is cut back
    to its base; the trailing slash is dropped. Credentials in the URL are kept (they are needed to
    connect); show users ``redact_url`` of it.
    """
    text = value.strip()
    if not text:
        raise ConfigError(f"{setting} (an OpenAI-compatible base URL) is empty; {_OPENAI_EXAMPLE}")
    if "://" not in text:
        text = f"http://{text}"
    split, _port = _split(text, setting, _OPENAI_EXAMPLE, redact_url(text))
    if split.scheme not in _SCHEME_PORTS:
        raise ConfigError(
            f"{setting} {redact_url(text)!r} has the scheme {split.scheme!r}; only http and "
            f"https are supported ({_OPENAI_EXAMPLE})"
        )
    if not split.hostname:
        raise ConfigError(f"{setting} {redact_url(text)!r} names no host; {_OPENAI_EXAMPLE}")
    path = split.path.rstrip("/")
    if path.endswith(_ENDPOINT_SUFFIX):
        path = path.removesuffix(_ENDPOINT_SUFFIX)
    if not path:
        path = "/v1"
    return urlunsplit((split.scheme, split.netloc, path, split.query, ""))


def server_root(base_url: str) -> str:
    """The server's root URL for an OpenAI-style base URL (``.../v1`` removed), where
    llama-server answers ``/props`` and ``/health`` and Ollama answers ``/api/*``."""
    trimmed = base_url.rstrip("/")
    return trimmed.removesuffix("/v1")


def redact_url(url: str) -> str:
    """``url`` without user name, password, query string or fragment, for messages, the ledger
    and reports (a key passed as ``?api_key=...`` is dropped too)."""
    try:
        split = urlsplit(url)
        port = split.port
    except ValueError:
        return "<invalid URL>"
    if not split.scheme or not split.hostname:
        return url.rpartition("@")[2].partition("?")[0]
    host = f"[{split.hostname}]" if ":" in split.hostname else split.hostname
    netloc = f"{host}:{port}" if port is not None else host
    return urlunsplit((split.scheme, netloc, split.path, "", ""))
