"""The frozen values that flow through a run.

``resolve skill → build prompt → stream completion → parse → plan writes → write → verify →
record → report``: each step takes and returns these plain values. Nothing here does I/O, and
nothing here imports anything heavy, so every module can use them at no start-up cost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

# --------------------------------------------------------------------------- skills


@dataclass(frozen=True, slots=True)
class Section:
    """One heading of a SKILL.md and everything up to the next heading of the same or higher
    level (sub-sections included)."""

    number: int | None  # leading number of the heading ("## 3. Service Layer" -> 3)
    slug: str  # "service-layer" (the number is not part of the slug)
    title: str  # heading text without the hashes, e.g. "3. Service Layer"
    level: int  # 1 for "#", 2 for "##", ...
    text: str  # the heading line and its body, exactly as in the file


@dataclass(frozen=True, slots=True)
class Skill:
    name: str  # from front matter `name`, else the folder name
    path: Path  # the SKILL.md file
    description: str  # from front matter, may be ""
    title: str  # the first level-1 heading, may be ""
    preamble: str  # text between the title and the first section
    sections: tuple[Section, ...]  # top-level sections in file order
    text: str  # the whole file (front matter removed)
    audience: str = ""  # front matter `audience`: "orchestrator" marks a skill not for the model


@dataclass(frozen=True, slots=True)
class SkillExcerpt:
    """What a skill reference such as ``scaffold#1,3`` resolves to: the text sent to the model."""

    ref: str  # the reference as the user wrote it
    skill: Skill
    sections: tuple[Section, ...]  # empty means the whole file
    text: str  # preamble (capped) + cited sections, exactly as sent
    warnings: tuple[str, ...] = ()


# --------------------------------------------------------------------------- prompt


Role = Literal["system", "user", "assistant"]
ThinkMode = Literal["auto", "off", "on", "low", "medium", "high"]
THINK_MODES: tuple[ThinkMode, ...] = ("auto", "off", "on", "low", "medium", "high")


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class ContextFile:
    path: str  # relative to the project root, POSIX separators
    text: str


@dataclass(frozen=True, slots=True)
class Prompt:
    messages: tuple[Message, ...]
    template_version: str
    estimated_tokens: int  # rough local-token estimate of all messages

    @property
    def characters(self) -> int:
        return sum(len(message.content) for message in self.messages)


# --------------------------------------------------------------------------- backend


@dataclass(frozen=True, slots=True)
class ChatRequest:
    model: str
    messages: tuple[Message, ...]
    max_output_tokens: int = 4096
    temperature: float | None = 0.2
    seed: int | None = None
    num_ctx: int | None = None  # None: the backend sizes it (Ollama) or the server decides
    keep_alive: str | None = None
    # Reasoning ("thinking"): "auto" sends nothing; see route.backends.thinking.
    think: ThinkMode = "auto"
    # The output budget for a model that thinks (reasoning + answer); None: never raised.
    thinking_output_tokens: int | None = None
    model_thinks: bool | None = None  # what the catalog says; None: unknown


@dataclass(frozen=True, slots=True)
class Usage:
    """Metrics of one generation, as reported by the server (0 when the server did not say)."""

    prompt_tokens: int = 0
    output_tokens: int = 0
    cached_prompt_tokens: int | None = None  # llama.cpp cache_n / cached_tokens
    load_seconds: float = 0.0
    prompt_seconds: float = 0.0
    generation_seconds: float = 0.0
    total_seconds: float = 0.0  # wall time measured by route from request to last byte
    done_reason: str = ""  # "stop", "length", ...
    context_size: int | None = None  # num_ctx sent, or n_ctx reported by the server
    reasoning_tokens: int = 0  # of output_tokens, how many were reasoning ("thinking")
    reasoning_seconds: float = 0.0  # measured by route: first reasoning to first answer text

    @property
    def tokens_per_second(self) -> float:
        if self.generation_seconds > 0:
            return self.output_tokens / self.generation_seconds
        return 0.0

    @property
    def reasoning_share(self) -> float:
        """The share (0 to 1) of the model's time spent reasoning."""
        if self.total_seconds > 0:
            return min(self.reasoning_seconds / self.total_seconds, 1.0)
        return 0.0


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    usage: Usage
    model: str
    backend: str  # "ollama" or "openai"
    endpoint: str  # base URL, never with credentials
    warnings: tuple[str, ...] = ()
    # The model's reasoning, kept apart from ``text``: never parsed, written or reported.
    reasoning: str = field(default="", repr=False)
    still_reasoning: bool = False  # the stream ended before the reasoning did
    reasoning_source: str = ""  # "server" (a field of its own), "inline" (tags), "" (none seen)
    max_output_tokens: int = 0  # the output budget sent (reasoning + answer); 0: not known


# --------------------------------------------------------------------------- parse / write


@dataclass(frozen=True, slots=True)
class FileBlock:
    """A whole new or replaced file proposed by the model."""

    path: str  # exactly as the model wrote it (not yet validated)
    content: str


@dataclass(frozen=True, slots=True)
class EditBlock:
    """A SEARCH/REPLACE edit proposed by the model."""

    path: str
    search: str
    replace: str


