"""load_yaml: libyaml's parser when present, the same answers and errors as yaml.safe_load."""

from __future__ import annotations

import pytest
import yaml

from route import yamlio

DOCUMENTS = [
    "a: 1\nb: [x, 'y', 2.5]\nc: {d: null, e: true}\n",
    "- 2026-11-01\n- '2026-11-01'\n- 0o17\n",
    "",
    "just text",
]


@pytest.mark.parametrize("text", DOCUMENTS)
def test_same_answer_as_safe_load(text: str) -> None:
    assert yamlio.load_yaml(text) == yaml.safe_load(text)


@pytest.mark.parametrize("with_libyaml", [True, False])
def test_errors_are_yaml_errors_with_or_without_libyaml(
    with_libyaml: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not with_libyaml:
        monkeypatch.delattr(yaml, "CSafeLoader", raising=False)
    with pytest.raises(yaml.YAMLError):
        yamlio.load_yaml("a: [1, 2\nb: }")


def test_refuses_python_objects() -> None:
    with pytest.raises(yaml.YAMLError):
        yamlio.load_yaml("!!python/object/apply:os.system ['echo hi']")
