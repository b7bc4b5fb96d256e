"""The import step's choices: which undefined names route imports itself, from where, and where
the import line goes."""

from __future__ import annotations

from pathlib import Path

import pytest

from route.prompting.locations import Location
from route.prompting.name_index import ModuleNames, NameIndex
from route.repair.auto_import import AddedImport, import_texts, planned_imports, with_imports
from route.repair.rounds import NameLookup

INDEX = NameIndex(
    (
        ModuleNames("app/schemas/common.py", "app.schemas.common", ("def read_int(body)",)),
        ModuleNames("app/models/user.py", "app.models.user", ("class User", "MAX_USERS")),
        ModuleNames("app/models/legacy.py", "app.models.legacy", ("class User",)),
        ModuleNames("tests/conftest.py", "tests.conftest", ("def service()",)),
        ModuleNames("tests/helpers.py", "tests.helpers", ("def make_user()",)),
        ModuleNames("web/api.ts", "web/api", ("function fetchUser",)),
    )
)


def f821(path: str, line: int, name: str) -> Location:
    return Location(path, line, 5, f"F821 Undefined name `{name}`")


def test_a_name_one_module_defines_is_planned() -> None:
    text = '"""Schemas."""\n\nx = read_int(body)\n'
    planned = planned_imports([f821("app/a.py", 3, "read_int")], {"app/a.py": text}, INDEX)
    assert planned == (AddedImport("app/a.py", "app.schemas.common", "read_int"),)


def test_names_left_to_the_model() -> None:
    text = "from app.models.user import Userr\n\nx = User\ny = service\nz = make_user()\nw = nope\n"
    locations = [
        f821("app/a.py", 3, "User"),  # two modules define it
        f821("app/a.py", 4, "service"),  # a fixture
        f821("app/a.py", 5, "make_user"),  # only a test helper defines it
        f821("app/a.py", 6, "nope"),  # defined nowhere
        Location("app/a.py", 1, None, "ImportError: cannot import name 'Userr'"),
    ]
    assert planned_imports(locations, {"app/a.py": text}, INDEX) == ()


def test_a_module_an_import_cannot_spell_is_left_alone() -> None:
    index = NameIndex(
        (
            ModuleNames("scripts/my-tool.py", "scripts.my-tool", ("def run()",)),
            ModuleNames("app/class/x.py", "app.class.x", ("def go()",)),
        )
    )
    text = "run()\ngo()\n"
    locations = [f821("app/a.py", 1, "run"), f821("app/a.py", 2, "go")]
    assert planned_imports(locations, {"app/a.py": text}, index) == ()


def test_a_name_the_file_binds_already_is_not_imported_again() -> None:
    text = "from app.wrong import read_int\n\nx = read_int(1)\n"
    locations = [Location("app/a.py", 1, None, "NameError: name 'read_int' is not defined")]
    assert planned_imports(locations, {"app/a.py": text}, INDEX) == ()


def test_only_python_files_that_parse() -> None:
    locations = [f821("web/a.ts", 1, "fetchUser"), f821("app/b.py", 1, "read_int")]
    texts = {"web/a.ts": "fetchUser();\n", "app/b.py": "def broken(:\n"}
    assert planned_imports(locations, texts, INDEX) == ()


def test_the_name_joins_a_one_line_import_of_the_same_module() -> None:
    text = "from app.schemas.common import read_text\n\nx = read_int(1)\n"
    added = with_imports(text, [AddedImport("a.py", "app.schemas.common", "read_int")])
    assert added == "from app.schemas.common import read_text, read_int\n\nx = read_int(1)\n"


def test_a_parenthesized_import_gets_a_line_of_its_own_after_the_imports() -> None:
    text = "import re\nfrom app.schemas.common import (\n    read_text,\n)\n\nx = 1\n"
    added = with_imports(text, [AddedImport("a.py", "app.schemas.common", "read_int")])
    assert added == (
        "import re\nfrom app.schemas.common import (\n    read_text,\n)\n"
        "from app.schemas.common import read_int\n\nx = 1\n"
    )


def test_without_imports_the_line_follows_the_docstring_or_opens_the_file() -> None:
    item = AddedImport("a.py", "app.models.user", "User")
    assert with_imports('"""Doc."""\n\nx = User\n', [item]) == (
        '"""Doc."""\nfrom app.models.user import User\n\nx = User\n'
    )
    assert with_imports("x = User\n", [item]) == "from app.models.user import User\nx = User\n"


def test_crlf_and_a_missing_final_newline_are_kept() -> None:
    item = AddedImport("a.py", "app.models.user", "User")
    assert with_imports("import re\r\nx = User\r\n", [item]) == (
        "import re\r\nfrom app.models.user import User\r\nx = User\r\n"
    )
    assert with_imports("import re", [item]) == "import re\nfrom app.models.user import User\n"


def test_import_texts_reads_the_files_and_builds_the_new_texts(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "a.py").write_text("import re\n\nX = MAX_USERS\nY = read_int(1)\n")
    lookup = NameLookup(tmp_path, INDEX)
    texts, added = import_texts(
        [f821("app/a.py", 3, "MAX_USERS"), f821("app/a.py", 4, "read_int")], tmp_path, lookup
    )
    assert [item.line for item in added] == [
        "from app.models.user import MAX_USERS",
        "from app.schemas.common import read_int",
    ]
    assert texts == {
        "app/a.py": "import re\nfrom app.models.user import MAX_USERS\n"
        "from app.schemas.common import read_int\n\nX = MAX_USERS\nY = read_int(1)\n"
    }
    assert import_texts([Location("app/a.py", 3, None, "E501 too long")], tmp_path, lookup) == (
        {},
        (),
    )


def test_the_lookup_builds_the_whole_project_index_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from route.prompting import name_index

    built: list[Path] = []
    real = name_index.build_index

    def counting(root: Path, *args: object, **kwargs: object) -> NameIndex:
        built.append(root)
        return real(root, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(name_index, "build_index", counting)
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "util.py").write_text("def helper() -> int:\n    return 1\n")
    lookup = NameLookup(tmp_path, INDEX)
    assert lookup.index_for(["read_int"]) is INDEX  # the run's index defines it: no build
    assert built == []
    whole = lookup.index_for(["helper"])
    assert [module.path for module in whole.defined_in("helper")] == ["app/util.py"]
    assert lookup.index_for(["nowhere"]) is whole
    assert built == [tmp_path]
