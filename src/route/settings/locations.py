"""Where route keeps its own files: ``ROUTE_HOME`` or the user data directory; and where its
package data (prices, model catalog, prompt templates, shipped skills) lies."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

# route is installed as files (a wheel, or an editable checkout), so its data is read from beside
# its modules: `importlib.resources` would cost ~9 ms of imports on every run.
PACKAGE_DATA = Path(__file__).parent.parent / "data"


def check_writable(folder: Path, what: str, fix: str) -> None:
    """A ``UsageError`` unless route can create files in ``folder`` (made when missing), so a
    read-only ``ROUTE_HOME`` or ledger folder stops a run before the model is asked, not after
    it answered. ``what`` names the files, ``fix`` says what to do."""
    import tempfile

    from route.errors import UsageError

    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise UsageError(f"route cannot write {what} in {folder} ({reason}) — {fix}") from error


def route_home(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    home = env.get("ROUTE_HOME")
    if home:
        return Path(home)
    import platformdirs

    return Path(platformdirs.user_data_dir("route"))
