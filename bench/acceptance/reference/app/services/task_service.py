"""TaskService: create, read, update and delete tasks over a Repository."""

from __future__ import annotations

from dataclasses import replace

from app.errors import NotFoundError
from app.models.task import Task
from app.repository import Repository
from app.schemas.task import validate_task


class TaskService:
    """CRUD for tasks. Input is validated here; ids come from the repository."""

    def __init__(self, repository: Repository[Task] | None = None) -> None:
        self._repository = repository if repository is not None else Repository[Task]()

    def list_tasks(self) -> list[Task]:
        return self._repository.all()

    def get_task(self, task_id: int) -> Task:
        task = self._repository.get(task_id)
        if task is None:
            raise NotFoundError(f"task {task_id} not found")
        return task

    def create_task(self, data: object) -> Task:
        fields = validate_task(data)
        task = Task(id=self._repository.next_id(), **fields)
        return self._repository.save(task)

    def update_task(self, task_id: int, data: object) -> Task:
        task = self.get_task(task_id)
        changes = validate_task(data, partial=True)
        return self._repository.save(replace(task, **changes))

    def delete_task(self, task_id: int) -> None:
        if not self._repository.delete(task_id):
            raise NotFoundError(f"task {task_id} not found")
