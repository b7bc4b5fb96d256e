"""route.batch.runner: plan validation, dependency order, real concurrency on a loopback server,
failover, write conflicts, and verify failures routed back to the task that caused them."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from route.backends.base import Backend, TextSink
from route.batch.plan import (
    Plan,
    TaskSpec,
    check_skills,
    dependency_order,
    load_plan,
    parse_plan,
    plan_from_skill,
)
from route.batch.result import blame
from route.batch.runner import BatchOptions, EndpointSpec, endpoints_from_config, run_batch
from route.errors import SectionNotFound, UsageError
from route.run.pipeline import GenOptions
from route.settings.config import Config, Endpoint
from route.values import ChatRequest, Completion, Usage
from tests.helpers import project_options, skill_project
from tests.servers import FakeModelServer, free_port

SKILL = """---
name: scaffold
---
# Scaffold

Every module starts with a docstring.

## 1. Model

Models live in `app/models/<resource>.py`.

## 2. Service Layer

Services live in `app/services/<resource>_service.py`.

## 3. Routes

Routes live in `app/routes/<resource>.py`.

## Notes

Unnumbered.
"""

# Fails naming every file that holds BAD, like a linter would.
CHECK = """
import pathlib, sys
bad = [str(p.relative_to('.')) for p in sorted(pathlib.Path('app').rglob('*.py'))
       if 'BAD' in p.read_text()]
for path in bad:
    print(f"{path}:1:1: E999 found BAD")
mystery = pathlib.Path('MYSTERY')
if mystery.exists():
    mystery.unlink()
    print("something failed somewhere")
    sys.exit(1)
sys.exit(1 if bad else 0)
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return skill_project(tmp_path, SKILL, CHECK)


def file_answer(path: str, body: str = "OK = 1") -> str:
    return f'{path}\n```python\n"""Generated."""\n{body}\n```\n'


def defaults(project: Path, **changes: object) -> GenOptions:
    return project_options(project, **{"task": "", "skill_refs": (), **changes})


def task(task_id: str, text: str = "", **changes: object) -> TaskSpec:
    fields: dict[str, object] = {
        "id": task_id,
        "task": text or f"write {task_id}",
        "skill_refs": ("scaffold#1",),
    }
    fields.update(changes)
    return TaskSpec(**fields)  # type: ignore[arg-type]


THOUGHT_END = "<<end of reasoning>>"  # a scripted answer's reasoning ends here


class ScriptedBackend:
    """Answers by task: the first user message names the task; each task has its own queue of
    answers. Thread-safe; keeps every request with the task it was for, in arrival order."""

    name = "scripted"
    endpoint = "scripted://local"

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self._answers = {key: list(value) for key, value in answers.items()}
        self._lock = threading.Lock()
        self.requests: list[tuple[str, ChatRequest]] = []
        self.finished: list[str] = []

    def context_length(self, model: str) -> int | None:
        return 32768

    def _task_of(self, request: ChatRequest) -> str:
        first_user = next(m.content for m in request.messages if m.role == "user")
        matches = [key for key in self._answers if f"write {key}" in first_user]
        assert len(matches) == 1, first_user[:200]
        return matches[0]

    def chat(
        self, request: ChatRequest, on_text: TextSink, on_reasoning: TextSink | None = None
    ) -> Completion:
        with self._lock:
            key = self._task_of(request)
            self.requests.append((key, request))
            text = self._answers[key].pop(0)
        thought, marker, text = text.rpartition(THOUGHT_END)
        if marker and on_reasoning is not None:
            on_reasoning(thought)
        on_text(text)
        with self._lock:
            self.finished.append(key)
        usage = Usage(prompt_tokens=10, output_tokens=5, generation_seconds=0.1)
        return Completion(text, usage, request.model, self.name, self.endpoint)

    def for_task(self, key: str) -> list[ChatRequest]:
        return [request for owner, request in self.requests if owner == key]


def endpoint(backend: Backend, name: str = "local", parallel: int = 2) -> EndpointSpec:
    return EndpointSpec(name, parallel, lambda: backend)


# --------------------------------------------------------------------------- plan validation


