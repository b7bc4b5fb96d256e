"""decode_json: the streaming hot path's JSON decoding behaves like json.loads."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from route.backends.common import decode_json

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=10,
)


@given(JSON_VALUES, st.sampled_from(["", " ", "\t", "\r"]), st.sampled_from(["", " ", "\r"]))
def test_same_value_as_json_loads(value: object, before: str, after: str) -> None:
    line = before + json.dumps(value) + after
    assert decode_json(line) == json.loads(line)


@pytest.mark.parametrize(
    "line", ['{"a": 1} x', '{"a": 1}{"b": 2}', "{'a': 1}", '{"a": ', "", "   ", "nul"]
)
def test_what_json_loads_refuses_is_refused(line: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        json.loads(line)
    with pytest.raises(ValueError, match=r"Expecting|extra data|Extra data"):
        decode_json(line)
