"""A real PostgreSQL server for the team-ledger tests, started by the suite itself: ``initdb`` and
``pg_ctl`` in a temporary folder, listening only on a Unix socket in that folder (no TCP port at
all), trust authentication, stopped and deleted at the end.

Run as root (CI containers), the server runs as the ``postgres`` user (PostgreSQL refuses root)
through ``runuser``. The server binaries come from the ``postgresql`` Debian package, which
``.ci/run`` installs when missing.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

SERVER_USER = "postgres"  # whom the server runs as when the tests run as root
ROLE = "route"  # the database role the tests connect as
PORT = 5432  # only names the socket file; nothing listens on TCP


class PostgresUnavailable(Exception):
    """The server cannot be started here (why, and how to fix it)."""


def find_binaries() -> Path:
    """The folder holding initdb and pg_ctl: on PATH, else Debian's /usr/lib/postgresql/N/bin
    (the newest)."""
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(os.path.realpath(on_path)).parent
    folders = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda folder: int(folder.split("/")[-2])
    )
    for folder in reversed(folders):
        if (Path(folder) / "initdb").exists() and (Path(folder) / "pg_ctl").exists():
            return Path(folder)
    raise PostgresUnavailable(
        "PostgreSQL's server programs (initdb, pg_ctl) are not installed — "
        "apt-get install -y postgresql (`.ci/run` does it)"
    )


class PostgresServer:
    def __init__(self, binaries: Path, folder: Path) -> None:
        self.binaries = binaries
        self.folder = folder
        self.data = folder / "data"
        self.socket = folder / "socket"
        self.log = folder / "server.log"

    @classmethod
    def create(cls) -> PostgresServer:
        binaries = find_binaries()
        folder = Path(tempfile.mkdtemp(prefix="route-pg-"))
        server = cls(binaries, folder)
        server.socket.mkdir()
        if os.geteuid() == 0:
            try:
                shutil.chown(folder, SERVER_USER, SERVER_USER)
                shutil.chown(server.socket, SERVER_USER, SERVER_USER)
            except (LookupError, OSError) as exc:
                shutil.rmtree(folder, ignore_errors=True)
                raise PostgresUnavailable(
                    f"running as root, and the user {SERVER_USER!r} to run PostgreSQL as is "
                    f"missing ({exc}) — install the postgresql package, which creates it"
                ) from exc
        server._run(
            "initdb",
            "-D",
            str(server.data),
            "-U",
            ROLE,
            "--auth=trust",
            "--no-sync",
            "--encoding=UTF8",
            "--locale=C",
        )
        return server

    def _run(self, program: str, *arguments: str) -> str:
        command = [str(self.binaries / program), *arguments]
        if os.geteuid() == 0:
            command = ["runuser", "-u", SERVER_USER, "--", *command]
        completed = subprocess.run(
            command, capture_output=True, text=True, timeout=120, check=False, cwd=self.folder
        )
        if completed.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise PostgresUnavailable(
                f"{program} failed ({completed.returncode}): "
                f"{completed.stderr.strip() or completed.stdout.strip()} {log}".strip()
            )
        return completed.stdout

    def start(self) -> None:
        options = (
            f"-c listen_addresses='' -k {self.socket} -p {PORT} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        with contextlib.suppress(PostgresUnavailable):
            self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{ROLE}@/{database}?host={self.socket}&port={PORT}"

    def create_database(self) -> str:
        """A new, empty database; its URL."""
        import psycopg

        name = f"ledger_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as connection:
            # FILE_COPY (PostgreSQL 15+) makes a small database faster than the WAL_LOG default.
            fast = " STRATEGY FILE_COPY" if connection.info.server_version >= 150000 else ""
            connection.execute(f"CREATE DATABASE {name}{fast}")
        return self.url(name)
