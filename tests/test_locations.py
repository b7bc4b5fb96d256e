"""Locations in verify output: each tool's form, only files route wrote, shown with a marker."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from route.prompting.locations import (
    Location,
    find_locations,
    numbered_file,
    read_texts,
    render_locations,
)

WRITTEN = ("app/services/project_service.py", "tests/test_projects.py", "src/main.rs", "web/a.ts")


def only(output: str, root: Path | None = None) -> list[tuple[str, int, int | None, str]]:
    return [
        (item.path, item.line, item.column, item.message)
        for item in find_locations(output, WRITTEN, root)
    ]


def test_ruff_concise_and_mypy_forms() -> None:
    output = (
        "tests/test_projects.py:15:5: F821 Undefined name `service`\n"
        'app/services/project_service.py:3: error: Name "Projekt" is not defined'
        "  [name-defined]\n"
        "Found 2 errors.\n"
    )
    assert only(output) == [
        ("tests/test_projects.py", 15, 5, "F821 Undefined name `service`"),
        (
            "app/services/project_service.py",
            3,
            None,
            'error: Name "Projekt" is not defined [name-defined]',
        ),
    ]


def test_files_route_did_not_write_are_left_out() -> None:
    output = "app/other.py:1:1: F401 unused\ntests/test_projects.py:2:1: F401 `os` unused\n"
    assert only(output) == [("tests/test_projects.py", 2, 1, "F401 `os` unused")]


def test_nothing_written_means_no_locations() -> None:
    assert find_locations("a.py:1:1: E1 x\n", ()) == ()


def test_arrow_forms_of_cargo_and_ruff_full_take_the_header_as_message() -> None:
    output = (
        "error[E0425]: cannot find value `x` in this scope\n"
        " --> src/main.rs:3:5\n"
        "  |\n"
        "F401 [*] `os` imported but unused\n"
        " --> tests/test_projects.py:1:8\n"
    )
    assert only(output) == [
        ("src/main.rs", 3, 5, "error[E0425]: cannot find value `x` in this scope"),
        ("tests/test_projects.py", 1, 8, "F401 [*] `os` imported but unused"),
    ]


def test_tsc_both_forms_and_go() -> None:
    output = (
        "web/a.ts(4,10): error TS2304: Cannot find name 'foo'.\n"
        "web/a.ts:9:1 - error TS2322: Type 'string' is not assignable to type 'number'.\n"
    )
    assert only(output) == [
        ("web/a.ts", 4, 10, "error TS2304: Cannot find name 'foo'."),
        ("web/a.ts", 9, 1, "error TS2322: Type 'string' is not assignable to type 'number'."),
    ]
    go = find_locations("./cmd/x.go:12:5: undefined: Foo\n", ("cmd/x.go",))
    assert go == (Location("cmd/x.go", 12, 5, "undefined: Foo"),)


def test_eslint_stylish_rows_belong_to_the_path_above() -> None:
    output = (
        "/project/web/a.ts\n"
        "   3:7   error  'unused' is assigned a value but never used  no-unused-vars\n"
        "  10:1   warning  Unexpected console statement  no-console\n"
        "\n"
        "   4:1   error  not after a blank line\n"
        "✖ 2 problems\n"
    )
    assert only(output, Path("/project")) == [
        ("web/a.ts", 3, 7, "'unused' is assigned a value but never used no-unused-vars"),
        ("web/a.ts", 10, 1, "Unexpected console statement no-console"),
    ]


def test_python_traceback_takes_the_final_exception_line(tmp_path: Path) -> None:
    absolute = tmp_path / "app" / "services" / "project_service.py"
    output = (
        "Traceback (most recent call last):\n"
        '  File "/usr/lib/python3.11/runpy.py", line 198, in _run_module_as_main\n'
        f'  File "{absolute}", line 7, in <module>\n'
        "    raise ValueError('bad')\n"
        "    ^^^^^^^^^^^^^^^^^^^^^^^\n"
        "ValueError: bad\n"
    )
    expected = [("app/services/project_service.py", 7, None, "ValueError: bad")]
    assert only(output, tmp_path) == expected


def test_pytest_short_form_and_long_form_explanations() -> None:
    short = (
        "tests/test_projects.py:15: in test_get_missing\n"
        "    service.get_project(9)\n"
        "E   KeyError: 9\n"
    )
    assert only(short) == [("tests/test_projects.py", 15, None, "KeyError: 9")]
    long = (
        "    def test_get_missing():\n"
        ">       assert service.get_project(9) is None\n"
        "E       assert <Project> is None\n"
        "E        +  where <Project> = get_project(9)\n"
        "\n"
        "tests/test_projects.py:21: AssertionError\n"
    )
    assert only(long) == [
        (
            "tests/test_projects.py",
            21,
            None,
            "assert <Project> is None + where <Project> = get_project(9)",
        )
    ]


def test_each_line_once_and_long_messages_cut() -> None:
    output = "tests/test_projects.py:3:1: " + "x" * 1000 + "\ntests/test_projects.py:3:9: again\n"
    (location,) = find_locations(output, WRITTEN)
    assert len(location.message) == 300
    assert location.message.endswith("…")


def test_hostile_output_is_only_matched() -> None:
    output = "\x1b[31m" + "::::" * 5000 + "\n" + "tests/test_projects.py:" * 2000 + "\n"
    assert find_locations(output, WRITTEN) == ()


def test_rendered_location_marks_the_line_with_context() -> None:
    text = "".join(f"line {number}\n" for number in range(1, 21))
    rendered = render_locations(
        [Location("tests/test_projects.py", 10, 5, "F821 Undefined name `service`")],
        {"tests/test_projects.py": text},
    )
    assert rendered == (
        "tests/test_projects.py:10:5: F821 Undefined name `service`\n"
        "```\n"
        "    7 | line 7\n"
        "    8 | line 8\n"
        "    9 | line 9\n"
        ">> 10 | line 10\n"
        "   11 | line 11\n"
        "   12 | line 12\n"
        "   13 | line 13\n"
        "```"
    )


def test_rendering_is_bounded_and_survives_a_line_past_the_end() -> None:
    locations = [Location("a.py", number, None, "E") for number in range(1, 9)]
    rendered = render_locations(locations, {"a.py": "x = 1\n"}, max_locations=3)
    assert rendered.count(">>") == 1  # lines 2 and 3 are past the end: labels only
    assert "a.py:2: E" in rendered
    assert rendered.endswith("(5 more location(s) in the output above.)")
    assert render_locations([], {}) == ""


def test_numbered_file_and_read_texts(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("a\nb\n")
    (tmp_path / "bin").write_bytes(b"\xff\xfe")
    assert read_texts(["a.py", "bin", "missing"], tmp_path) == {"a.py": "a\nb\n"}
    assert numbered_file("a\nb\n") == "1 | a\n2 | b"


PIECES = st.sampled_from([
    "tests/test_projects.py", "./tests/test_projects.py", "app/other.py", ":", "0", "12", "\n",
    " ", "-->", 'File "', '", line ', "E   ", "error", "(", ",", ")", "\x1b[31m", "é", "`",
])  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(PIECES, st.text(max_size=8)), max_size=60))
def test_any_output_gives_locations_only_in_written_files(pieces: list[str]) -> None:
    output = "".join(pieces)
    locations = find_locations(output, WRITTEN)
    assert all(location.path in WRITTEN and location.line >= 1 for location in locations)
    assert len({(loc.path, loc.line) for loc in locations}) == len(locations)
    rendered = render_locations(locations, {"tests/test_projects.py": "x\n" * 5})
    assert rendered.count(">>") <= min(len(locations), 5)
