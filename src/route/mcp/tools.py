"""The five tools ``route mcp`` offers, as the client sees them: name, title, description, an
input schema that teaches (every property described, enums where the values are fixed, numeric
bounds, unknown arguments refused) and the MCP annotations.

``validate`` checks a call's arguments against the schema before anything runs, so a mistyped
argument is one clear line rather than a silently ignored option.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from route.accounting.costs import GROUPINGS
from route.errors import UsageError
from route.values import THINK_MODES

MAX_ATTEMPTS_LIMIT = 10  # as route.yaml's max_attempts
CONTEXT_TOKENS_RANGE = (512, 1_048_576)
DEFAULT_CONTEXT_TOKENS = 16384


@dataclass(frozen=True, slots=True)
class ToolSpec:
    name: str
    title: str
    description: str
    properties: Mapping[str, Mapping[str, Any]]
    required: tuple[str, ...] = ()
    read_only: bool = True
    idempotent: bool = True

    def input_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {
            "type": "object",
            "properties": {name: dict(value) for name, value in self.properties.items()},
            "additionalProperties": False,
        }
        if self.required:
            schema["required"] = list(self.required)
        return schema

    def annotations(self) -> dict[str, Any]:
        """MCP tool annotations: no tool reaches beyond the machine (the model server is
        local) and none destroys anything (a run's files can be rolled back)."""
        return {
            "title": self.title,
            "readOnlyHint": self.read_only,
            "destructiveHint": False,
            "idempotentHint": self.idempotent,
            "openWorldHint": False,
        }


def _paths(what: str) -> dict[str, Any]:
    return {
        "anyOf": [
            {"type": "string", "minLength": 1},
            {"type": "array", "items": {"type": "string", "minLength": 1}},
        ],
        "description": what,
    }


GENERATE = ToolSpec(
    name="generate",
    title="Generate code with the local model",
    description=(
        "Hand pattern-following code to the local model: it writes the files in this project, "
        "runs verify, repairs up to max_attempts times, and returns a compact JSON result "
        "(status, files, verify passed, attempts, run_id; on failure the verify tail and the "
        "next step) without the code. Write the task as a complete spec and cite the skill "
        "sections to follow (see list_skills)."
    ),
    properties={
        "task": {
            "type": "string",
            "minLength": 1,
            "description": (
                "The complete spec: file paths, class and function names, every field (with "
                "those the conventions require, e.g. id and timestamps), and what the tests "
                "must check."
            ),
        },
        "skill": _paths(
            "Skill sections to follow, e.g. 'scaffold#1,2,3,5' (list_skills names them): the "
            "conventions sections with the code section, and the tests section."
        ),
        "context_paths": _paths(
            "Project files the model must see and may edit (globs allowed), e.g. the model a "
            "new service imports."
        ),
        "targets": _paths(
            "Files the answer must write (project paths). Name the test file too, so verify "
            "runs the new code."
        ),
        "verify": {
            "type": "boolean",
            "default": True,
            "description": "Run the verify command after writing; false skips it "
            "(verify.passed is then null).",
        },
        "verify_command": {
            "type": "string",
            "minLength": 1,
            "description": "A verify command for this run instead of the project's "
            "(route.yaml verify_command, default 'make verify').",
        },
        "rollback": {
            "type": "boolean",
            "default": False,
            "description": "Restore the files this run wrote when verify still fails after "
            "the last attempt.",
        },
        "max_attempts": {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_ATTEMPTS_LIMIT,
            "description": "Attempts including repairs (default: route.yaml, usually 3).",
        },
        "model": {
            "type": "string",
            "minLength": 1,
            "description": "The local model for this run instead of the configured one, "
            "e.g. 'qwen2.5-coder:7b'.",
        },
        "think": {
            "type": "string",
            "enum": list(THINK_MODES),
            "description": "The model's thinking: 'off' for boilerplate (faster), 'on' or a "
            "level for harder code, 'auto' to let route decide (default: route.yaml's think).",
        },
        "dry_run": {
            "type": "boolean",
            "default": False,
            "description": "Write nothing and return the diff (bounded); not counted as a run "
            "in cost_summary.",
        },
        "include_code": {
            "type": "boolean",
            "default": False,
            "description": "Add the written files' text to the result. It costs tokens: "
            "prefer reading only the files you need.",
        },
        "detail": {
            "type": "boolean",
            "default": False,
            "description": "Return the full report (each attempt, tokens, cost, the prompt's "
            "size) instead of the compact result.",
        },
    },
    required=("task",),
    read_only=False,
    idempotent=False,
)

LIST_SKILLS = ToolSpec(
    name="list_skills",
    title="List the project's skills",
    description=(
        "The skills the local model can follow (the project's .skills and .claude/skills, and "
        "~/.claude/skills): name, description and the section titles to cite as NAME#N."
    ),
    properties={},
)

SHOW_SKILL = ToolSpec(
    name="show_skill",
    title="Show what a skill reference sends",
    description="Exactly the text a skill reference sends to the local model, with its token "
    "estimate: check a citation before generate.",
    properties={
        "ref": {
            "type": "string",
            "minLength": 1,
            "description": "A skill reference: 'scaffold#3', 'scaffold#1,2', 'scaffold#2-5', "
            "'scaffold#service-layer' or 'scaffold' (the whole file).",
        }
    },
    required=("ref",),
)

RECOMMEND_MODELS = ToolSpec(
    name="recommend_models",
    title="Recommend local models for this machine",
    description="Local coding models that fit this machine's memory, best first, with "
    "estimated speed and whether each is installed.",
    properties={
        "context": {
            "type": "integer",
            "minimum": CONTEXT_TOKENS_RANGE[0],
            "maximum": CONTEXT_TOKENS_RANGE[1],
            "default": DEFAULT_CONTEXT_TOKENS,
            "description": "The context length to plan memory for, in tokens (route's prompts "
            "are a few thousand).",
        }
    },
)

COST_SUMMARY = ToolSpec(
    name="cost_summary",
    title="Summarize what delegation saved",
    description="From route's ledger: runs, success rate, local tokens, estimated cloud cost "
    "avoided and net saving. Dry runs are not runs.",
    properties={
        "since": {
            "type": "string",
            "minLength": 1,
            "default": "30d",
            "description": "Start of the period: a duration back from now ('12h', '7d', '2w'), "
            "a date ('2026-11-01') or 'all'.",
        },
        "by": {
            "type": "string",
            "enum": list(GROUPINGS),
            "description": "Group the totals by this key.",
        },
        "all_projects": {
            "type": "boolean",
            "default": False,
            "description": "Count the runs of every project, not only this one.",
        },
    },
)

TOOLS: tuple[ToolSpec, ...] = (GENERATE, LIST_SKILLS, SHOW_SKILL, RECOMMEND_MODELS, COST_SUMMARY)
BY_NAME: dict[str, ToolSpec] = {tool.name: tool for tool in TOOLS}


def validate(tool: ToolSpec, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments, checked against the tool's schema; ``UsageError`` with one line naming
    the argument and what it takes otherwise."""
    from jsonschema import Draft202012Validator  # type: ignore[import-untyped]  # no stubs

    unknown = sorted(set(arguments) - set(tool.properties))
    if unknown:
        takes = ", ".join(tool.properties) or "no arguments"
        raise UsageError(
            f"{tool.name} has no argument {', '.join(map(repr, unknown))} — it takes: {takes}"
        )
    validator = Draft202012Validator(tool.input_schema())
    errors = sorted(validator.iter_errors(dict(arguments)), key=lambda error: list(error.path))
    if errors:
        error = errors[0]
        where = ".".join(str(part) for part in error.path) or tool.name
        described = tool.properties.get(str(error.path[0]), {}) if error.path else {}
        hint = described.get("description", "") if error.validator in _HINTED else ""
        raise UsageError(f"{where}: {_short(error)}" + (f" — {hint}" if hint else ""))
    return dict(arguments)


# Errors whose message gains from the property's description (an enum lists its values).
_HINTED = ("type", "anyOf", "minLength")


def _short(error: Any) -> str:
    """A jsonschema message on one line, without echoing long values."""
    if error.validator == "anyOf":
        return "must be a string or a list of strings"
    if error.validator == "enum":
        return f"must be one of {', '.join(map(str, error.validator_value))}"
    if error.validator == "minimum":
        return f"must be at least {error.validator_value}"
    if error.validator == "maximum":
        return f"must be at most {error.validator_value}"
    if error.validator == "minLength":
        return "must not be empty"
    if error.validator == "type":
        return f"must be {_article(error.validator_value)}"
    if error.validator == "required":
        return " ".join(str(error.message).split())
    return " ".join(str(error.message).split())[:200]


def _article(kind: object) -> str:
    names = {"string": "a string", "integer": "a whole number", "boolean": "true or false"}
    return names.get(str(kind), str(kind))
