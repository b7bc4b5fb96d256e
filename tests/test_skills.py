"""Skills: search order, SKILL.md parsing, and reference resolution."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from route.errors import MalformedSkill, SectionNotFound, SkillError, SkillNotFound
from route.prompting.skills import (
    PREAMBLE_CAP_CHARS,
    WHOLE_FILE_WARN_CHARS,
    cap_preamble,
    discover_skills,
    discover_skills_with_problems,
    load_skill,
    merge_excerpts,
    resolve_reference,
    section_labels,
    skill_search_dirs,
    slugify,
    split_number,
)

SCAFFOLD = """\
---
name: scaffold
description: Conventions for a resource.
---
# Scaffold a resource

Global rule: every model has `id: int` first.

## 1. Model

Model body.

### Example

```python
## 9. Fake heading inside code
class User: ...
```

## 2. Schema

Schema body.

## 3. Service Layer

Service body.

~~~~
## 10. Also fake
```
still code
~~~~

## 4. Routes

Routes body.

## 5. Tests

Tests body.
"""


def write_skill(directory: Path, name: str, text: str) -> Path:
    path = directory / name / "SKILL.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / ".git").mkdir(parents=True)
    write_skill(root / ".skills", "scaffold", SCAFFOLD)
    return root


def resolve(ref: str, root: Path) -> str:
    return resolve_reference(ref, skill_search_dirs(root, home=root / "no-home"), root).text


# --------------------------------------------------------------------------- parsing


def test_front_matter_title_preamble_and_sections(project: Path) -> None:
    skill = load_skill(project / ".skills" / "scaffold" / "SKILL.md")
    assert skill.name == "scaffold"
    assert skill.description == "Conventions for a resource."
    assert skill.title == "Scaffold a resource"
    assert skill.preamble == "Global rule: every model has `id: int` first."
    assert [(s.number, s.slug, s.level) for s in skill.sections] == [
        (1, "model", 2),
        (2, "schema", 2),
        (3, "service-layer", 2),
        (4, "routes", 2),
        (5, "tests", 2),
    ]
    assert "---" not in skill.text.splitlines()[0]


def test_section_includes_subsections_and_code_but_not_next_section(project: Path) -> None:
    skill = load_skill(project / ".skills" / "scaffold" / "SKILL.md")
    model = skill.sections[0]
    assert model.text.startswith("## 1. Model\n")
    assert "### Example" in model.text
    assert "## 9. Fake heading inside code" in model.text
    assert "## 2. Schema" not in model.text
    service = skill.sections[2]
    assert "## 10. Also fake" in service.text
    assert "still code" in service.text
    assert service.text.endswith("~~~~")


def test_no_front_matter_uses_folder_name(tmp_path: Path) -> None:
    path = write_skill(tmp_path, "api-client", "# Client\n\n## Setup\n\nText.\n")
    skill = load_skill(path)
    assert skill.name == "api-client"
    assert skill.description == ""
    assert [s.slug for s in skill.sections] == ["setup"]


def test_name_argument_is_used_without_front_matter_name(tmp_path: Path) -> None:
    path = write_skill(tmp_path, "folder", "## A\n")
    assert load_skill(path, name="given").name == "given"
    named = write_skill(tmp_path, "other", "---\nname: declared\n---\n## A\n")
    assert load_skill(named, name="given").name == "declared"


def test_file_without_level_one_heading(tmp_path: Path) -> None:
    text = "Conventions first.\n\n## 1. One\n\nbody one\n\n### 1.1 Detail\n\nd\n\n## 2. Two\n"
    skill = load_skill(write_skill(tmp_path, "plain", text))
    assert skill.title == ""
    assert skill.preamble == "Conventions first."
    assert [s.number for s in skill.sections] == [1, 2]
    assert "### 1.1 Detail" in skill.sections[0].text


def test_several_level_one_headings_are_sections(tmp_path: Path) -> None:
    text = "# 1. Model\n\nm\n\n## Detail\n\n# 2. Schema\n\ns\n"
    skill = load_skill(write_skill(tmp_path, "flat", text))
    assert skill.title == ""
    assert [(s.number, s.level) for s in skill.sections] == [(1, 1), (2, 1)]
    assert "## Detail" in skill.sections[0].text


def test_deeper_sections_when_no_level_two(tmp_path: Path) -> None:
    text = "# Title\n\npre\n\n### 1. Deep\n\nx\n\n### 2. Deeper\n\ny\n"
    skill = load_skill(write_skill(tmp_path, "deep", text))
    assert [(s.number, s.level) for s in skill.sections] == [(1, 3), (2, 3)]


def test_crlf_line_endings_are_normalised(tmp_path: Path) -> None:
    text = "---\r\nname: win\r\n---\r\n# Win\r\n\r\npre\r\n\r\n## 1. A\r\n\r\nbody\r\n"
    path = tmp_path / "win" / "SKILL.md"
    path.parent.mkdir()
    path.write_bytes(text.encode("utf-8"))
    skill = load_skill(path)
    assert skill.name == "win"
    assert skill.sections[0].text == "## 1. A\n\nbody"
    assert "\r" not in skill.text


def test_utf8_bom_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "bom" / "SKILL.md"
    path.parent.mkdir()
    path.write_bytes("\ufeff---\nname: bom\n---\n## A\n".encode())
    assert load_skill(path).name == "bom"


def test_number_forms_and_closing_hashes(tmp_path: Path) -> None:
    text = "# T\n\n## 1) One\n\n## 2: Two ##\n\n## 3 - Three\n\n## 4. Four\n\n## Notes\n"
    skill = load_skill(write_skill(tmp_path, "forms", text))
    assert [(s.number, s.slug) for s in skill.sections] == [
        (1, "one"),
        (2, "two"),
        (3, "three"),
        (4, "four"),
        (None, "notes"),
    ]
    assert skill.sections[1].title == "2: Two"


def test_not_headings(tmp_path: Path) -> None:
    text = "# T\n\n#hashtag line\n\n    ## indented code\n\n## Real\n"
    skill = load_skill(write_skill(tmp_path, "nh", text))
    assert [s.title for s in skill.sections] == ["Real"]


def test_backtick_fence_with_backticks_in_info_is_not_a_fence(tmp_path: Path) -> None:
    text = "# T\n\n```not `a` fence\n\n## 1. Real\n\nx\n"
    skill = load_skill(write_skill(tmp_path, "info", text))
    assert [s.number for s in skill.sections] == [1]


