"""Who ran a run and where, for the ledger's ``user_name``, ``machine`` and ``project_name``:
what a team ledger groups by. Read once per project root from git and the OS; never a secret
(a remote's user name, password or token is dropped)."""

from __future__ import annotations

import getpass
import os
import re
import socket
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

GIT_TIMEOUT_SECONDS = 5.0
_SCP_LIKE = re.compile(r"^(?:[^@/]+@)?(?P<host>[^:/]+):(?P<path>(?!//).+)$")  # git@host:org/repo


@dataclass(frozen=True, slots=True)
class Identity:
    user_name: str
    machine: str
    project_name: str


def identify(project_root: Path, env: Mapping[str, str] | None = None) -> Identity:
    """The user (git's user.email, else user.name, else the OS user), this machine's host name,
    and the project (its git remote as ``host/path``, origin first, else the root's name)."""
    if env is None:
        return _identify_cached(project_root.resolve())
    return _identify(project_root, env)


@lru_cache(maxsize=32)
def _identify_cached(project_root: Path) -> Identity:
    return _identify(project_root, os.environ)


def _identify(project_root: Path, env: Mapping[str, str]) -> Identity:
    settings = _git_settings(project_root, env)
    user = settings.get("user.email") or settings.get("user.name") or _os_user(env)
    remotes = {
        key.removeprefix("remote.").removesuffix(".url"): value
        for key, value in settings.items()
        if key.startswith("remote.") and key.endswith(".url")
    }
    remote = remotes.get("origin") or (remotes[min(remotes)] if remotes else "")
    return Identity(
        user_name=user,
        machine=socket.gethostname() or "unknown",
        project_name=remote_name(remote) or project_root.name or str(project_root),
    )


def _git_settings(project_root: Path, env: Mapping[str, str]) -> dict[str, str]:
    """user.email, user.name and remote.*.url as git sees them from ``project_root``; none
    when git is missing, slow or the folder is no repository."""
    try:
        completed = subprocess.run(
            [
                "git",
                "-C",
                str(project_root),
                "config",
                "--get-regexp",
                r"^(user\.email|user\.name|remote\..*\.url)$",
            ],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_SECONDS,
            env=dict(env),
            check=False,
        )
    except (OSError, subprocess.SubprocessError, ValueError):
        return {}
    settings: dict[str, str] = {}
    for line in completed.stdout.splitlines():
        key, _, value = line.partition(" ")
        if value.strip():
            settings.setdefault(key.lower(), value.strip())
    return settings


def _os_user(env: Mapping[str, str]) -> str:
    for variable in ("LOGNAME", "USER", "LNAME", "USERNAME"):  # as getpass.getuser() reads them
        if env.get(variable):
            return env[variable]
    try:
        return getpass.getuser()
    except (OSError, KeyError, ImportError):
        return "unknown"


def remote_name(url: str) -> str:
    """A git remote as ``host/path`` without scheme, user, password, port, query or ``.git``
    (``https://me:token@github.com/org/repo.git`` and ``git@github.com:org/repo.git`` are both
    ``github.com/org/repo``); a local path remote gives its folder name; "" for none."""
    url = url.strip()
    if not url:
        return ""
    if "://" in url:
        split = urlsplit(url)
        host, path = (split.hostname or ""), split.path
    else:
        scp = _SCP_LIKE.match(url)
        if scp is None:  # a path on disk
            return _without_git(Path(url.rstrip("/")).name)
        host, path = scp.group("host"), scp.group("path")
    path = _without_git(path.strip("/"))
    if not host:
        return Path(path).name
    return f"{host.lower()}/{path}" if path else host.lower()


def _without_git(text: str) -> str:
    return text.removesuffix(".git").rstrip("/")
