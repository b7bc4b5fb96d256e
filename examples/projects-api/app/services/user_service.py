"""UserService: create, read, update and delete users over a Repository."""

from __future__ import annotations

from dataclasses import replace

from app.errors import NotFoundError
from app.models.user import User
from app.repository import Repository
from app.schemas.user import validate_user


class UserService:
    """CRUD for users. Input is validated here; ids come from the repository."""

    def __init__(self, repository: Repository[User] | None = None) -> None:
        self._repository = repository if repository is not None else Repository[User]()

    def list_users(self) -> list[User]:
        return self._repository.all()

    def get_user(self, user_id: int) -> User:
        user = self._repository.get(user_id)
        if user is None:
            raise NotFoundError(f"user {user_id} not found")
        return user

    def create_user(self, data: object) -> User:
        fields = validate_user(data)
        user = User(id=self._repository.next_id(), **fields)
        return self._repository.save(user)

    def update_user(self, user_id: int, data: object) -> User:
        user = self.get_user(user_id)
        changes = validate_user(data, partial=True)
        return self._repository.save(replace(user, **changes))

    def delete_user(self, user_id: int) -> None:
        if not self._repository.delete(user_id):
            raise NotFoundError(f"user {user_id} not found")
