"""The safe writer: path refusals, protected files, edits, atomic apply, rollback, dry-run diff."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from route.errors import RouteError, UsageError, WriteConflict, WriteFailed
from route.prompting.parse import parse_answer
from route.safety.path_rules import DEFAULT_PROTECTED, normalize_path
from route.safety.tool_names import verify_tool_names
from route.safety.writer import apply_plan, plan_writes, render_diff, rollback
from route.values import EditBlock, FileBlock, FileChange, ParsedAnswer, WritePlan


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_text("x = 1\ny = 2\n")
    (root / "Makefile").write_text("verify:\n\tpytest\n")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("[core]\n")
    return root


def files(*blocks: tuple[str, str]) -> ParsedAnswer:
    return ParsedAnswer(files=tuple(FileBlock(path, content) for path, content in blocks))


def edits(*blocks: tuple[str, str, str]) -> ParsedAnswer:
    return ParsedAnswer(edits=tuple(EditBlock(*block) for block in blocks))


def tree(root: Path) -> dict[str, bytes | None]:
    """Every file (bytes) and directory (None) under root, symlinks not followed."""
    found: dict[str, bytes | None] = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if path.is_symlink():
            found[relative] = os.readlink(path).encode()
        elif path.is_dir():
            found[relative] = None
        else:
            found[relative] = path.read_bytes()
    return found


# --------------------------------------------------------------------------- path refusals


@pytest.mark.parametrize(
    ("path", "reason_part"),
    [
        ("/etc/passwd", "absolute path"),
        ("//server/share/x.py", "absolute path"),
        ("\\\\server\\share\\x.py", "absolute path"),
        ("C:\\Windows\\x.py", "absolute Windows path"),
        ("C:/Windows/x.py", "absolute Windows path"),
        ("c:x.py", "absolute Windows path"),
        ("~/x.py", "'~'"),
        ("~root/x.py", "'~'"),
        ("../x.py", "'..'"),
        ("src/../../x.py", "'..'"),
        ("src/../app.py", "'..'"),
        ("..\\..\\x.py", "'..'"),
        ("src/.../x.py", "'..'"),
        ("a\x00b.py", "NUL"),
        ("a\nb.py", "control or invisible"),
        ("a\tb.py", "control or invisible"),
        ("src/x\u202ey.py", "control or invisible"),
        ("src/x\u200b.py", "control or invisible"),
        ("src/x\u3000y.py", "control or invisible"),
        ("%2e%2e/x.py", "URL-encoded"),
        ("src%2fx.py", "URL-encoded"),
        ("%2E%2E%2Fx.py", "URL-encoded"),
        ("\uff0e\uff0e/x.py", "look-alike"),
        ("src\uff0fx.py", "look-alike"),
        ("src\u2215x.py", "look-alike"),
        ("src\u2044x.py", "look-alike"),
        ("\u2024\u2024/x.py", "look-alike"),
        ("\u2025/x.py", "look-alike"),
        ("src\uff3cx.py", "look-alike"),
        ("src\ufe68x.py", "look-alike"),
        ("x\u3002py", "look-alike"),
        ("src/a:b.py", "':'"),
        ("x" * 256 + ".py", "longer than 255 bytes"),
        ("/".join(["d" * 200] * 21) + "/x.py", "longer than 4096 bytes"),
        ("", "empty path"),
        ("   ", "empty path"),
        (".", "project root"),
        ("./", "project root"),
        ("src/", "names a directory"),
        ("src/x.py ", "space"),
        ("src/x.py.", "ends with a dot"),
    ],
)
def test_hostile_paths_are_refused(project: Path, path: str, reason_part: str) -> None:
    before = tree(project)
    plan = plan_writes(files((path, "x = 1\n")), project)
    assert plan.changes == ()
    assert len(plan.refusals) == 1
    assert plan.refusals[0].path == path
    assert reason_part in plan.refusals[0].reason
    assert "\n" not in plan.refusals[0].reason
    assert tree(project) == before


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("src\\pkg\\x.py", "src/pkg/x.py"),
        ("./src//pkg/./x.py", "src/pkg/x.py"),
        ("café/naïve.py", "café/naïve.py"),
        ("backup~", "backup~"),
        ("50%.txt", "50%.txt"),
        (".gitignore", ".gitignore"),
        (".github-notes.md", ".github-notes.md"),
    ],
)
def test_paths_are_normalized(raw: str, normalized: str) -> None:
    assert normalize_path(raw) == normalized


def test_backslash_path_is_written_with_posix_separators(project: Path) -> None:
    plan = plan_writes(files(("src\\pkg\\x.py", "x\n")), project)
    assert [change.path for change in plan.changes] == ["src/pkg/x.py"]
    apply_plan(plan, project)
    assert (project / "src" / "pkg" / "x.py").read_text() == "x\n"


@pytest.mark.parametrize("path", [".git/config", ".git/hooks/pre-commit", ".GIT/x", "lib/.git/x"])
def test_git_is_refused_even_when_allowed(project: Path, path: str) -> None:
    plan = plan_writes(files((path, "evil\n")), project, allow=(path, ".git", ".git/**"))
    assert plan.changes == ()
    assert "inside .git/" in plan.refusals[0].reason


# --------------------------------------------------------------------------- protected paths


@pytest.mark.parametrize(
    "path",
    [
        "Makefile",
        "lib/makefile",
        "lib/MAKEFILE",
        "GNUmakefile",
        "sub/Makefile",
        "rules.mk",
        ".ci/run",
        ".github/workflows/ci.yml",
        ".gitlab-ci.yml",
        ".env",
        ".env.local",
        "config/.envrc",
        "certs/server.pem",
        "deploy.key",
        "id_rsa",
        "home/.ssh/id_ed25519.pub",
        ".skills/scaffold/SKILL.md",
        ".claude/settings.json",
        ".mcp.json",
        "pyproject.toml",
        "setup.cfg",
        "setup.py",
        "tox.ini",
        "pytest.ini",
        "conftest.py",
        "tests/conftest.py",
        "tests/unit/deep/conftest.py",
        "noxfile.py",
        "package.json",
        "poetry.lock",
        "uv.lock",
        "package-lock.json",
        "Makefile.local",
        "Justfile",
        "Taskfile.yml",
        ".pre-commit-config.yaml",
        "sitecustomize.py",
        "usercustomize.py",
        "evil.pth",
        "src/hook.pth",
        ".venv/lib/python3.11/site-packages/x.py",
        "venv/bin/pytest",
        "node_modules/jest/index.js",
        "CLAUDE.md",
        "AGENTS.md",
        ".cursorrules",
        ".cursor/rules/x.mdc",
        ".vscode/tasks.json",
        ".vscode/mcp.json",
        ".gitattributes",
        ".gitmodules",
    ],
)
def test_protected_paths_are_refused_unless_allowed(project: Path, path: str) -> None:
    plan = plan_writes(files((path, "changed\n")), project)
    assert plan.changes == ()
    assert plan.refusals[0].reason.startswith("protected (matches ")
    assert f"pass --allow {path}" in plan.refusals[0].reason

    allowed = plan_writes(files((path, "changed\n")), project, allow=(path,), force=True)
    assert [change.path for change in allowed.changes] == [path]
    assert allowed.refusals == ()


def test_allowing_a_directory_allows_what_is_under_it(project: Path) -> None:
    plan = plan_writes(
        files((".github/workflows/ci.yml", "on: push\n")), project, allow=(".github",)
    )
    assert [change.path for change in plan.changes] == [".github/workflows/ci.yml"]


@pytest.mark.parametrize("path", ["route.yaml", "sub/route.yaml", "ROUTE.YAML"])
def test_route_config_is_refused_even_when_allowed(project: Path, path: str) -> None:
    plan = plan_writes(files((path, "verify_command: 'true'\n")), project, allow=(path,))
    assert plan.changes == ()
    assert "route's own configuration" in plan.refusals[0].reason


PYPROJECT = '[project]\nname = "demo"\n\n[tool.route]\nverify_command = "make verify"\n'


def test_tool_route_table_is_never_model_writable(project: Path) -> None:
    (project / "pyproject.toml").write_text(PYPROJECT)
    injected = PYPROJECT.replace('"make verify"', '"true"') + 'api_key_env = "GITHUB_TOKEN"\n'
    blocks = (
        files(("pyproject.toml", injected)),
        edits(("pyproject.toml", '"make verify"', '"true"')),
        files(("sub/pyproject.toml", '[tool.route]\nverify_command = "true"\n')),
    )
    for answer in blocks:
        plan = plan_writes(answer, project, allow=("pyproject.toml", "sub"), force=True)
        assert plan.changes == (), answer
        assert "[tool.route]" in plan.refusals[0].reason
    # The rest of pyproject.toml may change when the user allows it.
    other = PYPROJECT.replace('"demo"', '"renamed"')
    plan = plan_writes(
        files(("pyproject.toml", other)),
        project,
        allow=("pyproject.toml",),
        modifiable=("pyproject.toml",),
    )
    assert [change.path for change in plan.changes] == ["pyproject.toml"]


def test_extra_protected_patterns_from_the_caller(project: Path) -> None:
    plan = plan_writes(
        files(("tox.ini", "[tox]\n"), ("src/ok.py", "ok\n")),
        project,
        protected=(*DEFAULT_PROTECTED, "tox.ini"),
    )
    assert [change.path for change in plan.changes] == ["src/ok.py"]
    assert plan.refusals[0].path == "tox.ini"


# --------------------------------------------------------------------------- symbolic links


def test_symlink_that_leaves_the_root_is_refused(project: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (project / "escape").symlink_to(outside)
    plan = plan_writes(files(("escape/evil.py", "x\n"), ("escape/sub/evil.py", "x\n")), project)
    assert plan.changes == ()
    assert all("points outside the project" in refusal.reason for refusal in plan.refusals)
    assert list(outside.iterdir()) == []


def test_symlink_as_the_target_file_is_refused(project: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("keep\n")
    (project / "src" / "link.py").symlink_to(secret)
    (project / "src" / "dangling.py").symlink_to(tmp_path / "nowhere.py")
    plan = plan_writes(
        files(("src/link.py", "x\n"), ("src/dangling.py", "x\n")), project, force=True
    )
    assert plan.changes == ()
    assert [refusal.reason for refusal in plan.refusals] == [
        "is a symbolic link; route does not write through links",
        "is a symbolic link; route does not write through links",
    ]
    assert secret.read_text() == "keep\n"
    assert not (tmp_path / "nowhere.py").exists()


def test_symlink_inside_the_root_is_followed_and_checked_as_its_target(project: Path) -> None:
    (project / "lib").mkdir()
    (project / "alias").symlink_to(project / "lib")
    (project / ".github").mkdir()
    (project / "ci").symlink_to(project / ".github")
    plan = plan_writes(files(("alias/x.py", "x\n"), ("ci/workflow.yml", "on: push\n")), project)
    assert [change.path for change in plan.changes] == ["alias/x.py"]
    assert plan.refusals[0].path == "ci/workflow.yml"
    assert "protected" in plan.refusals[0].reason
    apply_plan(plan_writes(files(("alias/x.py", "x\n")), project), project)
    assert (project / "lib" / "x.py").read_text() == "x\n"
    assert (project / "alias").is_symlink()


def test_symlink_into_git_is_refused(project: Path) -> None:
    (project / "gitlink").symlink_to(project / ".git")
    plan = plan_writes(files(("gitlink/config", "evil\n")), project, allow=("gitlink",))
    assert plan.changes == ()
    assert plan.refusals[0].reason == "inside .git/: route never writes there"
    assert (project / ".git" / "config").read_text() == "[core]\n"


def test_two_names_for_one_file_through_a_link_fail(project: Path) -> None:
    (project / "alias").symlink_to(project / "src")
    plan = plan_writes(files(("alias/new.py", "a\n"), ("src/new.py", "b\n")), project)
    assert plan.failures == (
        "alias/new.py and src/new.py are the same file (through a symbolic link): use one name",
    )


def test_parent_that_is_a_file_and_target_that_is_a_directory(project: Path) -> None:
    plan = plan_writes(files(("src/app.py/inner.py", "x\n"), ("src", "x\n")), project)
    assert plan.changes == ()
    assert [refusal.reason for refusal in plan.refusals] == [
        "the parent src/app.py is a file, not a directory",
        "is a directory",
    ]


# --------------------------------------------------------------------------- existing files


def test_existing_file_needs_context_or_force(project: Path) -> None:
    answer = files(("src/app.py", "x = 10\n"))
    refused = plan_writes(answer, project)
    assert refused.changes == ()
    assert refused.refusals[0].reason == (
        "exists; pass it with -c/--context or use --force to let the model replace it"
    )
    for plan in (
        plan_writes(answer, project, modifiable=("src/app.py",)),
        plan_writes(answer, project, modifiable=("./src/app.py",)),
        plan_writes(answer, project, modifiable=(str(project / "src" / "app.py"),)),
        plan_writes(answer, project, force=True),
    ):
        assert plan.changes == (FileChange("src/app.py", "modify", b"x = 1\ny = 2\n", b"x = 10\n"),)
        assert plan.refusals == ()


def test_identical_content_is_no_change_and_no_refusal(project: Path) -> None:
    plan = plan_writes(files(("src/app.py", "x = 1\ny = 2")), project)
    assert plan == WritePlan()


def test_final_newline_is_added_and_empty_stays_empty(project: Path) -> None:
    plan = plan_writes(files(("a.py", "a = 1"), ("b.py", ""), ("c.txt", "c\n\n")), project)
    assert [(change.path, change.after) for change in plan.changes] == [
        ("a.py", b"a = 1\n"),
        ("b.py", b""),
        ("c.txt", b"c\n\n"),
    ]


def test_crlf_file_keeps_its_line_ends_when_replaced(project: Path) -> None:
    (project / "win.txt").write_bytes(b"one\r\ntwo\r\n")
    plan = plan_writes(files(("win.txt", "one\nthree\n")), project, force=True)
    assert plan.changes[0].after == b"one\r\nthree\r\n"


def test_same_path_twice_later_block_wins(project: Path) -> None:
    plan = plan_writes(files(("src/new.py", "first\n"), ("./src/new.py", "second\n")), project)
    assert plan.changes == (FileChange("src/new.py", "create", None, b"second\n"),)


def test_paths_differing_only_by_case_fail_the_attempt(project: Path) -> None:
    plan = plan_writes(files(("src/Model.py", "a\n"), ("src/model.py", "b\n")), project)
    assert plan.failures == (
        "src/Model.py and src/model.py differ only by case: use one name for one file",
    )
    assert not plan.applicable
    with pytest.raises(UsageError, match="nothing was written"):
        apply_plan(plan, project)
    assert not (project / "src" / "Model.py").exists()


def test_case_collision_with_an_existing_file_is_refused(project: Path) -> None:
    plan = plan_writes(files(("src/APP.py", "x\n")), project)
    assert plan.changes == ()
    assert (
        plan.refusals[0].reason
        == "differs only by case from the existing src/app.py: use that name"
    )


def test_file_used_as_a_directory_in_the_same_answer_fails(project: Path) -> None:
    plan = plan_writes(files(("pkg", "x\n"), ("pkg/mod.py", "y\n")), project)
    assert plan.failures == ("pkg is written as a file but pkg/mod.py uses it as a directory",)


def test_size_limit_and_binary_content_are_refused(project: Path) -> None:
    plan = plan_writes(
        files(
            ("big.txt", "x" * 101), ("bin.dat", "a\x00b"), ("bad.txt", "\udcff"), ("ok.txt", "ok")
        ),
        project,
        max_file_bytes=100,
    )
    assert [change.path for change in plan.changes] == ["ok.txt"]
    reasons = [refusal.reason for refusal in plan.refusals]
    assert reasons[0].startswith("content is 102 bytes, above the 100-byte limit")
    assert reasons[1] == "binary-looking content (NUL bytes): route writes text files only"
    assert reasons[2] == "content is not valid UTF-8 text"


def test_root_must_be_a_directory(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="is not a directory"):
        plan_writes(files(("a.py", "a\n")), tmp_path / "missing")


# --------------------------------------------------------------------------- edits


def test_edit_applies_when_the_search_text_occurs_once(project: Path) -> None:
    plan = plan_writes(
        edits(("src/app.py", "y = 2\n", "y = 3\n")), project, modifiable=("src/app.py",)
    )
    assert plan.changes == (
        FileChange("src/app.py", "modify", b"x = 1\ny = 2\n", b"x = 1\ny = 3\n"),
    )
    assert plan.applicable


def test_edits_apply_in_order_on_the_updated_text(project: Path) -> None:
    plan = plan_writes(
        edits(("src/app.py", "y = 2\n", "y = 3\n"), ("src/app.py", "x = 1\ny = 3\n", "z = 0\n")),
        project,
        modifiable=("src/app.py",),
    )
    assert plan.changes[0].after == b"z = 0\n"


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("nothing like this\n", "src/app.py: SEARCH/REPLACE block 2 matches 0 times"),
        (" = ", "src/app.py: SEARCH/REPLACE block 2 matches 2 times"),
        ("", "src/app.py: SEARCH/REPLACE block 2 has an empty SEARCH but the file is not empty"),
    ],
)
def test_edit_that_does_not_match_exactly_once_fails_naming_file_and_block(
    project: Path, search: str, expected: str
) -> None:
    plan = plan_writes(
        edits(("src/app.py", "x = 1\n", "x = 5\n"), ("src/app.py", search, "q\n")),
        project,
        modifiable=("src/app.py",),
    )
    assert len(plan.failures) == 1
    assert plan.failures[0].startswith(expected)
    assert not plan.applicable


def test_edit_of_a_missing_file(project: Path) -> None:
    plan = plan_writes(edits(("src/new.py", "", "n = 1\n"), ("src/gone.py", "a\n", "b\n")), project)
    assert plan.changes == (FileChange("src/new.py", "create", None, b"n = 1\n"),)
    assert plan.failures == (
        "src/gone.py: SEARCH/REPLACE block 1 cannot apply: the file does not exist "
        "(use an empty SEARCH to create it)",
    )


def test_edit_needs_context_or_target_and_respects_protection(project: Path) -> None:
    answer = edits(("Makefile", "pytest", "true"), ("src/app.py", "x", "w"))
    plan = plan_writes(answer, project, modifiable=("src/app.py",))
    assert [change.path for change in plan.changes] == ["src/app.py"]
    assert plan.refusals[0].path == "Makefile"
    # Without -c or --target, an existing file is not the model's to edit.
    plan = plan_writes(answer, project)
    assert plan.changes == ()
    assert [refusal.path for refusal in plan.refusals] == ["Makefile", "src/app.py"]
    assert "SEARCH/REPLACE edits apply only to those" in plan.refusals[1].reason
    assert plan_writes(answer, project, force=True).changes[0].path == "src/app.py"


def test_edit_of_a_crlf_file_and_of_a_file_without_final_newline(project: Path) -> None:
    (project / "win.txt").write_bytes(b"one\r\ntwo\r\n")
    (project / "tail.txt").write_bytes(b"first\nlast")
    plan = plan_writes(
        edits(("win.txt", "two\n", "2\n"), ("tail.txt", "last\n", "LAST\n")),
        project,
        modifiable=("win.txt", "tail.txt"),
    )
    assert [(change.path, change.after) for change in plan.changes] == [
        ("win.txt", b"one\r\n2\r\n"),
        ("tail.txt", b"first\nLAST\n"),
    ]


def test_edit_after_a_whole_file_block_of_the_same_answer(project: Path) -> None:
    answer = ParsedAnswer(
        files=(FileBlock("src/new.py", "a = 1\nb = 2\n"),),
        edits=(EditBlock("src/new.py", "b = 2\n", "b = 3\n"),),
    )
    plan = plan_writes(answer, project)
    assert plan.changes == (FileChange("src/new.py", "create", None, b"a = 1\nb = 3\n"),)


def test_non_utf8_file_cannot_be_edited(project: Path) -> None:
    (project / "latin.txt").write_bytes(b"caf\xe9\n")
    plan = plan_writes(edits(("latin.txt", "caf", "tea")), project, modifiable=("latin.txt",))
    assert plan.failures == (
        "latin.txt: SEARCH/REPLACE block 1: the file is not UTF-8 text, it cannot be edited",
    )


def test_parsed_answer_to_plan_end_to_end(project: Path) -> None:
    answer = (
        "Here you go.\n\nsrc/app.py\n```python\n<<<<<<< SEARCH\ny = 2\n=======\ny = 20\n"
        ">>>>>>> REPLACE\n```\n\nsrc/util.py\n```python\ndef helper():\n    return 1\n```\n"
    )
    plan = plan_writes(parse_answer(answer), project, modifiable=("src/app.py",))
    apply_plan(plan, project)
    assert (project / "src" / "app.py").read_text() == "x = 1\ny = 20\n"
    assert (project / "src" / "util.py").read_text() == "def helper():\n    return 1\n"


# --------------------------------------------------------------------------- applying


def test_apply_creates_directories_and_keeps_modes(project: Path) -> None:
    script = project / "run.sh"
    script.write_text("echo 1\n")
    script.chmod(0o755)
    plan = plan_writes(
        files(("run.sh", "echo 2\n"), ("deep/er/new.py", "n\n")), project, modifiable=("run.sh",)
    )
    apply_plan(plan, project)
    assert script.read_text() == "echo 2\n"
    assert stat.S_IMODE(script.stat().st_mode) == 0o755
    created = project / "deep" / "er" / "new.py"
    assert created.read_text() == "n\n"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(created.stat().st_mode) == 0o666 & ~umask
    assert not list(project.rglob(".route-*"))


def test_file_changed_since_the_plan_writes_nothing(project: Path) -> None:
    plan = plan_writes(files(("src/first.py", "1\n"), ("src/app.py", "new\n")), project, force=True)
    (project / "src" / "app.py").write_text("edited by the user meanwhile\n")
    before = tree(project)
    with pytest.raises(WriteConflict, match=r"src/app\.py changed on disk"):
        apply_plan(plan, project)
    assert tree(project) == before


def test_directory_where_a_file_should_go_writes_nothing(project: Path) -> None:
    plan = plan_writes(files(("src/first.py", "1\n"), ("src/second.py", "2\n")), project)
    (project / "src" / "second.py").mkdir()
    before = tree(project)
    with pytest.raises(WriteConflict, match=r"src/second\.py now exists"):
        apply_plan(plan, project)
    assert tree(project) == before


def test_failure_mid_apply_restores_everything(project: Path) -> None:
    (project / "src" / "keep.py").write_text("original\n")
    plan = plan_writes(
        files(
            ("src/keep.py", "replaced\n"),
            ("new/dir/a.py", "a\n"),
            ("blocked/b.py", "b\n"),
        ),
        project,
        force=True,
    )
    assert len(plan.changes) == 3
    # After planning, a file appears where a directory must be created: the third write fails.
    (project / "blocked").write_text("not a directory\n")
    before = tree(project)
    with pytest.raises(WriteFailed, match=r"could not write blocked/b\.py") as raised:
        apply_plan(plan, project)
    assert "the 2 file(s) already written were put back" in str(raised.value)
    assert isinstance(raised.value, RouteError)
    assert tree(project) == before
    assert (project / "src" / "keep.py").read_bytes() == b"original\n"
    assert not (project / "new").exists()


# --------------------------------------------------------------------------- rollback


def test_rollback_restores_exact_bytes_and_removes_what_was_created(project: Path) -> None:
    (project / "src" / "bytes.txt").write_bytes(b"\xff\xfe raw \r\n no final newline")
    (project / "docs").mkdir()
    (project / "docs" / "existing.md").write_text("keep\n")
    before = tree(project)
    plan = plan_writes(
        files(
            ("src/bytes.txt", "text\n"),
            ("src/app.py", "x = 100\n"),
            ("a/b/c/new.py", "new\n"),
            ("docs/added.md", "added\n"),
        ),
        project,
        force=True,
    )
    apply_plan(plan, project)
    assert tree(project) != before
    rollback(plan.changes, project)
    assert tree(project) == before


def test_rollback_keeps_directories_that_hold_other_files(project: Path) -> None:
    plan = plan_writes(files(("pkg/new.py", "n\n")), project)
    apply_plan(plan, project)
    (project / "pkg" / "user_file.txt").write_text("mine\n")
    rollback(plan.changes, project)
    assert not (project / "pkg" / "new.py").exists()
    assert (project / "pkg" / "user_file.txt").read_text() == "mine\n"


def test_rollback_refuses_paths_outside_the_root(project: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("keep\n")
    change = FileChange("../outside.txt", "modify", b"old\n", b"keep\n")
    with pytest.raises(WriteFailed, match=r"rollback could not restore: \.\./outside\.txt"):
        rollback([change], project)
    assert outside.read_text() == "keep\n"


# --------------------------------------------------------------------------- dry run


def test_render_diff_shows_changes_refusals_and_failures(project: Path) -> None:
    (project / "tail.txt").write_bytes(b"no newline")
    answer = ParsedAnswer(
        files=(FileBlock("src/new.py", "n = 1\n"), FileBlock("../x.py", "x\n")),
        edits=(
            EditBlock("src/app.py", "y = 2\n", "y = 3\n"),
            EditBlock("src/app.py", "missing\n", "z\n"),
            EditBlock("tail.txt", "no newline\n", "with newline\n"),
        ),
    )
    plan = plan_writes(answer, project, modifiable=("src/app.py", "tail.txt"))
    before = tree(project)
    diff = render_diff(plan, "project")
    assert tree(project) == before
    assert diff.splitlines() == [
        "--- /dev/null",
        "+++ b/project/src/new.py",
        "@@ -0,0 +1 @@",
        "+n = 1",
        "--- a/project/src/app.py",
        "+++ b/project/src/app.py",
        "@@ -1,2 +1,2 @@",
        " x = 1",
        "-y = 2",
        "+y = 3",
        "--- a/project/tail.txt",
        "+++ b/project/tail.txt",
        "@@ -1 +1 @@",
        "-no newline",
        "\\ No newline at end of file",
        "+with newline",
        "refused: ../x.py: '..' or a name made only of dots: the path must stay inside the project",
        "failed: src/app.py: SEARCH/REPLACE block 2 matches 0 times; the SEARCH text must match "
        "the current file exactly once (copy the exact current lines, whitespace included)",
    ]


def test_render_diff_without_label_and_empty_plan() -> None:
    plan = WritePlan(changes=(FileChange("a.py", "create", None, b"a\n"),))
    assert render_diff(plan).splitlines()[:2] == ["--- /dev/null", "+++ b/a.py"]
    assert render_diff(WritePlan()) == ""


def test_placeholder_paths_copied_from_the_prompt_are_refused(tmp_path: Path) -> None:
    parsed = ParsedAnswer(files=(FileBlock("path/to/models/project.py", "x = 1\n"),))
    plan = plan_writes(parsed, tmp_path)
    assert not plan.changes
    assert "placeholder" in plan.refusals[0].reason


# --------------------------------------------------------------------------- shadowing


@pytest.mark.parametrize(
    "path", ["pytest.py", "ruff.py", "unittest.py", "mypy/__init__.py", "src/json.py", "black.py"]
)
def test_a_new_top_level_module_named_like_a_tool_is_refused(project: Path, path: str) -> None:
    names = verify_tool_names(project)
    plan = plan_writes(files((path, "raise SystemExit(0)\n")), project, tool_names=names)
    assert plan.changes == ()
    assert "would replace the tool or standard-library module" in plan.refusals[0].reason
    allowed = plan_writes(files((path, "x = 1\n")), project, tool_names=names, allow=(path,))
    assert [change.path for change in allowed.changes] == [path]


def test_tool_names_are_derived_not_hand_picked(project: Path) -> None:
    names = verify_tool_names(project)
    assert {"unittest", "json", "pytest", "ruff", "mypy", "black"} <= names
    assert names >= set(sys.stdlib_module_names) - {"test"}
    # Ordinary folder names of a project's own code are never a tool's name.
    assert not {"app", "tests", "src"} & names
    # Deeper modules, and the project's own packages, are not shadowing anything.
    plan = plan_writes(
        files(("app/json.py", "x = 1\n"), ("app/__init__.py", ""), ("tests/test_x.py", "")),
        project,
        tool_names=names,
    )
    assert plan.refusals == ()


def test_tool_names_include_what_the_project_venv_installs(project: Path) -> None:
    site = project / ".venv" / "lib" / "python3.11" / "site-packages"
    (site / "fancytool-1.0.dist-info").mkdir(parents=True)
    (project / ".venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (site / "fancytool-1.0.dist-info" / "top_level.txt").write_text("fancytool\n")
    (site / "fancytool-1.0.dist-info" / "entry_points.txt").write_text(
        "[console_scripts]\nfancy-check = fancytool.cli:main\n"
    )
    (site / "recorded-2.0.dist-info").mkdir()
    (site / "recorded-2.0.dist-info" / "RECORD").write_text(
        "recorded/__init__.py,,\nrecorded_single.py,,\nrecorded-2.0.dist-info/METADATA,,\n"
    )
    names = verify_tool_names(project)
    assert {"fancytool", "fancy_check", "recorded", "recorded_single"} <= names


def test_a_package_shadowing_an_existing_module_needs_force(project: Path) -> None:
    (project / "src" / "service.py").write_text("def real(): ...\n")
    (project / "src" / "pkg").mkdir()
    (project / "src" / "pkg" / "__init__.py").write_text("")
    answer = files(("src/service/__init__.py", "def fake(): ...\n"), ("src/pkg.py", "x = 1\n"))
    plan = plan_writes(answer, project)
    assert plan.changes == ()
    assert [refusal.path for refusal in plan.refusals] == ["src/service/__init__.py", "src/pkg.py"]
    assert "would shadow the existing src/service.py" in plan.refusals[0].reason
    assert "would shadow the existing src/pkg/__init__.py" in plan.refusals[1].reason
    assert len(plan_writes(answer, project, force=True).changes) == 2
