"""HTTP handlers for /users: read the request, call UserService, return a Response."""

from __future__ import annotations

from app.http import Request, Response, Router
from app.services.user_service import UserService


class UserRoutes:
    """The /users endpoints. Errors raised by the service become responses in Router.dispatch."""

    def __init__(self, service: UserService) -> None:
        self._service = service

    def register(self, router: Router) -> None:
        router.add("GET", "/users", self.list_users)
        router.add("POST", "/users", self.create_user)
        router.add("GET", "/users/{user_id}", self.get_user)
        router.add("PATCH", "/users/{user_id}", self.update_user)
        router.add("DELETE", "/users/{user_id}", self.delete_user)

    def list_users(self, request: Request) -> Response:
        return Response(200, [user.to_dict() for user in self._service.list_users()])

    def get_user(self, request: Request) -> Response:
        return Response(200, self._service.get_user(request.params["user_id"]).to_dict())

    def create_user(self, request: Request) -> Response:
        return Response(201, self._service.create_user(request.body).to_dict())

    def update_user(self, request: Request) -> Response:
        user = self._service.update_user(request.params["user_id"], request.body)
        return Response(200, user.to_dict())

    def delete_user(self, request: Request) -> Response:
        self._service.delete_user(request.params["user_id"])
        return Response(204)
