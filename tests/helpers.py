"""Test builders shared by several test files: a ticking clock, chat requests and mocked clients
for the backends, ledger rows for the cost tests, pipeline options for a test project."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import respx

from route.accounting.ledger import RunRecord
from route.run.pipeline import GenOptions
from route.safety.verify import VerifySettings
from route.values import ChatRequest, Message


class TickingClock:
    """A clock that advances ``step`` seconds at every reading (durations become exact)."""

    def __init__(self, start: float = 0.0, step: float = 1.0) -> None:
        self.now = start
        self._step = step

    def __call__(self) -> float:
        self.now += self._step
        return self.now


def mock_client(router: respx.Router) -> httpx.Client:
    """An ``httpx.Client`` whose requests go to ``router`` (nothing leaves the process)."""
    return httpx.Client(transport=httpx.MockTransport(router.handler))


def chat_request(model: str, text: str = "write a service", **fields: Any) -> ChatRequest:
    """A two-message request (system, user) for ``model``; ``fields`` set the other fields."""
    messages = (Message("system", "You write code."), Message("user", text))
    return ChatRequest(model=model, messages=messages, **fields)


def run_record(*, started_at: float, **changes: Any) -> RunRecord:
    """A successful ledger row whose cloud figures are easy to compute by hand (sonnet 4.5:
    3000 prompt characters = 1000 tokens x $3/M = $0.003; 6000 output characters = 2000 tokens
    x $15/M = $0.030; hand-off 300 + 150 characters = $0.0003 + $0.00075)."""
    values: dict[str, Any] = {
        "run_id": uuid.uuid4().hex,
        "batch_id": None,
        "started_at": started_at,
        "duration_seconds": 60.0,
        "task": "service for Projects",
        "skill_refs": "scaffold#3",
        "project": "/work/projects-api",
        "model": "qwen2.5-coder:7b",
        "backend": "ollama",
        "endpoint": "http://127.0.0.1:11434",
        "cloud_model": "claude-sonnet-4-5",
        "status": "success",
        "exit_code": 0,
        "attempts": 1,
        "prompt_tokens": 900,
        "output_tokens": 1800,
        "cached_prompt_tokens": None,
        "prompt_characters": 3000,
        "output_characters": 6000,
        "handoff_input_characters": 300,
        "handoff_output_characters": 150,
        "generation_seconds": 36.0,
        "prompt_seconds": 1.0,
        "load_seconds": 0.0,
        "files_created": 1,
        "files_changed": 0,
        "files_refused": 0,
        "verify_passed": True,
        "route_version": "0.1.0",
        "message": "ok",
    }
    values.update(changes)
    return RunRecord(**values)


def skill_project(tmp_path: Path, skill: str, check: str) -> Path:
    """A project in ``tmp_path/project``: the skill ``scaffold`` (text ``skill``), a verify
    script ``check.py`` (text ``check``) and an empty ``app/`` folder."""
    root = tmp_path / "project"
    (root / ".skills" / "scaffold").mkdir(parents=True)
    (root / ".skills" / "scaffold" / "SKILL.md").write_text(skill)
    (root / "check.py").write_text(check)
    (root / "app").mkdir()
    return root


def project_options(project: Path, **changes: Any) -> GenOptions:
    """Options for a run in ``project`` (see ``skill_project``) with the fake model; verify runs
    ``check.py`` there and the project lock lives next to the project."""
    values: dict[str, Any] = {
        "task": "service for Projects",
        "skill_refs": ("scaffold#2",),
        "project_root": project,
        "cwd": project,
        "model": "fake-coder",
        "verify": VerifySettings(command=f"{sys.executable} check.py", timeout_seconds=60),
        "lock_home": project.parent / "locks-home",
    }
    values.update(changes)
    return GenOptions(**values)
