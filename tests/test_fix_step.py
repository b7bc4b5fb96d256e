"""The fix step: runs the project's fixer on route's files, and keeps it to them."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

from route.safety.fix_step import FixSettings, command_line, run_fix

PY = sys.executable


def fixer(script: str) -> FixSettings:
    """A fix command running ``script`` (Python) with the files as arguments."""
    return FixSettings(command=f"{shlex.quote(PY)} -c {shlex.quote(script)} {{files}}")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "new.py").write_text("import os\nX = 1\n")
    (tmp_path / "app" / "other.py").write_text("import sys\n")
    (tmp_path / "README.md").write_text("hello\n")
    return tmp_path


DROP_IMPORTS = (
    "import sys, pathlib\n"
    "for name in sys.argv[1:]:\n"
    "    p = pathlib.Path(name)\n"
    "    p.write_text(''.join(l for l in p.read_text().splitlines(True) "
    "if not l.startswith('import')))\n"
)


def test_files_are_shell_quoted_in_place_of_the_placeholder() -> None:
    assert command_line("fmt {files} && lint {files}", ["a b.py", "c.py"]) == (
        "fmt 'a b.py' c.py && lint 'a b.py' c.py"
    )
    assert command_line("make fix", ["a.py"]) == "make fix"
    assert command_line("x {files}", ["$(rm -rf ~).py"]) == "x '$(rm -rf ~).py'"


def test_changes_to_routes_files_are_kept_and_returned(project: Path) -> None:
    result = run_fix(project, fixer(DROP_IMPORTS), ["app/new.py"], ["app/new.py"])
    assert result.problem is None
    assert result.exit_code == 0
    assert (project / "app" / "new.py").read_text() == "X = 1\n"
    (change,) = result.changes
    assert (change.path, change.before, change.after) == ("app/new.py", b"import os\nX = 1\n",
                                                          b"X = 1\n")  # fmt: skip
    assert (project / "app" / "other.py").read_text() == "import sys\n"  # not passed, not touched


def test_a_fixer_that_changes_nothing_reports_no_changes(project: Path) -> None:
    result = run_fix(project, FixSettings(command="true {files}"), ["app/new.py"], ["app/new.py"])
    assert result.changes == ()
    assert result.problem is None


def test_a_fixer_that_touches_other_files_is_undone_entirely(project: Path) -> None:
    script = (
        "import pathlib\n"
        "pathlib.Path('app/new.py').write_text('X = 1\\n')\n"
        "pathlib.Path('README.md').write_text('rewritten\\n')\n"
        "pathlib.Path('app/other.py').unlink()\n"
        "pathlib.Path('created.txt').write_text('new\\n')\n"
    )
    result = run_fix(project, fixer(script), ["app/new.py"], ["app/new.py"])
    assert result.changes == ()
    assert result.problem is not None
    assert "changed files route did not write (README.md, app/other.py, created.txt)" in (
        result.problem
    )
    assert "put back" in result.problem
    assert (project / "README.md").read_text() == "hello\n"
    assert (project / "app" / "other.py").read_text() == "import sys\n"
    assert not (project / "created.txt").exists()
    assert (project / "app" / "new.py").read_text() == "import os\nX = 1\n"  # as route wrote it


def test_a_fixer_that_replaces_routes_file_by_a_link_is_undone(project: Path) -> None:
    script = "import os\nos.remove('app/new.py')\nos.symlink('/etc/passwd', 'app/new.py')\n"
    result = run_fix(project, fixer(script), ["app/new.py"], ["app/new.py"])
    assert result.problem is not None
    assert "not a regular UTF-8 text file" in result.problem
    path = project / "app" / "new.py"
    assert not path.is_symlink()
    assert path.read_text() == "import os\nX = 1\n"


def test_files_route_wrote_earlier_in_the_run_may_change(project: Path) -> None:
    script = "import pathlib\npathlib.Path('app/other.py').write_text('')\n"
    result = run_fix(project, fixer(script), ["app/new.py"], ["app/new.py", "app/other.py"])
    assert result.problem is None
    assert [change.path for change in result.changes] == ["app/other.py"]


def test_caches_and_environments_are_not_watched(project: Path) -> None:
    script = (
        "import pathlib\np = pathlib.Path('.ruff_cache')\np.mkdir()\n(p / 'x').write_text('')\n"
    )
    result = run_fix(project, fixer(script), ["app/new.py"], ["app/new.py"])
    assert result.problem is None
    assert (project / ".ruff_cache" / "x").exists()


def test_a_failing_fixer_is_reported_not_raised(project: Path) -> None:
    result = run_fix(project, FixSettings(command="echo broken; exit 3"), ["app/new.py"],
                     ["app/new.py"])  # fmt: skip
    assert result.exit_code == 3
    assert "broken" in result.output_tail
    assert result.changes == ()


def test_a_hanging_fixer_times_out(project: Path) -> None:
    settings = FixSettings(command=f"{PY} -c 'import time; time.sleep(30)'", timeout_seconds=0.5)
    result = run_fix(project, settings, ["app/new.py"], ["app/new.py"])
    assert result.exit_code is None
    assert result.problem == "timed out after 0.5 s"


def test_secrets_are_not_passed_to_the_fixer(project: Path) -> None:
    script = (
        "import os, pathlib\n"
        "pathlib.Path('app/new.py').write_text(os.environ.get('MY_TOKEN', 'none'))\n"
    )
    result = run_fix(project, fixer(script), ["app/new.py"], ["app/new.py"],
                     environment={"MY_TOKEN": "secret", "PATH": "/usr/bin:/bin"})  # fmt: skip
    assert (project / "app" / "new.py").read_text() == "none"
    assert result.problem is None


def test_a_cancelled_run_stops_the_fix_command(project: Path) -> None:
    import threading

    from route.errors import Cancelled

    cancel = threading.Event()
    timer = threading.Timer(0.5, cancel.set)
    timer.start()
    try:
        with pytest.raises(Cancelled):
            run_fix(project, fixer("import time\ntime.sleep(60)\n"), ["app/new.py"],
                    ["app/new.py"], cancel=cancel)  # fmt: skip
    finally:
        timer.cancel()
    assert (project / "app" / "new.py").read_text() == "import os\nX = 1\n"
