"""Separate a reasoning ("thinking") model's thoughts from its answer, however they arrive.

Servers hand reasoning over in one of three ways: a field of its own (Ollama's
``message.thinking``, OpenAI-compatible ``delta.reasoning_content`` or ``delta.reasoning``), or
inline at the start of the content as ``<think>…</think>`` or ``<thinking>…</thinking>`` when the
server has no reasoning parser. Reasoning often holds draft file blocks, so it must never reach
the answer route parses for files.

``InlineReasoning`` splits inline tags incrementally, in linear time: a tag may arrive split
across chunks at any character, and the stream may end inside the reasoning (the output budget
spent). ``orphan_close`` handles templates that put the opening tag in the prompt, so the
content holds only the closing one. ``StreamText`` is what both backends feed: it routes field
reasoning and inline reasoning to the reasoning sink, the answer to the text sink, and counts
and times the reasoning.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

TextSink = Callable[[str], None]

# Opening tag -> closing tag, as models write them at the start of their output.
TAGS = {"<think>": "</think>", "<thinking>": "</thinking>"}
_LONGEST_OPEN = max(len(tag) for tag in TAGS)
_FENCE = "```"

_START, _REASONING, _ANSWER = "start", "reasoning", "answer"


@dataclass(frozen=True, slots=True)
class Split:
    """What one chunk released: reasoning text and answer text (either may be "")."""

    reasoning: str = ""
    answer: str = ""


class InlineReasoning:
    """An incremental splitter for reasoning tags at the start of streamed content.

    ``feed`` each content chunk and take the ``Split`` it releases; ``close`` at the end of the
    stream. Before the first non-blank character route holds back at most one opening tag's
    length; inside the reasoning it holds back at most one closing tag's length, so no character
    is examined more than a tag's length times. Content that does not start with a tag (after
    blank space) is all answer.
    """

    def __init__(self) -> None:
        self._state = _START
        self._pending = ""  # held back: a possible opening tag, or a possible closing tag's start
        self._blank = ""  # blank space before the first non-blank character
        self._close = ""
        self._answer_started = False
        self.opened = False  # an opening tag was seen
        self.unfinished = False  # the stream ended inside the reasoning (set by close)

    def feed(self, chunk: str) -> Split:
        if not chunk:
            return Split()
        if self._state == _START:
            return self._feed_start(chunk)
        if self._state == _REASONING:
            return self._feed_reasoning(chunk)
        return Split(answer=self._answer(chunk))

    def close(self) -> Split:
        """Release what is held back at the end of the stream."""
        pending, self._pending = self._blank + self._pending, ""
        self._blank = ""
        if self._state == _REASONING:
            self.unfinished = True
            return Split(reasoning=pending)
        self._state = _ANSWER
        return Split(answer=self._answer(pending))

    def _feed_start(self, chunk: str) -> Split:
        if self._pending:
            stripped = self._pending + chunk
        else:  # still before the first non-blank character
            stripped = chunk.lstrip()
            self._blank += chunk[: len(chunk) - len(stripped)]
            if not stripped:
                return Split()
        for opening, closing in TAGS.items():
            if stripped.startswith(opening):
                self._state, self._close, self.opened = _REASONING, closing, True
                self._pending = self._blank = ""
                return self._feed_reasoning(stripped[len(opening) :])
        if len(stripped) < _LONGEST_OPEN and any(tag.startswith(stripped) for tag in TAGS):
            self._pending = stripped  # "<thi": maybe a tag, maybe not yet
            return Split()
        data, self._state, self._pending, self._blank = self._blank + stripped, _ANSWER, "", ""
        return Split(answer=self._answer(data))

    def _feed_reasoning(self, chunk: str) -> Split:
        data = self._pending + chunk
        index = data.find(self._close)
        if index >= 0:
            self._state, self._pending = _ANSWER, ""
            rest = data[index + len(self._close) :]
            return Split(reasoning=data[:index], answer=self._answer(rest))
        keep = _partial_suffix(data, self._close)
        self._pending = data[len(data) - keep :] if keep else ""
        return Split(reasoning=data[: len(data) - keep])

    def _answer(self, text: str) -> str:
        """Answer text, without the blank space between the reasoning and the answer."""
        if self._answer_started or not text:
            return text
        if self.opened:
            text = text.lstrip()
            if not text:
                return ""
        self._answer_started = True
        return text


def _partial_suffix(data: str, tag: str) -> int:
    """The length of the longest end of ``data`` that is a proper start of ``tag``."""
    for size in range(min(len(tag) - 1, len(data)), 0, -1):
        if data.endswith(tag[:size]):
            return size
    return 0


def orphan_close(answer: str) -> tuple[str, str]:
    """``(reasoning, answer)`` for content whose opening tag was in the prompt (DeepSeek-R1
    distills and "thinking" Qwen3 templates end the prompt with ``<think>``): the content is
    reasoning up to the first closing tag. A closing tag inside a code block (an answer that
    writes a parser for these tags) is not one: only a tag after an even number of fences."""
    best: tuple[int, str] | None = None
    for closing in TAGS.values():
        index = answer.find(closing)
        if index >= 0 and (best is None or index < best[0]):
            best = (index, closing)
    if best is None:
        return "", answer
    index, closing = best
    if answer.count(_FENCE, 0, index) % 2:
        return "", answer
    return answer[:index], answer[index + len(closing) :].lstrip()


@dataclass
class StreamText:
    """The text of one streamed answer, with the reasoning kept apart (private to one call).

    ``reasoning_field`` takes reasoning the server separated; ``content`` takes the content,
    which may still start with inline tags. The answer goes to ``on_text`` as it arrives,
    reasoning to ``on_reasoning``; neither ever sees the other's text.
    """

    on_text: TextSink
    on_reasoning: TextSink | None = None
    clock: Callable[[], float] = time.monotonic
    answer: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    reasoning_chunks: int = 0  # chunks that carried reasoning: about one token each
    separated: bool = False  # the server sent reasoning in a field of its own
    reasoning_started: float | None = None
    answer_started: float | None = None
    splitter: InlineReasoning = field(default_factory=InlineReasoning)

    def reasoning_field(self, piece: str) -> None:
        if not piece:
            return
        self.separated = True
        self.reasoning_chunks += 1
        self._reasoning(piece)

    def content(self, piece: str) -> None:
        if not piece:
            return
        split = self.splitter.feed(piece)
        if split.reasoning or (self.splitter.opened and not self.answer and not split.answer):
            self.reasoning_chunks += 1
        self._emit(split)

    def finish(self) -> None:
        """End of stream: release what the splitter holds back."""
        self._emit(self.splitter.close())

    @property
    def text(self) -> str:
        """The answer route parses: never any reasoning."""
        joined = "".join(self.answer)
        if self.separated or self.splitter.opened:
            return joined
        return orphan_close(joined)[1]

    @property
    def reasoning_text(self) -> str:
        joined = "".join(self.reasoning)
        if self.separated or self.splitter.opened:
            return joined
        return orphan_close("".join(self.answer))[0]

    @property
    def source(self) -> str:
        """Where the reasoning came from: "server" (a field of its own), "inline" (tags in the
        content) or "" (no reasoning seen)."""
        if self.separated:
            return "server"
        if self.splitter.opened or self.reasoning_text:
            return "inline"
        return ""

    @property
    def still_reasoning(self) -> bool:
        """The stream ended while the model was still reasoning (no answer after it)."""
        if self.splitter.unfinished:
            return True
        return bool(self.reasoning) and not "".join(self.answer).strip()

    def reasoning_seconds(self, stream_ended: float) -> float:
        """Time from the first reasoning to the first answer text (or the end of the stream)."""
        if self.reasoning_started is None:
            return 0.0
        end = self.answer_started if self.answer_started is not None else stream_ended
        return max(0.0, end - self.reasoning_started)

    def _emit(self, split: Split) -> None:
        if split.reasoning:
            self._reasoning(split.reasoning)
        if split.answer:
            if self.answer_started is None and self.reasoning_started is not None:
                self.answer_started = self.clock()  # the clock is read only around reasoning
            self.answer.append(split.answer)
            self.on_text(split.answer)

    def _reasoning(self, piece: str) -> None:
        if self.reasoning_started is None:
            self.reasoning_started = self.clock()
        self.reasoning.append(piece)
        if self.on_reasoning is not None:
            self.on_reasoning(piece)
