"""``route models`` through typer's CliRunner: exit codes, output, and the HTTP calls made.

Hardware comes from the overrides (--gpu none / --vram / --ram) so results do not depend on the
machine running the tests; Ollama is replaced by respx.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx
from typer.testing import CliRunner

from route.cli.models import app
from route.errors import Interrupted, ModelNotFound, UsageError

BASE = "http://ollama.test:11434"
HOST = ["--host", BASE]


def free_port() -> int:
    """A port on 127.0.0.1 where nothing listens (bound, read, released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


NOWHERE = ["--host", f"http://127.0.0.1:{free_port()}"]

runner = CliRunner()

GOOD_ANSWER = "calc.py\n```python\ndef add(a, b):\n    return a + b\n```\n"


def invoke(*args: str) -> Any:
    return runner.invoke(app, list(args))


def ndjson(*lines: dict[str, Any]) -> str:
    return "".join(json.dumps(line) + "\n" for line in lines)


def tags(*names: str) -> dict[str, Any]:
    return {
        "models": [
            {
                "name": name,
                "size": 4_683_075_271,
                "modified_at": "2025-05-10T08:06:48-07:00",
                "details": {"parameter_size": "7.6B", "quantization_level": "Q4_K_M"},
            }
            for name in names
        ]
    }


def pull_lines(total: int = 2_000_000_000) -> str:
    half = total // 2
    return ndjson(
        {"status": "pulling manifest"},
        {"status": "pulling abc", "digest": "sha256:abc", "total": total},
        {"status": "pulling abc", "digest": "sha256:abc", "total": total, "completed": half},
        {"status": "pulling abc", "digest": "sha256:abc", "total": total, "completed": total},
        {"status": "verifying sha256 digest"},
        {"status": "writing manifest"},
        {"status": "success"},
    )


# --------------------------------------------------------------------------- hardware


def test_hardware_json_with_overrides() -> None:
    result = invoke("hardware", "--gpu", "none", "--ram", "16GB", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["gpus"] == []
    assert data["ram_total_bytes"] == 16 * 10**9
    assert data["usable_ram_bytes"] == 16 * 10**9 - int(0.15 * 16 * 10**9)
    assert data["bandwidth"]["gpu"] is None
    assert "--gpu none: planning for CPU inference only" in data["notes"]


def test_hardware_table_for_a_planned_gpu() -> None:
    result = invoke("hardware", "--vram", "24GB", "--ram", "64GB", "--bandwidth", "936")
    assert result.exit_code == 0, result.output
    assert "planned GPU" in result.stdout
    assert "24.0 GB" in result.stdout
    assert "Usable for models on the GPU: 23.5 GB" in result.stdout
    assert "GPU 936 GB/s" in result.stdout


def test_hardware_verbose_lists_reasons() -> None:
    result = invoke("hardware", "--ram", "8GB", "--verbose")
    assert result.exit_code == 0, result.output
    quiet = invoke("hardware", "--ram", "8GB")
    assert len(result.stdout.splitlines()) >= len(quiet.stdout.splitlines())


@pytest.mark.parametrize(
    "args",
    [
        ("--gpu", "none", "--vram", "8GB"),
        ("--gpu", "maybe"),
        ("--ram", "plenty"),
    ],
)
def test_hardware_bad_overrides_are_usage_errors(args: tuple[str, ...]) -> None:
    result = invoke("hardware", *args)
    assert result.exit_code != 0
    assert isinstance(result.exception, UsageError)


# --------------------------------------------------------------------------- recommend


@respx.mock
def test_recommend_json_marks_installed_models() -> None:
    respx.get(f"{BASE}/api/tags").respond(json=tags("qwen3-coder:30b", "glm-4.7-flash:latest"))
    result = invoke("recommend", "--gpu", "none", "--ram", "32GB", "--json", *HOST)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    models = {entry["tag"]: entry for entry in data["models"]}
    assert "qwen3-coder:8b" not in models
    assert "deepseek-coder-v3:16b" not in models
    assert models["qwen3-coder:30b"]["installed"] is True
    assert models["glm-4.7-flash"]["installed"] is True
    assert models["qwen2.5-coder:7b"]["installed"] is False
    assert data["installed_known"] is True
    assert data["settings"]["context_tokens"] == 16384
    top = models[data["top"]]
    assert top["fits_well"] is True
    assert top["fit"] == "cpu_only"
    assert data["pull_command"] == f"ollama pull {data['top']}"
    ranked = [entry["tag"] for entry in data["models"]]
    assert ranked[0] == data["top"]


def test_recommend_table_without_a_server() -> None:
    result = invoke("recommend", "--vram", "24GB", "--ram", "64GB", "--bandwidth", "1008", *NOWHERE)
    assert result.exit_code == 0, result.output
    assert "installed models are not marked" in result.stderr
    assert "Top pick: " in result.stdout
    top_line = next(line for line in result.stdout.splitlines() if line.startswith("Top pick"))
    tag = top_line.split()[2]
    assert f"ollama pull {tag}" in top_line
    starred = next(line for line in result.stdout.splitlines() if line.startswith("*"))
    assert tag in starred
    assert "qwen3-coder:480b" not in result.stdout  # does not fit, hidden without --all
    everything = invoke(
        "recommend", "--vram", "24GB", "--ram", "64GB", "--bandwidth", "1008", "--all", *NOWHERE
    )
    assert "qwen3-coder:480b" in everything.stdout
    assert "does not fit" in everything.stdout


def test_recommend_smaller_context_needs_less_memory() -> None:
    def memory(context: str) -> int:
        result = invoke(
            "recommend", "--gpu", "none", "--ram", "64GB", "--context", context, "--json", *NOWHERE
        )
        data = json.loads(result.stdout)
        entry = next(e for e in data["models"] if e["tag"] == "qwen2.5-coder:7b")
        return int(entry["memory_bytes"])

    assert memory("4096") < memory("16384") < memory("32768")


def test_recommend_when_nothing_fits_well() -> None:
    result = invoke("recommend", "--gpu", "none", "--ram", "2GB", *NOWHERE)
    assert result.exit_code == 0, result.output
    assert "No model fits well" in result.stdout
    pulled = invoke("recommend", "--gpu", "none", "--ram", "2GB", "--pull", *NOWHERE)
    assert isinstance(pulled.exception, UsageError)


@respx.mock
def test_recommend_pull_pulls_the_top_pick() -> None:
    respx.get(f"{BASE}/api/tags").respond(json=tags())
    pull = respx.post(f"{BASE}/api/pull").respond(200, text=pull_lines())
    result = invoke("recommend", "--gpu", "none", "--ram", "32GB", "--pull", "--json", *HOST)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert json.loads(pull.calls.last.request.content)["model"] == data["top"]
    assert data["pulled"]["total_bytes"] == 2_000_000_000
    assert f"Pulled {data['top']}" in result.stderr


def test_recommend_pull_skips_an_installed_top_pick() -> None:
    first = invoke("recommend", "--gpu", "none", "--ram", "32GB", "--json", *NOWHERE)
    top = json.loads(first.stdout)["top"]
    with respx.mock:
        respx.get(f"{BASE}/api/tags").respond(json=tags(top))
        pull = respx.post(f"{BASE}/api/pull")
        result = invoke("recommend", "--gpu", "none", "--ram", "32GB", "--pull", *HOST)
    assert result.exit_code == 0, result.output
    assert "already installed" in result.stderr
    assert not pull.called


# --------------------------------------------------------------------------- list and ps


@respx.mock
def test_list_table_and_json() -> None:
    respx.get(f"{BASE}/api/tags").respond(json=tags("qwen2.5-coder:7b"))
    table = invoke("list", *HOST)
    assert table.exit_code == 0, table.output
    row = next(line for line in table.stdout.splitlines() if "qwen2.5-coder:7b" in line)
    assert row.split() == ["qwen2.5-coder:7b", "4.7", "GB", "7.6B", "Q4_K_M", "2025-05-10"]
    data = json.loads(invoke("list", "--json", *HOST).stdout)
    assert data["models"][0]["quantization"] == "Q4_K_M"
    assert data["host"] == BASE


@respx.mock
def test_list_with_nothing_installed() -> None:
    respx.get(f"{BASE}/api/tags").respond(json={"models": []})
    result = invoke("list", *HOST)
    assert "No models installed" in result.stdout


def test_list_without_a_server_is_unreachable() -> None:
    result = invoke("list", *NOWHERE)
    assert result.exit_code != 0
    assert "ollama serve" in str(result.exception)


@respx.mock
def test_ps_shows_gpu_share_cpu_part_and_context() -> None:
    respx.get(f"{BASE}/api/ps").respond(
        json={
            "models": [
                {
                    "name": "qwen2.5-coder:14b",
                    "size": 10_000_000_000,
                    "size_vram": 8_000_000_000,
                    "context_length": 8192,
                    "expires_at": "2026-06-04T14:38:31.83753-07:00",
                    "details": {},
                }
            ]
        }
    )
    result = invoke("ps", *HOST)
    assert result.exit_code == 0, result.output
    row = next(line for line in result.stdout.splitlines() if "qwen2.5-coder:14b" in line)
    assert "80%" in row
    assert "yes (slower)" in row
    assert "8192" in row
    assert "2026-06-04 14:38:31" in row
    data = json.loads(invoke("ps", "--json", *HOST).stdout)
    assert data["models"][0]["partly_on_cpu"] is True
    assert data["models"][0]["gpu_share"] == pytest.approx(0.8)


@respx.mock
def test_ps_with_nothing_loaded() -> None:
    respx.get(f"{BASE}/api/ps").respond(json={"models": []})
    assert "No model is loaded" in invoke("ps", *HOST).stdout


# --------------------------------------------------------------------------- pull


@respx.mock
def test_pull_prints_progress_and_json() -> None:
    respx.post(f"{BASE}/api/pull").respond(200, text=pull_lines())
    result = invoke("pull", "qwen2.5-coder:7b", "--json", *HOST)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "name": "qwen2.5-coder:7b",
        "total_bytes": 2_000_000_000,
        "downloaded_bytes": 2_000_000_000,
        "seconds": pytest.approx(json.loads(result.stdout)["seconds"]),
        "status": "success",
    }
    lines = result.stderr.splitlines()
    assert "pulling manifest" in lines
    assert any(line.startswith("downloading: 50% (1.0 GB of 2.0 GB, 1 layer)") for line in lines)
    assert any(line.startswith("downloading: 100%") for line in lines)
    assert "success" in lines


@respx.mock
def test_pull_of_a_tag_that_does_not_exist_suggests_real_ones() -> None:
    respx.post(f"{BASE}/api/pull").respond(
        200, text=ndjson({"status": "pulling manifest"}, {"error": "file does not exist"})
    )
    result = invoke("pull", "qwen3-coder:8b", *HOST)
    assert isinstance(result.exception, ModelNotFound)
    assert "qwen3-coder:8b" in str(result.exception)
    suggestion = str(result.exception).partition("similar tags that exist: ")[2]
    assert "qwen3-coder:30b" in suggestion


@respx.mock
@pytest.mark.parametrize("name", ["", "   ", "qwen coder", "../etc", "a\nb"])
def test_pull_of_an_empty_or_malformed_name_sends_nothing(name: str) -> None:
    route = respx.post(f"{BASE}/api/pull").respond(200, text=pull_lines())
    result = invoke("pull", name, *HOST)
    assert isinstance(result.exception, UsageError)
    assert "model name" in str(result.exception)
    assert not route.called


@respx.mock
def test_pull_stopped_with_ctrl_c_says_how_to_resume() -> None:
    def body() -> Iterator[bytes]:
        yield pull_lines().splitlines(keepends=True)[2].encode()
        raise KeyboardInterrupt  # the user pressed Ctrl-C halfway through the download

    respx.post(f"{BASE}/api/pull").mock(
        side_effect=lambda request: httpx.Response(200, content=body())
    )
    result = invoke("pull", "qwen2.5-coder:7b", *HOST)
    assert isinstance(result.exception, Interrupted)
    assert "route models pull qwen2.5-coder:7b" in str(result.exception)
    assert result.exception.exit_code == 130
    assert "downloading: 50%" in result.stderr


# --------------------------------------------------------------------------- check


def chat(text: str) -> str:
    return ndjson(
        {"message": {"role": "assistant", "content": text}, "done": False},
        {
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": "stop",
            "load_duration": 1_200_000_000,
            "prompt_eval_count": 500,
            "prompt_eval_duration": 250_000_000,
            "eval_count": 30,
            "eval_duration": 600_000_000,
        },
    )


PS_FULL_GPU = {
    "models": [
        {
            "name": "qwen2.5-coder:7b",
            "size": 5_000_000_000,
            "size_vram": 5_000_000_000,
            "context_length": 4096,
        }
    ]
}


@respx.mock
def test_check_that_passes() -> None:
    respx.post(f"{BASE}/api/show").respond(json={"capabilities": ["completion"]})
    respx.post(f"{BASE}/api/chat").respond(200, text=chat(GOOD_ANSWER))
    respx.get(f"{BASE}/api/ps").respond(json=PS_FULL_GPU)
    result = invoke("check", "qwen2.5-coder:7b", *HOST)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "1.2 s" in out
    assert "500 tokens, 2000 tokens/s" in out
    assert "30 tokens, 50.0 tokens/s" in out
    assert "4096 tokens allocated (4096 asked)" in out
    assert "fully on GPU  yes" in out
    assert "reasoning     none (the model does not reason)" in out
    assert "followed" in out


@respx.mock
def test_check_of_a_reasoning_model_says_how_the_reasoning_arrives() -> None:
    show = {"capabilities": ["completion", "thinking"], "details": {"family": "gptoss"}}
    respx.post(f"{BASE}/api/show").respond(json=show)
    respx.post(f"{BASE}/api/chat").respond(
        200, text=chat("<think>draft.py\n```python\nx = 1\n```\n</think>\n" + GOOD_ANSWER)
    )
    respx.get(f"{BASE}/api/ps").respond(json=PS_FULL_GPU)
    result = invoke("check", "gpt-oss:20b", *HOST)
    assert result.exit_code == 0, result.output
    assert "inline <think> tags in the answer" in result.stdout
    assert "--think auto|on|low|medium|high" in result.stdout
    data = json.loads(invoke("check", "gpt-oss:20b", "--json", *HOST).stdout)
    assert data["reasoning_source"] == "inline" and data["thinks"] is True


@respx.mock
def test_check_that_fails_the_format_exits_1_and_shows_the_answer() -> None:
    respx.post(f"{BASE}/api/show").respond(json={"model_info": {}})
    respx.post(f"{BASE}/api/chat").respond(200, text=chat("I would write add for you."))
    respx.get(f"{BASE}/api/ps").respond(json={"models": []})
    result = invoke("check", "tiny:1b", *HOST)
    assert result.exit_code == 1
    assert "NOT followed" in result.stdout
    assert "I would write add for you." in result.stdout
    data = json.loads(invoke("check", "tiny:1b", "--json", *HOST).stdout)
    assert data["followed_format"] is False
    assert data["fully_on_gpu"] is None
    assert data["format_problems"]


@respx.mock
def test_check_of_a_missing_model() -> None:
    respx.post(f"{BASE}/api/show").respond(404, json={"error": "model 'nope:1b' not found"})
    result = invoke("check", "nope:1b", *HOST)
    assert isinstance(result.exception, ModelNotFound)


def test_models_help_lists_every_command() -> None:
    result = invoke("--help")
    for command in ("hardware", "recommend", "list", "ps", "pull", "check"):
        assert command in result.stdout


# --------------------------------------------------------------------------- issue 19: fits


def test_recommend_marks_models_that_cannot_hold_the_context_unsuitable() -> None:
    result = invoke(
        "recommend", "--vram", "24GB", "--ram", "64GB", "--context", "32768", "--json", *NOWHERE
    )
    assert result.exit_code == 0, result.output
    models = json.loads(result.stdout)["models"]
    short = [m for m in models if m["model"]["context_length"] < 32768]
    assert {m["tag"] for m in short} >= {"codegemma:2b", "granite-code:20b", "starcoder2:3b"}
    assert not any(m["fits_well"] for m in short)
    assert all("32,768" in m["unsuitable"] for m in short)
    completion = next(m for m in models if m["tag"] == "starcoder2:15b")
    assert "chat instructions" in completion["unsuitable"]


def test_recommend_table_says_why_models_are_left_out() -> None:
    result = invoke("recommend", "--vram", "24GB", "--ram", "64GB", "--context", "32768", *NOWHERE)
    assert result.exit_code == 0, result.output
    table = result.stdout.split("Coding models")[1].split("Left out")[0]
    assert "codegemma:2b" not in table and "starcoder2" not in table
    assert "Left out: codegemma:2b — holds at most 8,192 tokens" in result.stdout
    assert "does not follow chat instructions" in result.stdout


def test_recommend_for_an_impossible_context_picks_nothing_and_says_so() -> None:
    result = invoke("recommend", "--context", "1000000000000", "--gpu", "none", *NOWHERE)
    assert result.exit_code == 0, result.output
    assert "No catalog model holds 1,000,000,000,000 tokens of context" in result.stdout
    assert "Top pick" not in result.stdout
    as_json = invoke("recommend", "--context", "1000000000000", "--gpu", "none", "--json", *NOWHERE)
    document = json.loads(as_json.stdout)
    assert document["top"] is None
    assert "No catalog model holds" in document["message"]


def test_recommend_with_vram_assumes_a_typical_bandwidth_and_says_so() -> None:
    result = invoke("recommend", "--vram", "8GB", "--ram", "32GB", *NOWHERE)
    assert result.exit_code == 0, result.output
    assert "? (--bandwidth)" not in result.stdout
    assert "assumed bandwidth" in result.stdout
    assert "assumed: typical for 8 GB of GPU memory" in result.stdout


def test_vram_of_zero_says_it_is_zero() -> None:
    result = invoke("recommend", "--vram", "0GB", *NOWHERE)
    assert isinstance(result.exception, UsageError)
    assert "is zero" in str(result.exception)
    assert "cannot read" not in str(result.exception)


def test_recommend_notes_which_models_think() -> None:
    result = invoke("recommend", "--gpu", "none", "--ram", "32GB", "--json", *NOWHERE)
    models = {entry["tag"]: entry for entry in json.loads(result.stdout)["models"]}
    assert models["gpt-oss:20b"]["thinks"] is True
    assert models["gpt-oss:20b"]["model"]["think"] == ["on", "low", "medium", "high"]
    assert models["qwen2.5-coder:7b"]["thinks"] is False
    table = invoke("recommend", "--gpu", "none", "--ram", "32GB", "--all", *NOWHERE).stdout
    assert "thinks" in table
    gpt_line = next(line for line in table.splitlines() if "gpt-oss:20b" in line)
    assert "levels" in gpt_line
    top = next(line for line in table.splitlines() if line.startswith("Top pick")).split()[2]
    entry = models[top]
    if entry["thinks"]:  # the top pick's note says how to make it reason less
        faster = "low" if "low" in entry["model"]["think"] else "off"
        assert "reasons before it answers" in table and f"--think {faster} speeds up" in table
