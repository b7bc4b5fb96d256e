"""Find SKILL.md files, split them into sections, and resolve references such as ``scaffold#3``.

A skill is ``<dir>/<name>/SKILL.md``, optionally with YAML front matter (``name``,
``description``). Its *sections* are the headings of the shallowest level used below the title
(usually ``##``); a section runs to the next heading of the same or a higher level, so
sub-sections go with it. Headings inside fenced code blocks are not headings. Line endings are
normalised to ``\\n`` when a file is read, so the text sent to a model is the same on every
platform.

References: ``NAME`` (whole file), ``NAME#3`` (section numbered 3), ``NAME#service-layer``
(slug), ``NAME#2,3``, ``NAME#2-5``, mixes such as ``NAME#1,3-4,tests``, and paths such as
``.skills/scaffold/SKILL.md#3`` (relative to the working directory, or absolute).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from route.errors import MalformedSkill, SectionNotFound, SkillError, SkillNotFound
from route.values import Section, Skill, SkillExcerpt

SKILL_FILE_NAME = "SKILL.md"
# The preamble (global conventions) goes with every cited section, up to this many characters.
PREAMBLE_CAP_CHARS = 4000
# Citing a whole skill larger than this warns: a section is usually what the model needs.
WHOLE_FILE_WARN_CHARS = 24000

_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?[ \t]*$")
_CLOSING_HASHES = re.compile(r"(?:^|[ \t]+)#+$")
_FENCE_OPEN = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_NUMBER_PREFIX = re.compile(r"^(\d+)(?:[.)]|\s*[:\-–—]|(?=\s*$))(?:\s+|$)")
_NON_WORD = re.compile(r"[\W_]+")
_RANGE = re.compile(r"^(\d+)\s*-\s*(\d+)$")


# --------------------------------------------------------------------------- search path


def find_repository_root(start: Path) -> Path | None:
    """The first of ``start`` and its parents that holds ``.git`` (a folder or a worktree file)."""
    for directory in (start, *start.parents):
        if (directory / ".git").exists():
            return directory
    return None


def skill_search_dirs(
    cwd: Path, skills_dir: Path | None = None, home: Path | None = None
) -> tuple[Path, ...]:
    """Skill folders in search order; only existing ones, each once.

    ``skills_dir`` first (an error when it does not exist: the user named it), then
    ``.skills/`` and ``.claude/skills/`` in ``cwd`` and each parent up to the repository root
    (the first folder holding ``.git``; outside a repository only ``cwd`` itself is searched, so
    unrelated skills higher up are never picked up), then ``<home>/.claude/skills``.
    """
    candidates: list[Path] = []
    if skills_dir is not None:
        if not skills_dir.is_dir():
            raise SkillError(
                f"skills directory {skills_dir} does not exist — check --skills-dir "
                "(it should hold <name>/SKILL.md folders)"
            )
        candidates.append(skills_dir)
    start = cwd.absolute()
    root = find_repository_root(start)
    walk = (start,) if root is None else _up_to(start, root)
    for directory in walk:
        candidates.extend((directory / ".skills", directory / ".claude" / "skills"))
    candidates.append((home if home is not None else Path.home()) / ".claude" / "skills")
    return _existing_unique(candidates)


def _up_to(start: Path, root: Path) -> tuple[Path, ...]:
    chain = [start]
    for parent in start.parents:
        if chain[-1] == root:
            break
        chain.append(parent)
    return tuple(chain)


def _existing_unique(candidates: Sequence[Path]) -> tuple[Path, ...]:
    seen: set[Path] = set()
    result: list[Path] = []
    for candidate in candidates:
        if not candidate.is_dir():
            continue
        key = candidate.resolve()
        if key not in seen:
            seen.add(key)
            result.append(candidate)
    return tuple(result)


# --------------------------------------------------------------------------- loading


@dataclass(frozen=True, slots=True)
class _Heading:
    line: int  # index into the body's lines
    level: int
    title: str


def load_skill(path: Path, name: str | None = None) -> Skill:
    """Read and split one SKILL.md.

    The skill's name is the front matter ``name``; without one, ``name`` if given, else the
    folder name. Raises ``MalformedSkill`` (naming the file and the reason) for unreadable or
    non-UTF-8 files, bad front matter, files without any heading, and duplicate section numbers.
    """
    raw = _read_text(path)
    metadata, body = _split_front_matter(raw, path)
    lines = _split_lines(body)
    headings = _find_headings(lines)
    if not headings:
        raise MalformedSkill(
            f"{path}: no Markdown headings — start sections with lines such as '## 1. Model'"
        )
    title_heading, section_headings = _title_and_sections(headings)
    sections = _build_sections(lines, section_headings)
    _check_unique_numbers(sections, path)
    preamble_start = title_heading.line + 1 if title_heading else 0
    preamble_end = section_headings[0].line if section_headings else len(lines)
    return Skill(
        name=_metadata_text(metadata, "name", path) or name or path.parent.name,
        path=path,
        description=_metadata_text(metadata, "description", path),
        title=title_heading.title if title_heading else "",
        preamble=_strip_blank_edges("".join(lines[preamble_start:preamble_end])),
        sections=sections,
        text=body,
        audience=_metadata_text(metadata, "audience", path),
    )


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MalformedSkill(
            f"{path}: cannot be read ({exc.strerror or exc}) — check it exists and is readable"
        ) from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MalformedSkill(
            f"{path}: not UTF-8 text (byte {exc.start}) — save it as UTF-8"
        ) from exc
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _split_lines(text: str) -> list[str]:
    """Lines with their ``\n``; unlike ``str.splitlines``, only ``\n`` ends a line."""
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def _split_front_matter(text: str, path: Path) -> tuple[dict[str, object], str]:
    """YAML front matter between ``---`` lines at the very top, and the rest of the file."""
    if not text.startswith("---\n") and text.rstrip("\n") != "---":
        return {}, text
    lines = _split_lines(text)
    for index in range(1, len(lines)):
        if lines[index].rstrip() in ("---", "..."):
            return _parse_front_matter("".join(lines[1:index]), path), "".join(lines[index + 1 :])
    raise MalformedSkill(
        f"{path}: front matter starts with '---' but has no closing '---' line — add one"
    )


def _parse_front_matter(source: str, path: Path) -> dict[str, object]:
    import yaml

    from route.yamlio import load_yaml

    try:
        loaded = load_yaml(source)
    except yaml.YAMLError as exc:
        reason = " ".join(str(exc).split())
        raise MalformedSkill(
            f"{path}: front matter is not valid YAML ({reason}) — fix it or remove it"
        ) from exc
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise MalformedSkill(
            f"{path}: front matter must be a YAML mapping such as 'name: scaffold', "
            f"not a {type(loaded).__name__}"
        )
    return {str(key): value for key, value in loaded.items()}


def _metadata_text(metadata: dict[str, object], key: str, path: Path) -> str:
    value = metadata.get(key)
    if value is None:
        return ""
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise MalformedSkill(f"{path}: front matter '{key}' must be text")
    return " ".join(str(value).split())


def _find_headings(lines: Sequence[str]) -> tuple[_Heading, ...]:
    """ATX headings outside fenced code blocks (``` or ~~~, three or more, CommonMark rules)."""
    headings: list[_Heading] = []
    fence: str | None = None  # the opening fence while inside a code block
    for index, line in enumerate(lines):
        stripped = line.rstrip("\n")
        fence, in_code = _next_fence_state(stripped, fence)
        match = None if in_code else _HEADING.match(stripped)
        if match:
            title = _CLOSING_HASHES.sub("", match.group(2) or "").strip()
            headings.append(_Heading(line=index, level=len(match.group(1)), title=title))
    return tuple(headings)


def _next_fence_state(line: str, fence: str | None) -> tuple[str | None, bool]:
    """The open fence after ``line`` and whether ``line`` itself is code (or a fence line)."""
    if fence is not None:
        return (None if _closes_fence(line, fence) else fence), True
    opening = _FENCE_OPEN.match(line)
    if opening and not (opening.group(1)[0] == "`" and "`" in opening.group(2)):
        return opening.group(1), True
    return None, False


def _closes_fence(line: str, fence: str) -> bool:
    candidate = line.strip()
    if len(line) - len(line.lstrip(" ")) > 3 or not candidate:
        return False
    run = len(candidate) - len(candidate.lstrip(fence[0]))
    return run >= len(fence) and not candidate[run:].strip()


def _title_and_sections(
    headings: Sequence[_Heading],
) -> tuple[_Heading | None, tuple[_Heading, ...]]:
    """The title is a lone level-1 heading that comes first; the sections are the headings of
    the shallowest level after it. With several level-1 headings, those are the sections."""
    first = headings[0]
    level_one_count = sum(1 for heading in headings if heading.level == 1)
    if first.level == 1 and level_one_count == 1:
        title: _Heading | None = first
        rest = tuple(headings[1:])
    else:
        title, rest = None, tuple(headings)
    if not rest:
        return title, ()
    top = min(heading.level for heading in rest)
    return title, tuple(heading for heading in rest if heading.level == top)


_NUMERIC_SELECTOR = re.compile(r"\d+(-\d+)?")


def _build_sections(lines: Sequence[str], headings: Sequence[_Heading]) -> tuple[Section, ...]:
    sections: list[Section] = []
    used_slugs: set[str] = set()
    for position, heading in enumerate(headings):
        end = headings[position + 1].line if position + 1 < len(headings) else len(lines)
        number, rest = split_number(heading.title)
        slug = slugify(rest) or f"section-{position + 1}"
        if _NUMERIC_SELECTOR.fullmatch(slug):  # "## 1!" must not be reachable as "#1" by slug
            slug = f"section-{slug}"
        slug = _unique_slug(slug, used_slugs)
        sections.append(
            Section(
                number=number,
                slug=slug,
                title=heading.title,
                level=heading.level,
                text=_strip_blank_edges("".join(lines[heading.line : end])),
            )
        )
    return tuple(sections)


def split_number(title: str) -> tuple[int | None, str]:
    """``"3. Service Layer"`` -> ``(3, "Service Layer")``; also ``3)``, ``3:``, ``3 -`` and a
    heading that is only a number."""
    match = _NUMBER_PREFIX.match(title)
    if not match:
        return None, title
    return int(match.group(1)), title[match.end() :]


def slugify(text: str) -> str:
    """Lowercase, a leading section number removed, runs of other characters turned into ``-``."""
    _, rest = split_number(text.strip())
    return _NON_WORD.sub("-", rest.lower()).strip("-")


def _unique_slug(slug: str, used: set[str]) -> str:
    """GitHub-style: the second ``tests`` becomes ``tests-1``, the third ``tests-2``."""
    candidate, suffix = slug, 0
    while candidate in used:
        suffix += 1
        candidate = f"{slug}-{suffix}"
    used.add(candidate)
    return candidate


def _check_unique_numbers(sections: Sequence[Section], path: Path) -> None:
    seen: dict[int, str] = {}
    for section in sections:
        if section.number is None:
            continue
        if section.number in seen:
            raise MalformedSkill(
                f"{path}: section number {section.number} is used twice "
                f"('{seen[section.number]}' and '{section.title}') — renumber one of them"
            )
        seen[section.number] = section.title


def _strip_blank_edges(text: str) -> str:
    """Drop blank lines at the start and whitespace at the end; keep indentation."""
    lines = text.split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    return "\n".join(lines).rstrip()


# --------------------------------------------------------------------------- discovery


def discover_skills_with_problems(
    dirs: Sequence[Path],
) -> tuple[tuple[Skill, ...], tuple[str, ...]]:
    """Every ``<dir>/<name>/SKILL.md`` (first of a name wins, in search order), and one line per
    skill file that could not be loaded, so one broken file never hides the others."""
    skills: list[Skill] = []
    problems: list[str] = []
    names: set[str] = set()
    for path in _skill_files(dirs):
        try:
            skill = load_skill(path)
        except MalformedSkill as error:
            problems.append(str(error))
            continue
        if skill.name not in names:
            names.add(skill.name)
            skills.append(skill)
    return tuple(skills), tuple(problems)


def discover_skills(dirs: Sequence[Path]) -> tuple[Skill, ...]:
    """The loadable skills in ``dirs`` (see ``discover_skills_with_problems``)."""
    return discover_skills_with_problems(dirs)[0]


def _skill_files(dirs: Sequence[Path]) -> Iterator[Path]:
    for directory in dirs:
        try:
            children = sorted(directory.iterdir(), key=lambda child: child.name)
        except OSError:
            continue
        for child in children:
            candidate = child / SKILL_FILE_NAME
            if candidate.is_file():
                yield candidate


# --------------------------------------------------------------------------- references


def resolve_reference(ref: str, dirs: Sequence[Path], cwd: Path) -> SkillExcerpt:
    """Turn a reference such as ``scaffold#1,3-4,tests`` into the exact text sent to the model.

    Raises ``SkillNotFound`` (listing the skills found and the folders searched),
    ``SectionNotFound`` (listing every section's number and slug) or ``MalformedSkill``.
    """
    target, has_selector, selector = _split_reference(ref)
    if not target:
        raise SkillNotFound(f"skill reference '{ref}' names no skill — write it as NAME#SECTION")
    skill = _find_skill(target, dirs, cwd)
    if not has_selector:
        return _whole_file_excerpt(ref, skill)
    sections = select_sections(skill, selector, ref)
    return SkillExcerpt(
        ref=ref, skill=skill, sections=sections, text=compose_excerpt_text(skill, sections)
    )


def _split_reference(ref: str) -> tuple[str, bool, str]:
    """``"scaffold#1,3"`` -> ``("scaffold", True, "1,3")``; ``"scaffold"`` -> no selector."""
    text = ref.strip()
    if "#" not in text:
        return text, False, ""
    target, _, selector = text.rpartition("#")
    return target.strip(), True, selector


def _find_skill(target: str, dirs: Sequence[Path], cwd: Path) -> Skill:
    if _looks_like_path(target):
        return _load_path_reference(target, cwd)
    for directory in dirs:
        candidate = directory / target / SKILL_FILE_NAME
        if candidate.is_file():
            return load_skill(candidate)
        skills, _ = discover_skills_with_problems([directory])
        for skill in skills:
            if skill.name == target:
                return skill
    raise SkillNotFound(_not_found_message(target, dirs))


def _looks_like_path(target: str) -> bool:
    return "/" in target or os.sep in target or target.lower().endswith(".md")


def _load_path_reference(target: str, cwd: Path) -> Skill:
    path = Path(target).expanduser()
    if not path.is_absolute():
        path = cwd / path
    if path.is_dir():
        path = path / SKILL_FILE_NAME
    if not path.is_file():
        raise SkillNotFound(f"skill file {path} does not exist — check the path in the reference")
    return load_skill(path)


def _not_found_message(target: str, dirs: Sequence[Path]) -> str:
    skills, _ = discover_skills_with_problems(dirs)
    found = ", ".join(f"{skill.name} ({skill.path})" for skill in skills) or "none"
    searched = ", ".join(str(directory) for directory in dirs) or "no skill folders exist"
    return (
        f"no skill named '{target}' — skills found: {found}; searched: {searched}. "
        f"Create .skills/{target}/SKILL.md or pass --skills-dir"
    )


def select_sections(skill: Skill, selector: str, ref: str = "") -> tuple[Section, ...]:
    """The sections named by ``selector`` (``3``, ``2-5``, ``tests``, ``1,3-4,tests``), in the
    order cited, each once. Numbers match leading heading numbers; in a skill without any
    numbered heading they count sections by position instead."""
    items = [item.strip() for item in selector.split(",")]
    if not selector.strip() or any(not item for item in items):
        raise SectionNotFound(
            f"reference '{ref or selector}' has an empty section — "
            f"{_sections_listing(skill)}; write e.g. {skill.name}#1"
        )
    chosen: list[Section] = []
    for item in items:
        for section in _select_item(skill, item, ref or selector):
            if section not in chosen:
                chosen.append(section)
    return tuple(chosen)


def _select_item(skill: Skill, item: str, ref: str) -> tuple[Section, ...]:
    """One selector item: a number, a range, or a slug. Numbers come first; a slug that looks
    like a number or a range (``## 2 3`` gives ``2-3``) is found when no number matches."""
    try:
        by_number = _select_by_number(skill, item, ref)
    except SectionNotFound:
        exact = _by_slug(skill, item.lower())
        if exact is None:
            raise
        return (exact,)
    if by_number is not None:
        return by_number
    section = _by_slug(skill, item.lower()) or _by_slug(skill, slugify(item))
    if section is None:
        raise SectionNotFound(
            f"skill '{skill.name}' ({skill.path}) has no section '{item}' (from '{ref}') — "
            f"{_sections_listing(skill)}"
        )
    return (section,)


def _select_by_number(skill: Skill, item: str, ref: str) -> tuple[Section, ...] | None:
    """The sections an item such as ``3`` or ``2-5`` names; None when it is not numeric."""
    numbered = _numbered(skill)
    if item.isdecimal():  # not isdigit: "²" and "③" are digits int() cannot read
        return (_by_number(skill, numbered, int(item), ref),)
    span = _RANGE.match(item)
    if span is None:
        return None
    first, last = int(span.group(1)), int(span.group(2))
    if first > last:
        raise SectionNotFound(
            f"reference '{ref}': range {item} runs backwards — write {last}-{first}"
        )
    _by_number(skill, numbered, first, ref)
    _by_number(skill, numbered, last, ref)
    return tuple(numbered[key] for key in sorted(numbered) if first <= key <= last)


def _by_slug(skill: Skill, slug: str) -> Section | None:
    return next((section for section in skill.sections if section.slug == slug), None)


def _numbered(skill: Skill) -> dict[int, Section]:
    """Sections by number: their heading numbers, or their positions when none is numbered."""
    by_heading = {
        section.number: section for section in skill.sections if section.number is not None
    }
    if by_heading:
        return by_heading
    return dict(enumerate(skill.sections, start=1))


def _by_number(skill: Skill, numbered: dict[int, Section], number: int, ref: str) -> Section:
    if number in numbered:
        return numbered[number]
    raise SectionNotFound(
        f"skill '{skill.name}' ({skill.path}) has no section {number} (from '{ref}') — "
        f"{_sections_listing(skill)}"
    )


def section_labels(skill: Skill) -> tuple[str, ...]:
    """``"3. service-layer"`` for each section (just ``"notes"`` when unnumbered)."""
    numbers = {section.slug: number for number, section in _numbered(skill).items()}
    return tuple(
        f"{numbers[section.slug]}. {section.slug}" if section.slug in numbers else section.slug
        for section in skill.sections
    )


def _sections_listing(skill: Skill) -> str:
    labels = section_labels(skill)
    if not labels:
        return "it has no sections below its title; cite the whole skill by its name"
    return "its sections are: " + ", ".join(labels)


# --------------------------------------------------------------------------- excerpt text


def compose_excerpt_text(skill: Skill, sections: Sequence[Section]) -> str:
    """Title, preamble (capped at ``PREAMBLE_CAP_CHARS``) and the sections in the given order."""
    parts: list[str] = []
    if skill.title:
        parts.append(f"# {skill.title}")
    if skill.preamble:
        parts.append(cap_preamble(skill.preamble, PREAMBLE_CAP_CHARS))
    parts.extend(section.text for section in sections)
    return "\n\n".join(parts)


def cap_preamble(preamble: str, cap: int) -> str:
    """Keep whole lines up to ``cap`` characters; close an open code fence and mark the cut."""
    if len(preamble) <= cap:
        return preamble
    kept: list[str] = []
    size = 0
    for line in preamble.split("\n"):
        if size + len(line) + 1 > cap:
            break
        kept.append(line)
        size += len(line) + 1
    fence = _open_fence(kept)
    if fence is not None:
        kept.append(fence)
    kept.append(f"[… preamble shortened: {len(preamble) - size} more characters not shown]")
    return "\n".join(kept)


def _open_fence(lines: Sequence[str]) -> str | None:
    fence: str | None = None
    for line in lines:
        fence, _ = _next_fence_state(line, fence)
    return fence


def _whole_file_excerpt(ref: str, skill: Skill) -> SkillExcerpt:
    text = _strip_blank_edges(skill.text)
    warnings: tuple[str, ...] = ()
    if len(text) > WHOLE_FILE_WARN_CHARS:
        warnings = (
            f"'{ref}' sends the whole skill ({len(text)} characters); cite only the sections "
            f"the task needs, e.g. {skill.name}#{_example_selector(skill)}",
        )
    return SkillExcerpt(ref=ref, skill=skill, sections=(), text=text, warnings=warnings)


def _example_selector(skill: Skill) -> str:
    labels = section_labels(skill)
    return labels[0].split(". ", 1)[0] if labels and ". " in labels[0] else "SECTION"


def merge_excerpts(excerpts: Sequence[SkillExcerpt]) -> tuple[SkillExcerpt, ...]:
    """One excerpt per skill file, in order of first citation, so that a skill cited several
    times (``scaffold#3`` and ``scaffold#5``) sends its preamble once. A whole-file reference
    covers every section of its skill."""
    groups: dict[Path, list[SkillExcerpt]] = {}
    for excerpt in excerpts:
        groups.setdefault(excerpt.skill.path.resolve(), []).append(excerpt)
    return tuple(_merge_group(group) for group in groups.values())


def _merge_group(group: Sequence[SkillExcerpt]) -> SkillExcerpt:
    if len(group) == 1:
        return group[0]
    skill = group[0].skill
    ref = ", ".join(dict.fromkeys(excerpt.ref for excerpt in group))
    warnings = tuple(dict.fromkeys(warning for excerpt in group for warning in excerpt.warnings))
    whole = next((excerpt for excerpt in group if not excerpt.sections), None)
    if whole is not None:
        return SkillExcerpt(ref=ref, skill=skill, sections=(), text=whole.text, warnings=warnings)
    sections = tuple(dict.fromkeys(section for excerpt in group for section in excerpt.sections))
    return SkillExcerpt(
        ref=ref,
        skill=skill,
        sections=sections,
        text=compose_excerpt_text(skill, sections),
        warnings=warnings,
    )
