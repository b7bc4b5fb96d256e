"""The focused round's prompt: one numbered file, its located errors, what it imports."""

from __future__ import annotations

from pathlib import Path

from route.prompting.locations import Location
from route.prompting.parse import close_open_edit, complete_answer, parse_answer
from route.repair.focused import (
    MAX_SPAN_LINES,
    MAX_TASK_CHARACTERS,
    build_focused_messages,
    failing_file,
    focused_prefill,
    focused_span,
    project_imports,
    span_text,
)
from route.values import ContextFile


def test_the_failing_file_is_the_first_located_then_a_target_then_a_written_one() -> None:
    located = [Location("tests/test_b.py", 3, None, "E"), Location("app/a.py", 1, None, "E")]
    assert failing_file(located, ["app/a.py"], ["x.py"]) == "tests/test_b.py"
    assert failing_file([], ["app/a.py"], ["x.py"]) == "app/a.py"
    assert failing_file([], [], ["x.py"]) == "x.py"
    assert failing_file([], [], []) is None


def test_messages_show_the_numbered_file_errors_and_imports() -> None:
    system, user = build_focused_messages(
        path="tests/test_p.py",
        text="import pytest\n\ndef test_a():\n    assert service.get(1)\n",
        errors="tests/test_p.py:4:12: F821 Undefined name `service`",
        imports=[ContextFile("app/services/p.py", "class PService: ...\n")],
    )
    assert system.role == "system"
    assert "SEARCH/REPLACE" in system.content
    assert "```python\n1 | import pytest\n2 | \n3 | def test_a():\n4 |     assert" in user.content
    assert "F821 Undefined name `service`" in user.content
    assert "# Project files it imports\n\n`app/services/p.py`:\n```python\nclass PService" in (
        user.content
    )
    assert user.content.rstrip().endswith("or that the imported files define.")
    assert "`<<<<<<< SEARCH`, lines copied from the file exactly" in user.content
    assert "exact existing lines" not in user.content  # no example text a model could copy
    again = build_focused_messages(
        path="tests/test_p.py",
        text="import pytest\n\ndef test_a():\n    assert service.get(1)\n",
        errors="tests/test_p.py:4:12: F821 Undefined name `service`",
        imports=[ContextFile("app/services/p.py", "class PService: ...\n")],
    )
    assert again == (system, user)  # deterministic


def test_the_task_comes_first_cut_to_its_limit() -> None:
    _, user = build_focused_messages(
        path="a.py", text="x = 1\n", errors="", imports=[], task="  slugify titles  "
    )
    assert user.content.startswith("# The task the file is for\n\nslugify titles\n\n# The file")
    _, long = build_focused_messages(
        path="a.py", text="x = 1\n", errors="", imports=[], task="t" * (MAX_TASK_CHARACTERS + 50)
    )
    assert "t" * MAX_TASK_CHARACTERS + " […]\n\n# The file to fix" in long.content
    _, none = build_focused_messages(path="a.py", text="x = 1\n", errors="", imports=[])
    assert none.content.startswith("# The file to fix")


def test_imports_beyond_the_limit_are_named_only() -> None:
    _, user = build_focused_messages(
        path="a.py",
        text="x = 1\n",
        errors="",
        imports=[ContextFile("b.py", "b" * 50), ContextFile("c.py", "c" * 50)],
        max_import_characters=80,
    )
    assert "`b.py`:\n```python\nbbbb" in user.content
    assert "Also imported, not shown: `c.py`." in user.content
    assert "The checks failed without pointing to a line." in user.content


def test_prefill_opens_the_first_search_block() -> None:
    assert focused_prefill("web/a.ts") == "web/a.ts\n```typescript\n<<<<<<< SEARCH\n"


def test_prefill_with_a_span_holds_its_lines_and_the_divider() -> None:
    text = "a = 1\nb = 2\nc = 3\n"
    assert focused_prefill("x.py", text, (2, 3)) == (
        "x.py\n```python\n<<<<<<< SEARCH\nb = 2\nc = 3\n=======\n"
    )


def test_messages_with_a_span_say_which_lines_the_answer_rewrites() -> None:
    _, user = build_focused_messages(
        path="app/a.py", text="x = 1\ny = z\n", errors="app/a.py:2:5: F821", imports=[],
        span=(2, 2),
    )  # fmt: skip
    assert "lines 2 to 2 of the file exactly as they are now" in user.content
    assert "Continue it with the corrected version of lines 2 to 2" in user.content


SERVICE = '''"""Projects."""

import re


class ProjectService:
    """The service."""

    def __init__(self) -> None:
        self.items = []

    @staticmethod
    def slug(text: str) -> str:
        value = text.lower()
        return re.sub("x", "-", value)

    LIMIT = 10


def helper() -> int:
    return 1
'''


def test_a_python_span_is_the_method_holding_the_error_decorators_included() -> None:
    assert focused_span("app/s.py", SERVICE, [15]) == (12, 15)


def test_a_python_span_is_the_function_or_the_top_level_statement() -> None:
    assert focused_span("app/s.py", SERVICE, [21]) == (20, 21)
    assert focused_span("app/s.py", SERVICE, [3]) == (3, 3)
    assert focused_span("app/s.py", SERVICE, [17]) == (17, 17)  # a class attribute


