"""ProjectService: create, read, update and delete projects over a Repository."""

from __future__ import annotations

from dataclasses import replace

from app.errors import NotFoundError
from app.models.project import Project
from app.repository import Repository
from app.schemas.project import validate_project


class ProjectService:
    """CRUD for projects. Input is validated here; ids come from the repository."""

    def __init__(self, repository: Repository[Project] | None = None) -> None:
        self._repository = repository if repository is not None else Repository[Project]()

    def list_projects(self) -> list[Project]:
        return self._repository.all()

    def get_project(self, project_id: int) -> Project:
        project = self._repository.get(project_id)
        if project is None:
            raise NotFoundError(f"project {project_id} not found")
        return project

    def create_project(self, data: object) -> Project:
        fields = validate_project(data)
        project = Project(id=self._repository.next_id(), **fields)
        return self._repository.save(project)

    def update_project(self, project_id: int, data: object) -> Project:
        project = self.get_project(project_id)
        changes = validate_project(data, partial=True)
        return self._repository.save(replace(project, **changes))

    def delete_project(self, project_id: int) -> None:
        if not self._repository.delete(project_id):
            raise NotFoundError(f"project {project_id} not found")
