"""The batch's scheduling: rounds of tasks on per-endpoint worker threads.

A round runs its tasks dependencies first: a worker takes a task once every task it depends on
(in this round) has finished. Each endpoint gets ``parallel`` workers and builds its backend
once. When a server cannot be reached, its endpoint is marked down and the task goes back to
the front of the queue for the endpoints left (failover); when none is left, the remaining
tasks end as backend errors. In the first round, a task that fails skips the tasks that depend
on it. An interrupt cancels the round: workers stop, unstarted tasks are skipped.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from route.batch.plan import dependency_order
from route.batch.result import OK_STATUSES, EndpointUse, failed_result
from route.errors import EXIT_BACKEND, RouteError

if TYPE_CHECKING:
    from route.backends.base import Backend
    from route.batch.plan import Plan
    from route.batch.runner import BatchEvents, EndpointSpec
    from route.batch.task_run import TaskRun, TaskRunner
    from route.values import RunResult


class EndpointState:
    """An endpoint while the batch runs: its backend (built once), whether it is down."""

    def __init__(self, spec: EndpointSpec) -> None:
        self.spec = spec
        self.url = ""
        self.down: str | None = None
        self.finished: list[str] = []
        self.moved: list[str] = []
        self._backend: Backend | None = None
        self._error: RouteError | None = None
        self._lock = threading.Lock()

    def backend(self) -> Backend:
        """The endpoint's backend, built by the first worker that needs it."""
        with self._lock:
            if self._error is not None:
                raise self._error
            if self._backend is None:
                try:
                    self._backend = self.spec.connect()
                except RouteError as error:
                    self._error = error
                    raise
                self.url = self._backend.endpoint
            return self._backend

    def use(self) -> EndpointUse:
        return EndpointUse(
            self.spec.name, self.url, tuple(self.finished), self.down, tuple(self.moved)
        )


class Scheduler:
    """Runs rounds of tasks on worker threads, moving tasks off endpoints that are down."""

    def __init__(
        self,
        plan: Plan,
        endpoints: Sequence[EndpointSpec],
        tasks: Mapping[str, TaskRun],
        runner: TaskRunner,
        *,
        events: BatchEvents,
        cancel: threading.Event,
    ) -> None:
        self.plan = plan
        self.endpoints = [EndpointState(spec) for spec in endpoints]
        self.tasks = tasks
        self.runner = runner
        self.events = events
        self.cancel = cancel
        self._condition = threading.Condition()
        self._pending: list[str] = []
        self._running: set[str] = set()  # taken by a worker: may still come back (failover)
        self._finished: set[str] = set()
        self._round: frozenset[str] = frozenset()
        self._first_round = True

    def run_round(self, task_ids: Iterable[str], *, first: bool) -> None:
        """Run ``task_ids`` (dependencies first) until each is done, skipped or given up."""
        self._round = frozenset(task_ids)
        self._pending = [
            task_id for task_id in dependency_order(self.plan) if task_id in self._round
        ]
        self._finished = set()
        self._first_round = first
        for task_id in self._pending:
            self.events.task_state(task_id, "queued", "")
        workers = [
            threading.Thread(target=self._work, args=(endpoint,), daemon=True)
            for endpoint in self.endpoints
            if endpoint.down is None
            for _ in range(endpoint.spec.parallel)
        ]
        for worker in workers:
            worker.start()
        try:
            for worker in workers:
                while worker.is_alive():
                    worker.join(timeout=0.2)
        except KeyboardInterrupt:
            self.cancel.set()
            with self._condition:
                self._condition.notify_all()
            for worker in workers:
                worker.join()
        self._give_up_on_pending()

    def _give_up_on_pending(self) -> None:
        """Tasks left when every endpoint is down, or after an interrupt."""
        reasons = "; ".join(f"{e.spec.name}: {e.down}" for e in self.endpoints if e.down)
        for task_id in self._pending:
            task = self.tasks[task_id]
            if self.cancel.is_set():
                task.skipped = task.skipped or "not started: the batch was interrupted"
            else:
                options = self.runner.gen_options(task, self.endpoints[0].spec)
                message = f"no model server could be reached ({reasons})"
                task.rounds.append(failed_result(options, "backend_error", EXIT_BACKEND, message))
            self.events.task_state(task_id, "skipped" if task.skipped else "backend_error", "")
        self._pending = []

    def _work(self, endpoint: EndpointState) -> None:
        while True:
            task_id = self._take(endpoint)
            if task_id is None:
                return
            try:
                if not self._run_on(endpoint, task_id):
                    return
            finally:  # even on a bug, never leave the other workers waiting for this task
                with self._condition:
                    self._running.discard(task_id)
                    self._condition.notify_all()

    def _run_on(self, endpoint: EndpointState, task_id: str) -> bool:
        """Run one task; False when the endpoint turned out to be down (task re-queued)."""
        try:
            backend = endpoint.backend()
        except RouteError as error:
            self._endpoint_down(endpoint, task_id, str(error))
            return False
        result, unreachable = self.runner.run(self.tasks[task_id], endpoint.spec, backend)
        if unreachable and not self.cancel.is_set():
            self._endpoint_down(endpoint, task_id, result.message)
            return False
        self._finish(task_id, result, endpoint)
        return True

    def _take(self, endpoint: EndpointState) -> str | None:
        with self._condition:
            while True:
                if self.cancel.is_set() or endpoint.down is not None:
                    return None
                if not self._pending and not self._running:
                    return None
                for task_id in self._pending:
                    waits = set(self.plan.task(task_id).depends_on) & self._round
                    if waits <= self._finished:
                        self._pending.remove(task_id)
                        self._running.add(task_id)
                        return task_id
                self._condition.wait(timeout=0.5)

    def _endpoint_down(self, endpoint: EndpointState, task_id: str, reason: str) -> None:
        with self._condition:
            endpoint.down = reason
            endpoint.moved.append(task_id)
            self._running.discard(task_id)
            self._pending.insert(0, task_id)
            self._condition.notify_all()
        live = [other.spec.name for other in self.endpoints if other.down is None]
        target = f"its tasks go to {', '.join(live)}" if live else "no endpoint is left"
        self.events.notice(f"endpoint {endpoint.spec.name} is unreachable ({reason}); {target}")
        self.events.task_state(task_id, "queued", f"moved off {endpoint.spec.name}")

    def _finish(self, task_id: str, result: RunResult, endpoint: EndpointState) -> None:
        skipped: list[str] = []
        with self._condition:
            self._finished.add(task_id)
            self._running.discard(task_id)
            endpoint.finished.append(task_id)
            if self._first_round and result.status not in OK_STATUSES:
                for other in list(self._pending):
                    if task_id in self.plan.ancestors(other):
                        self._pending.remove(other)
                        self._finished.add(other)
                        self.tasks[
                            other
                        ].skipped = (
                            f"skipped: it depends on '{task_id}', which ended {result.status}"
                        )
                        skipped.append(other)
            self._condition.notify_all()
        self.events.task_state(task_id, result.status, result.message)
        for other in skipped:
            self.events.task_state(other, "skipped", self.tasks[other].skipped)
