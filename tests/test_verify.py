from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from route.errors import UsageError
from route.safety.secrets import scrub_environment
from route.safety.verify import VerifySettings, check_sandbox, run_verify, sandbox_prefix


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


ISSUE_SECRETS = {
    "DATABASE_URL": "postgres://app:db-pass-1234@db.internal:5432/app",
    "PGPASSWORD": "pg-pass-5678",
    "MYSQL_PWD": "mysql-pass-9012",
    "PASSWORD": "plain-pass-3456",
    "SECRET_KEY": "django-secret-7890",
    "API_KEY": "api-key-value-1111",
    "TOKEN": "token-value-2222",
    "GITHUB_PAT": "github-pat-3333",
    "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T000/B000/XXXXXXXX",
    "SENTRY_DSN": "https://public-key-4444@o1.ingest.sentry.io/5",
    "REDIS_URL": "redis://:redis-pass-5555@cache:6379/0",
    "PRIVATE_KEY": "private-key-6666",
    "GPG_PASSPHRASE": "gpg-pass-7777",
    "NPM_AUTH": "npm-auth-8888",
    "DOCKER_AUTH_CONFIG": '{"auths": {"r": {"auth": "docker-auth-9999"}}}',
    "CI_JOB_JWT": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjaSJ9.c2lnbmF0dXJl",
    "SSH_AUTH_SOCK": "/tmp/ssh-agent-sock-0000",
    "ANTHROPIC_API_KEY": "sk-ant-secret-value",
    "GITHUB_TOKEN": "ghp-secret",
    "AWS_SECRET_ACCESS_KEY": "aws-secret-value",
    "MY_SERVICE_PASSWORD": "hunter2-longer",
    "LEGACY_CONNECTION": "mysql://root:value-pass-1212@localhost/db",
}


def test_secrets_are_removed_from_the_environment_by_name_and_value(tmp_path: Path) -> None:
    environment = {"PATH": os.environ["PATH"], "HARMLESS": "visible", **ISSUE_SECRETS}
    scrubbed = scrub_environment(environment)
    assert sorted(scrubbed.environment) == ["HARMLESS", "PATH"]
    assert scrubbed.removed == tuple(sorted(ISSUE_SECRETS))
    # Verify runs `env`: no value of any of them reaches its output, and what it prints of
    # a kept one is redacted before anyone (the model, the report) sees it.
    result = run_verify(
        tmp_path, settings("env", keep_env=("PGPASSWORD",)), environment=environment
    )
    assert "HARMLESS=visible" in result.output_tail
    assert "PGPASSWORD=[redacted]" in result.output_tail
    for name, secret in ISSUE_SECRETS.items():
        shown = f"\n{result.output_tail}"
        assert f"\n{name}=" not in shown or name == "PGPASSWORD"
        assert secret not in result.output_tail
    assert result.redactions == 1


def test_key_looking_strings_and_scrubbed_values_are_redacted_from_output(tmp_path: Path) -> None:
    key_file = tmp_path / "leak.txt"
    leaked = [
        "AKIAIOSFODNN7EXAMPLE",
        "ghp_" + "a1B2" * 9,
        "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
        "sk-proj-abcdefghijklmnopqrstuvwxyz012345",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"
        "-----END OPENSSH PRIVATE KEY-----",
        "postgres://admin:s3cr3t-pw@db/prod",
        "the-database-password-value",
    ]
    key_file.write_text("\n".join(leaked) + "\n")
    environment = {
        "PATH": os.environ["PATH"],
        "DB_PASSWORD": "the-database-password-value",
    }
    result = run_verify(tmp_path, settings("cat leak.txt; exit 1"), environment=environment)
    for secret in (*leaked, "s3cr3t-pw", "b3BlbnNzaC1rZXktdjEAAAAA"):
        assert secret not in result.output_tail
    assert result.output_tail.count("[redacted]") == result.redactions == 7
    assert "postgres://admin:[redacted]@db/prod" in result.output_tail


