"""The focused round's prompt: one numbered file, its located errors, what it imports."""

from __future__ import annotations

from pathlib import Path

from route.prompting.locations import Location
from route.repair.focused import (
    build_focused_messages,
    failing_file,
    focused_prefill,
    project_imports,
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
    assert "tests/test_p.py\n```python\n<<<<<<< SEARCH\n" in user.content
    again = build_focused_messages(
        path="tests/test_p.py",
        text="import pytest\n\ndef test_a():\n    assert service.get(1)\n",
        errors="tests/test_p.py:4:12: F821 Undefined name `service`",
        imports=[ContextFile("app/services/p.py", "class PService: ...\n")],
    )
    assert again == (system, user)  # deterministic


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
