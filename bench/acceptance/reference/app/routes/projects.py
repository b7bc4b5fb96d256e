"""HTTP handlers for /projects: read the request, call ProjectService, return a Response."""

from __future__ import annotations

from app.http import Request, Response, Router
from app.services.project_service import ProjectService


class ProjectRoutes:
    """The /projects endpoints; service errors become responses in Router.dispatch."""

    def __init__(self, service: ProjectService) -> None:
        self._service = service

    def register(self, router: Router) -> None:
        router.add("GET", "/projects", self.list_projects)
        router.add("POST", "/projects", self.create_project)
        router.add("GET", "/projects/{project_id}", self.get_project)
        router.add("PATCH", "/projects/{project_id}", self.update_project)
        router.add("DELETE", "/projects/{project_id}", self.delete_project)

    def list_projects(self, request: Request) -> Response:
        return Response(200, [project.to_dict() for project in self._service.list_projects()])

    def get_project(self, request: Request) -> Response:
        return Response(200, self._service.get_project(request.params["project_id"]).to_dict())

    def create_project(self, request: Request) -> Response:
        return Response(201, self._service.create_project(request.body).to_dict())

    def update_project(self, request: Request) -> Response:
        project = self._service.update_project(request.params["project_id"], request.body)
        return Response(200, project.to_dict())

    def delete_project(self, request: Request) -> Response:
        self._service.delete_project(request.params["project_id"])
        return Response(204)
