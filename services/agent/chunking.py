"""Reply text -> speech chunks: the first clause as soon as it is complete, then whole sentences.

livekit-agents feeds a non-streaming TTS one sentence at a time, and a sentence counts as complete only once
the next one has begun. A small local model writes 10-20 tokens a second, so that wait is most of the time
between the reply's first token and its first audio. Here the first chunk ends at the first clause boundary
(a comma, a colon, a dash, a sentence end) after a few words; later chunks are sentences (a short one is
merged into the next), so the voice keeps a sentence's intonation once the reply is under way.
"""

from __future__ import annotations

import re

from livekit.agents import tokenize
from livekit.agents.tokenize.tokenizer import TokenData
from livekit.agents.utils import shortuuid

FIRST_CHUNK_MIN_WORDS = 3  # "Paris," alone sounds clipped; "The capital is Paris," does not
SENTENCE_MIN_CHARS = 20  # "Yes." or "Mr." is spoken with what follows it
# Words whose full stop does not end a sentence (an initial like "J." or a dotted one like "U.S" neither).
ABBREVIATIONS = frozenset({"mr", "mrs", "ms", "dr", "st", "vs", "etc", "jr", "sr", "prof", "no", "approx"})

# A boundary is followed by whitespace: the next word has begun, so "3.5" or "e.g" mid-token never splits.
_CLOSERS = "\"')\\]\u201d\u2019"  # quotes and brackets that close what ends before them
_DASHES = "\\-\u2013\u2014"
_CLAUSE_END = re.compile(f"(?:[,;:.!?\u2026]|\\s[{_DASHES}])[{_CLOSERS}]*(?=\\s)")
_SENTENCE_END = re.compile(f"[.!?\u2026][{_CLOSERS}]*(?=\\s)")
_ENDS_SENTENCE = re.compile(r"[.!?\u2026]")
# The reply so far ends with a word and its full stop: a first sentence like "Noted." is spoken at once (the
# whitespace after it may come only with the end of the stream).
_TRAILING_SENTENCE_END = re.compile(r"([A-Za-z][\w.']*)[.!?]$")


def chunk_end(text: str, *, first: bool) -> int | None:
    """Where the next chunk of ``text`` ends (an index into it), or None while no chunk is complete."""
    pattern = _CLAUSE_END if first else _SENTENCE_END
    for match in pattern.finditer(text):
        piece = text[: match.end()]
        if first and _long_enough(piece):
            return match.end()
        if not first and len(piece.strip()) >= SENTENCE_MIN_CHARS:
            return match.end()
    if first and (tail := _TRAILING_SENTENCE_END.search(text)) and not _is_abbreviation(tail.group(1)):
        return len(text)
    return None


def _long_enough(piece: str) -> bool:
    """A first chunk ending a sentence may be one word ("Sure."); one ending a clause needs a few."""
    words = piece.split()
    if _ENDS_SENTENCE.match(piece.rstrip(_CLOSERS + " \t\n")[-1:]) and not _is_abbreviation(words[-1][:-1]):
        return True
    return len(words) >= FIRST_CHUNK_MIN_WORDS


def _is_abbreviation(word: str) -> bool:
    word = word.strip(_CLOSERS + ".")
    return len(word) <= 1 or "." in word or word.lower() in ABBREVIATIONS


def split_reply(text: str) -> list[str]:
    """A whole reply cut the way the stream cuts it (whitespace kept, so the pieces join back into it)."""
    pieces: list[str] = []
    while (end := chunk_end(text, first=not pieces)) is not None:
        pieces.append(text[:end])
        text = text[end:]
    if text.strip():
        pieces.append(text)
    return pieces


class ClauseStream(tokenize.SentenceStream):
    """The streaming side: push reply text as it arrives, read chunks as they complete."""

    def __init__(self) -> None:
        super().__init__()
        self._buffer = ""
        self._first = True
        self._segment = shortuuid()

    def push_text(self, text: str) -> None:
        self._check_not_closed()
        self._buffer += text
        while (end := chunk_end(self._buffer, first=self._first)) is not None:
            self._emit(self._buffer[:end])
            self._buffer = self._buffer[end:]

    def flush(self) -> None:
        self._check_not_closed()
        self._emit(self._buffer)
        self._buffer = ""
        self._first = True
        self._segment = shortuuid()

    def end_input(self) -> None:
        self.flush()
        self._do_close()

    async def aclose(self) -> None:
        self._do_close()

    def _emit(self, text: str) -> None:
        if text.strip():
            self._event_ch.send_nowait(TokenData(token=text, segment_id=self._segment))
            self._first = False


class ClauseTokenizer(tokenize.SentenceTokenizer):
    """The tokenizer handed to livekit-agents' TTS StreamAdapter."""

    def tokenize(self, text: str, *, language: str | None = None) -> list[str]:
        return split_reply(text)

    def stream(self, *, language: str | None = None) -> tokenize.SentenceStream:
        return ClauseStream()
