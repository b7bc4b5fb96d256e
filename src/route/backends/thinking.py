"""``--think``: what each server is sent, what a model accepts, and the output budget.

``auto`` (the default) sends nothing: the model decides. ``off`` turns reasoning off where the
server has a switch for it: Ollama's ``think: false``, and on OpenAI-compatible servers
``chat_template_kwargs: {"enable_thinking": false}``, which llama.cpp, vLLM and SGLang pass to
chat templates that read it (the Qwen3 family and others). ``on`` sends ``think: true`` /
``enable_thinking: true``; a level (``low``, ``medium``, ``high``) sends Ollama's ``think:
"<level>"`` or ``reasoning_effort`` to an OpenAI-compatible server.

Ollama's ``/api/show`` lists ``"thinking"`` in ``capabilities`` for a model that can reason.
Levels are only honoured by models that take them (gpt-oss, with the harmony format); other
models silently ignore a level, and gpt-oss cannot switch reasoning off. So a value the model
does not accept is refused before the request, naming the values it does accept.

Reasoning and answer share one output budget (``num_predict`` / ``max_tokens``). For a model
that thinks, the budget is raised to ``thinking_output_tokens`` (unless thinking is off), and
a run that ends while still reasoning fails with ``budget_failure``'s message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from route.errors import ThinkNotSupported
from route.values import THINK_MODES, ChatRequest, Completion, ThinkMode

LEVELS: tuple[ThinkMode, ...] = ("low", "medium", "high")
# Model families (``details.family`` / ``general.architecture``) whose reasoning takes levels.
LEVEL_FAMILIES = frozenset({"gptoss", "gpt-oss"})


@dataclass(frozen=True, slots=True)
class ThinkSupport:
    """What a model accepts for ``--think``, as the server described it."""

    thinks: bool | None  # None: the server does not say (an old Ollama, an OpenAI server)
    values: tuple[ThinkMode, ...] = THINK_MODES  # the values it accepts (auto always)

    def accepts(self, mode: ThinkMode) -> bool:
        return mode in self.values


UNKNOWN = ThinkSupport(thinks=None)


def support_from_show(show: object) -> ThinkSupport:
    """What ``/api/show``'s answer says: no ``capabilities`` list means unknown."""
    if not isinstance(show, dict):
        return UNKNOWN
    capabilities = show.get("capabilities")
    if not isinstance(capabilities, list):
        return UNKNOWN
    if "thinking" not in capabilities:
        return ThinkSupport(thinks=False, values=("auto", "off"))
    if _takes_levels(show):
        return ThinkSupport(thinks=True, values=("auto", "on", *LEVELS))
    return ThinkSupport(thinks=True, values=("auto", "on", "off"))


def _takes_levels(show: dict[str, Any]) -> bool:
    details = show.get("details")
    info = show.get("model_info")
    names = {
        details.get("family") if isinstance(details, dict) else None,
        info.get("general.architecture") if isinstance(info, dict) else None,
    }
    return bool(names & LEVEL_FAMILIES)


def check_think(mode: ThinkMode, support: ThinkSupport, model: str) -> None:
    """Raise ``ThinkNotSupported`` when the model does not accept ``mode``."""
    if support.thinks is None or support.accepts(mode):
        return
    accepted = "|".join(support.values)
    if not support.thinks:
        why = f'{model} does not reason (its /api/show capabilities have no "thinking")'
    elif mode == "off":
        why = f"{model} always reasons and cannot switch it off; it takes levels"
    else:
        why = f"{model} switches reasoning on or off but takes no levels"
    raise ThinkNotSupported(f"--think {mode} is not accepted: {why} — use --think {accepted}")


def ollama_think(mode: ThinkMode) -> bool | str | None:
    """The value of Ollama's ``think`` field, or None to send no field."""
    if mode == "auto":
        return None
    if mode in ("on", "off"):
        return mode == "on"
    return mode


def openai_think_fields(mode: ThinkMode) -> dict[str, Any]:
    """The fields an OpenAI-compatible request carries for ``mode`` (none for ``auto``)."""
    if mode in ("on", "off"):
        return {"chat_template_kwargs": {"enable_thinking": mode == "on"}}
    if mode in LEVELS:
        return {"reasoning_effort": mode}
    return {}


def output_budget(request: ChatRequest, thinks: bool | None) -> int:
    """The output tokens to ask for: raised for a model that thinks, unless thinking is off."""
    raised = request.thinking_output_tokens
    if raised is None or request.think == "off":
        return request.max_output_tokens
    expected = request.think != "auto" or bool(thinks) or (thinks is None and request.model_thinks)
    return max(request.max_output_tokens, raised) if expected else request.max_output_tokens


def budget_failure(completion: Completion) -> str | None:
    """Why a completion that stopped at the length limit while still reasoning failed."""
    if not completion.still_reasoning or completion.usage.done_reason != "length":
        return None
    tokens = completion.usage.reasoning_tokens or completion.usage.output_tokens
    return (
        f"the model spent its whole output budget reasoning ({tokens} tokens) — raise "
        "--max-output-tokens or use --think low/off"
    )
