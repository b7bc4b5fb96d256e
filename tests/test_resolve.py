"""The one settings resolver: paths relative to where they were set, one choice of server.

Each command once resolved ``skills_dir`` and the server its own way; these tests hold the bugs
that came from it (each failed before ``route.settings.resolve``).
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import respx
from typer.testing import CliRunner

from route.cli.main import app
from route.settings.config import Config, Endpoint
from route.settings.resolve import ollama_server, resolve_context, resolve_server

SKILL = "# Scaffold\n\nConventions.\n\n## 1. Model\n\nWrite the model.\n"
GPU = "http://gpu.test:11434"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository whose route.yaml names ``skills_dir: myskills``; HOME empty."""
    root = tmp_path / "project"
    (root / ".git").mkdir(parents=True)
    (root / "myskills" / "scaffold").mkdir(parents=True)
    (root / "myskills" / "scaffold" / "SKILL.md").write_text(SKILL, encoding="utf-8")
    (root / "route.yaml").write_text("skills_dir: myskills\n", encoding="utf-8")
    (root / "src" / "app").mkdir(parents=True)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return root


def test_skills_list_reads_skills_dir_from_route_yaml(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)
    result = CliRunner().invoke(app, ["skills", "list", "--json"])
    assert result.exit_code == 0, result.output
    names = [skill["name"] for skill in json.loads(result.stdout)["skills"]]
    assert names == ["scaffold"]


def test_gen_from_a_sub_folder_finds_the_configured_skills_dir(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project / "src" / "app")
    result = CliRunner().invoke(app, ["gen", "a model", "-s", "scaffold#1", "--print-prompt"])
    assert result.exit_code == 0, result.output
    assert "Write the model." in result.stdout


def test_skills_dir_flag_is_relative_to_the_current_folder(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / "src" / "app" / "local" / "routing").mkdir(parents=True)
    (project / "src" / "app" / "local" / "routing" / "SKILL.md").write_text("# R\n\n## 1. A\n")
    monkeypatch.chdir(project / "src" / "app")
    context = resolve_context(Path.cwd(), flags={"skills_dir": "local"})
    assert [path.name for path in context.skill_dirs()][:1] == ["local"]


def test_user_config_paths_are_relative_to_its_folder(project: Path, tmp_path: Path) -> None:
    user = tmp_path / "user" / "config.yaml"
    user.parent.mkdir()
    user.write_text("ledger: runs.sqlite3\n", encoding="utf-8")
    context = resolve_context(project, user_file=user, env={})
    assert context.ledger_path == user.parent / "runs.sqlite3"
    assert context.skills_dir == project / "myskills"


def test_ledger_flag_is_relative_to_the_current_folder(project: Path) -> None:
    cwd = project / "src"
    context = resolve_context(cwd, flags={"ledger": "here.sqlite3"}, env={})
    assert context.ledger_path == cwd / "here.sqlite3"


def test_a_named_endpoint_decides_the_server_and_its_key() -> None:
    config = Config(
        endpoint="gpu",
        endpoints={"gpu": Endpoint(url=GPU, backend="ollama", api_key_env="GPU_KEY")},
    )
    server = resolve_server(config, {"GPU_KEY": "secret"})
    assert (server.kind, server.ollama_url, server.api_key) == ("ollama", GPU, "secret")
    assert ollama_server(config, env={"GPU_KEY": "secret"}) == (GPU, "secret")


@respx.mock
def test_models_list_talks_to_the_configured_endpoint(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / "route.yaml").write_text(
        f"endpoint: gpu\nendpoints:\n  gpu: {{url: '{GPU}', backend: ollama, "
        "api_key_env: GPU_KEY}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("GPU_KEY", "secret")
    monkeypatch.chdir(project)
    route = respx.get(f"{GPU}/api/tags").respond(json={"models": []})
    result = CliRunner().invoke(app, ["models", "list", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["host"] == GPU
    assert route.calls.last.request.headers["Authorization"] == "Bearer secret"


@respx.mock
def test_init_checks_the_configured_endpoint_with_its_key() -> None:
    from route.claude_code.project_setup import check_model_server

    config = Config(
        model="coder",
        endpoint="box",
        endpoints={
            "box": Endpoint(url="http://box.test:8080/v1", backend="openai", api_key_env="K")
        },
    )
    route = respx.get("http://box.test:8080/v1/models").respond(json={"data": [{"id": "coder"}]})
    with pytest.MonkeyPatch.context() as patch, httpx.Client() as client:
        patch.setenv("K", "key")
        check = check_model_server(config, client)
    assert check.ok, check.detail
    assert route.calls.last.request.headers["Authorization"] == "Bearer key"


def test_mcp_installed_models_use_the_configured_endpoint(project: Path) -> None:
    from route.mcp.queries import installed_models
    from route.mcp.server import ServerSettings

    (project / "route.yaml").write_text(
        f"endpoint: gpu\nendpoints:\n  gpu: {{url: '{GPU}', backend: ollama}}\n", encoding="utf-8"
    )
    with respx.mock:
        respx.get(f"{GPU}/api/tags").respond(json={"models": [{"name": "coder:7b"}]})
        names, problem = installed_models(ServerSettings(project_root=project))
    assert problem is None
    assert names == frozenset({"coder:7b"})
