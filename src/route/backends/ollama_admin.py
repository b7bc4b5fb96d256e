"""Talk to Ollama about models: installed (``/api/tags``), loaded (``/api/ps``), pull with
progress (``/api/pull``) and a smoke check (a tiny real generation through route's backend).

Every function takes an injected ``httpx.Client`` and the server's base URL, returns frozen
values, and raises only ``route.errors`` classes (translated here, ``raise ... from exc``).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from route.backends.transport import translated_transport_errors
from route.errors import (
    BackendAuthError,
    BackendBusy,
    BackendError,
    BackendResponseError,
    BackendTimeout,
    BackendUnreachable,
    ModelNotFound,
    UsageError,
)

if TYPE_CHECKING:
    import httpx

    from route.values import Completion

Clock = Callable[[], float]

LIBRARY_URL = "https://ollama.com/library"
CHECK_CONTEXT_TOKENS = 4096  # route's smallest stable num_ctx: the check loads what gen would
CHECK_OUTPUT_TOKENS = 1024  # room for a thinking model's reasoning before the file
CHECK_FILE = "calc.py"
CHECK_TASK = (
    f"Write the file {CHECK_FILE} holding a Python function add(a, b) that returns the sum of "
    "a and b. Nothing else."
)
_MISSING_MARKERS = ("file does not exist", "not found", "manifest unknown")


# --------------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class InstalledModel:
    """One entry of ``/api/tags``."""

    name: str
    size_bytes: int
    parameter_size: str  # "7.6B", "" when unknown
    quantization: str  # "Q4_K_M", "" when unknown
    family: str
    modified_at: str


@dataclass(frozen=True, slots=True)
class LoadedModel:
    """One entry of ``/api/ps``."""

    name: str
    size_bytes: int
    vram_bytes: int
    context_length: int | None  # since Ollama 0.10.0
    expires_at: str
    parameter_size: str
    quantization: str

    @property
    def gpu_share(self) -> float:
        return min(1.0, self.vram_bytes / self.size_bytes) if self.size_bytes > 0 else 0.0

    @property
    def partly_on_cpu(self) -> bool:
        return self.vram_bytes < self.size_bytes


@dataclass(frozen=True, slots=True)
class PullProgress:
    status: str  # "pulling manifest", "pulling <digest>", "verifying sha256 digest", ...
    completed_bytes: int  # summed over layers
    total_bytes: int  # summed over the layers seen so far
    layers: int
    bytes_per_second: float | None  # over this session (resumed bytes not counted)
    seconds_left: float | None

    @property
    def fraction(self) -> float | None:
        return self.completed_bytes / self.total_bytes if self.total_bytes > 0 else None


@dataclass(frozen=True, slots=True)
class PullResult:
    name: str
    total_bytes: int
    downloaded_bytes: int  # in this session; less than total when the pull resumed
    seconds: float


@dataclass(frozen=True, slots=True)
class CheckResult:
    model: str
    load_seconds: float
    prompt_tokens: int
    prompt_tokens_per_second: float
    output_tokens: int
    output_tokens_per_second: float
    total_seconds: float
    requested_context: int
    allocated_context: int | None  # what the server loaded (``/api/ps``), None if it did not say
    size_bytes: int | None
    vram_bytes: int | None
    followed_format: bool  # path line + code block defining add(a, b)
    format_problems: tuple[str, ...]
    answer: str
    warnings: tuple[str, ...] = ()
    thinks: bool | None = None  # /api/show lists "thinking"; None: the server does not say
    think_values: tuple[str, ...] = ()  # the --think values the model accepts
    reasoning_source: str = ""  # "server" (separated), "inline" (tags in the answer), "" (none)
    reasoning_tokens: int = 0

    @property
    def fully_on_gpu(self) -> bool | None:
        if self.size_bytes is None or self.vram_bytes is None:
            return None
        return self.vram_bytes >= self.size_bytes


# --------------------------------------------------------------------------- tags and ps


def list_installed(
    client: httpx.Client, base_url: str, *, api_key: str | None = None
) -> tuple[InstalledModel, ...]:
    """Installed models from ``GET /api/tags``."""
    data = _get_json(client, base_url, "/api/tags", api_key)
    return tuple(_installed(entry) for entry in _entries(data, base_url, "/api/tags"))


def list_loaded(
    client: httpx.Client, base_url: str, *, api_key: str | None = None
) -> tuple[LoadedModel, ...]:
    """Models loaded in memory from ``GET /api/ps``."""
    data = _get_json(client, base_url, "/api/ps", api_key)
    return tuple(_loaded(entry) for entry in _entries(data, base_url, "/api/ps"))


def _installed(entry: Mapping[str, Any]) -> InstalledModel:
    details = _mapping(entry.get("details"))
    return InstalledModel(
        name=_text(entry.get("name") or entry.get("model")),
        size_bytes=_number(entry.get("size")),
        parameter_size=_text(details.get("parameter_size")),
        quantization=_text(details.get("quantization_level")),
        family=_text(details.get("family")),
        modified_at=_text(entry.get("modified_at")),
    )


def _loaded(entry: Mapping[str, Any]) -> LoadedModel:
    details = _mapping(entry.get("details"))
    context = entry.get("context_length")
    return LoadedModel(
        name=_text(entry.get("name") or entry.get("model")),
        size_bytes=_number(entry.get("size")),
        vram_bytes=_number(entry.get("size_vram")),
        context_length=context if isinstance(context, int) and context > 0 else None,
        expires_at=_text(entry.get("expires_at")),
        parameter_size=_text(details.get("parameter_size")),
        quantization=_text(details.get("quantization_level")),
    )


# --------------------------------------------------------------------------- pull


def pull_model(
    client: httpx.Client,
    base_url: str,
    name: str,
    on_progress: Callable[[PullProgress], None],
    *,
    api_key: str | None = None,
    clock: Clock = time.monotonic,
) -> PullResult:
    """Pull ``name`` with ``POST /api/pull``, calling ``on_progress`` for every status line.

    An interrupted pull raises ``BackendResponseError`` saying how far it got; running it again
    resumes (Ollama keeps the downloaded parts). Ctrl-C propagates as ``KeyboardInterrupt`` after
    the connection is closed.
    """
    check_model_name(name)
    tracker = _PullTracker(clock)
    url = f"{base_url.rstrip('/')}/api/pull"
    with (
        translated_transport_errors(
            unreachable=lambda: _unreachable(base_url),
            timeout=lambda: _timeout(base_url),
            cut=lambda: _pull_cut(name, tracker),
        ),
        client.stream(
            "POST", url, json={"model": name, "stream": True}, headers=_headers(api_key)
        ) as response,
    ):
        if response.status_code >= 400:
            response.read()
            raise _pull_status_error(response, base_url, name)
        for line in response.iter_lines():
            progress = tracker.update(_pull_line(line, base_url, name))
            if progress is not None:
                on_progress(progress)
            if tracker.succeeded:
                break
    if not tracker.succeeded:
        raise _pull_cut(name, tracker)
    return PullResult(
        name=name,
        total_bytes=tracker.total,
        downloaded_bytes=tracker.gained,
        seconds=clock() - tracker.started,
    )


class _PullTracker:
    """Sums progress per layer digest (``completed`` may be missing until bytes arrive)."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.started = clock()
        self._layers: dict[str, tuple[int, int]] = {}  # digest -> (completed, total)
        self._baseline: dict[str, int] = {}  # completed when first seen (resumed bytes)
        self._first_byte_at: float | None = None
        self.succeeded = False

    @property
    def total(self) -> int:
        return sum(total for _completed, total in self._layers.values())

    @property
    def completed(self) -> int:
        return sum(completed for completed, _total in self._layers.values())

    @property
    def gained(self) -> int:
        return self.completed - sum(self._baseline.values())

    def update(self, data: Mapping[str, Any]) -> PullProgress | None:
        status = _text(data.get("status"))
        if not status:
            return None
        digest = data.get("digest")
        if isinstance(digest, str) and digest:
            total = _number(data.get("total"))
            completed = min(_number(data.get("completed")), total) if total else 0
            self._baseline.setdefault(digest, completed)
            self._layers[digest] = (completed, total)
            if self._first_byte_at is None and completed > self._baseline[digest]:
                self._first_byte_at = self._clock()
        if status == "success":
            self.succeeded = True
        return self._progress(status)

    def _progress(self, status: str) -> PullProgress:
        speed: float | None = None
        left: float | None = None
        if self._first_byte_at is not None:
            elapsed = self._clock() - self._first_byte_at
            if elapsed > 0 and self.gained > 0:
                speed = self.gained / elapsed
                left = max(0, self.total - self.completed) / speed
        return PullProgress(
            status=status,
            completed_bytes=self.completed,
            total_bytes=self.total,
            layers=len(self._layers),
            bytes_per_second=speed,
            seconds_left=left,
        )


MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-/:@+]*")


def check_model_name(name: str) -> str:
    """``name`` if it can be a model name (``qwen2.5-coder:7b``, ``hf.co/user/repo:Q4_K_M``);
    else a ``UsageError`` before anything is sent to the server."""
    if not name.strip():
        raise UsageError("the model name is empty — give a tag such as qwen2.5-coder:7b")
    if MODEL_NAME.fullmatch(name) is None:
        raise UsageError(
            f"{name!r} is not a model name — use letters, digits and . _ - / : "
            "(for example qwen2.5-coder:7b)"
        )
    return name


def _pull_line(line: str, base_url: str, name: str) -> dict[str, Any]:
    if not line.strip():
        return {}
    try:
        data = json.loads(line)
    except ValueError as exc:
        raise BackendResponseError(
            f"the pull stream from {base_url} held a line that is not JSON ({line[:80]!r}) — "
            f"check that the server is Ollama, then run `route models pull {name}` again"
        ) from exc
    if not isinstance(data, dict):
        return {}
    error = data.get("error")
    if error is not None:
        raise _pull_error(str(error), base_url, name)
    return data


def _pull_error(message: str, base_url: str, name: str) -> BackendError:
    if any(marker in message.lower() for marker in _MISSING_MARKERS):
        return ModelNotFound(
            f"Ollama's library has no model {name!r} ({message}) — check the name and tag at "
            f"{LIBRARY_URL}, or run `route models recommend` for tags that exist"
        )
    return BackendResponseError(
        f"Ollama at {base_url} could not pull {name}: {message} — check the server log and the "
        "free disk space, then run the pull again (it resumes)"
    )


