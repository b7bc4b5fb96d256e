"""parse_answer: the requested format, the variants models produce, and broken answers."""

from __future__ import annotations

import pytest

from route.prompting.parse import complete_answer, parse_answer, path_from_line
from route.values import EditBlock, FileBlock


def files_of(text: str) -> list[tuple[str, str]]:
    return [(block.path, block.content) for block in parse_answer(text).files]


# --------------------------------------------------------------------------- the asked format


def test_path_line_then_fence_is_a_whole_file() -> None:
    answer = "src/app/models.py\n```python\nclass Project:\n    pass\n```\n"
    parsed = parse_answer(answer)
    assert parsed.files == (FileBlock("src/app/models.py", "class Project:\n    pass\n"),)
    assert parsed.edits == ()
    assert parsed.problems == ()


def test_several_files_keep_answer_order_and_prose_is_dropped() -> None:
    answer = (
        "Sure! Here's the code you asked for.\n\n"
        "src/b.py\n```python\nb = 2\n```\n\n"
        "And now the first one, which the second imports:\n\n"
        "src/a.py\n```python\na = 1\n```\n"
        "Let me know if you need anything else!\n"
    )
    assert files_of(answer) == [("src/b.py", "b = 2\n"), ("src/a.py", "a = 1\n")]
    assert parse_answer(answer).problems == ()


def test_code_inside_the_block_is_kept_byte_for_byte() -> None:
    body = "def f():\n\n    return '  x  '\t# tab\n\n\n"
    answer = f"x.py\n```python\n{body}```\n"
    assert files_of(answer) == [("x.py", body)]


def test_empty_block_is_an_empty_file() -> None:
    assert files_of("pkg/__init__.py\n```python\n```\n") == [("pkg/__init__.py", "")]


@pytest.mark.parametrize(
    "path_line",
    [
        "`src/app/x.py`",
        "### src/app/x.py",
        "## `src/app/x.py`",
        "**src/app/x.py**",
        "**`src/app/x.py`**",
        "src/app/x.py:",
        "`src/app/x.py`:",
        "File: src/app/x.py",
        "file: `src/app/x.py`",
        "**File:** `src/app/x.py`",
        "Filename: src/app/x.py",
        "### File: src/app/x.py",
        "- src/app/x.py",
        "* `src/app/x.py`",
        "1. src/app/x.py",
        "  src/app/x.py  ",
    ],
)
def test_decorated_path_lines(path_line: str) -> None:
    answer = f"Some intro.\n\n{path_line}\n```python\nx = 1\n```\n"
    assert files_of(answer) == [("src/app/x.py", "x = 1\n")]


@pytest.mark.parametrize(
    ("info", "expected"),
    [
        ("python src/app/x.py", "src/app/x.py"),
        ("src/app/x.py", "src/app/x.py"),
        ("python:src/app/x.py", "src/app/x.py"),
        ('python title="src/app/x.py"', "src/app/x.py"),
        ("python filename=src/app/x.py", "src/app/x.py"),
        ("py x.py", "x.py"),
    ],
)
def test_path_in_the_info_string(info: str, expected: str) -> None:
    answer = f"Here you go:\n```{info}\nx = 1\n```\n"
    assert files_of(answer) == [(expected, "x = 1\n")]


def test_info_string_path_wins_over_a_prose_path() -> None:
    answer = "Update `config.json` accordingly.\n```python src/real.py\nx = 1\n```\n"
    assert files_of(answer) == [("src/real.py", "x = 1\n")]


@pytest.mark.parametrize(
    ("first_line", "language", "path"),
    [
        ("# file: src/m.py", "python", "src/m.py"),
        ("#File: src/m.py", "python", "src/m.py"),
        ("// file: web/app.js", "js", "web/app.js"),
        ("<!-- file: site/index.html -->", "html", "site/index.html"),
        ("/* file: lib/x.c */", "c", "lib/x.c"),
        ("-- file: db/001_init.sql", "sql", "db/001_init.sql"),
    ],
)
def test_labelled_first_line_names_the_file_and_is_removed(
    first_line: str, language: str, path: str
) -> None:
    answer = f"```{language}\n{first_line}\nbody line\n```\n"
    assert files_of(answer) == [(path, "body line\n")]


def test_plain_path_comment_names_a_pathless_block_and_is_removed() -> None:
    answer = "```python\n# src/app/service.py\nimport os\n```\n"
    assert files_of(answer) == [("src/app/service.py", "import os\n")]