def test_longer_fence_is_not_closed_by_shorter_one(tmp_path: Path) -> None:
    text = "# T\n\n## 1. A\n\n`````md\n```\n## 2. Fake\n```\n`````\n\n## 2. B\n"
    skill = load_skill(write_skill(tmp_path, "long", text))
    assert [s.title for s in skill.sections] == ["1. A", "2. B"]


def test_unclosed_fence_hides_the_rest(tmp_path: Path) -> None:
    text = "# T\n\n## 1. A\n\n```\n## 2. Inside\n"
    skill = load_skill(write_skill(tmp_path, "open", text))
    assert [s.number for s in skill.sections] == [1]


def test_slug_collisions_get_suffixes(tmp_path: Path) -> None:
    text = "# T\n\n## 1. Tests\n\n## 2. Tests\n\n## Tests!\n\n## tests-1\n"
    skill = load_skill(write_skill(tmp_path, "dup", text))
    assert [s.slug for s in skill.sections] == ["tests", "tests-1", "tests-2", "tests-1-1"]


def test_empty_slug_gets_a_position_name(tmp_path: Path) -> None:
    skill = load_skill(write_skill(tmp_path, "empty", "# T\n\n## 1.\n\n## ???\n"))
    assert [s.slug for s in skill.sections] == ["section-1", "section-2"]


def test_unicode_slug_keeps_letters() -> None:
    assert slugify("3. Données & Schéma") == "données-schéma"
    assert slugify("`Service` **Layer**") == "service-layer"


def test_split_number() -> None:
    assert split_number("3. Service Layer") == (3, "Service Layer")
    assert split_number("12) Twelve") == (12, "Twelve")
    assert split_number("1.2 Sub") == (None, "1.2 Sub")
    assert split_number("2024 roadmap") == (None, "2024 roadmap")
    assert split_number("7") == (7, "")