def test_scrub_extra_patterns_and_ordinary_variables_stay() -> None:
    ordinary = {"HOME": "/h", "PATH": "/bin", "LANG": "C.UTF-8", "VIRTUAL_ENV": "/v"}
    scrubbed = scrub_environment({"COMPANY_VAULT": "x", **ordinary}, extra_patterns=["COMPANY_*"])
    assert scrubbed.environment == ordinary
    assert scrubbed.removed == ("COMPANY_VAULT",)
    plain = scrub_environment({"REDIS_URL": "redis://cache:6379/0", "DSN_HOST": "db"})
    assert plain.removed == ()


def test_a_blank_verify_command_is_a_usage_error(tmp_path: Path) -> None:
    for command in ("", "   ", "\t\n"):
        with pytest.raises(UsageError, match=r"verify command is blank.*--no-verify"):
            run_verify(tmp_path, settings(command))


# --------------------------------------------------------------------------- nothing outlives it


def test_processes_verify_leaves_behind_are_killed_even_when_it_passes(tmp_path: Path) -> None:
    # A detached child (setsid: its own session and group), a double-forked one (re-parented
    # away from the shell) and a plain background child: all outlive a passing `sh -c`.
    command = (
        "setsid sleep 300 & echo $! > setsid.pid; "
        "(sleep 301 & echo $! > orphan.pid) ; "
        "nohup sleep 302 > /dev/null 2>&1 & echo $! > nohup.pid; "
        "echo done"
    )
    result = run_verify(tmp_path, settings(command))
    assert result.passed, result.output_tail
    for name in ("setsid.pid", "orphan.pid", "nohup.pid"):
        pid = int((tmp_path / name).read_text())
        assert _dies(pid, within_seconds=0.0 + 10), f"{name}: process {pid} outlived verify"


# --------------------------------------------------------------------------- tamper check


def git_project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / "Makefile").write_text("verify:\n\t@sh evil.sh\n")
    (root / "tests").mkdir()
    (root / "tests" / "conftest.py").write_text("# fixtures\n")
    venv = root / ".venv"
    (venv / "lib" / "python3.11" / "site-packages").mkdir(parents=True)
    (venv / "bin").mkdir()
    (venv / "bin" / "pytest").write_text("#!/bin/sh\nexec python -m pytest\n")
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    return root


def test_verify_that_changes_what_it_must_not_is_restored_and_not_a_pass(tmp_path: Path) -> None:
    root = git_project(tmp_path)
    before = {
        path: path.read_bytes()
        for path in (
            root / "Makefile",
            root / ".git" / "config",
            root / "tests" / "conftest.py",
            root / ".venv" / "bin" / "pytest",
        )
    }
    (root / "evil.sh").write_text(
        "printf 'verify:\\n\\ttrue\\n' > Makefile\n"
        "git config core.fsmonitor 'touch /tmp/owned'\n"
        "echo 'import os' > .venv/lib/python3.11/site-packages/evil.pth\n"
        "printf '#!/bin/sh\\nexit 0\\n' > .venv/bin/pytest\n"
        "echo 'import os; os._exit(0)' >> tests/conftest.py\n"
        "printf '#!/bin/sh\\ntouch /tmp/owned\\n' > .git/hooks/pre-commit\n"
        "echo 'addopts = --collect-only' > pytest.ini\n"
        "exit 0\n"
    )
    result = run_verify(root, settings("make verify"), environment=dict(os.environ))
    assert not result.passed
    assert result.tampered == (
        ".git/config",
        ".git/hooks/pre-commit",
        ".venv/bin/pytest",
        ".venv/lib/python3.11/site-packages/evil.pth",
        "Makefile",
        "pytest.ini",
        "tests/conftest.py",
    )
    assert result.unrestored == ()
    assert "verify changed files it must not" in result.output_tail
    for path, content in before.items():
        assert path.read_bytes() == content, path
    for created in (
        "pytest.ini",
        ".git/hooks/pre-commit",
        ".venv/lib/python3.11/site-packages/evil.pth",
    ):
        assert not (root / created).exists()
    assert "fsmonitor" not in (root / ".git" / "config").read_text()