def test_plain_comment_naming_another_path_stays_in_the_code() -> None:
    answer = "src/app/real.py\n```python\n# see src/other.py\n# util/helpers.py\nx = 1\n```\n"
    assert files_of(answer) == [
        ("src/app/real.py", "# see src/other.py\n# util/helpers.py\nx = 1\n")
    ]


def test_labelled_marker_is_removed_even_when_the_path_line_named_the_file() -> None:
    answer = "src/a.py\n```python\n# file: src/a.py\nimport os\n```\n"
    assert files_of(answer) == [("src/a.py", "import os\n")]


def test_shebang_is_code_not_a_path() -> None:
    answer = "bin/run.sh\n```bash\n#!/bin/sh\necho hi\n```\n"
    assert files_of(answer) == [("bin/run.sh", "#!/bin/sh\necho hi\n")]


def test_backticked_path_in_the_sentence_before_the_fence() -> None:
    answer = "Here is the updated `src/models.py`:\n```python\nx = 1\n```\n"
    assert files_of(answer) == [("src/models.py", "x = 1\n")]


def test_backticked_identifier_in_a_sentence_is_not_a_path() -> None:
    answer = "You can call `requests.get` like this:\n```python\nrequests.get(url)\n```\n"
    parsed = parse_answer(answer)
    assert parsed.files == ()
    assert parsed.problems == (
        "code block without a file path near line 2: put the relative path on the line "
        "before the fence",
    )


def test_path_line_may_sit_above_one_prose_line() -> None:
    answer = "### src/a.py\nThis module holds the model.\n```python\nx = 1\n```\n"
    assert files_of(answer) == [("src/a.py", "x = 1\n")]


def test_path_of_a_previous_block_does_not_leak_into_the_next() -> None:
    answer = "src/a.py\n```python\na\n```\nAnd a usage example:\n```python\na()\n```\n"
    parsed = parse_answer(answer)
    assert [block.path for block in parsed.files] == ["src/a.py"]
    assert len(parsed.problems) == 1
    assert "near line 6" in parsed.problems[0]


# --------------------------------------------------------------------------- prose is not a path


@pytest.mark.parametrize(
    "line",
    [
        "Here is the code:",
        "Note: this is important",
        "Example:",
        "### Usage",
        "**Explanation**",
        "e.g.",
        "Version 1.2",
        "1.2",
        "https://example.com/x.py",
        "src/",
        "Python",
    ],
)
def test_prose_lines_are_not_paths(line: str) -> None:
    assert path_from_line(line) is None


def test_backticked_extensionless_name_counts_but_bare_word_does_not() -> None:
    assert path_from_line("Usage") is None
    candidate = path_from_line("File: VERSION")
    assert candidate is not None
    assert candidate.path == "VERSION"


@pytest.mark.parametrize("line", ["Makefile", "### Dockerfile", "`Makefile`", "**Procfile**"])
def test_well_known_extensionless_names_are_paths(line: str) -> None:
    candidate = path_from_line(line)
    assert candidate is not None
    assert candidate.path == line.strip("#*` ")


@pytest.mark.parametrize("line", ["__init__.py", "src/pkg/__init__.py", "_config.yml"])
def test_underscores_are_not_emphasis(line: str) -> None:
    candidate = path_from_line(line)
    assert candidate is not None
    assert candidate.path == line


def test_tiny_model_style_answer() -> None:
    answer = (
        "Sure! Here's the code:\n\n"
        "```python\nprint('no path here')\n```\n\n"
        "Here is the service:\n\n"
        "**app/services/projects.py**\n\n"
        "```python\nclass ProjectService:\n    ...\n```\n\n"
        "### Explanation\n\n"
        "The service wraps the repository. Run it with:\n\n"
        "```bash\npython -m app\n```\n\n"
        "I hope this helps! Let me know if you have questions.\n"
    )
    parsed = parse_answer(answer)
    assert parsed.files == (
        FileBlock("app/services/projects.py", "class ProjectService:\n    ...\n"),
    )
    assert len(parsed.problems) == 2
    assert all(problem.startswith("code block without a file path") for problem in parsed.problems)


# ------------------------------------------------------------------ hostile paths pass through


@pytest.mark.parametrize(
    "path", ["../../etc/passwd", "/etc/passwd", "C:\\Windows\\x.py", "~/.bashrc", ".git/config"]
)
def test_parser_keeps_hostile_paths_for_the_writer_to_refuse(path: str) -> None:
    assert files_of(f"{path}\n```\nx\n```\n") == [(path, "x\n")]


# --------------------------------------------------------------------------- fences


def test_nested_fence_inside_a_longer_fence_is_content() -> None:
    answer = "README.md\n````markdown\n# Title\n```\nmake test\n```\n````\n"
    assert files_of(answer) == [("README.md", "# Title\n```\nmake test\n```\n")]


