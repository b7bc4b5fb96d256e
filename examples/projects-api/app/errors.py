"""The errors of the service. ``Router.dispatch`` turns each into a JSON response."""

from __future__ import annotations


class AppError(Exception):
    """Base of every error the service raises on purpose; ``status`` is the HTTP status."""

    status = 500

    def __init__(self, message: str, details: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}

    def to_dict(self) -> dict[str, object]:
        """The JSON body of the error response."""
        body: dict[str, object] = {"error": self.message}
        if self.details:
            body["details"] = self.details
        return body


class NotFoundError(AppError):
    """No record has the requested id."""

    status = 404


class ValidationError(AppError):
    """The input is not acceptable; ``details`` maps each bad field to what is wrong."""

    status = 400

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("invalid input", errors)
