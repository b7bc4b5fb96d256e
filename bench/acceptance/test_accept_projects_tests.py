"""Acceptance (hidden from the model): tests/test_projects_service.py of scaffold section 5
exists, tests the service, and covers the behaviours the section asks for."""

from __future__ import annotations

import ast
from pathlib import Path

TEST_FILE = Path(__file__).resolve().parent / "test_projects_service.py"


def test_the_file_has_enough_tests_of_the_service() -> None:
    tree = ast.parse(TEST_FILE.read_text(encoding="utf-8"))
    tests = [
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
    ]
    source = TEST_FILE.read_text(encoding="utf-8")

    assert len(tests) >= 4
    assert "ProjectService" in source
    assert "NotFoundError" in source
    assert "ValidationError" in source
