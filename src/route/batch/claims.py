"""Which task of a batch writes which file.

Declared files (``files:`` of a task) are claimed up front, the rest when first written. A task
may write a file another task writes only when one of them waits for the other (``depends_on``);
otherwise the write becomes a refusal that names the other task.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import TYPE_CHECKING

from route.values import FileChange, Refusal, WritePlan

if TYPE_CHECKING:
    from route.batch.plan import Plan
    from route.run.pipeline import WriteGuard

CONFLICT_MARK = "of this batch writes this file"


class WriteClaims:
    """Which task writes which file: declared files up front, the rest when written. A task
    may write a file another task writes only when one of them waits for the other."""

    def __init__(self, plan: Plan) -> None:
        self._plan = plan
        self._lock = threading.Lock()
        self._owners = {path: spec.id for spec in plan.tasks for path in spec.files}
        self.conflicts: dict[str, list[str]] = {}  # task id -> refused paths

    def guard(self, task_id: str) -> WriteGuard:
        def check(plan: WritePlan) -> WritePlan:
            kept: list[FileChange] = []
            with self._lock:
                # The writer may have refused a file another task wrote first ("exists"):
                # say why it really may not be written.
                refused = [self._explain(refusal, task_id) for refusal in plan.refusals]
                for change in plan.changes:
                    owner = self._owners.get(change.path)
                    if owner in (None, task_id) or self._plan.ordered(str(owner), task_id):
                        self._owners[change.path] = task_id
                        kept.append(change)
                        continue
                    self.conflicts.setdefault(task_id, []).append(change.path)
                    refused.append(Refusal(change.path, _conflict_reason(str(owner))))
            return replace(plan, changes=tuple(kept), refusals=tuple(refused))

        return check

    def _explain(self, refusal: Refusal, task_id: str) -> Refusal:
        from route.safety.path_rules import normalize_path

        try:
            path = normalize_path(refusal.path)
        except ValueError:
            return refusal
        owner = self._owners.get(path)
        if owner in (None, task_id) or self._plan.ordered(str(owner), task_id):
            return refusal
        self.conflicts.setdefault(task_id, []).append(path)
        return Refusal(refusal.path, _conflict_reason(str(owner)))


def _conflict_reason(owner: str) -> str:
    return (
        f"task '{owner}' {CONFLICT_MARK}; tasks that may run side by side never write the "
        "same file — merge the two tasks, or make one depend on the other (depends_on)"
    )