def _pull_status_error(response: httpx.Response, base_url: str, name: str) -> BackendError:
    said = _server_error_text(response)
    if response.status_code == 404:
        return ModelNotFound(
            f"Ollama's library has no model {name!r} (HTTP 404: {said or 'not found'}) — check "
            f"the name and tag at {LIBRARY_URL}, or run `route models recommend`"
        )
    return _status_error(response, base_url, f"pull {name}")


def _pull_cut(name: str, tracker: _PullTracker) -> BackendResponseError:
    progress = ""
    if tracker.total > 0:
        percent = 100 * tracker.completed / tracker.total
        progress = (
            f" at {percent:.0f}% ({tracker.completed / 1e9:.2f} of {tracker.total / 1e9:.2f} GB)"
        )
    return BackendResponseError(
        f"the pull of {name} stopped{progress} before Ollama said success — run "
        f"`route models pull {name}` again; Ollama resumes where it stopped"
    )


# --------------------------------------------------------------------------- check


def check_model(
    client: httpx.Client,
    base_url: str,
    name: str,
    *,
    api_key: str | None = None,
    context_tokens: int = CHECK_CONTEXT_TOKENS,
    max_output_tokens: int = CHECK_OUTPUT_TOKENS,
) -> CheckResult:
    """A short real generation through route's own prompt and Ollama backend.

    Reports load time, prompt and output speed, the context the server allocated, whether the
    model sits fully on the GPU, and whether the answer followed route's file format.
    """
    from route.backends.ollama import OllamaBackend
    from route.prompting.prompt import build_prompt
    from route.values import ChatRequest

    prompt = build_prompt(CHECK_TASK, (), ())
    request = ChatRequest(
        model=name,
        messages=prompt.messages,
        max_output_tokens=max_output_tokens,
        num_ctx=context_tokens,
    )
    backend = OllamaBackend(client, base_url, api_key=api_key)
    support = backend.think_support(name)
    completion = backend.chat(request, lambda _text: None)
    loaded = _find_loaded(list_loaded(client, base_url, api_key=api_key), name)
    problems = check_answer_format(completion.text)
    if completion.still_reasoning:
        problems = (
            f"the model was still reasoning when the {max_output_tokens}-token check budget "
            "ran out",
            *problems,
        )
    result = _check_result(name, completion, context_tokens, loaded, problems)
    return replace(
        result,
        thinks=support.thinks,
        think_values=support.values if support.thinks is not None else (),
    )


