"""Build the configured backend: named endpoints, Ollama host, OpenAI base URL, API keys."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from route.backends.base import Backend
    from route.settings.config import Config


def backend_for(config: Config) -> Backend:
    """Build the configured backend (auto-detection talks to the server)."""
    from route.backends.factory import create_backend, make_client
    from route.backends.hosts import ollama_base_url, openai_base_url
    from route.errors import ConfigError

    kind, url, key_env, context_size = config.backend, None, config.api_key_env, None
    ollama_url_setting = config.host
    base_url = config.base_url
    if config.endpoint:
        if config.endpoint not in config.endpoints:
            known = ", ".join(sorted(config.endpoints)) or "none configured"
            raise ConfigError(f"unknown endpoint '{config.endpoint}' (known: {known})")
        named = config.endpoints[config.endpoint]
        kind, url = named.backend, named.url
        key_env = named.api_key_env or key_env
        context_size = named.context_size
        if kind == "ollama":
            ollama_url_setting = url
        else:
            base_url = url
    api_key = None
    if key_env:
        api_key = os.environ.get(key_env)
        if not api_key:
            raise ConfigError(f"api_key_env names ${key_env}, but it is not set: export it")
    elif kind != "openai":
        api_key = os.environ.get("OLLAMA_API_KEY") or None
    ollama_url = ollama_base_url(ollama_url_setting)
    openai_url = openai_base_url(base_url) if base_url else None
    urls = [found for found in (ollama_url, openai_url) if found]
    client = make_client(
        connect_timeout=config.connect_timeout,
        read_timeout=config.read_timeout,
        tls=any(found.lower().startswith("https:") for found in urls),
    )
    return create_backend(
        kind,
        client=client,
        ollama_url=ollama_url,
        base_url=openai_url,
        api_key=api_key,
        context_size=context_size or config.context_size,
    )