def test_a_failing_verify_that_tampers_is_restored_too(tmp_path: Path) -> None:
    root = git_project(tmp_path)
    (root / "evil.sh").write_text("echo 'x' >> Makefile; exit 1\n")
    makefile = (root / "Makefile").read_bytes()
    result = run_verify(root, settings("make verify"))
    assert not result.passed and result.tampered == ("Makefile",)
    assert (root / "Makefile").read_bytes() == makefile


def test_the_users_git_config_is_watched(tmp_path: Path) -> None:
    root = git_project(tmp_path)
    gitconfig = tmp_path / "home" / ".gitconfig"
    gitconfig.parent.mkdir()
    gitconfig.write_text("[user]\n\tname = me\n")
    (root / "evil.sh").write_text(f"printf '[core]\\n\\tfsmonitor = x\\n' >> {gitconfig}\n")
    result = run_verify(root, settings("make verify", watch_outside=(gitconfig,)))
    assert result.tampered == (str(gitconfig),)
    assert gitconfig.read_text() == "[user]\n\tname = me\n"


def test_an_ordinary_verify_tampers_with_nothing(tmp_path: Path) -> None:
    root = git_project(tmp_path)
    (root / "evil.sh").write_text("mkdir -p build __pycache__ && echo x > build/out.txt\n")
    result = run_verify(root, settings("make verify"))
    assert result.passed and result.tampered == ()


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


def listening_server() -> socket.socket:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    return server


needs_namespaces = pytest.mark.skipif(
    sandbox_prefix() is None, reason="this system offers no user namespaces (unshare)"
)


@needs_namespaces
def test_sandbox_isolates_the_network_but_keeps_loopback_up(tmp_path: Path) -> None:
    server = listening_server()
    port = server.getsockname()[1]
    reach_host = f"import socket; socket.create_connection(('127.0.0.1', {port}), 2)"
    own_loopback = (
        "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); "
        "socket.create_connection(s.getsockname(), 2); print('loopback works')"
    )
    (tmp_path / "host.py").write_text(reach_host)
    (tmp_path / "own.py").write_text(own_loopback)
    try:
        open_result = run_verify(tmp_path, settings(f"{sys.executable} host.py"))
        sandboxed = run_verify(tmp_path, settings(f"{sys.executable} host.py", sandbox="strict"))
    finally:
        server.close()
    assert open_result.passed and open_result.sandbox is None
    assert not sandboxed.passed and sandboxed.sandbox == "isolated"
    own = run_verify(tmp_path, settings(f"{sys.executable} own.py", sandbox="strict"))
    assert own.passed, own.output_tail
    assert "loopback works" in own.output_tail


@needs_namespaces
def test_nothing_started_in_the_sandbox_survives_it(tmp_path: Path) -> None:
    marker = tmp_path / "alive"
    command = f"setsid sh -c 'while true; do touch {marker}; sleep 0.05; done' & sleep 0.3"
    result = run_verify(tmp_path, settings(command, sandbox="strict"))
    assert result.passed and result.sandbox == "isolated"
    marker.unlink()
    import time

    time.sleep(0.5)
    assert not marker.exists(), "a process started inside the sandbox outlived verify"


def test_sandbox_unavailable_is_a_usage_error_or_a_warning(tmp_path: Path) -> None:
    def unavailable() -> tuple[str, ...] | None:
        return None

    strict = settings("echo ran", sandbox="strict")
    with pytest.raises(UsageError, match=r"cannot isolate verify.*--sandbox-best-effort"):
        check_sandbox(strict, unavailable)
    with pytest.raises(UsageError):
        run_verify(tmp_path, strict, sandbox_probe=unavailable)
    best = run_verify(
        tmp_path, settings("echo ran", sandbox="best-effort"), sandbox_probe=unavailable
    )
    assert best.passed and best.sandbox == "unavailable"
    assert "cannot isolate verify; it ran unisolated" in best.output_tail
    check_sandbox(settings("echo ran"), unavailable)  # no --sandbox: nothing to check


@pytest.mark.parametrize("command", ["exit 0", "true"])
def test_duration_is_measured(tmp_path: Path, command: str) -> None:
    result = run_verify(tmp_path, settings(command))
    assert result.duration_seconds >= 0 and result.command == command
