"""The name index: what the project defines, read with ast and tree-sitter, within a budget."""

from __future__ import annotations

from pathlib import Path

import pytest

from route.prompting.name_index import (
    ModuleNames,
    NameIndex,
    build_index,
    index_folders,
    project_folders,
    python_names,
    render_index,
    script_names,
    undefined_names,
    where_defined,
)

SERVICE = '''"""Users."""
from __future__ import annotations

import os

from app.models.user import User

MAX_USERS = 100
_private = 1
registry: dict[str, int] = {}


class UserService:
    def method(self) -> None: ...

    def _hidden(self) -> None: ...


def create_user(name, *tags, admin=False, **extra):
    return User(name)


async def fetch(user_id, /):
    return None


def _helper():
    return None
'''


def test_python_top_level_names_with_parameters() -> None:
    assert python_names(SERVICE.encode()) == [
        "MAX_USERS",
        "registry",
        "class UserService [method]",
        "def create_user(name, *tags, admin, **extra)",
        "def fetch(user_id)",
    ]


def test_all_limits_python_names_and_broken_code_gives_none() -> None:
    source = b"__all__ = ['b']\ndef a(): ...\ndef b(): ...\n"
    assert python_names(source) == ["def b()"]
    assert python_names(b"def broken(:\n") is None
    assert python_names(b"x = '\x00'") is None or python_names(b"x = 1\x00") is None


def test_javascript_and_typescript_exports_through_tree_sitter() -> None:
    source = (
        b"import x from './x';\n"
        b"export function fetchUser(id, { retries }) { return id; }\n"
        b"export const BASE_URL = '/api', other = 2;\n"
        b"export class Client {}\n"
        b"const hidden = 1;\n"
        b"export { hidden as visible };\n"
        b"export default Client;\n"
    )
    assert script_names(source, ".js") == [
        "function fetchUser(id, …)",
        "const BASE_URL",
        "const other",
        "class Client",
        "visible",
        "default",
    ]
    typescript = (
        b"export interface User { id: number }\n"
        b"export type Id = number;\n"
        b"export enum Role { Admin }\n"
        b"export function load(id: number): User { return { id }; }\n"
    )
    assert script_names(typescript, ".ts") == [
        "interface User",
        "type Id",
        "enum Role",
        "function load(id)",
    ]
    assert script_names(b"export function (", ".js") is None


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "app" / "services").mkdir(parents=True)
    (tmp_path / "app" / "models").mkdir()
    (tmp_path / "tests").mkdir()
    (tmp_path / "app" / "services" / "user_service.py").write_text(SERVICE)
    (tmp_path / "app" / "services" / "broken.py").write_text("def (:\n")
    (tmp_path / "app" / "models" / "user.py").write_text("class User:\n    pass\n")
    (tmp_path / "app" / "models" / "__init__.py").write_text("")
    (tmp_path / "tests" / "test_users.py").write_text("def test_a(): ...\n")
    (tmp_path / "tests" / "conftest.py").write_text("def service(): ...\n")
    return tmp_path


def test_folders_come_from_paths_then_from_skill_patterns(project: Path) -> None:
    skill = (
        "Services live in `app/services/<resource>_service.py`; models in `app/models/`; "
        "`../outside/x.py`, `/etc/passwd` and `docs/missing/x.md` are not indexed."
    )
    folders = index_folders(project, [skill], ["tests/test_projects.py", "app/models/user.py"])
    assert folders == ("tests", "app/models", "app/services")


def test_index_skips_tests_broken_files_and_the_given_paths(project: Path) -> None:
    index = build_index(project, ("app/services", "app/models", "tests"),
                        skip={"app/models/user.py"})  # fmt: skip
    assert [(m.path, m.module) for m in index.modules] == [
        ("app/services/user_service.py", "app.services.user_service"),
        ("tests/conftest.py", "tests.conftest"),
    ]


def test_render_within_the_budget(project: Path) -> None:
    index = build_index(project, ("app/services", "app/models"))
    full = render_index(index)
    assert full == (
        "- app.services.user_service (app/services/user_service.py): MAX_USERS, registry, "
        "class UserService [method], def create_user(name, *tags, admin, **extra), "
        "def fetch(user_id)\n"
        "- app.models.user (app/models/user.py): class User"
    )
    small = render_index(index, budget_tokens=55)
    assert small.splitlines()[-1] == "- (1 more module(s) not listed)"
    assert render_index(index, budget_tokens=1) == ""
    assert "user_service" not in render_index(index, leave_out={"app/services/user_service.py"})


def test_undefined_names_from_each_tool() -> None:
    messages = [
        "F821 Undefined name `service`",
        'error: Name "Projekt" is not defined [name-defined]',
        "NameError: name 'helper' is not defined",
        "error TS2304: Cannot find name 'fetchUser'.",
        "'BASE_URL' is not defined no-undef",
        "undefined: Foo",
        "error[E0425]: cannot find value `bar` in this scope",
        "ImportError: cannot import name 'UserServce' from 'app.services.user_service'",
        "F401 `os` imported but unused",
        "F821 Undefined name `service`",
    ]
    assert undefined_names(messages) == (
        "service", "Projekt", "helper", "fetchUser", "BASE_URL", "Foo", "bar", "UserServce",
    )  # fmt: skip


def test_where_defined_gives_the_import(project: Path) -> None:
    index = build_index(project, ("app/services", "app/models", "tests"))
    assert where_defined(index, ["UserService", "service", "nowhere"]) == (
        "- `UserService` is defined in `app/services/user_service.py` "
        "(`from app.services.user_service import UserService`).\n"
        "- `service` is defined in `tests/conftest.py` (a pytest fixture: take `service` as a "
        "parameter of the test).\n"
        "- `nowhere` is not defined in the project files route indexed: define it where it is "
        "used, or write the code without it."
    )
    assert where_defined(NameIndex(), []) == ""


def test_project_folders_go_down_shallow_first_without_hidden_or_environments(
    project: Path,
) -> None:
    (project / ".git" / "objects").mkdir(parents=True)
    (project / "node_modules" / "x").mkdir(parents=True)
    (project / "app" / "services" / "deep" / "er" / "est").mkdir(parents=True)
    assert project_folders(project, max_depth=3) == (
        ".", "app", "tests", "app/models", "app/services", "app/services/deep",
    )  # fmt: skip


def test_build_index_stops_at_max_files(project: Path) -> None:
    index = build_index(project, ("app/services", "app/models"), max_files=1)
    assert [module.path for module in index.modules] == ["app/services/user_service.py"]


def test_long_method_lists_are_cut_and_a_class_is_found_by_its_name() -> None:
    source = "class Big:\n" + "".join(f"    def m{n}(self): ...\n" for n in range(15))
    (entry,) = python_names(source.encode()) or []
    assert entry == "class Big [m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, …]"
    index = NameIndex((ModuleNames("big.py", "big", (entry,)),))
    assert index.defined_in("Big") == index.modules
