"""Acceptance (hidden from the model): build_router serves Projects and still Users (section 6)."""

from __future__ import annotations

from app.http import Request
from app.server import build_router


def test_projects_and_users_are_both_served() -> None:
    router = build_router()

    project = router.dispatch(Request("POST", "/projects", {"name": "Apollo", "owner_id": 1}))
    user = router.dispatch(Request("POST", "/users", {"name": "Ada", "email": "ada@x.org"}))

    assert project.status == 201
    assert user.status == 201
    assert router.dispatch(Request("GET", "/projects/1")).body["name"] == "Apollo"
