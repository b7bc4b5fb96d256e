"""The reasoning splitter: inline tags at the start of content, split at any character."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from route.backends.reasoning import InlineReasoning, StreamText, orphan_close

DRAFT = "Let me draft it:\napp/wrong.py\n```python\nprint('draft')\n```\nNo, better:"
ANSWER = "app/right.py\n```python\nprint('right')\n```\n"


def split_in(text: str, cuts: list[int]) -> list[str]:
    points = sorted({cut % (len(text) + 1) for cut in cuts})
    edges = [0, *points, len(text)]
    return [text[start:end] for start, end in itertools.pairwise(edges)]


def run(chunks: list[str]) -> tuple[str, str, bool]:
    splitter = InlineReasoning()
    reasoning, answer = [], []
    for chunk in chunks:
        part = splitter.feed(chunk)
        reasoning.append(part.reasoning)
        answer.append(part.answer)
    last = splitter.close()
    reasoning.append(last.reasoning)
    answer.append(last.answer)
    return "".join(reasoning), "".join(answer), splitter.unfinished


@settings(max_examples=300)
@given(
    st.sampled_from([("<think>", "</think>"), ("<thinking>", "</thinking>")]),
    st.sampled_from(["", "\n", "  \n\n"]),
    st.lists(st.integers(min_value=0, max_value=400), max_size=12),
)
def test_any_split_of_a_tagged_answer_separates_the_same_way(
    tags: tuple[str, str], lead: str, cuts: list[int]
) -> None:
    opening, closing = tags
    text = f"{lead}{opening}{DRAFT}{closing}\n\n{ANSWER}"
    assert run(split_in(text, cuts)) == (DRAFT, ANSWER, False)


@settings(max_examples=200)
@given(st.lists(st.integers(min_value=0, max_value=200), max_size=10))
def test_any_split_of_an_untagged_answer_is_all_answer(cuts: list[int]) -> None:
    for text in (ANSWER, "<thin air>\n" + ANSWER, "  <b>not a tag</b>", "<", "<think"):
        assert run(split_in(text, cuts)) == ("", text, False)


@settings(max_examples=200)
@given(st.lists(st.integers(min_value=0, max_value=200), max_size=10))
def test_a_stream_cut_inside_the_reasoning_is_unfinished_and_has_no_answer(
    cuts: list[int],
) -> None:
    text = "<think>" + DRAFT + "</thi"
    reasoning, answer, unfinished = run(split_in(text, cuts))
    assert (reasoning, answer, unfinished) == (DRAFT + "</thi", "", True)


def test_one_character_chunks() -> None:
    text = "<thinking>" + DRAFT + "</thinking>" + ANSWER
    assert run(list(text)) == (DRAFT, ANSWER, False)


def test_a_closing_tag_of_the_other_kind_does_not_end_the_reasoning() -> None:
    assert run(["<think>a</thinking>b</think>c"]) == ("a</thinking>b", "c", False)


def test_only_blank_space_is_answer_text() -> None:
    assert run(["  ", "\n"]) == ("", "  \n", False)


def test_orphan_closing_tag_splits_when_outside_a_code_block() -> None:
    assert orphan_close(DRAFT + "</think>\n" + ANSWER) == (DRAFT, ANSWER)
    in_code = "parser.py\n```python\nEND = '</think>'\n```\n"
    assert orphan_close(in_code) == ("", in_code)
    assert orphan_close(ANSWER) == ("", ANSWER)


def test_stream_text_keeps_reasoning_out_of_the_text_sink() -> None:
    seen: list[str] = []
    thoughts: list[str] = []
    stream = StreamText(seen.append, thoughts.append, clock=iter(range(100)).__next__)
    for piece in ("<thi", "nk>", DRAFT[:10], DRAFT[10:], "</th", "ink>\n", ANSWER):
        stream.content(piece)
    stream.finish()
    assert "".join(seen) == ANSWER == stream.text
    assert "".join(thoughts) == DRAFT == stream.reasoning_text
    assert not stream.still_reasoning
    assert stream.reasoning_chunks >= 3
    assert stream.reasoning_seconds(99) > 0


def test_stream_text_with_a_reasoning_field_and_no_answer_is_still_reasoning() -> None:
    seen: list[str] = []
    stream = StreamText(seen.append)
    stream.reasoning_field("thinking about ")
    stream.reasoning_field(DRAFT)
    stream.finish()
    assert seen == [] and stream.text == ""
    assert stream.still_reasoning and stream.reasoning_chunks == 2


def test_stream_text_with_an_orphan_close_drops_the_reasoning_from_the_text() -> None:
    stream = StreamText(lambda _: None)
    for piece in (DRAFT, "</th", "ink>\n", ANSWER):
        stream.content(piece)
    stream.finish()
    assert stream.text == ANSWER and stream.reasoning_text == DRAFT
