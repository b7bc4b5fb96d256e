"""Secrets kept away from verify and from the model.

Verify runs code the model just wrote, and what verify prints goes back to the model in the
repair message (and to the calling agent in the report). So:

- ``scrub_environment`` removes from verify's environment every variable whose *name* looks
  like a credential (``SECRET_NAME_PATTERNS``: passwords, tokens, API keys, DSNs, webhooks,
  JWTs, personal access tokens, agent sockets, ...) and every variable whose *value* holds one
  (a URL with ``user:password@``, a key-looking string); ``keep`` names variables the user keeps
  (``--keep-env NAME``);
- ``Redactor`` replaces, in verify's output, the values of every such variable (kept ones
  included: verify may need them, the model never does) and every string that looks like a key
  (AWS key ids, ``ghp_``/``github_pat_`` tokens, ``sk-...`` keys, Slack tokens, JWTs, private-key
  blocks, URL passwords), and counts what it replaced.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

SECRET_NAME_PATTERNS: tuple[str, ...] = (
    # Cloud model and platform credentials.
    "ANTHROPIC_*",
    "OPENAI_*",
    "AWS_*",
    "AZURE_*",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    # Anything named like a credential.
    "*PASSWORD*",
    "*PASSWD*",
    "*PASSPHRASE*",
    "*_PWD",
    "MYSQL_PWD",
    "*SECRET*",
    "*TOKEN*",
    "*API_KEY*",
    "*APIKEY*",
    "*ACCESS_KEY*",
    "*PRIVATE_KEY*",
    "*_KEY",
    "*CREDENTIAL*",
    "*_PAT",
    "*_AUTH",
    "*_AUTH_*",
    "*JWT*",
    "*WEBHOOK*",
    "*_DSN",
    "*COOKIE*",
    "*SESSION_KEY*",
    # Agents that sign or authenticate on the user's behalf.
    "SSH_AUTH_SOCK",
    "GPG_AGENT_INFO",
    "*_AUTH_SOCK",
)
"""fnmatch patterns, matched against the upper-cased variable name."""

_KEY_PATTERNS: tuple[str, ...] = (
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----[\s\S]*?(?:-----END [A-Z0-9 ]*-----|\Z)",
    r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b",
    r"\bgh[pousr]_[A-Za-z0-9]{30,}\b",
    r"\bgithub_pat_[A-Za-z0-9_]{20,}\b",
    r"\bglpat-[A-Za-z0-9_-]{20,}\b",
    r"\bsk-[A-Za-z0-9_-]{20,}",
    r"\b[rs]k_(?:live|test)_[A-Za-z0-9]{20,}\b",
    r"\bxox[abposr]-[A-Za-z0-9-]{10,}",
    r"https://hooks\.slack\.com/services/[A-Za-z0-9/_-]+",
    r"\bhf_[A-Za-z0-9]{30,}\b",
    r"\bAIza[0-9A-Za-z_-]{35}\b",
    r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
    r"\bnpm_[A-Za-z0-9]{30,}\b",
)
"""Strings that look like keys or tokens, whatever variable (or file) they came from."""

_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s/:@]*:)([^\s/@]+)(@)")
_KEYS = re.compile("|".join(f"(?:{pattern})" for pattern in _KEY_PATTERNS))
REDACTED = "[redacted]"
MIN_REDACTED_VALUE = 6  # shorter values ("1", "yes") would redact ordinary words


@dataclass(frozen=True, slots=True)
class ScrubbedEnvironment:
    environment: dict[str, str]  # what verify gets
    removed: tuple[str, ...]  # names taken out, sorted
    secret_values: tuple[str, ...]  # values of every secret-looking variable, kept ones too


def is_secret_name(name: str, extra_patterns: Sequence[str] = ()) -> bool:
    upper = name.upper()
    return any(
        fnmatch.fnmatchcase(upper, pattern.upper())
        for pattern in (*SECRET_NAME_PATTERNS, *extra_patterns)
    )


def is_secret_value(value: str) -> bool:
    """A value holding a URL with a password or a key-looking string."""
    return bool(_URL_PASSWORD.search(value) or _KEYS.search(value))


def scrub_environment(
    environment: Mapping[str, str],
    *,
    extra_patterns: Sequence[str] = (),
    keep: Collection[str] = (),
) -> ScrubbedEnvironment:
    """``environment`` without the variables that look like credentials, by name or by value,
    except those named in ``keep``."""
    kept: dict[str, str] = {}
    removed: list[str] = []
    values: list[str] = []
    for name, value in environment.items():
        secret = is_secret_name(name, extra_patterns) or is_secret_value(value)
        if secret:
            values.append(value)
        if secret and name not in keep:
            removed.append(name)
        else:
            kept[name] = value
    return ScrubbedEnvironment(kept, tuple(sorted(removed)), tuple(values))


class Redactor:
    """Replaces secret values and key-looking strings in text with ``[redacted]``."""

    def __init__(self, secret_values: Sequence[str] = ()) -> None:
        pieces: set[str] = set()
        for value in secret_values:
            pieces.add(value.strip())
            pieces.update(match.group(2) for match in _URL_PASSWORD.finditer(value))
        usable = sorted((p for p in pieces if len(p) >= MIN_REDACTED_VALUE), key=len, reverse=True)
        self._values = re.compile("|".join(map(re.escape, usable))) if usable else None

    def redact(self, text: str) -> tuple[str, int]:
        """``text`` with every secret replaced, and how many replacements were made."""
        total = 0
        if self._values is not None:
            text, count = self._values.subn(REDACTED, text)
            total += count
        text, count = _KEYS.subn(REDACTED, text)
        total += count
        text, count = _URL_PASSWORD.subn(rf"\1{REDACTED}\3", text)
        return text, total + count
