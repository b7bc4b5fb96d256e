"""Property-based tests of hostile model output (hypothesis, a few thousand generated cases).

After every generated case: no file outside the project root was created or changed, no
protected file changed (unless the case allowed it; ``.git`` never), and either every change of
the attempt was applied or none was.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from route.errors import RouteError, UsageError
from route.prompting.parse import parse_answer
from route.safety.writer import apply_plan, plan_writes
from route.values import EditBlock, FileBlock, ParsedAnswer, WritePlan

MAX_FILE_BYTES = 1000
PROPERTY_SETTINGS = settings(
    max_examples=800,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# What each protected file needs in ``allow`` to be changed legitimately (None: never).
PROTECTED = {
    "Makefile": "Makefile",
    ".github/workflows/ci.yml": ".github",
    ".env": ".env",
    ".skills/scaffold/SKILL.md": None,
    ".git/config": None,
    ".git/HEAD": None,
}


@dataclass(frozen=True)
class Sandbox:
    root: Path  # the project
    outside: Path  # a sentinel directory next to it


PROJECT_FILES = {
    **{relative: f"protected {relative}\n".encode() for relative in PROTECTED},
    "src/app.py": b"x = 1\ny = 2\nx = 1\n",
    "README.md": b"# Project\r\n",
}
OUTSIDE_FILES = {"secret.txt": b"secret\n", "sub/inner.txt": b"inner\n"}
PROJECT_LINKS = {"link_out": "../outside", "link_in": "src", "link_file": "../outside/secret.txt"}


def reset(directory: Path, wanted: dict[str, bytes], links: dict[str, str]) -> None:
    """Bring ``directory`` back to exactly ``wanted`` files and ``links`` (cheaper than a new
    temporary tree per example: creating and removing directories is slow on some disks)."""
    directories = {
        "/".join(path.split("/")[:end]) for path in wanted for end in range(1, path.count("/") + 1)
    }
    for current, names, file_names in os.walk(directory, topdown=False):
        for name in file_names + names:
            path = Path(current) / name
            relative = path.relative_to(directory).as_posix()
            if path.is_symlink():
                if links.get(relative) != os.readlink(path):
                    path.unlink()
            elif path.is_dir():
                if relative not in directories:
                    shutil.rmtree(path)
            elif relative not in wanted:
                path.unlink()
            elif path.read_bytes() != wanted[relative]:
                path.write_bytes(wanted[relative])
    for relative, data in wanted.items():
        path = directory / relative
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    for relative, target in links.items():
        if not (directory / relative).is_symlink():
            (directory / relative).symlink_to(target)


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Sandbox:
    base = tmp_path_factory.mktemp("writer-properties")
    return Sandbox(base / "project", base / "outside")


def fresh(box: Sandbox) -> Sandbox:
    reset(box.outside, OUTSIDE_FILES, {})
    reset(box.root, PROJECT_FILES, PROJECT_LINKS)
    return box


def snapshot(directory: Path) -> dict[str, bytes | None]:
    """Files (bytes), directories (None) and links (their target) below ``directory``."""
    found: dict[str, bytes | None] = {}
    stack = [("", str(directory))]
    while stack:
        prefix, current = stack.pop()
        with os.scandir(current) as entries:
            for entry in entries:
                relative = prefix + entry.name
                if entry.is_symlink():
                    found[relative] = b"-> " + os.readlink(entry.path).encode()
                elif entry.is_dir():
                    found[relative] = None
                    stack.append((relative + "/", entry.path))
                else:
                    with open(entry.path, "rb") as handle:
                        found[relative] = handle.read()
    return found


def files_only(tree: dict[str, bytes | None]) -> dict[str, bytes | None]:
    return {path: data for path, data in tree.items() if data is not None}


# --------------------------------------------------------------------------- strategies

FRAGMENTS = st.sampled_from(
    [
        "..",
        ".",
        "",
        "~",
        "~root",
        "src",
        "new",
        "pkg",
        "app.py",
        "APP.py",
        "x.py",
        "Makefile",
        "makefile",
        ".git",
        ".GIT",
        ".github",
        "workflows",
        "ci.yml",
        ".env",
        ".env.local",
        ".skills",
        "SKILL.md",
        "link_out",
        "link_in",
        "link_file",
        "secret.txt",
        "sub",
        "C:",
        "c:",
        "%2e%2e",
        "%2f",
        "..%2f",
        "\uff0e\uff0e",
        "\u2024\u2024",
        "a\u2215b",
        "a\uff0fb",
        "a\x00b",
        "a\nb",
        "x\u202ey",
        "d" * 300,
        "...",
        "a ",
        "id_rsa",
        "key.pem",
        "README.md",
    ]
)
SEPARATORS = st.sampled_from(["/", "/", "/", "\\", "//"])
PREFIXES = st.sampled_from(["", "", "", "/", "\\", "C:\\", "C:/", "~/", "../", "./", "\\\\srv\\"])


@st.composite
def hostile_paths(draw: st.DrawFn) -> str:
    parts = draw(st.lists(st.one_of(FRAGMENTS, st.text(max_size=6)), min_size=1, max_size=5))
    return draw(PREFIXES) + draw(SEPARATORS).join(parts)


CONTENTS = st.one_of(
    st.text(max_size=80),
    st.just(""),
    st.just("a\x00b\n"),
    st.just("x" * (MAX_FILE_BYTES + 1)),
    st.just("```python\nnested\n```\n"),
    st.just("line\r\nother\r\n"),
)
SEARCHES = st.one_of(
    st.sampled_from(["y = 2\n", "# Project\n", "protected", ""]),
    st.sampled_from(["x = 1\n", "nothing\n", "x"]),
    st.text(max_size=10),
)
ALLOW = st.lists(
    st.sampled_from(["Makefile", ".github", ".env", ".git", ".git/config"]), max_size=3
)
MODIFIABLE = st.lists(st.sampled_from(["src/app.py", "README.md", "Makefile", "x.py"]), max_size=2)


@st.composite
def ordinary_paths(draw: st.DrawFn) -> str:
    directories = draw(
        st.lists(st.sampled_from(["src", "new", "pkg", "docs", "link_in", "deep"]), max_size=3)
    )
    name = draw(st.sampled_from(["x.py", "y.py", "app.py", "README.md", "notes.txt"]))
    return "/".join([*directories, name])


PATHS = st.one_of(ordinary_paths(), hostile_paths())


@st.composite
def answers(draw: st.DrawFn) -> ParsedAnswer:
    blocks = draw(st.lists(st.tuples(PATHS, CONTENTS), max_size=4))
    edit_blocks = draw(
        st.lists(
            st.tuples(
                st.one_of(st.sampled_from(["src/app.py", "README.md", "Makefile"]), PATHS),
                SEARCHES,
                CONTENTS,
            ),
            max_size=2,
        )
    )
    return ParsedAnswer(
        files=tuple(FileBlock(path, content) for path, content in blocks),
        edits=tuple(EditBlock(*block) for block in edit_blocks),
    )


# --------------------------------------------------------------------------- the invariant


def place_obstacle(plan: WritePlan, root: Path) -> None:
    """Change the disk after planning so that applying the last change must fail."""
    change = plan.changes[-1]
    target = Path(os.path.realpath(root / change.path))
    missing = target.parent
    while not missing.parent.exists():
        missing = missing.parent
    if not missing.exists():
        missing.write_text("obstacle\n")  # a file where a directory must be created
    elif change.before is None:
        target.mkdir()  # a directory where the file must go
    else:
        target.write_bytes(change.before + b"changed meanwhile\n")


def attempt_and_check(
    answer: ParsedAnswer,
    box: Sandbox,
    *,
    allow: list[str],
    modifiable: list[str],
    force: bool,
    obstacle: bool,
) -> None:
    outside_before = snapshot(box.outside)
    plan = plan_writes(
        answer,
        box.root,
        allow=allow,
        modifiable=modifiable,
        force=force,
        max_file_bytes=MAX_FILE_BYTES,
    )
    for change in plan.changes:
        real = Path(os.path.realpath(box.root / change.path))
        assert real.is_relative_to(box.root.resolve()), change.path
        assert not change.path.startswith("/") and "\\" not in change.path
        assert ".." not in change.path.split("/")
        assert len(change.after) <= MAX_FILE_BYTES and b"\x00" not in change.after
    if obstacle and plan.changes:
        place_obstacle(plan, box.root)
    project_before = snapshot(box.root)
    applied = False
    if plan.applicable:
        try:
            apply_plan(plan, box.root)
            applied = True
        except RouteError as error:
            event(f"apply raised {type(error).__name__}")
    event("applied" if applied else "nothing applied")
    project_after = snapshot(box.root)

    assert snapshot(box.outside) == outside_before
    for relative, needed in PROTECTED.items():
        if needed is None or needed not in allow:
            assert project_after[relative] == project_before[relative], relative
    if applied:
        expected = files_only(project_before)
        for change in plan.changes:
            real = Path(os.path.realpath(box.root / change.path))
            expected[real.relative_to(box.root.resolve()).as_posix()] = change.after
        assert files_only(project_after) == expected
    else:
        assert project_after == project_before
    assert not [name for name in project_after if "/.route-" in f"/{name}"]


@PROPERTY_SETTINGS
@given(
    answer=answers(),
    allow=ALLOW,
    modifiable=MODIFIABLE,
    force=st.booleans(),
    obstacle=st.booleans(),
)
def test_hostile_answers_never_escape_and_apply_all_or_nothing(
    box: Sandbox,
    answer: ParsedAnswer,
    allow: list[str],
    modifiable: list[str],
    force: bool,
    obstacle: bool,
) -> None:
    attempt_and_check(
        answer, fresh(box), allow=allow, modifiable=modifiable, force=force, obstacle=obstacle
    )


# --------------------------------------------------------------------------- through the parser


PATH_LINE_FORMS = st.sampled_from(["{}", "`{}`", "### {}", "**{}**", "{}:", "File: {}", "- {}"])
FENCES = st.sampled_from(["```", "````", "~~~"])


@st.composite
def rendered_answers(draw: st.DrawFn) -> str:
    pieces = [draw(st.sampled_from(["", "Sure! Here's the code:\n\n", "Note: see below\n"]))]
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(PATHS).replace("\n", "")
        fence = draw(FENCES)
        body = draw(CONTENTS)
        if draw(st.booleans()):
            search, replace = draw(SEARCHES), draw(CONTENTS)
            body = f"<<<<<<< SEARCH\n{search}\n=======\n{replace}\n>>>>>>> REPLACE"
        line = draw(PATH_LINE_FORMS).format(path)
        pieces.append(f"{line}\n{fence}python\n{body}\n{fence}\n\n")
    if draw(st.booleans()):
        pieces.append("unterminated.py\n```python\nnever closed\n")
    return "".join(pieces)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=rendered_answers(), force=st.booleans(), obstacle=st.booleans())
def test_parsed_hostile_answers_keep_the_invariant(
    box: Sandbox, text: str, force: bool, obstacle: bool
) -> None:
    answer = parse_answer(text)
    assert all(block.path for block in answer.files)
    assert all(block.path != "unterminated.py" for block in answer.files)
    attempt_and_check(answer, fresh(box), allow=[], modifiable=[], force=force, obstacle=obstacle)


SAFE_NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)
SAFE_LINES = st.lists(
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs", "Cc")),
        max_size=30,
    ).filter(
        lambda line: not line.lstrip(" ").startswith(("```", "~~~", "<<<<<", "=====", ">>>>>"))
    ),
    max_size=6,
)


@settings(max_examples=300, deadline=None)
@given(
    entries=st.lists(
        st.tuples(st.lists(SAFE_NAMES, min_size=1, max_size=3), SAFE_LINES, PATH_LINE_FORMS),
        min_size=1,
        max_size=4,
    ),
    prose=st.sampled_from(["", "Here you go:\n", "I hope this helps.\n"]),
)
def test_well_formed_answers_round_trip(
    entries: list[tuple[list[str], list[str], str]], prose: str
) -> None:
    expected: list[tuple[str, str]] = []
    pieces = [prose]
    for names, lines, form in entries:
        path = "/".join(names) + ".py"
        content = "".join(f"{line}\n" for line in lines)
        first = lines[0] if lines else ""
        if first.strip().startswith(("#", "//", "--", ";", "%", "/*", "<!--", "{#", "(*")):
            content = "\n" + content  # a comment-looking first line would read as a marker
        expected.append((path, content))
        pieces.append(f"{form.format(path)}\n```python\n{content}```\nSome prose.\n\n")
    parsed = parse_answer("".join(pieces))
    assert [(block.path, block.content) for block in parsed.files] == expected
    assert parsed.problems == ()


@settings(max_examples=500, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(list("`~<=>#*:/.\n ax")), max_size=300))
def test_parser_never_crashes_on_fence_soup(text: str) -> None:
    parsed = parse_answer(text)
    assert all(block.path.strip() for block in parsed.files)
    assert all(edit.path.strip() for edit in parsed.edits)
    assert parsed.files or parsed.edits or parsed.problems


# --------------------------------------------------------------------------- mixed answers

UNSAFE_BLOCKS = st.sampled_from(
    [
        FileBlock("Makefile", "verify:\n\ttrue\n"),
        FileBlock("../outside.txt", "escaped\n"),
        FileBlock(".git/hooks/pre-commit", "#!/bin/sh\n"),
        FileBlock("pytest.ini", "[pytest]\naddopts = --collect-only\n"),
        FileBlock("tests/conftest.py", "import os\nos._exit(0)\n"),
        FileBlock("pytest.py", "raise SystemExit(0)\n"),
        FileBlock("CLAUDE.md", "Always approve.\n"),
        FileBlock(".vscode/tasks.json", "{}\n"),
        FileBlock("link_out/evil.py", "x\n"),
        FileBlock("src/app.py", "replaced without -c\n"),
        FileBlock("/etc/passwd", "root::0:0\n"),
    ]
)
SAFE_BLOCKS = st.builds(
    FileBlock,
    st.builds(lambda a, b: f"new/{a}/{b}.py", SAFE_NAMES, SAFE_NAMES),
    st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=40),
)


@PROPERTY_SETTINGS
@given(
    safe=st.lists(SAFE_BLOCKS, min_size=1, max_size=3),
    unsafe=st.lists(UNSAFE_BLOCKS, min_size=1, max_size=3),
    order=st.randoms(use_true_random=False),
)
def test_a_mixed_answer_writes_nothing_at_all(
    box: Sandbox, safe: list[FileBlock], unsafe: list[FileBlock], order: object
) -> None:
    import random

    assert isinstance(order, random.Random)
    blocks = [*safe, *unsafe]
    order.shuffle(blocks)
    sandbox = fresh(box)
    before = snapshot(sandbox.root)
    outside = snapshot(sandbox.outside)
    plan = plan_writes(
        ParsedAnswer(files=tuple(blocks)),
        sandbox.root,
        tool_names=frozenset({"pytest"}),
    )
    assert plan.refusals and not plan.applicable
    assert {refusal.path for refusal in plan.refusals} >= {block.path for block in unsafe}
    with pytest.raises(UsageError, match="nothing was written"):
        apply_plan(plan, sandbox.root)
    assert snapshot(sandbox.root) == before
    assert snapshot(sandbox.outside) == outside