def test_nested_fence_with_info_string_inside_a_same_length_fence_is_content() -> None:
    answer = "docs/usage.md\n```markdown\nRun:\n```bash\nmake test\n```\nDone.\n```\nAfter.\n"
    assert files_of(answer) == [("docs/usage.md", "Run:\n```bash\nmake test\n```\nDone.\n")]


def test_tilde_fence_is_not_closed_by_backticks() -> None:
    answer = "notes.md\n~~~\n```\ncode\n```\n~~~\n"
    assert files_of(answer) == [("notes.md", "```\ncode\n```\n")]


def test_closing_fence_may_be_longer_but_not_shorter() -> None:
    assert files_of("a.txt\n````\nx\n```\ny\n`````\n") == [("a.txt", "x\n```\ny\n")]


def test_backticks_in_the_info_string_are_not_a_fence() -> None:
    answer = "```not a fence``` text\na.py\n```python\nx\n```\n"
    assert files_of(answer) == [("a.py", "x\n")]


def test_unterminated_block_is_a_problem_and_not_a_file() -> None:
    answer = "src/a.py\n```python\na = 1\n```\nsrc/b.py\n```python\nb = 2\n"
    parsed = parse_answer(answer)
    assert parsed.files == (FileBlock("src/a.py", "a = 1\n"),)
    assert parsed.problems == (
        "unterminated code block starting at line 6 (the answer may have been cut off); "
        "it was not used",
    )


def test_cut_off_answer_inside_a_nested_block_uses_nothing_of_it() -> None:
    answer = "README.md\n```markdown\n# T\n```bash\nmake\n```\nmore text"
    parsed = parse_answer(answer)
    assert parsed.files == ()
    assert parsed.problems[0].startswith("unterminated code block starting at line 2")


def test_answer_wrapped_in_an_outer_markdown_fence() -> None:
    answer = "```markdown\nsrc/a.py\n```python\na = 1\n```\n\nsrc/b.py\n```python\nb\n```\n```\n"
    assert files_of(answer) == [("src/a.py", "a = 1\n"), ("src/b.py", "b\n")]


def test_crlf_answer_gives_lf_content() -> None:
    answer = "Intro\r\nsrc/a.py\r\n```python\r\nx = 1\r\ny = 2\r\n```\r\n"
    assert files_of(answer) == [("src/a.py", "x = 1\ny = 2\n")]


def test_indented_fence_up_to_three_spaces() -> None:
    assert files_of("a.py\n   ```python\nx\n   ```\n") == [("a.py", "x\n")]


def test_empty_answer_has_a_clear_problem() -> None:
    parsed = parse_answer("")
    assert parsed.empty
    assert parsed.problems == (
        "the answer holds no code block: give each file as a line with its relative path "
        "followed by a fenced code block",
    )


def test_prose_only_answer_is_empty_with_a_problem() -> None:
    parsed = parse_answer("I cannot do that, but here is some advice about src/a.py.")
    assert parsed.empty
    assert len(parsed.problems) == 1


# --------------------------------------------------------------------------- SEARCH/REPLACE


def test_fenced_search_replace_blocks() -> None:
    answer = (
        "I changed two places.\n\n"
        "src/app/service.py\n```python\n"
        "<<<<<<< SEARCH\ndef old():\n    pass\n=======\ndef new():\n    pass\n>>>>>>> REPLACE\n"
        "<<<<<<< SEARCH\nX = 1\n=======\nX = 2\n>>>>>>> REPLACE\n"
        "```\n"
    )
    parsed = parse_answer(answer)
    assert parsed.files == ()
    assert parsed.edits == (
        EditBlock("src/app/service.py", "def old():\n    pass\n", "def new():\n    pass\n"),
        EditBlock("src/app/service.py", "X = 1\n", "X = 2\n"),
    )
    assert parsed.problems == ()


def test_bare_search_replace_blocks_without_a_fence() -> None:
    answer = (
        "src/a.py\n<<<<<<< SEARCH\nold\n=======\nnew\n>>>>>>> REPLACE\n\n"
        "<<<<<<< SEARCH\nold2\n=======\n>>>>>>> REPLACE\n"
        "src/b.py\n<<<<<<< SEARCH\n=======\ncreated\n>>>>>>> REPLACE\n"
    )
    assert parse_answer(answer).edits == (
        EditBlock("src/a.py", "old\n", "new\n"),
        EditBlock("src/a.py", "old2\n", ""),
        EditBlock("src/b.py", "", "created\n"),
    )


