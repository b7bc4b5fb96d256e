"""Acceptance (hidden from the model): ProjectRoutes of scaffold section 4."""

from __future__ import annotations

from app.http import Request, Router
from app.routes.projects import ProjectRoutes
from app.services.project_service import ProjectService


def make_router() -> Router:
    router = Router()
    ProjectRoutes(ProjectService()).register(router)
    return router


def test_the_five_routes_and_their_status_codes() -> None:
    router = make_router()

    created = router.dispatch(Request("POST", "/projects", {"name": "Apollo", "owner_id": 1}))
    fetched = router.dispatch(Request("GET", "/projects/1"))
    updated = router.dispatch(Request("PATCH", "/projects/1", {"archived": True}))
    listed = router.dispatch(Request("GET", "/projects"))
    deleted = router.dispatch(Request("DELETE", "/projects/1"))

    assert created.status == 201
    assert fetched.status == 200
    assert fetched.body == {"id": 1, "name": "Apollo", "owner_id": 1, "archived": False}
    assert (updated.status, updated.body["archived"]) == (200, True)
    assert (listed.status, len(listed.body)) == (200, 1)
    assert (deleted.status, deleted.body) == (204, None)


def test_errors_become_responses() -> None:
    router = make_router()

    assert router.dispatch(Request("POST", "/projects", {"name": "Apollo"})).status == 400
    assert router.dispatch(Request("GET", "/projects/9")).status == 404
