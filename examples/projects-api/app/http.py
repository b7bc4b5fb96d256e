"""The tiny HTTP layer: ``Request``, ``Response`` and a ``Router`` of (method, path) handlers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from app.errors import AppError


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    body: object = None  # the parsed JSON body, None when there was none
    params: dict[str, int] = field(default_factory=dict)  # "/users/{user_id}" -> {"user_id": 3}


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: object = None  # serialized as JSON; None sends no body


Handler = Callable[[Request], Response]


class Router:
    """Maps a method and a path pattern such as ``/users/{user_id}`` to a handler.

    ``{name}`` segments match positive integers only. An ``AppError`` raised by a handler becomes
    a response with the error's status, so handlers never catch errors themselves.
    """

    def __init__(self) -> None:
        self._routes: list[tuple[str, tuple[str, ...], Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        self._routes.append((method, _segments(pattern), handler))

    def dispatch(self, request: Request) -> Response:
        path_known = False
        for method, pattern, handler in self._routes:
            params = _match(pattern, _segments(request.path))
            if params is None:
                continue
            path_known = True
            if method == request.method:
                try:
                    return handler(replace(request, params=params))
                except AppError as error:
                    return Response(error.status, error.to_dict())
        if path_known:
            return Response(405, {"error": f"{request.method} is not allowed on {request.path}"})
        return Response(404, {"error": f"no route for {request.path}"})


def _segments(path: str) -> tuple[str, ...]:
    return tuple(part for part in path.split("/") if part)


def _match(pattern: tuple[str, ...], path: tuple[str, ...]) -> dict[str, int] | None:
    if len(pattern) != len(path):
        return None
    params: dict[str, int] = {}
    for expected, actual in zip(pattern, path, strict=True):
        if expected.startswith("{") and expected.endswith("}"):
            if not (actual.isascii() and actual.isdigit()):
                return None
            params[expected[1:-1]] = int(actual)
        elif expected != actual:
            return None
    return params
