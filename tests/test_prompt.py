"""Prompt building: templates, byte-identical messages, context files, repair messages."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from route.errors import ContextFileError, UsageError
from route.prompting.prompt import (
    MAX_CONTEXT_FILE_BYTES,
    TEMPLATE_VERSION,
    answer_prefill,
    build_prompt,
    build_repair_message,
    fence_for,
    fenced,
    language_for,
    load_template,
    looks_like_secret,
    read_context_files,
    render_template,
    tail_text,
)
from route.prompting.skills import resolve_reference
from route.prompting.tokens import estimate_messages_tokens, estimate_tokens
from route.values import ContextFile, SkillExcerpt

SKILL = """\
# Scaffold

Ids are ints; braces {like} and $dollars stay as written.

## 1. Model

```python
@dataclass
class User: ...
```

## 3. Service Layer

Services raise NotFoundError.

## 5. Tests

Use pytest.
"""


@pytest.fixture
def skills_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "skills"
    (directory / "scaffold").mkdir(parents=True)
    (directory / "scaffold" / "SKILL.md").write_text(SKILL, encoding="utf-8")
    return directory


def excerpt(ref: str, skills_dir: Path) -> SkillExcerpt:
    return resolve_reference(ref, [skills_dir], skills_dir)


# --------------------------------------------------------------------------- build_prompt


def test_system_message_states_the_output_contract() -> None:
    prompt = build_prompt("write it", [], [], conventions="Line length 100.")
    system = prompt.messages[0]
    assert system.role == "system"
    assert "You write code files for an existing software project" in system.content
    assert "app/widgets/widget.py\n```python\n<the complete content of the file>\n```" in (
        system.content
    )
    assert "relative to the project root" in system.content
    assert system.content.endswith("Line length 100.")
    assert prompt.template_version == TEMPLATE_VERSION
    # Without project files there is nothing to edit: no SEARCH/REPLACE example to copy.
    assert "SEARCH" not in system.content


def test_edit_format_is_offered_only_with_project_files() -> None:
    context = [ContextFile("app/x.py", "X = 1\n")]
    system = build_prompt("change it", [], context).messages[0].content
    contract = "\n".join(
        [
            "```python",
            "<<<<<<< SEARCH",
            "exact existing lines",
            "=======",
            "replacement lines",
            ">>>>>>> REPLACE",
            "```",
        ]
    )
    assert contract in system
    assert "\n\nRules:" in system


def test_user_message_holds_task_skill_and_context(skills_dir: Path) -> None:
    context = (ContextFile(path="app/models/user.py", text="class User:\n    id: int\n"),)
    prompt = build_prompt("service for Projects", [excerpt("scaffold#3", skills_dir)], context)
    user = prompt.messages[1]
    assert user.role == "user"
    assert "# Task\n\nservice for Projects\n" in user.content
    assert "From skill `scaffold#3`:" in user.content
    assert "## 3. Service Layer" in user.content
    assert "## 5. Tests" not in user.content
    assert "Existing file `app/models/user.py`:\n```python\nclass User:\n    id: int\n```" in (
        user.content
    )
    # Existing files first, then the task and the conventions, and the task again at the end:
    # what the model reads last is what it is asked to write, not a file it could repeat.
    content = user.content
    assert content.index("# Existing project files") < content.index("# Task")
    assert content.index("# Task") < content.index("scaffold#3") < content.index("# Your answer")
    assert content.rstrip().endswith("then a fenced code block.")
    assert "The task again: service for Projects\n" in content


def test_existing_files_are_not_labelled_like_answer_blocks() -> None:
    """A path alone on its line followed by a fence is the answer format; context files must not
    look like it, or a small model continues the pattern by repeating the last file shown."""
    context = (ContextFile(path="app/models/user.py", text="x = 1\n"),)
    user = build_prompt("t", [], context).messages[1].content
    assert "\napp/models/user.py\n```" not in user
    assert not user.startswith("app/models/user.py\n")


def test_same_inputs_give_byte_identical_messages(skills_dir: Path) -> None:
    context = (
        ContextFile(path="a.py", text="x = 1\n"),
        ContextFile(path="b.md", text="# Title\n\n```\ncode\n```\n"),
    )

    def build() -> tuple[bytes, ...]:
        excerpts = [excerpt("scaffold#5,1", skills_dir), excerpt("scaffold#3", skills_dir)]
        prompt = build_prompt("task", excerpts, context, conventions="c")
        return tuple(message.content.encode("utf-8") for message in prompt.messages)

    assert build() == build()


def test_user_content_with_markers_braces_and_dollars_is_verbatim() -> None:
    task = "use {{skills}} and {{context}} and ${HOME} and {0} and $1"
    context = (ContextFile(path="t.txt", text="{{task}} {{conventions}} $x {y}"),)
    prompt = build_prompt(task, [], context, conventions="{{task}} $conventions")
    system, user = (message.content for message in prompt.messages)
    assert system.endswith("{{task}} $conventions")
    assert f"# Task\n\n{task}\n" in user
    assert "{{task}} {{conventions}} $x {y}" in user
    assert user.count("{{skills}}") == 2  # the task is shown twice, never expanded
    assert "No skill was cited" in user


def test_context_fence_is_longer_than_any_backtick_run() -> None:
    text = "Example:\n````python\nprint('hi')\n````\nand ``` inline\n"
    prompt = build_prompt("t", [], (ContextFile(path="README.md", text=text),))
    assert "`README.md`:\n`````markdown\n" + text + "`````" in prompt.messages[1].content


def test_skill_text_is_fenced_safely(skills_dir: Path) -> None:
    prompt = build_prompt("t", [excerpt("scaffold#1", skills_dir)], [])
    assert "````markdown\n# Scaffold" in prompt.messages[1].content


def test_same_skill_cited_twice_sends_preamble_once(skills_dir: Path) -> None:
    excerpts = [excerpt("scaffold#3", skills_dir), excerpt("scaffold#5", skills_dir)]
    user = build_prompt("t", excerpts, []).messages[1].content
    assert user.count("Ids are ints") == 1
    assert "From skill `scaffold#3, scaffold#5`:" in user
    assert user.index("## 3. Service Layer") < user.index("## 5. Tests")


def test_estimated_tokens_cover_every_message(skills_dir: Path) -> None:
    prompt = build_prompt("t", [excerpt("scaffold", skills_dir)], [])
    expected = estimate_messages_tokens([message.content for message in prompt.messages])
    assert prompt.estimated_tokens == expected
    assert prompt.characters == sum(len(message.content) for message in prompt.messages)


def test_empty_conventions_and_no_context_files() -> None:
    prompt = build_prompt("  task  ", [], [])
    assert "None beyond the conventions given with the task." in prompt.messages[0].content
    assert "Existing project files" not in prompt.messages[1].content
    assert prompt.messages[1].content.startswith("# Task\n\ntask\n")


def test_empty_task_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="task is empty"):
        build_prompt("   \n", [], [])


# --------------------------------------------------------------------------- templates


def test_templates_have_the_markers_they_need() -> None:
    for name in ("system", "user", "repair"):
        assert "{{" in load_template(name)
        assert not load_template(name).endswith("\n")


def test_render_template_inserts_once_and_verbatim() -> None:
    rendered = render_template("A {{one}} B {{two}}", {"one": "{{two}}", "two": "$1 \\1"})
    assert rendered == "A {{two}} B $1 \\1"


def test_render_template_rejects_mismatched_markers() -> None:
    with pytest.raises(ValueError, match="do not match"):
        render_template("{{one}}", {"one": "x", "two": "y"})
    with pytest.raises(ValueError, match="do not match"):
        render_template("{{one}} {{two}}", {"one": "x"})


def test_fences_and_languages() -> None:
    assert fence_for("no backticks") == "```"
    assert fence_for("a ``` b ````` c") == "``````"
    assert fenced("x", "python") == "```python\nx\n```"
    assert fenced("x\n") == "```\nx\n```"
    assert fenced("") == "```\n```"
    assert language_for("app/models/user.py") == "python"
    assert language_for("Makefile") == "make"
    assert language_for("web/App.TSX") == "tsx"
    assert language_for("LICENSE") == ""


# --------------------------------------------------------------------------- repair


def test_repair_message_states_reason_output_and_written_files() -> None:
    message = build_repair_message(
        reason="verify failed (exit 2)",
        verify_command="make verify",
        verify_output="FAILED tests/test_x.py::test_y - AssertionError\n",
        written=["app/services/project_service.py", "tests/test_projects_service.py"],
    )
    assert message.role == "user"
    assert message.content.startswith("Your previous answer did not work: verify failed (exit 2)")
    assert "output of `make verify`" in message.content
    assert "FAILED tests/test_x.py::test_y - AssertionError" in message.content
    assert "- app/services/project_service.py\n- tests/test_projects_service.py" in message.content
    assert "SEARCH/REPLACE" in message.content
    assert "earlier characters" not in message.content


def test_repair_message_keeps_the_tail_within_the_token_bound() -> None:
    lines = [f"line {index:05d} of noisy output" for index in range(5000)]
    message = build_repair_message(
        reason="verify failed (exit 1)",
        verify_command="make verify",
        verify_output="\n".join(lines) + "\nE   assert 1 == 2\n",
        written=[],
        max_output_tokens=200,
    )
    content = message.content
    assert "E   assert 1 == 2" in content
    assert "line 00000" not in content
    assert "line 04999 of noisy output" in content
    assert "earlier characters of output cut" in content
    block = content.split("```\n", 1)[1].split("\n```", 1)[0]
    kept_lines = block.splitlines()[1:]
    assert all(line in lines or line == "E   assert 1 == 2" for line in kept_lines)
    assert estimate_tokens(block) <= 200 + 20
    assert "No files were written." in content


def test_repair_message_is_deterministic() -> None:
    arguments = {
        "reason": "no usable file blocks: unterminated code block after line 4",
        "verify_command": None,
        "verify_output": "",
        "written": ["a.py"],
    }
    first = build_repair_message(**arguments)  # type: ignore[arg-type]
    second = build_repair_message(**arguments)  # type: ignore[arg-type]
    assert first == second
    assert "No verify output is available." in first.content
    assert "unterminated code block after line 4" in first.content


def test_repair_message_without_output_and_with_colours() -> None:
    silent = build_repair_message(
        reason="verify failed (exit 2)", verify_command="make verify", verify_output="", written=[]
    )
    assert "`make verify` printed nothing." in silent.content
    coloured = build_repair_message(
        reason="r",
        verify_command="pytest",
        verify_output="\x1b[31mFAILED\x1b[0m test\r\nprogress\r",
        written=[],
    )
    assert "\x1b" not in coloured.content
    assert "\r" not in coloured.content
    assert "FAILED test\nprogress" in coloured.content


def test_repair_output_with_backticks_keeps_its_fence() -> None:
    message = build_repair_message(
        reason="r", verify_command="make verify", verify_output="```\nboom\n```", written=[]
    )
    assert "````\n```\nboom\n```\n````" in message.content


def test_tail_text_on_one_long_line() -> None:
    text = "x" * 1000
    tail = tail_text(text, 100)
    assert tail.endswith("x" * 100)
    assert tail.startswith("[… 900 earlier characters of output cut …]\n")
    assert tail_text("short", 100) == "short"


# --------------------------------------------------------------------------- context files


def make_project(root: Path) -> Path:
    files = {
        "app/models/user.py": "class User: ...\n",
        "app/models/task.py": "class Task: ...\n",
        "app/services/user_service.py": "class UserService: ...\n",
        "README.md": "# Readme\n",
        ".hidden/secret.py": "hidden = True\n",
    }
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_paths_and_globs_sorted_and_deduplicated(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p")
    files = read_context_files(
        ["app/**/*.py", "README.md", "app/models/user.py", "app/models/*.py"], root
    )
    assert [item.path for item in files] == [
        "README.md",
        "app/models/task.py",
        "app/models/user.py",
        "app/services/user_service.py",
    ]
    assert files[0].text == "# Readme\n"


def test_patterns_are_relative_to_cwd(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p")
    files = read_context_files(["*.py", "../services/user_service.py"], root, root / "app/models")
    assert [item.path for item in files] == [
        "app/models/task.py",
        "app/models/user.py",
        "app/services/user_service.py",
    ]


def test_absolute_path_inside_root(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p")
    files = read_context_files([str(root / "README.md")], root)
    assert [item.path for item in files] == ["README.md"]


def test_hidden_files_match_only_when_named(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p")
    assert ".hidden/secret.py" not in [f.path for f in read_context_files(["**/*.py"], root)]
    named = read_context_files([".hidden/*.py"], root)
    assert [item.path for item in named] == [".hidden/secret.py"]


@pytest.mark.parametrize("pattern", ["missing.py", "app/**/*.rs", "nothing/*"])
def test_pattern_matching_nothing(tmp_path: Path, pattern: str) -> None:
    root = make_project(tmp_path / "p")
    with pytest.raises(ContextFileError, match=pattern.replace("*", r"\*")):
        read_context_files([pattern], root)


def test_directory_is_refused_with_a_glob_hint(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p")
    with pytest.raises(ContextFileError, match=r"app/\*\*/\*\.py"):
        read_context_files(["app/"], root)


def test_files_outside_root_are_refused(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p")
    outside = tmp_path / "outside.py"
    outside.write_text("x = 1\n")
    (root / "link.py").symlink_to(outside)
    for pattern in ("../outside.py", str(outside), "link.py"):
        with pytest.raises(ContextFileError, match="outside the project root"):
            read_context_files([pattern], root)


@pytest.mark.parametrize(
    "name",
    [".env", ".env.local", "id_rsa", "id_ed25519.pub", "server.pem", "tls.key", "cert.p12",
     "credentials.json"],
)  # fmt: skip
def test_secret_looking_files_are_refused_unless_allowed(tmp_path: Path, name: str) -> None:
    root = tmp_path / "p"
    (root / "config").mkdir(parents=True)
    (root / "config" / name).write_text("TOKEN=1\n")
    relative = f"config/{name}"
    with pytest.raises(ContextFileError, match=f"--allow {relative}"):
        read_context_files([relative], root)
    glob_pattern = "config/.*" if name.startswith(".") else "config/*"
    with pytest.raises(ContextFileError, match="looks like a secret"):
        read_context_files([glob_pattern], root)
    allowed = read_context_files([relative], root, allow=[relative])
    assert allowed[0].text == "TOKEN=1\n"
    assert read_context_files([relative], root, allow=[str(root / relative)])[0].path == relative


def test_looks_like_secret() -> None:
    assert looks_like_secret("deploy/ID_RSA")
    assert not looks_like_secret("app/environment.py")
    assert not looks_like_secret("docs/keys.md")


def test_size_cap(tmp_path: Path) -> None:
    root = tmp_path / "p"
    root.mkdir()
    (root / "big.txt").write_text("x" * (MAX_CONTEXT_FILE_BYTES + 1))
    (root / "ok.txt").write_text("x" * MAX_CONTEXT_FILE_BYTES)
    with pytest.raises(ContextFileError, match=r"big\.txt.*limit"):
        read_context_files(["big.txt"], root)
    assert len(read_context_files(["ok.txt"], root)[0].text) == MAX_CONTEXT_FILE_BYTES


def test_non_utf8_and_binary_files(tmp_path: Path) -> None:
    root = tmp_path / "p"
    root.mkdir()
    (root / "latin.txt").write_bytes("café".encode("latin-1"))
    (root / "blob.bin").write_bytes(b"abc\x00def")
    with pytest.raises(ContextFileError, match=r"latin\.txt.*not UTF-8"):
        read_context_files(["latin.txt"], root)
    with pytest.raises(ContextFileError, match=r"blob\.bin.*binary"):
        read_context_files(["blob.bin"], root)


def test_special_file_is_refused_without_blocking(tmp_path: Path) -> None:
    root = tmp_path / "p"
    root.mkdir()
    os.mkfifo(root / "pipe.txt")
    with pytest.raises(ContextFileError, match=r"pipe\.txt.*not a regular file"):
        read_context_files(["pipe.txt"], root)
    with pytest.raises(ContextFileError, match="matches no file"):
        read_context_files(["*.txt"], root)


def test_empty_pattern(tmp_path: Path) -> None:
    with pytest.raises(ContextFileError, match="empty context path"):
        read_context_files([" "], tmp_path)


def test_system_message_never_shows_a_placeholder_path_to_copy() -> None:
    system = build_prompt("write it", [], []).messages[0].content
    example_lines = [line for line in system.splitlines() if line.startswith("path/to/")]
    assert example_lines == []


def test_targets_are_named_in_the_closing_instruction_and_prefilled() -> None:
    plain = build_prompt("tests for X", [], []).messages[1].content
    assert "Write the files this task needs now" in plain
    one = build_prompt("tests for X", [], [], targets=["tests/test_x.py"]).messages[1].content
    assert "Write `tests/test_x.py` now" in one
    assert one.replace("Write `tests/test_x.py` now", "") != plain  # the rest is unchanged
    two = build_prompt("X", [], [], targets=["a.py", "b/c.ts", "Makefile"]).messages[1].content
    assert "Write `a.py`, `b/c.ts` and `Makefile` now" in two
    assert answer_prefill("tests/test_x.py") == "tests/test_x.py\n```python\n"
    assert answer_prefill("docs/NOTES") == "docs/NOTES\n```\n"


def test_repair_message_shows_the_located_lines_between_output_and_files() -> None:
    located = "tests/test_x.py:2:5: F821 Undefined name `service`\n```\n>> 2 | service\n```"
    message = build_repair_message(
        reason="verify failed (exit 1)",
        verify_command="make verify",
        verify_output="tests/test_x.py:2:5: F821 Undefined name `service`\n",
        written=["tests/test_x.py"],
        located=located,
    )
    output_at = message.content.index("The last part of the output")
    located_at = message.content.index(located)
    written_at = message.content.index("Files on disk now")
    assert output_at < located_at < written_at
    without = build_repair_message(
        reason="verify failed (exit 1)",
        verify_command="make verify",
        verify_output="tests/test_x.py:2:5: F821 Undefined name `service`\n",
        written=["tests/test_x.py"],
    )
    assert without.content == message.content.replace(located + "\n\n", "")


def test_the_name_index_goes_before_the_task_only_when_given() -> None:
    plain = build_prompt("write it", [], [])
    with_names = build_prompt("write it", [], [], names="- app.models.user (x): class User")
    user = with_names.messages[1].content
    assert user.startswith("# Names the project defines\n")
    assert "- app.models.user (x): class User\n\n# Task" in user
    assert "Names the project defines" not in plain.messages[1].content
    assert with_names.messages[0] == plain.messages[0]


def test_the_context_section_closes_its_fence_before_the_task_heading() -> None:
    # Found while adding the name index: "```# Task" on one line is no closing fence, so the
    # whole rest of the prompt read as part of the last file shown.
    user = build_prompt("t", [], [ContextFile("a.py", "x = 1\n")]).messages[1].content
    assert "x = 1\n```\n\n# Task\n" in user