def test_an_undefined_name_brings_the_imports_into_the_span() -> None:
    # SERVICE's only import is line 3; the error is in helper (lines 20-21).
    assert focused_span("app/s.py", SERVICE, [21], with_imports=True) == (3, 21)
    assert focused_span("app/s.py", SERVICE, [21], with_imports=False) == (20, 21)
    assert focused_span("web/a.ts", "import x from './x';\nconst a = b;\n", [2],
                        with_imports=True) == (1, 2)  # fmt: skip
    no_imports = "def f():\n    return g()\n"
    assert focused_span("a.py", no_imports, [2], with_imports=True) == (1, 2)


def test_several_errors_give_one_span_from_the_first_to_the_last() -> None:
    assert focused_span("app/s.py", SERVICE, [21, 10]) == (9, 21)


def test_without_a_location_the_span_is_the_whole_file() -> None:
    assert focused_span("app/s.py", SERVICE, []) == (1, 21)
    assert focused_span("app/s.py", "", []) is None


def test_outside_python_the_span_is_a_window_around_the_line() -> None:
    text = "".join(f"const v{n} = {n};\n" for n in range(1, 31))
    assert focused_span("web/a.ts", text, [10]) == (6, 14)
    assert focused_span("web/a.ts", text, [1]) == (1, 5)


def test_python_that_does_not_parse_gets_a_window() -> None:
    text = "".join(f"x{n} = {n}\n" for n in range(1, 21)) + "def broken(:\n"
    assert focused_span("a.py", text, [21]) == (17, 21)


def test_a_span_is_widened_until_its_text_is_unique() -> None:
    text = "x = 1\ny = 2\n" + "pass\n" * 12 + "x = 1\nz = 3\n"
    span = focused_span("a.txt", text, [8])
    assert span is not None
    assert text.count(span_text(text, span)) == 1


def test_a_span_longer_than_the_limit_falls_back_to_the_first_error() -> None:
    body = "".join(f"    v{n} = {n}\n" for n in range(MAX_SPAN_LINES - 1))
    text = f"def a():\n{body}\n\ndef b():\n    return 1\n"
    lines = len(text.splitlines())
    assert focused_span("a.py", text, [lines, 2]) == (1, MAX_SPAN_LINES)
    assert focused_span("a.py", text, [lines]) == (lines - 1, lines)


def test_the_prefilled_answer_and_its_continuation_parse_into_one_edit() -> None:
    prefill = focused_prefill("app/s.py", SERVICE, (20, 21))
    continuation = "def helper() -> int:\n    return 2\n>>>>>>> REPLACE\n```\n"
    parsed = parse_answer(complete_answer(prefill, continuation))
    assert [(e.path, e.search, e.replace) for e in parsed.edits] == [
        ("app/s.py", "def helper() -> int:\n    return 1\n", "def helper() -> int:\n    return 2\n")
    ]


def test_a_missing_replace_marker_is_put_back_before_the_closing_fence() -> None:
    prefill = focused_prefill("app/s.py", SERVICE, (20, 21))
    answer = complete_answer(prefill, "def helper() -> int:\n    return 2\n```\n")
    assert parse_answer(answer).edits == ()
    fixed = close_open_edit(answer)
    assert fixed.endswith("    return 2\n>>>>>>> REPLACE\n```\n")
    assert [e.replace for e in parse_answer(fixed).edits] == [
        "def helper() -> int:\n    return 2\n"
    ]


def test_an_empty_replacement_is_not_turned_into_a_deletion() -> None:
    # Seen with Qwen2.5-Coder-1.5B: the continuation was the closing fence alone.
    prefill = focused_prefill("app/s.py", SERVICE, (1, 21))
    answer = complete_answer(prefill, "```\n")
    assert close_open_edit(answer) == answer
    assert parse_answer(close_open_edit(answer)).edits == ()
    blank = complete_answer(prefill, "\n\n```\n")
    assert parse_answer(close_open_edit(blank)).edits == ()


def test_a_terminated_or_cut_answer_is_left_as_it_is() -> None:
    whole = "a.py\n```python\n<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n```\n"
    assert close_open_edit(whole) == whole
    cut = "a.py\n```python\n<<<<<<< SEARCH\nx\n=======\ny\n"
    assert close_open_edit(cut) == cut
    assert close_open_edit("no blocks at all\n") == "no blocks at all\n"


def test_python_imports_resolve_to_project_files(tmp_path: Path) -> None:
    for path in ("app/models/user.py", "app/services/__init__.py", "app/services/util.py",
                 "src/lib/core.py"):  # fmt: skip
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("")
    text = (
        "import os\nimport lib.core\nfrom app.models.user import User\n"
        "from . import util\nfrom .missing import x\nfrom ....too_far import y\n"
    )
    assert project_imports("app/services/s.py", text, tmp_path) == (
        "src/lib/core.py",
        "app/models/user.py",
        "app/services/__init__.py",
        "app/services/util.py",
    )
    assert project_imports("app/broken.py", "def (:", tmp_path) == ()
    assert project_imports("README.md", "x", tmp_path) == ()


def test_script_imports_resolve_relative_paths(tmp_path: Path) -> None:
    (tmp_path / "web" / "lib").mkdir(parents=True)
    (tmp_path / "web" / "api.ts").write_text("")
    (tmp_path / "web" / "lib" / "index.ts").write_text("")
    text = (
        "import { get } from './api.js';\nimport x from 'react';\n"
        "export * from './lib';\nimport y from '../../outside';\n"
    )
    assert project_imports("web/app.ts", text, tmp_path) == ("web/api.ts", "web/lib/index.ts")
