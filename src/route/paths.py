"""Where route keeps its own files: ``ROUTE_HOME`` or the user data directory."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def route_home(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    home = env.get("ROUTE_HOME")
    if home:
        return Path(home)
    import platformdirs

    return Path(platformdirs.user_data_dir("route"))