def test_a_plan_file_loads_with_defaults_and_normalized_files(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text(
        "- task: Projects model\n  skill: scaffold#1\n  files: [./app/models/project.py]\n"
        "- id: service\n  task: Projects service\n  skill: [scaffold#2]\n  depends_on: '1'\n"
        "  context: app/models/user.py\n  model: other:7b\n"
    )
    plan = load_plan(path)
    assert plan.ids == ("1", "service")
    assert plan.tasks[0].files == ("app/models/project.py",)
    assert plan.tasks[1] == TaskSpec(
        id="service",
        task="Projects service",
        skill_refs=("scaffold#2",),
        context=("app/models/user.py",),
        model="other:7b",
        depends_on=("1",),
    )


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ([{"task": "x", "skil": "scaffold#1"}], "unknown key 'skil' — did you mean 'skill'?"),
        ({"tasks": [], "extra": 1}, "unknown top-level key 'extra'"),
        ([], "non-empty list of tasks"),
        ("just text", "non-empty list of tasks"),
        ([{"skill": "scaffold#1"}], "'task' must be non-empty text"),
        ([{"task": "x"}], "give it a 'skill'"),
        ([{"task": "x", "skill": "s#1", "depends_on": "nope"}], "depends on 'nope'"),
        (
            [{"id": "a", "task": "x", "skill": "s#1"}, {"id": "a", "task": "y", "skill": "s#1"}],
            "two tasks have the id 'a'",
        ),
        ([{"task": "x", "skill": "s#1", "files": ["../outside.py"]}], "cannot be written"),
    ],
)
def test_invalid_plans_are_refused_with_a_clear_reason(data: object, expected: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_plan(data, "plan.yaml")
    assert expected in str(caught.value)
    assert "plan.yaml" in str(caught.value)


def test_a_dependency_cycle_is_refused_naming_the_cycle() -> None:
    data = [
        {"id": "a", "task": "x", "skill": "s#1", "depends_on": "c"},
        {"id": "b", "task": "y", "skill": "s#1", "depends_on": "a"},
        {"id": "c", "task": "z", "skill": "s#1", "depends_on": "b"},
    ]
    with pytest.raises(UsageError, match=r"cycle \(a -> c -> b -> a\)"):
        parse_plan(data, "plan.yaml")


def test_two_side_by_side_tasks_may_not_declare_the_same_file() -> None:
    data = [
        {"id": "a", "task": "x", "skill": "s#1", "files": ["app/x.py"]},
        {"id": "b", "task": "y", "skill": "s#1", "files": ["app/x.py"]},
    ]
    with pytest.raises(UsageError, match=r"tasks 'a' and 'b' both write app/x\.py"):
        parse_plan(data, "plan.yaml")
    data[1]["depends_on"] = "a"  # ordered: no race, allowed
    assert parse_plan(data, "plan.yaml").ids == ("a", "b")


def test_unknown_skill_sections_are_found_before_anything_runs(project: Path) -> None:
    plan = Plan((task("a"), task("b", skill_refs=("scaffold#9",))), "plan.yaml")
    with pytest.raises(SectionNotFound) as caught:
        check_skills(plan, cwd=project)
    assert "task 'b'" in str(caught.value)
    assert "1. model" in str(caught.value)  # the listing of what exists


def test_dependency_order_puts_dependencies_first_and_keeps_plan_order() -> None:
    plan = parse_plan(
        [
            {"id": "routes", "task": "r", "skill": "s#3", "depends_on": ["service"]},
            {"id": "model", "task": "m", "skill": "s#1"},
            {"id": "service", "task": "s", "skill": "s#2", "depends_on": "model"},
            {"id": "tests", "task": "t", "skill": "s#4"},
        ],
        "plan.yaml",
    )
    assert dependency_order(plan) == ("model", "service", "routes", "tests")


def test_the_skill_shortcut_makes_one_task_per_numbered_section(project: Path) -> None:
    plan = plan_from_skill("scaffold", "Projects", cwd=project)
    assert plan.ids == ("1", "2", "3")
    assert plan.tasks[1].task == "Service Layer for the Projects resource"
    assert plan.tasks[1].skill_refs == ("scaffold#2",)
    assert plan_from_skill("scaffold", "Projects", cwd=project, sections="2-3").ids == ("2", "3")


def test_blame_finds_files_by_path_and_by_module_name() -> None:
    files = {
        "model": ("app/models/project.py",),
        "package": ("app/models/__init__.py",),
        "service": ("app/services/project_service.py",),
    }
    assert blame("app/services/project_service.py:3:1: F401", files) == ("service",)
    assert blame('File "/tmp/x/app/models/project.py", line 2', files) == ("model",)
    assert blame("ImportError: cannot import name 'P' from 'app.models'", files) == ("package",)
    assert blame("No module named 'app.services.project_service'", files) == ("service",)
    assert blame("myapp/models/project.pyc and app.models.project_services", files) == ()


def test_endpoints_come_from_the_config(tmp_path: Path) -> None:
    config = Config(
        endpoints={
            "b": Endpoint(backend="ollama", url="http://127.0.0.1:1", model="big:32b"),
            "a": Endpoint(backend="openai", url="http://127.0.0.1:2/v1"),
        },
        endpoint="b",
        parallel=3,
    )
    specs = endpoints_from_config(config)
    assert [(spec.name, spec.parallel, spec.model) for spec in specs] == [
        ("b", 3, "big:32b"),
        ("a", 3, None),
    ]
    assert [spec.name for spec in endpoints_from_config(config, ["a"], parallel=2)] == ["a"]
    with pytest.raises(UsageError, match="unknown endpoint 'c'"):
        endpoints_from_config(config, ["c"])
    assert [spec.name for spec in endpoints_from_config(Config())] == ["default"]


# --------------------------------------------------------------------------- running


class InFlight:
    """Batch events that count how many tasks are streaming from the server at once. With
    ``hold``, each stream's first chunk waits (bounded) until ``hold`` streams are open, so
    the count shows whether requests really overlap, without any timing assertion."""

    def __init__(self, hold: int | None = None) -> None:
        self.hold = hold
        self.open: set[str] = set()
        self.most = 0
        self.states: list[tuple[str, str]] = []
        self.notices: list[str] = []
        self._condition = threading.Condition()

    def task_state(self, task_id: str, state: str, detail: str) -> None:
        with self._condition:
            self.states.append((task_id, state))

    def task_chunk(self, task_id: str) -> None:
        with self._condition:
            if task_id in self.open:
                return
            self.open.add(task_id)
            self.most = max(self.most, len(self.open))
            self._condition.notify_all()
            if self.hold is not None:
                self._condition.wait_for(lambda: self.most >= (self.hold or 0), timeout=10)

    def task_tokens(self, task_id: str, output_tokens: int, tokens_per_second: float) -> None:
        with self._condition:
            self.open.discard(task_id)

    def notice(self, message: str) -> None:
        with self._condition:
            self.notices.append(message)


def four_tasks() -> Plan:
    return Plan(tuple(task(name) for name in ("a", "b", "c", "d")), "test")


def test_tasks_overlap_on_a_server_with_several_slots(project: Path) -> None:
    with FakeModelServer(mode="ollama", parallel=4, chunk_size=4) as server:
        for name in "abcd":
            server.enqueue(file_answer(f"app/{name}.py"))
        config = Config(endpoints={"gpu": Endpoint(backend="ollama", url=server.url)})
        events = InFlight(hold=4)
        result = run_batch(
            four_tasks(),
            BatchOptions(defaults(project, verify=None)),
            endpoints_from_config(config, parallel=4),
            events=events,
        )
        chats = len(server.requests)
    assert events.most == 4
    assert chats == 4
    assert result.status == "success", result.message
    assert sorted(p.name for p in (project / "app").iterdir()) == [
        "a.py",
        "b.py",
        "c.py",
        "d.py",
    ]
    assert len(result.endpoints[0].tasks) == 4


def test_one_slot_means_one_request_at_a_time(project: Path) -> None:
    with FakeModelServer(mode="ollama", chunk_size=4) as server:
        for name in "abcd":
            server.enqueue(file_answer(f"app/{name}.py"))
        config = Config(endpoints={"gpu": Endpoint(backend="ollama", url=server.url)})
        events = InFlight()
        result = run_batch(
            four_tasks(),
            BatchOptions(defaults(project, verify=None)),
            endpoints_from_config(config, parallel=1),
            events=events,
        )
    assert result.exit_code == 0, result.message
    assert events.most == 1


def test_an_unreachable_endpoint_hands_its_tasks_to_the_others(project: Path) -> None:
    with FakeModelServer(mode="ollama") as server:
        for name in "abc":
            server.enqueue(file_answer(f"app/{name}.py"))
        config = Config(
            endpoints={
                "down": Endpoint(backend="ollama", url=f"http://127.0.0.1:{free_port()}"),
                "up": Endpoint(backend="ollama", url=server.url),
            }
        )
        down, up = endpoints_from_config(config, ["down", "up"], parallel=1)
        down_took_a_task = threading.Event()

        def connect_down() -> Backend:
            down_took_a_task.set()
            return down.connect()

        def connect_up() -> Backend:
            down_took_a_task.wait(timeout=10)  # so the dead endpoint surely gets a task
            return up.connect()

        events = InFlight()
        result = run_batch(
            Plan((task("a"), task("b"), task("c")), "test"),
            BatchOptions(defaults(project, verify=None)),
            [EndpointSpec("down", 1, connect_down), EndpointSpec("up", 1, connect_up)],
            events=events,
        )
    assert result.exit_code == 0, result.message
    assert all(o.result is not None and o.result.status == "success" for o in result.tasks)
    uses = {use.name: use for use in result.endpoints}
    assert uses["down"].down is not None
    assert "not reachable" in uses["down"].down or "refused" in uses["down"].down
    assert len(uses["down"].moved) == 1
    assert sorted(uses["up"].tasks) == ["a", "b", "c"]
    assert {outcome.endpoint for outcome in result.tasks} == {"up"}
    assert any("endpoint down is unreachable" in notice for notice in events.notices)


def test_when_every_endpoint_is_down_the_tasks_fail_as_backend_errors(project: Path) -> None:
    config = Config(
        endpoints={"dead": Endpoint(backend="ollama", url=f"http://127.0.0.1:{free_port()}")}
    )
    result = run_batch(
        Plan((task("a"), task("b")), "test"),
        BatchOptions(defaults(project, verify=None)),
        endpoints_from_config(config, parallel=2),
    )
    assert result.exit_code == 3
    assert result.status == "backend_error"
    for outcome in result.tasks:
        assert outcome.result is not None
        assert outcome.result.status == "backend_error"
        assert "dead" in outcome.result.message or "reach" in outcome.result.message


def test_two_tasks_writing_the_same_file_the_later_one_fails(project: Path) -> None:
    backend = ScriptedBackend(
        {
            "a": [file_answer("app/shared.py", "FROM = 'a'")],
            "b": [file_answer("app/shared.py", "FROM = 'b'")],
        }
    )
    result = run_batch(
        Plan((task("a"), task("b")), "test"),
        BatchOptions(defaults(project, verify=None, max_attempts=1)),
        [endpoint(backend)],
    )
    by_status = {o.result.status: o for o in result.tasks if o.result is not None}
    assert set(by_status) == {"success", "refused"}
    winner, loser = by_status["success"], by_status["refused"]
    assert loser.result is not None
    assert f"FROM = '{winner.spec.id}'" in (project / "app/shared.py").read_text()
    assert "another task of this batch writes app/shared.py" in loser.result.message
    assert any(f"task '{winner.spec.id}'" in r.reason for r in loser.result.refused)
    assert result.exit_code == 4


def test_a_declared_file_is_protected_from_other_tasks(project: Path) -> None:
    backend = ScriptedBackend(
        {"a": [file_answer("app/a.py")], "b": [file_answer("app/a.py", "STOLEN = 1")]}
    )
    plan = Plan((task("a", files=("app/a.py",)), task("b")), "test")
    result = run_batch(
        plan,
        BatchOptions(defaults(project, verify=None, max_attempts=1)),
        [endpoint(backend, parallel=1)],
    )
    statuses = {o.spec.id: o.result.status for o in result.tasks if o.result is not None}
    assert statuses == {"a": "success", "b": "refused"}
    assert "STOLEN" not in (project / "app/a.py").read_text()


def test_dependencies_run_first_and_their_files_become_context(project: Path) -> None:
    backend = ScriptedBackend(
        {
            "model": [file_answer("app/models.py", "class Project: ...")],
            "service": [file_answer("app/service.py")],
        }
    )
    plan = Plan((task("service", depends_on=("model",)), task("model")), "test")
    result = run_batch(plan, BatchOptions(defaults(project, verify=None)), [endpoint(backend)])
    assert result.exit_code == 0, result.message
    assert backend.finished.index("model") < [key for key, _ in backend.requests].index("service")
    service_prompt = "\n".join(m.content for m in backend.for_task("service")[0].messages)
    assert "class Project: ..." in service_prompt


def test_a_failed_dependency_skips_its_dependents(project: Path) -> None:
    backend = ScriptedBackend({"model": ["no files here"], "service": []})
    plan = Plan((task("model"), task("service", depends_on=("model",))), "test")
    result = run_batch(
        plan, BatchOptions(defaults(project, verify=None, max_attempts=1)), [endpoint(backend)]
    )
    model, service = result.tasks
    assert model.result is not None
    assert model.result.status == "no_files"
    assert service.state == "skipped"
    assert "depends on 'model'" in service.message
    assert backend.for_task("service") == []
    assert result.exit_code == 1


def test_verify_runs_once_and_failures_go_back_to_the_task_named(project: Path) -> None:
    backend = ScriptedBackend(
        {
            "a": [file_answer("app/a.py")],
            "b": [file_answer("app/b.py", "BAD = 1"), file_answer("app/b.py", "GOOD = 1")],
        }
    )
    result = run_batch(
        Plan((task("a"), task("b")), "test"), BatchOptions(defaults(project)), [endpoint(backend)]
    )
    assert result.exit_code == 0, result.message
    assert [r.verify.passed for r in result.verify_rounds] == [False, True]
    assert result.verify_rounds[0].blamed == ("b",)
    assert result.verify_rounds[0].named is True
    assert len(backend.for_task("a")) == 1
    first, repair = backend.for_task("b")
    # The repair round continues b's own conversation: its answer, then the verify output.
    assert repair.messages[: len(first.messages)] == first.messages
    assert repair.messages[len(first.messages)].content == file_answer("app/b.py", "BAD = 1")
    assert "app/b.py:1:1: E999 found BAD" in repair.messages[-1].content
    # The line verify points to, marked, with the lines around it.
    assert '>> 1 | """Generated."""\n   2 | BAD = 1' in repair.messages[-1].content
    outcome_b = result.tasks[1]
    assert outcome_b.result is not None
    assert outcome_b.rounds == 2
    assert [a.number for a in outcome_b.result.attempts] == [1, 2]
    assert outcome_b.result.attempts[0].verify is not None
    assert outcome_b.result.attempts[0].verify.passed is False
    assert outcome_b.result.created == ("app/b.py",)  # replaced in round 2, still "created"
    assert "GOOD" in (project / "app/b.py").read_text()


def test_when_the_output_names_no_task_every_task_is_repaired(project: Path) -> None:
    (project / "MYSTERY").write_text("fail once")
    backend = ScriptedBackend(
        {
            "a": [file_answer("app/a.py"), file_answer("app/a.py", "AGAIN = 1")],
            "b": [file_answer("app/b.py"), file_answer("app/b.py", "AGAIN = 1")],
        }
    )
    result = run_batch(
        Plan((task("a"), task("b")), "test"), BatchOptions(defaults(project)), [endpoint(backend)]
    )
    assert result.exit_code == 0, result.message
    assert result.verify_rounds[0].blamed == ("a", "b")
    assert result.verify_rounds[0].named is False
    assert len(backend.for_task("a")) == len(backend.for_task("b")) == 2


def test_verify_still_failing_after_the_last_attempt_fails_the_task(project: Path) -> None:
    backend = ScriptedBackend(
        {
            "a": [file_answer("app/a.py")],
            "b": [file_answer("app/b.py", "BAD = 1"), file_answer("app/b.py", "BAD = 2")],
        }
    )
    result = run_batch(
        Plan((task("a"), task("b")), "test"),
        BatchOptions(defaults(project, max_attempts=2)),
        [endpoint(backend)],
    )
    assert result.exit_code == 1
    statuses = {o.spec.id: o.result.status for o in result.tasks if o.result is not None}
    assert statuses == {"a": "success", "b": "verify_failed"}
    assert len(result.verify_rounds) == 2


def test_verify_each_uses_the_pipelines_own_loop(project: Path) -> None:
    backend = ScriptedBackend(
        {"a": [file_answer("app/a.py", "BAD = 1"), file_answer("app/a.py", "FIXED = 1")]}
    )
    result = run_batch(
        Plan((task("a"),), "test"),
        BatchOptions(defaults(project), verify_each=True),
        [endpoint(backend)],
    )
    assert result.exit_code == 0, result.message
    assert result.verify_rounds == ()
    outcome = result.tasks[0]
    assert outcome.result is not None
    assert [a.verify.passed for a in outcome.result.attempts if a.verify] == [False, True]


def test_dry_run_writes_nothing_and_skips_verify(project: Path) -> None:
    backend = ScriptedBackend({"a": [file_answer("app/a.py")]})
    result = run_batch(
        Plan((task("a"),), "test"),
        BatchOptions(defaults(project, dry_run=True)),
        [endpoint(backend)],
    )
    assert result.status == "dry_run"
    assert result.verify_rounds == ()
    assert not (project / "app/a.py").exists()


def test_a_cancelled_batch_stops_streams_and_reports_interrupted(project: Path) -> None:
    cancel = threading.Event()

    class CancelWhenGenerating(InFlight):
        def task_state(self, task_id: str, state: str, detail: str) -> None:
            if state == "generating":
                cancel.set()  # like Ctrl-C while the first answer streams

    backend = ScriptedBackend({"a": [file_answer("app/a.py")], "b": [file_answer("app/b.py")]})
    result = run_batch(
        Plan((task("a"), task("b", depends_on=("a",))), "test"),
        BatchOptions(defaults(project)),
        [endpoint(backend)],
        events=CancelWhenGenerating(),
        cancel=cancel,
    )
    assert result.exit_code == 130
    first, second = result.tasks
    assert first.result is not None
    assert first.result.status == "interrupted"
    assert second.state == "skipped"
    assert not (project / "app/a.py").exists()


def test_a_tasks_declared_files_are_its_targets(project: Path) -> None:
    """Declared files work as `route gen --target`: named in the prompt, the first one's path
    starts the answer, and an answer without them writes nothing and is repaired."""
    backend = ScriptedBackend(
        {"a": [file_answer("app/other.py"), '"""Generated."""\nOK = 1\n```\n']}
    )
    plan = Plan((task("a", files=("app/a.py",)),), "test")
    result = run_batch(
        plan,
        BatchOptions(defaults(project, verify=None, max_attempts=2)),
        [endpoint(backend, parallel=1)],
    )
    (outcome,) = result.tasks
    assert outcome.result is not None and outcome.result.status == "success"
    assert (project / "app/a.py").read_text() == '"""Generated."""\nOK = 1\n'
    assert not (project / "app/other.py").exists()
    first, repair = (request.messages for _, request in backend.requests)
    assert first[-1].role == "assistant" and first[-1].content == "app/a.py\n```python\n"
    assert "Write `app/a.py` now" in first[-2].content
    assert "does not write `app/a.py`" in repair[-2].content


def test_a_reasoning_task_shows_thinking_then_generating(project: Path) -> None:
    reasoning = "app/wrong.py\n```python\nX = 1\n```\n" + THOUGHT_END
    backend = ScriptedBackend({"a": [reasoning + file_answer("app/a.py")]})
    events = InFlight()
    result = run_batch(
        Plan((task("a"),), "test"), BatchOptions(defaults(project)), [endpoint(backend)],
        events=events,
    )  # fmt: skip
    assert result.exit_code == 0
    states = [state for task_id, state in events.states if task_id == "a"]
    thinking = states.index("thinking")
    assert states[thinking - 1 : thinking + 2] == ["generating", "thinking", "generating"]
    assert (project / "app/a.py").exists() and not (project / "app/wrong.py").exists()
