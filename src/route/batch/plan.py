"""Batch plans: load and validate a plan file, order tasks by ``depends_on``, and build a plan
from a skill's numbered sections (``route batch --skill NAME --resource NAME``).

A plan is a YAML list of tasks (or a mapping with one key, ``tasks``)::

    - id: model                      # optional; default: the task's position, "1", "2", ...
      task: Projects model           # required: what to write
      skill: scaffold#1              # a reference or a list of them
      context: [app/models/user.py]  # optional: files the model sees (and may change)
      model: qwen2.5-coder:7b        # optional: overrides --model / the endpoint's model
      depends_on: []                 # ids whose files must exist first (they become context)
      files: [app/models/project.py] # optional: files the task writes, checked up front; the
                                     # answer must write them (as `route gen --target`)

Validation checks keys, types, unique ids, known dependencies, cycles, skills and declared
files before anything runs; every refusal is a ``UsageError`` naming the plan and the task.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from route.errors import RouteError, UsageError

TASK_KEYS = ("id", "task", "skill", "context", "model", "depends_on", "files")


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """One task of a plan, validated."""

    id: str
    task: str
    skill_refs: tuple[str, ...] = ()
    context: tuple[str, ...] = ()
    model: str | None = None
    depends_on: tuple[str, ...] = ()
    files: tuple[str, ...] = ()  # declared outputs, normalized (relative POSIX paths)


@dataclass(frozen=True, slots=True)
class Plan:
    tasks: tuple[TaskSpec, ...]
    source: str  # the plan file, or the shortcut that built it

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(spec.id for spec in self.tasks)

    def task(self, task_id: str) -> TaskSpec:
        return next(spec for spec in self.tasks if spec.id == task_id)

    def ancestors(self, task_id: str) -> frozenset[str]:
        """Every task ``task_id`` waits for, directly or not."""
        by_id = {spec.id: spec for spec in self.tasks}
        seen: set[str] = set()
        stack = list(by_id[task_id].depends_on)
        while stack:
            current = stack.pop()
            if current not in seen:
                seen.add(current)
                stack.extend(by_id[current].depends_on)
        return frozenset(seen)

    def ordered(self, first: str, second: str) -> bool:
        """Whether one of the two tasks always finishes before the other starts."""
        return first in self.ancestors(second) or second in self.ancestors(first)


def load_plan(path: Path) -> Plan:
    """Read and validate a plan file (structure only; see ``check_skills``)."""
    import yaml

    from route.yamlio import load_yaml

    try:
        data = load_yaml(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read the plan {path}: {exc} — check the path") from exc
    except yaml.YAMLError as exc:
        reason = " ".join(str(exc).split())
        raise UsageError(f"the plan {path} is not valid YAML ({reason}) — fix it") from exc
    return parse_plan(data, str(path))


def parse_plan(data: object, source: str) -> Plan:
    """Validate plan data: known keys, types, unique ids, known dependencies, no cycles, and
    no file declared by two tasks that may run side by side."""
    if isinstance(data, dict):
        extra = sorted(str(key) for key in data if key != "tasks")
        if extra:
            raise UsageError(
                f"plan {source}: unknown top-level key '{extra[0]}' — a plan is a list of "
                "tasks, or a mapping with only 'tasks'"
            )
        data = data.get("tasks")
    if not isinstance(data, list) or not data:
        raise UsageError(
            f"plan {source}: expected a non-empty list of tasks, each with 'task' and 'skill' "
            "(see docs/batch-example.yaml)"
        )
    specs = tuple(_parse_task(item, position, source) for position, item in enumerate(data, 1))
    plan = Plan(specs, source)
    _check_ids(plan)
    _check_cycles(plan)
    _check_declared_files(plan)
    return plan


def _parse_task(item: object, position: int, source: str) -> TaskSpec:
    where = f"plan {source}: task {position}"
    if not isinstance(item, dict):
        raise UsageError(f"{where} must be a mapping with 'task' and 'skill', not {item!r}")
    for key in item:
        if key not in TASK_KEYS:
            import difflib

            close = difflib.get_close_matches(str(key), TASK_KEYS, n=1)
            hint = f" — did you mean '{close[0]}'?" if close else ""
            raise UsageError(f"{where}: unknown key '{key}'{hint} (known: {', '.join(TASK_KEYS)})")
    task_id = _text(item.get("id", str(position)), where, "id")
    where = f"plan {source}: task '{task_id}'"
    task = _text(item.get("task"), where, "task")
    skills = _texts(item.get("skill"), where, "skill")
    context = _texts(item.get("context"), where, "context")
    if not skills and not context:
        raise UsageError(f"{where}: give it a 'skill' (e.g. scaffold#3) and/or 'context'")
    model = item.get("model")
    return TaskSpec(
        id=task_id,
        task=task,
        skill_refs=skills,
        context=context,
        model=_text(model, where, "model") if model is not None else None,
        depends_on=_texts(item.get("depends_on"), where, "depends_on"),
        files=tuple(_declared(path, where) for path in _texts(item.get("files"), where, "files")),
    )


def _text(value: object, where: str, key: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int) or not str(value).strip():
        raise UsageError(f"{where}: '{key}' must be non-empty text")
    return str(value).strip()


def _texts(value: object, where: str, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    return tuple(dict.fromkeys(_text(item, where, key) for item in items))


def _declared(path: str, where: str) -> str:
    from route.safety.path_rules import normalize_path

    try:
        return normalize_path(path)
    except ValueError as exc:
        raise UsageError(f"{where}: file '{path}' cannot be written: {exc}") from exc


def _check_ids(plan: Plan) -> None:
    seen: set[str] = set()
    for spec in plan.tasks:
        if spec.id in seen:
            raise UsageError(f"plan {plan.source}: two tasks have the id '{spec.id}' — rename one")
        seen.add(spec.id)
    for spec in plan.tasks:
        for dependency in spec.depends_on:
            if dependency not in seen:
                raise UsageError(
                    f"plan {plan.source}: task '{spec.id}' depends on '{dependency}', which is "
                    f"not a task id (ids: {', '.join(plan.ids)})"
                )


def _check_cycles(plan: Plan) -> None:
    by_id = {spec.id: spec for spec in plan.tasks}
    finished: set[str] = set()

    def visit(task_id: str, path: tuple[str, ...]) -> None:
        if task_id in path:
            cycle = " -> ".join((*path[path.index(task_id) :], task_id))
            raise UsageError(
                f"plan {plan.source}: depends_on forms a cycle ({cycle}) — remove one of them"
            )
        if task_id in finished:
            return
        for dependency in by_id[task_id].depends_on:
            visit(dependency, (*path, task_id))
        finished.add(task_id)

    for spec in plan.tasks:
        visit(spec.id, ())


def _check_declared_files(plan: Plan) -> None:
    owners: dict[str, str] = {}
    for spec in plan.tasks:
        for path in spec.files:
            owner = owners.get(path)
            if owner is not None and owner != spec.id and not plan.ordered(owner, spec.id):
                raise UsageError(
                    f"plan {plan.source}: tasks '{owner}' and '{spec.id}' both write {path} "
                    "and may run side by side — merge them, or make one depend on the other"
                )
            owners[path] = spec.id


def dependency_order(plan: Plan) -> tuple[str, ...]:
    """The ids in an order that respects ``depends_on``, otherwise keeping plan order."""
    done: list[str] = []
    left = list(plan.tasks)
    while left:
        ready = next(spec for spec in left if set(spec.depends_on) <= set(done))
        done.append(ready.id)
        left.remove(ready)
    return tuple(done)


def check_skills(plan: Plan, *, cwd: Path, skills_dir: Path | None = None) -> None:
    """Resolve every skill reference now, so a typo fails before anything runs."""
    from route.prompting import skills

    directories = skills.skill_search_dirs(cwd, skills_dir)
    for spec in plan.tasks:
        for ref in spec.skill_refs:
            try:
                skills.resolve_reference(ref, directories, cwd)
            except RouteError as error:
                raise type(error)(f"plan {plan.source}: task '{spec.id}': {error}") from error


def plan_from_skill(
    skill_name: str,
    resource: str,
    *,
    cwd: Path,
    skills_dir: Path | None = None,
    sections: str | None = None,
) -> Plan:
    """``--skill scaffold --resource Projects``: one task per numbered section, in order
    (``sections`` such as ``1-5`` or ``1,3`` picks some)."""
    from route.prompting import skills

    if not resource.strip():
        raise UsageError("--resource is empty: name the resource, e.g. --resource Projects")
    directories = skills.skill_search_dirs(cwd, skills_dir)
    reference = f"{skill_name}#{sections}" if sections else skill_name
    excerpt = skills.resolve_reference(reference, directories, cwd)
    chosen = excerpt.sections or excerpt.skill.sections
    numbered = [section for section in chosen if section.number is not None]
    if not numbered:
        raise UsageError(
            f"skill '{excerpt.skill.name}' has no numbered sections ('## 1. Model') to make "
            "tasks of — write a plan file instead"
        )
    specs = tuple(
        TaskSpec(
            id=str(section.number),
            task=f"{skills.split_number(section.title)[1].strip()} for the {resource} resource",
            skill_refs=(f"{skill_name}#{section.number}",),
        )
        for section in numbered
    )
    return Plan(specs, f"--skill {reference} --resource {resource}")