def _check_result(
    name: str,
    completion: Completion,
    context_tokens: int,
    loaded: LoadedModel | None,
    problems: tuple[str, ...],
) -> CheckResult:
    usage = completion.usage
    prompt_speed = usage.prompt_tokens / usage.prompt_seconds if usage.prompt_seconds > 0 else 0.0
    return CheckResult(
        model=name,
        load_seconds=usage.load_seconds,
        prompt_tokens=usage.prompt_tokens,
        prompt_tokens_per_second=prompt_speed,
        output_tokens=usage.output_tokens,
        output_tokens_per_second=usage.tokens_per_second,
        total_seconds=usage.total_seconds,
        requested_context=context_tokens,
        allocated_context=loaded.context_length if loaded else None,
        size_bytes=loaded.size_bytes if loaded else None,
        vram_bytes=loaded.vram_bytes if loaded else None,
        followed_format=not problems,
        format_problems=problems,
        answer=completion.text,
        warnings=completion.warnings,
        reasoning_source=completion.reasoning_source,
        reasoning_tokens=usage.reasoning_tokens,
    )


def _find_loaded(models: tuple[LoadedModel, ...], name: str) -> LoadedModel | None:
    wanted = name if ":" in name else f"{name}:latest"
    return next((m for m in models if m.name in (name, wanted)), None)


def check_answer_format(text: str) -> tuple[str, ...]:
    """Problems with a check answer, read by route's own parser: it must hold a path line and a
    code block defining ``add(a, b)`` as valid Python (empty when it followed route's format)."""
    from route.prompting.parse import parse_answer

    parsed = parse_answer(text)
    files = [(block.path, block.content) for block in parsed.files]
    if not files:
        return parsed.problems or ("no file block (a path line followed by a fenced code block)",)
    python = [(path, content) for path, content in files if path.endswith(".py")]
    if not python:
        return (f"no Python file among the blocks ({', '.join(p for p, _ in files)})",)
    path, content = next(((p, c) for p, c in python if p == CHECK_FILE), python[0])
    problems = [] if path == CHECK_FILE else [f"wrote {path} instead of {CHECK_FILE}"]
    problems.extend(_python_problems(content))
    return tuple(problems)


def _python_problems(content: str) -> list[str]:
    import ast

    try:
        tree = ast.parse(content)
    except SyntaxError as error:
        return [f"the code is not valid Python ({error.msg}, line {error.lineno})"]
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == "add":
            if len(node.args.args) == 2:
                return []
            return ["add() does not take two arguments"]
    return ["the code does not define add(a, b)"]


# --------------------------------------------------------------------------- HTTP helpers


def _headers(api_key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def _get_json(client: httpx.Client, base_url: str, path: str, api_key: str | None) -> Any:
    with translated_transport_errors(
        unreachable=lambda: _unreachable(base_url), timeout=lambda: _timeout(base_url)
    ):
        response = client.get(f"{base_url.rstrip('/')}{path}", headers=_headers(api_key))
    if response.status_code >= 400:
        raise _status_error(response, base_url, f"GET {path}")
    try:
        return response.json()
    except ValueError as exc:
        raise BackendResponseError(
            f"{base_url}{path} answered with something that is not JSON — is OLLAMA_HOST "
            "pointing at an Ollama server?"
        ) from exc


def _entries(data: Any, base_url: str, path: str) -> Iterator[Mapping[str, Any]]:
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, list):
        raise BackendResponseError(
            f"{base_url}{path} answered without a `models` list — is OLLAMA_HOST pointing at an "
            "Ollama server?"
        )
    return (entry for entry in models if isinstance(entry, dict))


def _status_error(response: httpx.Response, base_url: str, action: str) -> BackendError:
    status = response.status_code
    said = _server_error_text(response)
    detail = f"HTTP {status}: {said}" if said else f"HTTP {status}"
    if status in (401, 403):
        return BackendAuthError(
            f"Ollama at {base_url} refused to {action} ({detail}) — set OLLAMA_API_KEY to a key "
            "this server accepts"
        )
    if status in (429, 503):
        return BackendBusy(f"Ollama at {base_url} is busy ({detail}) — try again in a moment")
    return BackendResponseError(
        f"Ollama at {base_url} could not {action} ({detail}) — check the server log "
        "(`ollama serve` output); an old Ollama may need an update"
    )


def _server_error_text(response: httpx.Response) -> str:
    body = response.text.strip()
    try:
        data = json.loads(body)
    except ValueError:
        return body[:300]
    if isinstance(data, dict) and "error" in data:
        return str(data["error"])
    return body[:300]


def _unreachable(base_url: str) -> BackendUnreachable:
    return BackendUnreachable(
        f"Ollama is not reachable at {base_url} — start it with `ollama serve` or set OLLAMA_HOST"
    )


def _timeout(base_url: str) -> BackendTimeout:
    return BackendTimeout(
        f"Ollama at {base_url} stopped answering — check that it is not stuck (`ollama ps`), "
        "then try again"
    )


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _number(value: Any) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int | float) and value > 0:
        return int(value)
    return 0
