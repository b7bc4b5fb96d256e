"""Build the HTTP client and pick the backend: ``ollama``, ``openai`` or ``auto``.

``auto`` asks the server whether it is Ollama (``GET /api/version`` answering
``{"version": ...}``): then route uses Ollama's native API, the one that can size the context.
Which server is asked: the one at ``base_url`` (its root, ``/v1`` removed) when a base URL is
given — the user named that server — else the Ollama address. Any other HTTP answer means an
OpenAI-compatible server; no answer at all is ``BackendUnreachable``, naming both ways to start
one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from route.backends.hosts import openai_base_url, redact_url, server_root
from route.backends.ollama import OllamaBackend
from route.backends.openai import OpenAIBackend
from route.errors import BackendUnreachable, ConfigError
from route.settings.config import BACKENDS

if TYPE_CHECKING:
    import httpx

    from route.backends.base import Backend

BACKEND_KINDS = BACKENDS  # the values the `backend` setting takes
DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 600.0

_Probe = Literal["ollama", "other", "none"]


def make_client(
    *,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    read_timeout: float = DEFAULT_READ_TIMEOUT,
    tls: bool = True,
) -> httpx.Client:
    """An ``httpx.Client`` for model servers: a short connect timeout (a missing server fails
    fast) and a long read timeout (the first token may wait for a model load).

    ``trust_env=False``: ``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY`` from the environment are
    ignored, so a corporate proxy cannot hijack calls to a server on 127.0.0.1 (and the
    environment's ``.netrc`` credentials are not sent to the model server).

    ``tls=False`` is for a client that only ever gets ``http://`` URLs (a local server): it
    builds no TLS context, which saves loading the CA bundle (about 60 ms of every start).
    An ``https://`` URL given to such a client is refused rather than sent unverified.
    """
    import httpx

    timeout = httpx.Timeout(
        connect=connect_timeout, read=read_timeout, write=read_timeout, pool=connect_timeout
    )
    if tls:
        return httpx.Client(timeout=timeout, trust_env=False)
    return httpx.Client(
        timeout=timeout, trust_env=False, verify=False, mounts={"https://": _refuse_https()}
    )


def _refuse_https() -> httpx.BaseTransport:
    """The transport of a plain-http client for ``https://``: it sends nothing, unverified."""
    import httpx

    class RefuseHttps(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            raise httpx.UnsupportedProtocol(
                f"{request.url} is https, but this client was made for plain http only"
            )

    return RefuseHttps()


def _probe(client: httpx.Client, root_url: str) -> _Probe:
    """``ollama`` when ``/api/version`` answers like Ollama, ``other`` for any other HTTP
    answer, ``none`` when nothing answers."""
    import httpx

    seconds = client.timeout.connect or DEFAULT_CONNECT_TIMEOUT
    try:
        response = client.get(f"{root_url.rstrip('/')}/api/version", timeout=seconds)
    except httpx.TransportError:
        return "none"
    if response.status_code != 200:
        return "other"
    try:
        data = response.json()
    except ValueError:
        return "other"
    return "ollama" if isinstance(data, dict) and "version" in data else "other"


def detect_backend(client: httpx.Client, ollama_url: str) -> str:
    """``"ollama"`` if ``GET {ollama_url}/api/version`` answers 200 JSON with ``version``,
    else ``"openai"``."""
    return "ollama" if _probe(client, ollama_url) == "ollama" else "openai"


def create_backend(
    kind: str,
    *,
    client: httpx.Client,
    ollama_url: str,
    base_url: str | None,
    api_key: str | None = None,
    context_size: int | None = None,
) -> Backend:
    """The backend for ``kind`` (``auto``, ``ollama`` or ``openai``); see the module docstring.

    ``openai`` without ``base_url`` uses Ollama's own ``/v1`` at ``ollama_url``.
    """
    if kind not in BACKEND_KINDS:
        raise ConfigError(
            f"unknown backend {kind!r}; use one of {', '.join(BACKEND_KINDS)} "
            "(e.g. --backend openai --base-url http://127.0.0.1:8080/v1)"
        )
    if kind == "ollama":
        return OllamaBackend(client, ollama_url, api_key=api_key)
    openai_url = openai_base_url(base_url) if base_url else f"{ollama_url.rstrip('/')}/v1"
    if kind == "auto":
        root = server_root(openai_url) if base_url else ollama_url
        found = _probe(client, root)
        if found == "ollama":
            return OllamaBackend(client, root, api_key=api_key)
        if found == "none":
            raise BackendUnreachable(_nothing_answers(ollama_url, base_url))
    return OpenAIBackend(client, openai_url, api_key=api_key, context_size=context_size)


def _nothing_answers(ollama_url: str, base_url: str | None) -> str:
    if base_url:
        return (
            f"no model server answers at {redact_url(base_url)} — start llama-server, LM Studio "
            "or vLLM there, fix --base-url, or drop --base-url to use Ollama at "
            f"{redact_url(ollama_url)} (`ollama serve`)"
        )
    return (
        f"Ollama is not reachable at {redact_url(ollama_url)} — start it with `ollama serve` or "
        "set OLLAMA_HOST, or point route at an OpenAI-compatible server with "
        "--backend openai --base-url URL"
    )