def test_title_only_skill_has_no_sections(tmp_path: Path) -> None:
    skill = load_skill(write_skill(tmp_path, "lone", "# Lone\n\nJust text.\n"))
    assert skill.sections == ()
    assert skill.preamble == "Just text."


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Just prose, no headings.\n", "no Markdown headings"),
        ("---\nname: x\n", "no closing '---'"),
        ("---\nname: [unclosed\n---\n## A\n", "not valid YAML"),
        ("---\n- a\n- b\n---\n## A\n", "must be a YAML mapping"),
        ("---\nname: {a: 1}\n---\n## A\n", "'name' must be text"),
        ("# T\n\n## 1. A\n\n## 1. B\n", "section number 1 is used twice"),
        ("```\n## 1. In code only\n```\n", "no Markdown headings"),
    ],
)
def test_malformed_skills(tmp_path: Path, text: str, reason: str) -> None:
    path = write_skill(tmp_path, "bad", text)
    with pytest.raises(MalformedSkill) as caught:
        load_skill(path)
    assert reason in str(caught.value)
    assert str(path) in str(caught.value)


def test_non_utf8_skill(tmp_path: Path) -> None:
    path = tmp_path / "latin" / "SKILL.md"
    path.parent.mkdir()
    path.write_bytes("# Café\n\n## 1. A\n".encode("latin-1"))
    with pytest.raises(MalformedSkill, match="not UTF-8"):
        load_skill(path)


def test_unreadable_skill(tmp_path: Path) -> None:
    with pytest.raises(MalformedSkill, match="cannot be read"):
        load_skill(tmp_path / "missing" / "SKILL.md")


# --------------------------------------------------------------------------- search path


