"""``route skills list`` and ``route skills show REF``: what skills exist, and what a reference
sends to the model."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from route.values import Section, Skill, SkillExcerpt

GROUP_EPILOG = """\
Examples:

  route skills list

  route skills show scaffold#3
"""

LIST_EPILOG = """\
Examples:

  route skills list

  route skills list --skills-dir ~/team-skills --json
"""

SHOW_EPILOG = """\
Examples:

  route skills show scaffold#3

  route skills show scaffold#service-layer

  route skills show scaffold#1,3-5 --json

  route skills show path/to/SKILL.md#2
"""

app = typer.Typer(
    help="List skills (SKILL.md files) and show exactly what a skill reference sends to the model.",
    epilog=GROUP_EPILOG,
    no_args_is_help=True,
    rich_markup_mode=None,  # plain help, like the rest of route
)

SkillsDirOption = Annotated[
    Path | None,
    typer.Option(
        "--skills-dir",
        help="Search this folder of <name>/SKILL.md first, before .skills/ and .claude/skills/.",
        file_okay=False,
    ),
]
# Descriptions are cut to this many characters in the table (--json has them whole).
DESCRIPTION_WIDTH = 72

JsonOption = Annotated[bool, typer.Option("--json", help="Print one compact JSON object.")]


@app.command("list", epilog=LIST_EPILOG)
def list_skills(skills_dir: SkillsDirOption = None, as_json: JsonOption = False) -> None:
    """List the skills found: name, description, number of sections, file."""
    from route import ui
    from route.prompting import skills

    cwd = Path.cwd()
    dirs = _skill_dirs(cwd, skills_dir)
    found, problems = skills.discover_skills_with_problems(dirs)
    for problem in problems:
        ui.print_warning(f"skipped a skill: {problem}")
    if as_json:
        ui.print_json(
            {
                "skills": [_skill_summary(skill, cwd) for skill in found],
                "problems": list(problems),
                "searched": [str(directory) for directory in dirs],
            }
        )
        return
    if not found:
        searched = ", ".join(str(directory) for directory in dirs) or "no skill folders exist"
        ui.print_text(f"No skills found (searched: {searched}). Add .skills/<name>/SKILL.md.")
        return
    rows = [
        (
            skill.name,
            _shorten(skill.description, DESCRIPTION_WIDTH),
            str(len(skill.sections)),
            _display_path(skill.path, cwd),
        )
        for skill in found
    ]
    ui.print_table("Skills", ("name", "description", "sections", "path"), rows)
    for skill in found:
        ui.print_text(f"\n{skill.name} ({_display_path(skill.path, cwd)}):")
        for section in skill.sections:
            ui.print_text(f"  {_section_ref(skill, section):<{_ref_width(skill)}}  {section.title}")
    ui.print_text(
        "\nCite a section with --skill NAME#N (or NAME#slug); `route skills show` prints it."
    )


def _section_ref(skill: Skill, section: Section) -> str:
    """How a section is cited: ``scaffold#3``, or by slug when its heading has no number."""
    return f"{skill.name}#{section.number if section.number is not None else section.slug}"


def _ref_width(skill: Skill) -> int:
    return max((len(_section_ref(skill, section)) for section in skill.sections), default=0)


@app.command("show", epilog=SHOW_EPILOG)
def show_skill(
    refs: Annotated[
        list[str],
        typer.Argument(
            help="Skill references: NAME, NAME#3, NAME#service-layer, NAME#1,3-4, "
            "or path/to/SKILL.md#3.",
            show_default=False,
        ),
    ],
    skills_dir: SkillsDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print exactly the text each reference sends to the model, and its estimated tokens.

    Several references to one skill are merged as they are in a prompt (its preamble once).
    The text goes to stdout and the estimate to stderr. With --json, one JSON object: the
    excerpt of the one skill cited, or {"excerpts": [...], "estimated_tokens": N} for several.
    """
    from route import ui
    from route.prompting import skills
    from route.prompting.tokens import estimate_tokens

    cwd = Path.cwd()
    dirs = _skill_dirs(cwd, skills_dir)
    excerpts = skills.merge_excerpts([skills.resolve_reference(ref, dirs, cwd) for ref in refs])
    if as_json:
        objects = [_excerpt_object(excerpt, cwd) for excerpt in excerpts]
        if len(objects) == 1:
            ui.print_json(objects[0])
        else:
            total = sum(int(item["estimated_tokens"]) for item in objects)
            ui.print_json({"excerpts": objects, "estimated_tokens": total})
        return
    for index, excerpt in enumerate(excerpts):
        if index:
            ui.print_text()
        ui.print_text(excerpt.text)
        for warning in excerpt.warnings:
            ui.print_warning(warning)
    total_tokens = sum(estimate_tokens(excerpt.text) for excerpt in excerpts)
    total_characters = sum(len(excerpt.text) for excerpt in excerpts)
    ui.print_text(
        f"~{total_tokens} tokens (estimate, {total_characters} characters) "
        f"for {', '.join(excerpt.ref for excerpt in excerpts)}",
        err=True,
    )


def _skill_dirs(cwd: Path, skills_dir: Path | None) -> tuple[Path, ...]:
    """The skill folders ``route gen`` searches from ``cwd``: ``--skills-dir``, else the
    config's ``skills_dir`` (relative to the file that set it), then the usual folders."""
    from route.settings.resolve import resolve_context

    flag = str(skills_dir) if skills_dir is not None else None
    return resolve_context(cwd, flags={"skills_dir": flag}).skill_dirs()


def _skill_summary(skill: Skill, cwd: Path) -> dict[str, Any]:
    return {
        "name": skill.name,
        "description": skill.description,
        "sections": len(skill.sections),
        "outline": [
            {
                "ref": _section_ref(skill, section),
                "number": section.number,
                "slug": section.slug,
                "title": section.title,
            }
            for section in skill.sections
        ],
        "path": _display_path(skill.path, cwd),
    }


def _excerpt_object(excerpt: SkillExcerpt, cwd: Path) -> dict[str, Any]:
    from route.prompting.tokens import estimate_tokens

    return {
        "ref": excerpt.ref,
        "skill": excerpt.skill.name,
        "path": _display_path(excerpt.skill.path, cwd),
        "sections": [
            {"number": section.number, "slug": section.slug, "title": section.title}
            for section in excerpt.sections
        ],
        "text": excerpt.text,
        "estimated_tokens": estimate_tokens(excerpt.text),
        "warnings": list(excerpt.warnings),
    }


def _display_path(path: Path, cwd: Path) -> str:
    """Relative to the working directory when inside it, else absolute."""
    absolute = path.absolute()
    return str(absolute.relative_to(cwd)) if absolute.is_relative_to(cwd) else str(absolute)


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"
