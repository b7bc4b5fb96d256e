"""Rough token estimates from text, for sizing prompts before a server counts them.

The server's own counts always win when they exist; these estimates only size ``num_ctx``,
check a prompt against a context window before generating, and show ``--print-prompt`` figures.
"""

from __future__ import annotations

import math

# Local coder models (Qwen, Llama, DeepSeek tokenizers) average about 3.5 characters per token
# on source code and English prose mixed together.
LOCAL_CHARS_PER_TOKEN = 3.5


def estimate_tokens(text: str, chars_per_token: float = LOCAL_CHARS_PER_TOKEN) -> int:
    """Estimated token count of ``text`` (0 for empty text, at least 1 otherwise)."""
    if not text:
        return 0
    return max(1, math.ceil(len(text) / chars_per_token))


def estimate_messages_tokens(contents: list[str] | tuple[str, ...]) -> int:
    """Estimate for a chat: the text of every message plus a few tokens of framing each."""
    return sum(estimate_tokens(content) + 4 for content in contents)