def test_search_order(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    cwd = root / "sub" / "deeper"
    home = tmp_path / "home"
    explicit = tmp_path / "explicit"
    for directory in (
        explicit,
        cwd / ".skills",
        root / "sub" / ".claude" / "skills",
        root / ".skills",
        root / ".claude" / "skills",
        home / ".claude" / "skills",
        tmp_path / ".skills",  # above the repository root: never searched
    ):
        directory.mkdir(parents=True)
    (root / ".git").mkdir()
    dirs = skill_search_dirs(cwd, explicit, home=home)
    assert dirs == (
        explicit,
        cwd / ".skills",
        root / "sub" / ".claude" / "skills",
        root / ".skills",
        root / ".claude" / "skills",
        home / ".claude" / "skills",
    )


def test_git_file_marks_a_worktree_root(tmp_path: Path) -> None:
    root = tmp_path / "worktree"
    (root / "src").mkdir(parents=True)
    (root / ".git").write_text("gitdir: /elsewhere\n")
    (root / ".skills").mkdir()
    (tmp_path / ".skills").mkdir()
    assert skill_search_dirs(root / "src", home=tmp_path / "h") == (root / ".skills",)


def test_outside_a_repository_only_cwd_is_searched(tmp_path: Path) -> None:
    cwd = tmp_path / "a" / "b"
    (cwd / ".skills").mkdir(parents=True)
    (tmp_path / "a" / ".skills").mkdir()
    assert skill_search_dirs(cwd, home=tmp_path / "h") == (cwd / ".skills",)


def test_skills_dir_listed_once_and_must_exist(project: Path) -> None:
    dirs = skill_search_dirs(project, project / ".skills", home=project / "h")
    assert dirs == (project / ".skills",)
    with pytest.raises(SkillError, match="does not exist"):
        skill_search_dirs(project, project / "nope", home=project / "h")


def test_first_skill_of_a_name_wins(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    write_skill(first, "scaffold", "# First\n\n## 1. A\n\nfrom first\n")
    write_skill(second, "scaffold", "# Second\n\n## 1. A\n\nfrom second\n")
    write_skill(second, "other", "# Other\n\n## A\n")
    skills = discover_skills([first, second])
    assert [(s.name, s.title) for s in skills] == [("scaffold", "First"), ("other", "Other")]
    excerpt = resolve_reference("scaffold#1", [first, second], tmp_path)
    assert "from first" in excerpt.text


def test_front_matter_name_wins_over_folder_name_in_discovery(tmp_path: Path) -> None:
    write_skill(tmp_path / "d", "folder", "---\nname: declared\n---\n## 1. A\n\nbody\n")
    assert [s.name for s in discover_skills([tmp_path / "d"])] == ["declared"]
    assert "body" in resolve_reference("declared#1", [tmp_path / "d"], tmp_path).text
    assert "body" in resolve_reference("folder#1", [tmp_path / "d"], tmp_path).text


def test_malformed_skill_does_not_hide_others(tmp_path: Path) -> None:
    write_skill(tmp_path, "good", "# Good\n\n## 1. A\n")
    write_skill(tmp_path, "broken", "no headings here\n")
    (tmp_path / "not-a-skill").mkdir()
    skills, problems = discover_skills_with_problems([tmp_path])
    assert [s.name for s in skills] == ["good"]
    assert len(problems) == 1
    assert "broken" in problems[0]
    assert "no Markdown headings" in problems[0]


def test_referencing_a_malformed_skill_names_the_problem(tmp_path: Path) -> None:
    write_skill(tmp_path, "broken", "# T\n\n## 2. A\n\n## 2. B\n")
    with pytest.raises(MalformedSkill, match="used twice"):
        resolve_reference("broken#2", [tmp_path], tmp_path)


# --------------------------------------------------------------------------- references


def test_single_section_excerpt_has_title_preamble_and_section(project: Path) -> None:
    text = resolve("scaffold#3", project)
    assert text.startswith("# Scaffold a resource\n\nGlobal rule: every model has `id: int` first.")
    assert "## 3. Service Layer\n\nService body." in text
    assert "## 2. Schema" not in text
    assert "## 4. Routes" not in text


@pytest.mark.parametrize("item", ["③", "²", "1-②"])
def test_digits_int_cannot_read_are_no_section_not_a_crash(project: Path, item: str) -> None:
    with pytest.raises(SectionNotFound, match="has no section"):
        resolve(f"scaffold#{item}", project)


def test_slug_reference(project: Path) -> None:
    assert resolve("scaffold#service-layer", project) == resolve("scaffold#3", project)
    assert resolve("scaffold#Service Layer", project) == resolve("scaffold#3", project)
    assert resolve("scaffold#3. Service Layer", project) == resolve("scaffold#3", project)


def test_lists_ranges_and_mixes_in_cited_order(project: Path) -> None:
    text = resolve("scaffold#5,1-2,model,tests", project)
    positions = [text.index(heading) for heading in ("## 5. Tests", "## 1. Model", "## 2. Schema")]
    assert positions == sorted(positions)
    assert text.count("## 5. Tests") == 1
    assert text.count("## 1. Model") == 1
    assert "## 3. Service Layer" not in text
    excerpt = resolve_reference(
        "scaffold#2-4", skill_search_dirs(project, home=project / "h"), project
    )
    assert [s.number for s in excerpt.sections] == [2, 3, 4]


def test_spaces_around_items_are_tolerated(project: Path) -> None:
    assert resolve("scaffold# 1 , 3 ", project) == resolve("scaffold#1,3", project)


def test_path_references(project: Path, tmp_path: Path) -> None:
    by_name = resolve("scaffold#3", project)
    relative = resolve_reference(".skills/scaffold/SKILL.md#3", [], project)
    absolute = resolve_reference(f"{project}/.skills/scaffold/SKILL.md#3", [], tmp_path)
    folder = resolve_reference(".skills/scaffold#3", [], project)
    assert relative.text == absolute.text == folder.text == by_name
    with pytest.raises(SkillNotFound, match="does not exist"):
        resolve_reference("missing/SKILL.md#1", [], project)


def test_whole_file_reference(project: Path) -> None:
    excerpt = resolve_reference("scaffold", skill_search_dirs(project, home=project / "h"), project)
    assert excerpt.sections == ()
    assert excerpt.warnings == ()
    assert excerpt.text.startswith("# Scaffold a resource")
    assert excerpt.text.endswith("Tests body.")
    assert "name: scaffold" not in excerpt.text


def test_whole_file_reference_warns_when_large(tmp_path: Path) -> None:
    body = "word " * (WHOLE_FILE_WARN_CHARS // 5 + 10)
    write_skill(tmp_path, "big", f"# Big\n\n## 1. A\n\n{body}\n")
    excerpt = resolve_reference("big", [tmp_path], tmp_path)
    assert len(excerpt.warnings) == 1
    assert "big#1" in excerpt.warnings[0]
    assert resolve_reference("big#1", [tmp_path], tmp_path).warnings == ()


def test_unknown_skill_lists_skills_and_directories(project: Path) -> None:
    dirs = skill_search_dirs(project, home=project / "h")
    with pytest.raises(SkillNotFound) as caught:
        resolve_reference("scafold#3", dirs, project)
    message = str(caught.value)
    assert "scafold" in message
    assert "scaffold (" in message
    assert str(project / ".skills") in message


def test_unknown_skill_with_no_skill_folders(tmp_path: Path) -> None:
    with pytest.raises(SkillNotFound, match="no skill folders exist"):
        resolve_reference("x#1", [], tmp_path)


@pytest.mark.parametrize(
    "ref",
    ["scaffold#9", "scaffold#nope", "scaffold#1,9", "scaffold#2-9", "scaffold#0-2"],
)
def test_unknown_section_lists_numbers_and_slugs(project: Path, ref: str) -> None:
    with pytest.raises(SectionNotFound) as caught:
        resolve(ref, project)
    message = str(caught.value)
    assert "1. model, 2. schema, 3. service-layer, 4. routes, 5. tests" in message


@pytest.mark.parametrize("ref", ["scaffold#", "scaffold#1,,2", "scaffold#4-2"])
def test_bad_selectors(project: Path, ref: str) -> None:
    with pytest.raises(SectionNotFound):
        resolve(ref, project)


def test_empty_skill_name(project: Path) -> None:
    with pytest.raises(SkillNotFound, match="names no skill"):
        resolve("#3", project)


def test_unnumbered_skill_counts_sections_by_position(tmp_path: Path) -> None:
    write_skill(tmp_path, "plain", "# P\n\n## Model\n\nm\n\n## Tests\n\nt\n")
    excerpt = resolve_reference("plain#2", [tmp_path], tmp_path)
    assert [s.slug for s in excerpt.sections] == ["tests"]
    skill = excerpt.skill
    assert section_labels(skill) == ("1. model", "2. tests")


def test_mixed_skill_lists_unnumbered_by_slug(tmp_path: Path) -> None:
    write_skill(tmp_path, "mixed", "# M\n\n## 1. Model\n\n## Appendix\n")
    with pytest.raises(SectionNotFound, match=r"1\. model, appendix"):
        resolve_reference("mixed#2", [tmp_path], tmp_path)


def test_title_only_skill_section_reference(tmp_path: Path) -> None:
    write_skill(tmp_path, "lone", "# Lone\n\ntext\n")
    with pytest.raises(SectionNotFound, match="no sections below its title"):
        resolve_reference("lone#1", [tmp_path], tmp_path)
    assert resolve_reference("lone", [tmp_path], tmp_path).text == "# Lone\n\ntext"


def test_resolution_is_deterministic(project: Path) -> None:
    assert resolve("scaffold#5,1-3", project) == resolve("scaffold#5,1-3", project)


# --------------------------------------------------------------------------- preamble cap


def test_preamble_is_capped_at_a_line_boundary_with_a_marker(tmp_path: Path) -> None:
    line = "A convention line that is fairly long, to fill the preamble quickly."
    preamble = "\n".join(f"{index}: {line}" for index in range(200))
    write_skill(tmp_path, "long", f"# Long\n\n{preamble}\n\n## 1. A\n\nsection body\n")
    text = resolve_reference("long#1", [tmp_path], tmp_path).text
    kept, _, rest = text.partition("[… preamble shortened:")
    assert kept
    assert rest
    assert len(kept) <= PREAMBLE_CAP_CHARS + len("# Long\n\n") + 1
    for kept_line in kept.strip().splitlines()[2:]:
        assert kept_line.endswith(line)  # whole lines only
    assert text.endswith("## 1. A\n\nsection body")


def test_preamble_cut_inside_code_block_closes_the_fence() -> None:
    preamble = "intro\n````python\n" + "x = 1\n" * 50 + "````\nafter"
    capped = cap_preamble(preamble, 60)
    lines = capped.splitlines()
    assert lines[-2] == "````"
    assert lines[-1].startswith("[… preamble shortened:")


def test_short_preamble_is_unchanged() -> None:
    assert cap_preamble("short", 100) == "short"


# --------------------------------------------------------------------------- merging


def test_merge_sends_a_preamble_once_per_skill(project: Path, tmp_path: Path) -> None:
    dirs = skill_search_dirs(project, home=project / "h")
    other = tmp_path / "other-skills"
    write_skill(other, "extra", "# Extra\n\n## 1. Only\n\nextra body\n")
    excerpts = [
        resolve_reference("scaffold#3", dirs, project),
        resolve_reference("extra#1", [other], project),
        resolve_reference("scaffold#5,3", dirs, project),
    ]
    merged = merge_excerpts(excerpts)
    assert [e.ref for e in merged] == ["scaffold#3, scaffold#5,3", "extra#1"]
    assert [s.number for s in merged[0].sections] == [3, 5]
    assert merged[0].text.count("Global rule") == 1
    assert merged[1] == excerpts[1]


def test_merge_with_whole_file_reference(project: Path) -> None:
    dirs = skill_search_dirs(project, home=project / "h")
    merged = merge_excerpts(
        [
            resolve_reference("scaffold#3", dirs, project),
            resolve_reference("scaffold", dirs, project),
        ]
    )
    assert len(merged) == 1
    assert merged[0].sections == ()
    assert "## 4. Routes" in merged[0].text


# --------------------------------------------------------------------------- properties

_TITLE_WORDS = st.text(alphabet="abcXYZ 12-_.!é", min_size=0, max_size=12)


@settings(max_examples=200, deadline=None)
@given(titles=st.lists(_TITLE_WORDS, min_size=1, max_size=8))
def test_every_section_resolves_by_its_slug_and_label(
    tmp_path_factory: pytest.TempPathFactory, titles: list[str]
) -> None:
    directory = tmp_path_factory.mktemp("prop")
    lines = ["# Title", "", "preamble", ""]
    lines += [f"## {title}\n\nbody {index}\n" for index, title in enumerate(titles)]
    write_skill(directory, "p", "\n".join(lines))
    numbers = [split_number(title.strip())[0] for title in titles]
    known = [number for number in numbers if number is not None]
    if len(set(known)) != len(known):
        with pytest.raises(MalformedSkill, match="used twice"):
            load_skill(directory / "p" / "SKILL.md")
        return
    skill = load_skill(directory / "p" / "SKILL.md")
    slugs = [s.slug for s in skill.sections]
    assert len(set(slugs)) == len(slugs)
    for section, label in zip(skill.sections, section_labels(skill), strict=True):
        if not re.fullmatch(r"\d+(-\d+)?", section.slug):  # numbers win over such slugs
            excerpt = resolve_reference(f"p#{section.slug}", [directory], directory)
            assert excerpt.sections == (section,)
        selector = label.split(". ", 1)[0] if ". " in label else section.slug
        assert resolve_reference(f"p#{selector}", [directory], directory).sections == (section,)


# --------------------------------------------------------------------------- the example project


def test_example_project_skill_resolves_the_flagship_reference() -> None:
    example = Path(__file__).resolve().parents[1] / "examples" / "projects-api"
    dirs = skill_search_dirs(example, home=example / "no-home")
    assert dirs[0] == example / ".skills"
    excerpt = resolve_reference("scaffold#3", dirs, example)
    assert excerpt.sections[0].slug == "service-layer"
    assert excerpt.text.startswith("# Scaffold")
    assert "The `id` rule" in excerpt.text  # the preamble's conventions travel with the section
    labels = section_labels(excerpt.skill)
    assert labels[:5] == ("1. model", "2. schema", "3. service-layer", "4. routes", "5. tests")


def test_only_newlines_end_lines(tmp_path: Path) -> None:
    text = "# T\n\n## 1. A\n\ntext\x0c## 2. Not a heading\u2028## 3. Nor this\n"
    skill = load_skill(write_skill(tmp_path, "ff", text))
    assert [s.number for s in skill.sections] == [1]
    assert skill.sections[0].text.endswith("## 3. Nor this")


def test_a_slug_that_looks_like_a_number_cannot_shadow_a_numbered_section(tmp_path: Path) -> None:
    write_skill(tmp_path, "p", "# Title\n\n## 1\n\nbody 0\n\n## 1!\n\nbody 1\n")
    skill = load_skill(tmp_path / "p" / "SKILL.md")
    first, second = skill.sections
    assert resolve_reference("p#1", [tmp_path], tmp_path).sections == (first,)
    assert second.slug.startswith("section-")
    assert resolve_reference(f"p#{second.slug}", [tmp_path], tmp_path).sections == (second,)