@dataclass(frozen=True, slots=True)
class ParsedAnswer:
    files: tuple[FileBlock, ...] = ()
    edits: tuple[EditBlock, ...] = ()
    problems: tuple[str, ...] = ()  # e.g. "unterminated code block after line 40"

    @property
    def empty(self) -> bool:
        return not self.files and not self.edits


ChangeKind = Literal["create", "modify"]


@dataclass(frozen=True, slots=True)
class FileChange:
    path: str  # relative to the project root, POSIX separators, validated
    kind: ChangeKind
    before: bytes | None  # None when the file is created
    after: bytes


@dataclass(frozen=True, slots=True)
class Refusal:
    path: str  # as the model wrote it
    reason: str  # one line: why it was refused and how to allow it when that is possible


@dataclass(frozen=True, slots=True)
class WritePlan:
    """Every change of one attempt, validated before the first byte is written."""

    changes: tuple[FileChange, ...] = ()
    refusals: tuple[Refusal, ...] = ()
    failures: tuple[str, ...] = ()  # e.g. SEARCH text found 0 or 2 times: the attempt fails

    @property
    def applicable(self) -> bool:
        """All or nothing: a plan with any refusal or failure writes nothing."""
        return bool(self.changes) and not self.failures and not self.refusals


# --------------------------------------------------------------------------- verify


@dataclass(frozen=True, slots=True)
class VerifyResult:
    command: str
    passed: bool
    exit_code: int | None  # None when it did not run or was killed
    output_tail: str  # last part of stdout+stderr (bounded)
    duration_seconds: float
    timed_out: bool = False
    skipped_reason: str | None = None  # "no Makefile", "--no-verify", ... (passed is True then)
    # The tamper check: paths verify changed that it must not (restored where possible; then
    # ``passed`` is False), and those that could not be restored, one line each.
    tampered: tuple[str, ...] = ()
    unrestored: tuple[str, ...] = ()
    sandbox: str | None = None  # with --sandbox: "isolated" or "unavailable"
    redactions: int = 0  # secrets replaced in ``output_tail`` before anyone sees it


@dataclass(frozen=True, slots=True)
class FixResult:
    """What the fix step (the project's fixer on route's files, before verify) did."""

    command: str  # as run, {files} replaced
    exit_code: int | None  # None: skipped or timed out
    changes: tuple[FileChange, ...]  # route's files it changed (kept); () when undone
    output_tail: str
    duration_seconds: float
    problem: str | None = None  # why its changes were undone or it did not run; None when fine


# --------------------------------------------------------------------------- run


RunStatus = Literal[
    "success",  # verify passed (or was skipped) and files were written
    "verify_failed",  # verify still failing after all attempts
    "no_files",  # no usable file blocks in any attempt
    "refused",  # the model's answer was refused as unsafe (nothing of it written)
    "tampered",  # verify changed files it must not (restored where possible): not a success
    "backend_error",
    "interrupted",
    "cancelled",  # the caller cancelled (an MCP client): the files it wrote were put back
    "dry_run",
    "error",
]


Strategy = Literal["first", "repair", "focused"]


@dataclass(frozen=True, slots=True)
class Attempt:
    number: int  # 1-based
    completion: Completion
    parsed: ParsedAnswer
    plan: WritePlan
    written: bool  # the plan was applied to disk
    verify: VerifyResult | None
    failure: str | None = None  # why this attempt did not succeed, one line
    # How the answer was asked for: "first" (the first prompt), "repair" (the conversation with
    # the located verify output), "focused" (a fresh conversation on the failing file alone).
    strategy: Strategy = "first"
    fix: FixResult | None = None  # the fix step before verify, when one ran
    # The import step after a failed verify: "path: from module import name" per import route
    # added (verify then ran again: ``verify`` is that second run).
    imports: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CostReport:
    cloud_model: str
    prices_date: str
    tokenizer_family: str
    cloud_input_tokens_estimate: int  # what the cloud model would have read without routing
    cloud_output_tokens_estimate: int  # what it would have written
    cloud_only_dollars: float
    handoff_input_tokens_estimate: int  # summary the orchestrator reads
    handoff_output_tokens_estimate: int  # command the orchestrator writes
    handoff_dollars: float
    local_energy_dollars: float
    net_saving_dollars: float
    net_saving_percent: float
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RunResult:
    run_id: str
    task: str
    skill_refs: tuple[str, ...]
    project_root: Path
    status: RunStatus
    exit_code: int
    attempts: tuple[Attempt, ...]
    created: tuple[str, ...]  # files created over the whole run (final state)
    changed: tuple[str, ...]  # existing files changed
    refused: tuple[Refusal, ...]
    started_at: float  # unix time
    duration_seconds: float
    model: str
    backend: str
    endpoint: str
    prompt_characters: int
    output_characters: int
    cost: CostReport | None = None
    message: str = ""  # one line for the user (the error, or what happened)
    warnings: tuple[str, ...] = field(default=())
    ledger_note: str | None = None  # "could not record: ..." when the ledger failed
    # On a final failure: what the orchestrator needs to take over, in one read (bounded).
    handback: str = ""