def test_path_line_inside_the_fence_before_the_block() -> None:
    answer = "```python\nsrc/a.py\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE\n```\n"
    assert parse_answer(answer).edits == (EditBlock("src/a.py", "a\n", "b\n"),)


def test_fences_inside_a_search_replace_block_are_content() -> None:
    answer = (
        "README.md\n```markdown\n<<<<<<< SEARCH\n```\nold\n```\n=======\n```\nnew\n```\n"
        ">>>>>>> REPLACE\n```\n"
    )
    assert parse_answer(answer).edits == (
        EditBlock("README.md", "```\nold\n```\n", "```\nnew\n```\n"),
    )


def test_edit_fences_reuse_the_previous_edit_path() -> None:
    block = "```python\n<<<<<<< SEARCH\n{0}\n=======\n{1}\n>>>>>>> REPLACE\n```\n"
    answer = "src/a.py\n" + block.format("a", "b") + "\n" + block.format("c", "d")
    assert [edit.path for edit in parse_answer(answer).edits] == ["src/a.py", "src/a.py"]


def test_search_replace_without_any_path_is_a_problem() -> None:
    parsed = parse_answer("Change this:\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE\n")
    assert parsed.edits == ()
    assert parsed.problems == (
        "SEARCH/REPLACE block without a file path near line 2: put the relative path on the "
        "line before it",
    )


def test_unterminated_search_replace_is_a_problem() -> None:
    parsed = parse_answer("src/a.py\n<<<<<<< SEARCH\na\n=======\nb\n")
    assert parsed.edits == ()
    assert parsed.problems[0].startswith("unterminated SEARCH/REPLACE block starting at line 2")


def test_text_outside_search_replace_blocks_is_reported() -> None:
    answer = (
        "src/a.py\n```python\nstray code\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE\n```\n"
    )
    parsed = parse_answer(answer)
    assert parsed.edits == (EditBlock("src/a.py", "a\n", "b\n"),)
    assert parsed.problems == (
        "text outside the SEARCH/REPLACE blocks of the code block at line 2 was ignored",
    )


def test_files_and_edits_in_one_answer() -> None:
    answer = (
        "src/new.py\n```python\nn = 1\n```\n"
        "src/old.py\n```python\n<<<<<<< SEARCH\no = 1\n=======\no = 2\n>>>>>>> REPLACE\n```\n"
    )
    parsed = parse_answer(answer)
    assert parsed.files == (FileBlock("src/new.py", "n = 1\n"),)
    assert parsed.edits == (EditBlock("src/old.py", "o = 1\n", "o = 2\n"),)


# --------------------------------------------------------------------------- size


def test_two_megabyte_answer_completes() -> None:
    block = "src/pkg/module_{0}.py\n```python\n" + ("x = '" + "a" * 180 + "'\n") * 40 + "```\n"
    answer = "Intro\n" + "".join(block.format(number) for number in range(250))
    answer += "#" * 200_000 + "\n" + " " * 300_000 + "x\n" + "```\n" + "<<<<<<< SEARCH\n" * 1000
    assert len(answer) > 2_000_000
    parsed = parse_answer(answer)
    assert len(parsed.files) == 250
    assert parsed.files[-1].path == "src/pkg/module_249.py"
    assert parsed.problems[-1].startswith("unterminated code block")


# --------------------------------------------------------------------------- prefilled answers

PREFILL = "tests/test_service.py\n```python\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # llama-server returns the prefill with its continuation
        (PREFILL + "def test_x():\n    pass\n```\n", PREFILL + "def test_x():\n    pass\n```\n"),
        # Ollama returns the continuation only
        ("def test_x():\n    pass\n```\n", PREFILL + "def test_x():\n    pass\n```\n"),
        # a continuation of a Markdown file whose first fence is not after a path line
        ("# Notes\n\n```python\nx = 1\n```\n", PREFILL + "# Notes\n\n```python\nx = 1\n```\n"),
        # a server that ignored the prefill: the model's own answer, for another file
        (
            "Here:\n\napp/other.py\n```python\nX = 1\n```\n",
            "Here:\n\napp/other.py\n```python\nX = 1\n```\n",
        ),
        # an answer cut before any fence is still a continuation
        ("def test_x(", PREFILL + "def test_x("),
    ],
)
def test_complete_answer_gives_one_answer_whatever_the_server_returned(
    text: str, expected: str
) -> None:
    assert complete_answer(PREFILL, text) == expected


def test_a_completed_continuation_parses_to_the_target_file() -> None:
    parsed = parse_answer(complete_answer(PREFILL, "def test_x():\n    pass\n```\n"))
    assert parsed.files == (FileBlock("tests/test_service.py", "def test_x():\n    pass\n"),)
