"""route's messages in the words of an MCP caller.

The core's messages name command-line options (``--target``, ``--allow``, ``--skills-dir``),
which an orchestrator calling ``generate`` does not have. Each rule below rewrites one such
phrase into the argument the caller does have, or into what it can do instead (protected files
stay protected over MCP: nothing here can allow them). Every text the server returns passes
through ``for_mcp``.
"""

from __future__ import annotations

import re

_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        (
            r"pass --allow \S+ if it holds nothing secret",
            "leave it out of context_paths (the MCP tools never send it), or ask the user",
        ),
        (
            r"pass --allow \S+ to let the model change it",
            "the MCP tools never change protected files: write it yourself or ask the user",
        ),
        (
            r"pass it with -c/--context or use --force to let the model replace it",
            "name it in context_paths or targets to let the model replace it",
        ),
        (
            r"pass --allow \S+ if that is intended",
            "name the module differently in the task (the MCP tools never allow it)",
        ),
        (
            r"pass --force to let the model do that",
            "name another path in the task (the MCP tools never force it)",
        ),
        (
            r"neither given with -c/--context nor named as a target: SEARCH/REPLACE edits apply "
            r"only to those \(or use --force\)",
            "neither in context_paths nor in targets: SEARCH/REPLACE edits apply only to those",
        ),
        (
            r"give one with --verify CMD \(or verify_command in route.yaml\), or skip verify "
            r"with --no-verify",
            "pass verify_command, or verify: false to skip it",
        ),
        (r"--sandbox-best-effort", "best-effort sandboxing"),
        (r"run without --sandbox, or with", "run without sandboxing, or with"),
        (r"--sandbox", "sandboxing"),
        (r"check --skills-dir", "check skills_dir in route.yaml"),
        (r"or pass --skills-dir", "or set skills_dir in route.yaml"),
        (r"pass --verify CMD", "pass verify_command"),
        (r"--no-verify", "verify: false"),
        (
            r"--backend openai --base-url ([^\s)]+)",
            r"backend: openai and base_url: \1 in route.yaml",
        ),
        (r"drop --base-url", "drop base_url from route.yaml"),
        (r"--base-url", "base_url in route.yaml"),
        (r"--backend", "backend in route.yaml"),
        (r"--rollback", "rollback"),
        (r"--target ", "target "),
        (r"--max-attempts", "max_attempts"),
        (r"--since", "since"),
        (r"--until", "until"),
        (r"--model ", "model "),
        (r"(?<![\w-])-c (?=\S)", "context_paths "),
    )
)


def for_mcp(text: str) -> str:
    """``text`` with the command-line options it names rewritten for an MCP caller."""
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text
