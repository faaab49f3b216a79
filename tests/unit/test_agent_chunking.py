"""The reply chunker: the first clause early, whole sentences after it, nothing lost or split mid-word."""

from __future__ import annotations

import asyncio

import pytest

from services.agent.chunking import ClauseStream, ClauseTokenizer, chunk_end, split_reply

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("reply", "pieces"),
    [
        # the first chunk ends at the first clause boundary after three words
        (
            "The capital of France is Paris, a city on the Seine. It is large.",
            ["The capital of France is Paris,", " a city on the Seine.", " It is large."],
        ),
        ("Paris, of course. It is the capital.", ["Paris, of course.", " It is the capital."]),
        # a sentence end counts as a clause boundary for the first chunk
        ("I am well. And you? Thanks for asking.", ["I am well.", " And you? Thanks for asking."]),
        # later chunks are sentences of at least 20 characters: short ones go with what follows
        (
            "Sure, here it is. Yes. The answer is forty two. Bye.",
            ["Sure, here it is.", " Yes. The answer is forty two.", " Bye."],
        ),
        # no split inside a number, an abbreviation glued to a word, or a decimal
        ("It costs 1,000.50 dollars, roughly.", ["It costs 1,000.50 dollars,", " roughly."]),
        # dashes between words are clause boundaries, hyphens inside words are not
        ("A well-known fact — water is wet.", ["A well-known fact —", " water is wet."]),
        ("Noted.", ["Noted."]),
        ("Mr. Smith is here, he says.", ["Mr. Smith is here,", " he says."]),
        # a reply without a boundary is one chunk
        ("Hello there", ["Hello there"]),
        ("", []),
        ("   ", []),
    ],
)
def test_split_reply(reply: str, pieces: list[str]) -> None:
    assert split_reply(reply) == pieces
    assert "".join(pieces) == (reply if reply.strip() else "")


@pytest.mark.parametrize(
    ("text", "first", "end"),
    [
        ("Paris, a", True, None),  # one word before the comma: too short to speak alone
        ("It is Paris,", True, None),  # the comma is not known to end a clause until whitespace follows
        ("It is Paris, ", True, 12),
        ("It is Paris, the", True, 12),
        ("It is Paris, a city. ", False, 20),  # not the first chunk: the comma does not count
        ("Yes. ", False, None),
        ('He said "stop." Then', True, 15),  # closing quotes stay with their sentence
        # a first sentence is spoken as soon as its full stop arrives, even as one word
        ("Noted.", True, 6),
        ("Sure! Here", True, 5),
        ("Noted.", False, None),  # later chunks wait for the whitespace (or the end of the reply)
        # ... but not the full stop of an abbreviation, an initial or a number that may go on ("3.5")
        ("Mr.", True, None),
        ("Ask Dr.", True, None),
        ("It costs 3.", True, None),
        ("We met J.", True, None),
        ("See the U.S.", True, None),
        ("Dr. Smith is in,", True, None),
        ("Dr. Smith is in, ", True, 16),
    ],
)
def test_chunk_end(text: str, first: bool, end: int | None) -> None:
    assert chunk_end(text, first=first) == end


def collect(stream: ClauseStream) -> list[str]:
    """The chunks the stream has emitted so far (without waiting)."""
    out = []
    while True:
        try:
            out.append(stream._event_ch.recv_nowait().token)
        except Exception:
            return out


def test_stream_emits_the_first_clause_before_the_reply_ends() -> None:
    async def scenario() -> None:
        stream = ClauseStream()
        tokens = ["The", " capital", " is", " Paris", ",", " a", " big", " city", ".", " It", " has", " a",
                  " river", " too", "."]  # fmt: skip
        emitted_after: dict[int, list[str]] = {}
        for i, token in enumerate(tokens):
            stream.push_text(token)
            emitted_after[i] = collect(stream)
        assert emitted_after[4] == []  # "... Paris," without the next word: not yet
        assert emitted_after[5] == ["The capital is Paris,"]  # the next word began: speak
        # " a big city." is short: it waits to be spoken with the next sentence
        assert all(emitted_after[i] == [] for i in range(6, len(tokens)))
        stream.end_input()
        assert collect(stream) == [" a big city. It has a river too."]
        assert stream.closed

    asyncio.run(scenario())


def test_flush_starts_a_new_segment_with_a_first_clause_again() -> None:
    async def scenario() -> None:
        stream = ClauseStream()
        stream.push_text("Well, that is it, and more")
        first = stream._event_ch.recv_nowait()
        stream.flush()
        rest = stream._event_ch.recv_nowait()
        stream.push_text("And so on, again")
        second = stream._event_ch.recv_nowait()
        assert (first.token, rest.token, second.token) == ("Well, that is it,", " and more", "And so on,")
        assert first.segment_id == rest.segment_id != second.segment_id
        await stream.aclose()
        with pytest.raises(RuntimeError):
            stream.push_text("closed")

    asyncio.run(scenario())


def test_tokenizer_matches_the_stream() -> None:
    reply = "Of course, I remember you. Your name is Ada, and you asked about France."

    async def streamed() -> list[str]:
        stream = ClauseTokenizer().stream()
        assert isinstance(stream, ClauseStream)
        for word in reply.split(" "):
            stream.push_text(word + " ")
        stream.end_input()
        return [chunk.token async for chunk in stream]

    pieces = ClauseTokenizer().tokenize(reply)
    assert (
        pieces
        == split_reply(reply)
        == [
            "Of course, I remember you.",
            " Your name is Ada, and you asked about France.",
        ]
    )
    assert [p.strip() for p in asyncio.run(streamed())] == [p.strip() for p in pieces]


def test_stream_speaks_a_one_word_first_sentence_at_its_full_stop() -> None:
    async def scenario() -> None:
        stream = ClauseStream()
        emitted = []
        for token in ("Not", "ed", "."):
            stream.push_text(token)
            emitted.append(collect(stream))
        assert emitted == [[], [], ["Noted."]]
        stream.push_text(" I will remember")
        stream.end_input()
        assert collect(stream) == [" I will remember"]

    asyncio.run(scenario())
