"""Splitting the text to speak into sentences, so the first one is heard while the rest is synthesised."""

from __future__ import annotations

import re

# End of a sentence or clause: . ! ? ; : followed by space (a decimal point or "e.g." inside a word stays).
_BOUNDARY = re.compile(r"(?<=[.!?;:])\s+")
MAX_PIECE = 240  # characters; a longer sentence is cut at a comma or a space


def _cut(sentence: str) -> list[str]:
    pieces = []
    while len(sentence) > MAX_PIECE:
        head = sentence[:MAX_PIECE]
        at = max(head.rfind(", "), head.rfind(" "))
        at = at + 1 if at > 0 else MAX_PIECE
        pieces.append(sentence[:at].strip())
        sentence = sentence[at:].strip()
    return [*pieces, sentence] if sentence else pieces


def sentences(text: str) -> list[str]:
    """The sentences of ``text`` in order, none empty and none longer than MAX_PIECE characters."""
    out: list[str] = []
    for part in _BOUNDARY.split(" ".join(text.split())):
        out += _cut(part.strip())
    return [s for s in out if s]
