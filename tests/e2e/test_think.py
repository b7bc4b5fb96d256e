"""Reasoning options against a real llama-server started with a reasoning parser.

The tiny SmolLM2 model does not reason; what these tests check is that the real server accepts
and answers route's reasoning requests (``chat_template_kwargs.enable_thinking``,
``reasoning_effort``) with ``--reasoning-format deepseek`` on, and that route parses its stream
(``delta.reasoning_content`` when there is one) into an answer with server token counts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from route.backends.openai import OpenAIBackend
from route.values import ChatRequest, Message
from tests.e2e.conftest import load_runtime

pytestmark = pytest.mark.e2e

MODEL = "smollm2"
REASONING_ARGUMENTS = ("--jinja", "--reasoning-format", "deepseek")


@pytest.fixture(scope="module")
def reasoning_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A second llama-server, with a reasoning parser, for this module only."""
    runtime = load_runtime()
    try:
        binary = runtime.llama_server_binary()
        model = runtime.smollm2_path()
    except runtime.RuntimeSetupError as error:
        pytest.fail(f"the end-to-end suite needs the real runtime: {error}", pytrace=False)
    server = runtime.LlamaServer(
        model,
        binary=binary,
        context_size=8192,
        parallel=1,
        alias=MODEL,
        log_path=tmp_path_factory.mktemp("llama-server-think") / "llama-server.log",
        startup_timeout=180.0,
        extra_arguments=REASONING_ARGUMENTS,
    )
    with server:
        yield server


@pytest.mark.parametrize("think", ["off", "on", "high", "auto"])
def test_the_real_server_accepts_and_answers_each_think_request(
    reasoning_server: Any, think: str
) -> None:
    sent: list[dict[str, Any]] = []

    def record(request: httpx.Request) -> None:
        if request.url.path.endswith("/chat/completions"):
            sent.append(json.loads(request.content))

    messages = (
        Message("system", "You write code."),
        Message("user", "Write hello.py printing hello."),
    )
    request = ChatRequest(
        model=MODEL,
        messages=messages,
        max_output_tokens=48,
        temperature=0.0,
        seed=42,
        think=think,  # type: ignore[arg-type]
    )
    seen: list[str] = []
    with httpx.Client(timeout=120, event_hooks={"request": [record]}) as client:
        completion = OpenAIBackend(client, reasoning_server.base_url).chat(request, seen.append)
    body = sent[-1]
    expected = {
        "off": {"chat_template_kwargs": {"enable_thinking": False}},
        "on": {"chat_template_kwargs": {"enable_thinking": True}},
        "high": {"reasoning_effort": "high"},
        "auto": {},
    }[think]
    assert {k: body[k] for k in ("chat_template_kwargs", "reasoning_effort") if k in body} == (
        expected
    )
    assert completion.usage.output_tokens > 0  # the server's own count: it answered
    assert completion.usage.done_reason in ("stop", "length")
    assert completion.text == "".join(seen)
    assert completion.reasoning_source in ("", "server")  # the server's parser, never inline


def test_route_gen_with_think_off_runs_against_the_real_server(
    reasoning_server: Any, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "Makefile").write_text("verify:\n\t@true\n", encoding="utf-8")
    (project / "notes.txt").write_text("hello.py prints hello.\n", encoding="utf-8")
    environment = {**os.environ, "ROUTE_HOME": str(tmp_path / "home")}
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "route",
            "gen",
            "write hello.py that prints hello",
            "--context",
            "notes.txt",
            "--backend",
            "openai",
            "--base-url",
            reasoning_server.base_url,
            "--model",
            MODEL,
            "--temperature",
            "0",
            "--seed",
            "42",
            "--max-output-tokens",
            "128",
            "--max-attempts",
            "1",
            "--think",
            "off",
            "--json",
        ],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.stdout, completed.stderr
    report = json.loads(completed.stdout)
    assert report["status"] in ("success", "no_files", "verify_failed"), completed.stderr
    assert report["tokens"]["output"] > 0
    assert report["tokens"]["reasoning"] == 0  # SmolLM2 does not reason
