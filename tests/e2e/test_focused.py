"""The focused round against the real llama-server: its answer is prefilled up to the replacement
(the SEARCH part holds the lines around the located error, exactly as on disk), and whatever the
real model continues with is joined to that prefill and applied to that span only.

The first two answers are scripted (the same bad file twice, so the model is "stuck" and the
focused round follows); the third request goes to the real server. What holds whatever the tiny
model writes: the request ends with the prefilled SEARCH block, the answer is parsed as an edit of
exactly the prefilled lines (or, cut at the budget, as an unterminated block that writes nothing),
and the lines outside the span are untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from route.backends.openai import OpenAIBackend
from route.prompting.parse import parse_answer
from route.run.pipeline import run_generation
from route.values import ChatRequest, Completion
from tests.fakes import FakeBackend
from tests.helpers import project_options, skill_project

pytestmark = pytest.mark.e2e

SKILL = (
    "---\nname: scaffold\n---\n# Scaffold\n\n## 1. Code\n\nCode lives in `app/`.\n\n"
    "## 2. Util\n\nUtilities live in `app/util.py`.\n"
)
PATH = "app/util.py"
BAD_FILE = (
    '"""Utilities."""\n\n\ndef double(value: int) -> int:\n    return value * TWO\n\n\n'
    "def triple(value: int) -> int:\n    return value * 3\n"
)
BAD = f"{PATH}\n```python\n{BAD_FILE}```\n"
# verify: prints a ruff-like location for the undefined name until the file no longer uses it.
CHECK = """
import pathlib, sys
lines = pathlib.Path("app/util.py").read_text().splitlines()
bad = [n for n, line in enumerate(lines, 1) if "TWO" in line]
for n in bad:
    print(f"app/util.py:{n}:20: F821 Undefined name `TWO`")
sys.exit(1 if bad else 0)
"""


class ScriptedThenReal:
    """The scripted answers first, then the real server for every later request."""

    def __init__(self, scripted: FakeBackend, real: OpenAIBackend) -> None:
        self.scripted, self.real = scripted, real
        self.requests: list[ChatRequest] = []
        self.name, self.endpoint = real.name, real.endpoint

    def context_length(self, model: str) -> int | None:
        return self.real.context_length(model)

    def chat(
        self,
        request: ChatRequest,
        on_text: Callable[[str], None],
        on_reasoning: Callable[[str], None] | None = None,
    ) -> Completion:
        self.requests.append(request)
        if len(self.requests) <= 2:
            return self.scripted.chat(request, on_text, on_reasoning)
        return self.real.chat(request, on_text, on_reasoning)


def test_the_real_server_continues_the_prefilled_focused_answer(
    llama_server: Any, tmp_path: Path
) -> None:
    project = skill_project(tmp_path, SKILL, CHECK)
    options = project_options(
        project, task="double and triple helpers", skill_refs=("scaffold#2",), model="smollm2",
        max_attempts=3, max_output_tokens=256, temperature=0.0, seed=1,
    )  # fmt: skip
    with httpx.Client(timeout=300) as client:
        backend = ScriptedThenReal(
            FakeBackend(BAD, BAD), OpenAIBackend(client, llama_server.base_url)
        )
        result = run_generation(options, lambda: backend)

    assert [attempt.strategy for attempt in result.attempts] == ["first", "repair", "focused"]
    focused = backend.requests[2].messages
    assert [message.role for message in focused] == ["system", "user", "assistant"]
    span = "def double(value: int) -> int:\n    return value * TWO\n"
    assert focused[-1].content == f"{PATH}\n```python\n<<<<<<< SEARCH\n{span}=======\n"
    assert "# The task the file is for\n\ndouble and triple helpers" in focused[1].content

    answer = result.attempts[2].completion.text
    assert answer.startswith(focused[-1].content)  # the real answer was joined to the prefill
    parsed = parse_answer(answer)
    on_disk = (project / PATH).read_text()
    if parsed.edits:
        assert parsed.edits[0].path == PATH
        assert parsed.edits[0].search == span  # the prefilled lines, not the model's copy
    else:
        assert any("unterminated" in problem for problem in parsed.problems), parsed
        assert on_disk == BAD_FILE
    if len(parsed.edits) == 1:
        # One edit, of the prefilled span: the rest of the file is as it was.
        assert on_disk.startswith('"""Utilities."""\n\n\n')
        assert on_disk.endswith("def triple(value: int) -> int:\n    return value * 3\n")
    assert result.status in ("success", "verify_failed"), result.message
