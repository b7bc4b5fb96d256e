"""The real local model server for the benchmarks, from tools/llama_runtime.py, and a bare
OpenAI-style streaming request to it (the baseline route is compared with)."""

from __future__ import annotations

import importlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import TOOLS, BenchError

SMOLLM2 = "smollm2"
QWEN_CODER = "qwen2.5-coder-1.5b"


def _runtime() -> Any:
    if str(TOOLS) not in sys.path:
        sys.path.insert(0, str(TOOLS))
    return importlib.import_module("llama_runtime")


def model_file(name: str) -> Path:
    """The GGUF of ``smollm2`` or ``qwen2.5-coder-1.5b`` (Qwen is assembled on first use)."""
    runtime = _runtime()
    try:
        path: Path = runtime.model_path(name, cache_dir=runtime.DEFAULT_CACHE_DIR)
    except runtime.RuntimeSetupError as exc:
        raise BenchError(f"model {name} is not available: {exc}") from exc
    return path


def server(name: str, *, context_size: int, log_path: Path) -> Any:
    """A ``llama_runtime.LlamaServer`` for ``name``, one slot holding the whole context (not
    started: use it as a context manager)."""
    runtime = _runtime()
    return runtime.LlamaServer(
        model_file(name), context_size=context_size, parallel=1, alias=name, log_path=log_path
    )


def runtime_error_types() -> tuple[type[BaseException], ...]:
    """The runtime's own failures, for callers that turn them into a BenchError."""
    return (_runtime().RuntimeSetupError,)


@dataclass(frozen=True, slots=True)
class BareAnswer:
    """One bare streamed chat completion: text, client-side seconds and the server's figures."""

    text: str
    seconds: float
    usage: dict[str, Any]
    timings: dict[str, Any]

    @property
    def output_tokens(self) -> int:
        return int(self.usage.get("completion_tokens") or self.timings.get("predicted_n") or 0)


def bare_chat(base_url: str, body: dict[str, Any], *, timeout: float = 600.0) -> BareAnswer:
    """POST ``body`` to ``{base_url}/chat/completions`` and read the Server-Sent Events to the end,
    timed from before the request to the last byte. Nothing else: no config, no parsing."""
    import httpx

    pieces: list[str] = []
    usage: dict[str, Any] = {}
    timings: dict[str, Any] = {}
    started = time.perf_counter()
    with (
        httpx.Client(timeout=timeout) as client,
        client.stream("POST", f"{base_url}/chat/completions", json=body) as response,
    ):
        if response.status_code >= 400:
            response.read()
            raise BenchError(
                f"the bare request failed: HTTP {response.status_code} {response.text}"
            )
        for line in response.iter_lines():
            if not line.startswith("data:"):
                continue
            payload = line[len("data:") :].strip()
            if payload == "[DONE]":
                break
            data = json.loads(payload)
            for choice in data.get("choices") or []:
                content = (choice.get("delta") or {}).get("content")
                if content:
                    pieces.append(content)
            usage = data.get("usage") or usage
            timings = data.get("timings") or timings
    return BareAnswer("".join(pieces), time.perf_counter() - started, usage, timings)
