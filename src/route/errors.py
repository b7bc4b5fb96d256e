"""The one error tree of route.

Every error route raises on purpose derives from ``RouteError``. Each class carries the exit code
the CLI returns for it, and every message says what failed *and* what to do next. Lower-level
errors (httpx, sqlite3, OSError, yaml) are translated into this tree in exactly one place each,
with ``raise ... from exc``.

    RouteError                      exit 2  (base; never raised directly)
    ├── UsageError                  exit 2  bad flags, bad input files
    │   ├── ConfigError             exit 2  unknown keys, bad values, unreadable config
    │   ├── SkillError              exit 2  skill file cannot be used
    │   │   ├── SkillNotFound       exit 2  no such skill (lists those found)
    │   │   ├── SectionNotFound     exit 2  no such section (lists numbers and slugs)
    │   │   └── MalformedSkill      exit 2  broken front matter, duplicate numbers, ...
    │   ├── ContextFileError        exit 2  unreadable, not UTF-8, looks like a secret
    │   ├── PromptTooLong           exit 2  prompt + output budget exceed the model's context
    │   ├── UnknownCloudModel       exit 2  no price for the cloud model (lists known ones)
    │   ├── WriteConflict           exit 2  a file changed on disk between planning and writing
    │   ├── WriteFailed             exit 2  a write failed; what was written was put back
    │   ├── LockHeld                exit 2  another route run holds the project lock
    │   └── ThinkNotSupported       exit 2  --think value the model does not accept
    ├── BackendError                exit 3  the model server could not do the job
    │   ├── BackendUnreachable      exit 3  connection refused / DNS / connect timeout
    │   ├── BackendTimeout          exit 3  no bytes within the read timeout
    │   ├── ModelNotFound           exit 3  404: model not pulled / unknown
    │   ├── BackendBusy             exit 3  503 / 429: queue full, still loading
    │   ├── BackendAuthError        exit 3  401 / 403
    │   └── BackendResponseError    exit 3  other HTTP errors, mid-stream errors, cut or malformed
    │                                      streams
    ├── RunFailed                   exit of the run: it failed before writing anything (the
    │                                      MCP `generate` tool's one-line answer)
    ├── LedgerError                 exit 2  the ledger file is corrupt or unreadable
    ├── Interrupted                 exit 130 Ctrl-C / SIGINT / SIGTERM
    └── Cancelled                   exit 130 the caller cancelled the run (an MCP client's Esc)

A failed verify is a *result* (exit 1), not an exception; so is output refused as unsafe
(exit 4, ``EXIT_UNSAFE``: the run's status is "refused"), and so is a verify that changed files
it must not (exit 4, status "tampered").

httpx's transport errors become ``BackendError``s in ``route.backends.transport``.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_VERIFY_FAILED = 1
EXIT_USAGE = 2
EXIT_BACKEND = 3
EXIT_UNSAFE = 4
EXIT_INTERRUPTED = 130


class RouteError(Exception):
    """Base of every error route raises on purpose."""

    exit_code: int = EXIT_USAGE

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UsageError(RouteError):
    """The command line or an input file cannot be used as given."""


class ConfigError(UsageError):
    """A configuration file or value is invalid."""


class SkillError(UsageError):
    """A skill file or reference cannot be used."""


class SkillNotFound(SkillError):
    """No skill of that name was found in the search path."""


class SectionNotFound(SkillError):
    """The skill has no section matching the reference."""


class MalformedSkill(SkillError):
    """The skill file is malformed (front matter, duplicate section numbers, ...)."""


class ContextFileError(UsageError):
    """A context file is missing, unreadable, not UTF-8, or looks like a secret."""


class PromptTooLong(UsageError):
    """The prompt and output budget do not fit in the model's context window."""


class UnknownCloudModel(UsageError):
    """No price is known for the requested cloud model."""


class WriteConflict(UsageError):
    """A file changed on disk between planning and writing; nothing was written."""


class WriteFailed(UsageError):
    """Writing (or restoring) a file failed; what was written has been put back."""


class LockHeld(UsageError):
    """Another route run is writing to this project."""


class ThinkNotSupported(UsageError):
    """The model does not accept the ``--think`` value (names the values it accepts)."""


class BackendError(RouteError):
    """The model server could not do the job."""

    exit_code = EXIT_BACKEND


class BackendUnreachable(BackendError):
    """Nothing answered at the server address."""


class BackendTimeout(BackendError):
    """The server stopped sending data for longer than the read timeout."""


class ModelNotFound(BackendError):
    """The server does not have the requested model."""


class BackendBusy(BackendError):
    """The server is busy or still loading (HTTP 503/429)."""


class BackendAuthError(BackendError):
    """The server refused the credentials (HTTP 401/403)."""


class BackendResponseError(BackendError):
    """The server answered with an error, a cut stream or malformed data."""


class RunFailed(RouteError):
    """A run ended in an error before writing anything; the message says what to do and the
    exit code is the run's."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class LedgerError(RouteError):
    """The ledger database is corrupt or unreadable."""


class Interrupted(RouteError):
    """The run was interrupted by the user."""

    exit_code = EXIT_INTERRUPTED


class Cancelled(RouteError):
    """The caller cancelled the run (``notifications/cancelled``, or the client went away): it
    stops, and the files it wrote are put back (the run's status is "cancelled")."""

    exit_code = EXIT_INTERRUPTED
