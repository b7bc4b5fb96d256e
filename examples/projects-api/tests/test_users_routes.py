"""UserRoutes through a Router: status codes and JSON bodies of /users."""

from __future__ import annotations

from app.http import Request, Router
from app.routes.users import UserRoutes
from app.services.user_service import UserService


def make_router() -> Router:
    router = Router()
    UserRoutes(UserService()).register(router)
    return router


def test_create_then_get() -> None:
    router = make_router()

    created = router.dispatch(Request("POST", "/users", {"name": "Ada", "email": "ada@x.org"}))
    fetched = router.dispatch(Request("GET", "/users/1"))

    assert created.status == 201
    assert fetched.status == 200
    assert fetched.body == {"id": 1, "name": "Ada", "email": "ada@x.org", "active": True}


def test_list_update_and_delete() -> None:
    router = make_router()
    router.dispatch(Request("POST", "/users", {"name": "Ada", "email": "ada@x.org"}))

    updated = router.dispatch(Request("PATCH", "/users/1", {"name": "Ada L."}))
    deleted = router.dispatch(Request("DELETE", "/users/1"))
    listed = router.dispatch(Request("GET", "/users"))

    assert (updated.status, updated.body["name"]) == (200, "Ada L.")
    assert (deleted.status, deleted.body) == (204, None)
    assert (listed.status, listed.body) == (200, [])


def test_errors_become_responses() -> None:
    router = make_router()

    invalid = router.dispatch(Request("POST", "/users", {"name": "Ada"}))
    missing = router.dispatch(Request("GET", "/users/9"))

    assert invalid.status == 400
    assert invalid.body == {"error": "invalid input", "details": {"email": "is required"}}
    assert missing.status == 404
