"""UserService: CRUD over a repository, ids assigned by the repository."""

from __future__ import annotations

import pytest

from app.errors import NotFoundError, ValidationError
from app.models.user import User
from app.services.user_service import UserService


def test_create_assigns_increasing_ids() -> None:
    service = UserService()

    first = service.create_user({"name": "Ada", "email": "ada@example.com"})
    second = service.create_user({"name": "Alan", "email": "alan@example.com", "active": False})

    assert first == User(id=1, name="Ada", email="ada@example.com", active=True)
    assert second.id == 2
    assert service.list_users() == [first, second]


def test_get_returns_the_stored_user() -> None:
    service = UserService()
    created = service.create_user({"name": "Ada", "email": "ada@example.com"})

    assert service.get_user(created.id) == created


def test_get_missing_user_raises_not_found() -> None:
    with pytest.raises(NotFoundError):
        UserService().get_user(42)


def test_create_rejects_invalid_input() -> None:
    service = UserService()

    with pytest.raises(ValidationError):
        service.create_user({"name": "Ada"})
    assert service.list_users() == []


def test_update_changes_only_the_given_fields() -> None:
    service = UserService()
    created = service.create_user({"name": "Ada", "email": "ada@example.com"})

    updated = service.update_user(created.id, {"active": False})

    assert updated == User(id=created.id, name="Ada", email="ada@example.com", active=False)
    assert service.get_user(created.id) == updated


def test_delete_removes_the_user_and_its_id_is_not_reused() -> None:
    service = UserService()
    created = service.create_user({"name": "Ada", "email": "ada@example.com"})

    service.delete_user(created.id)

    with pytest.raises(NotFoundError):
        service.delete_user(created.id)
    assert service.create_user({"name": "Alan", "email": "alan@example.com"}).id == 2
