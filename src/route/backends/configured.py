"""Build the configured backend from the server the settings resolver chose."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from route.backends.base import Backend
    from route.settings.config import Config


def backend_for(config: Config) -> Backend:
    """Build the configured backend (auto-detection talks to the server). Which server, URL
    and key: ``route.settings.resolve.resolve_server``, the one place that decides it."""
    from route.backends.factory import create_backend, make_client
    from route.settings.resolve import resolve_server

    server = resolve_server(config)
    urls = [found for found in (server.ollama_url, server.openai_url) if found]
    client = make_client(
        connect_timeout=config.connect_timeout,
        read_timeout=config.read_timeout,
        tls=any(found.lower().startswith("https:") for found in urls),
    )
    return create_backend(
        server.kind,
        client=client,
        ollama_url=server.ollama_url,
        base_url=server.openai_url,
        api_key=server.api_key,
        context_size=server.context_size,
    )
