"""Tool calls a small model writes as text are never spoken; prose streams through unchanged."""

from __future__ import annotations

import pytest

from services.agent.spoken import SpokenFilter
from services.shared.prompt_warmup import warm_request

pytestmark = pytest.mark.unit

CALL = '{"name": "memory_insert", "arguments": {"label": "human", "new_str": "Ada"}}'


def spoken(chunks: list[str]) -> tuple[str, int]:
    f = SpokenFilter()
    return "".join(f.feed(c) for c in chunks) + f.finish(), f.dropped


@pytest.mark.parametrize(
    ("chunks", "said"),
    [
        (["The capital", " of France", " is Paris."], "The capital of France is Paris."),
        (["```json\\n", CALL, "\\n``", "`"], ""),
        ([CALL[:20], CALL[20:]], ""),
        (["<tool_", "call>", CALL, "</tool_call>", "Noted, Ada."], "Noted, Ada."),
        (["Sure. ```json\\n", CALL, "``` Done."], "Sure.  Done."),
        (["Use ``double`` quotes."], "Use ``double`` quotes."),
        (["[Note] ", "hello"], "[Note] hello"),
        (["Unclosed ```json ", CALL], "Unclosed "),
        ([" ", ""], " "),
    ],
)
def test_what_is_spoken(chunks: list[str], said: str) -> None:
    assert spoken(chunks)[0] == said


def test_prose_streams_as_it_comes() -> None:
    f = SpokenFilter()
    assert f.feed("Paris is ") == "Paris is "
    assert f.feed("lovely`") == "lovely"  # a backtick could open a fence: held back
    assert f.feed(" indeed.") == "` indeed."


def test_dropped_characters_are_counted() -> None:
    assert spoken([CALL])[1] == len(CALL)


def test_warm_request_asks_for_one_token_without_streaming() -> None:
    payload = {"model": "m", "messages": [{"role": "system", "content": "x"}], "stream": True, "max_tokens": 120}
    req = warm_request(payload)
    assert req["stream"] is False and req["max_completion_tokens"] == 1 and "max_tokens" not in req
    assert req["messages"] == payload["messages"]
