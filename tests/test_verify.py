from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from route.safety.verify import VerifySettings, run_verify, sandbox_prefix, scrub_environment


def settings(command: str, **kwargs: object) -> VerifySettings:
    return VerifySettings(command=command, **kwargs)  # type: ignore[arg-type]


def test_passing_and_failing_commands(tmp_path: Path) -> None:
    passed = run_verify(tmp_path, settings("echo fine"))
    assert passed.passed and passed.exit_code == 0 and "fine" in passed.output_tail
    failed = run_verify(tmp_path, settings("echo broken >&2; exit 3"))
    assert not failed.passed and failed.exit_code == 3 and "broken" in failed.output_tail


def test_hanging_command_is_killed_with_its_process_group(tmp_path: Path) -> None:
    marker = tmp_path / "child.pid"
    command = f"sleep 60 & echo $! > {marker}; wait"
    result = run_verify(tmp_path, settings(command, timeout_seconds=1.0))
    assert result.timed_out and not result.passed and result.exit_code is None
    assert "timed out" in result.output_tail
    child = int(marker.read_text())
    # The background child was in the same process group and must die: gone, or a zombie. The
    # kill is asynchronous, so the child may still be running its exit for a moment (state R);
    # a child the kill missed would sleep on (state S) for its whole minute.
    assert _dies(child), f"process {child} survived the timeout"


def _dies(pid: int, within_seconds: float = 10.0) -> bool:
    import time

    deadline = time.monotonic() + within_seconds
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split()[2]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


def test_huge_output_keeps_only_a_bounded_tail(tmp_path: Path) -> None:
    script = (
        "import sys\nfor i in range(200000): sys.stdout.write(f'line {i:07d} ' + 'x'*80 + '\\n')\n"
    )
    (tmp_path / "spam.py").write_text(script)
    result = run_verify(tmp_path, settings(f"{sys.executable} spam.py", tail_bytes=4096))
    assert result.passed
    assert "line 0199999" in result.output_tail
    assert "line 0000000" not in result.output_tail
    assert len(result.output_tail) < 4096 + 200
    assert "earlier bytes of output not kept" in result.output_tail


def test_secrets_are_removed_from_the_environment(tmp_path: Path) -> None:
    environment = {
        "PATH": os.environ["PATH"],
        "ANTHROPIC_API_KEY": "sk-ant-secret",
        "GITHUB_TOKEN": "ghp-secret",
        "AWS_SECRET_ACCESS_KEY": "aws-secret",
        "MY_SERVICE_PASSWORD": "hunter2",
        "HARMLESS": "visible",
    }
    command = "env"
    result = run_verify(tmp_path, settings(command), environment=environment)
    assert "HARMLESS=visible" in result.output_tail
    for secret in ("sk-ant-secret", "ghp-secret", "aws-secret", "hunter2"):
        assert secret not in result.output_tail
    kept = run_verify(tmp_path, settings(command, keep_env=True), environment=environment)
    assert "sk-ant-secret" in kept.output_tail


def test_scrub_extra_patterns() -> None:
    scrubbed = scrub_environment({"COMPANY_VAULT": "x", "HOME": "/h"}, ["COMPANY_*"])
    assert scrubbed == {"HOME": "/h"}


def test_missing_makefile_or_target_is_a_skip_not_a_crash(tmp_path: Path) -> None:
    result = run_verify(tmp_path, settings("make verify"))
    assert result.passed and result.skipped_reason and "no Makefile" in result.skipped_reason
    (tmp_path / "Makefile").write_text("test:\n\techo test\n")
    result = run_verify(tmp_path, settings("make verify"))
    assert result.skipped_reason and "no `verify` target" in result.skipped_reason


def test_make_verify_runs_when_present(tmp_path: Path) -> None:
    (tmp_path / "Makefile").write_text("verify:\n\t@echo verified; exit 2\n")
    result = run_verify(tmp_path, settings("make verify"))
    assert not result.passed and "verified" in result.output_tail and result.skipped_reason is None


def test_sandbox_blocks_loopback_network_where_available(tmp_path: Path) -> None:
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    probe = (
        f"{sys.executable} -c \"import socket; socket.create_connection(('127.0.0.1', {port}), 2)\""
    )
    try:
        open_result = run_verify(tmp_path, settings(probe))
        assert open_result.passed
        sandboxed = run_verify(tmp_path, settings(probe, sandbox=True))
    finally:
        server.close()
    if sandbox_prefix() is None:
        assert "unsandboxed" in sandboxed.output_tail
    else:
        assert not sandboxed.passed


@pytest.mark.parametrize("command", ["exit 0", "true"])
def test_duration_is_measured(tmp_path: Path, command: str) -> None:
    result = run_verify(tmp_path, settings(command))
    assert result.duration_seconds >= 0 and result.command == command
