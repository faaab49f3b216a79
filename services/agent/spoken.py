"""Keep what must never be spoken out of a streamed reply: tool calls the model wrote as text.

Small local models answer a memory request with a tool call written as text (a JSON object, often in a
```json fence or <tool_call> tags) instead of a real tool call. ``SpokenFilter`` passes plain prose on as
it streams and drops fenced blocks, <tool_call> blocks and a reply that is a bare JSON object or list.
"""

from __future__ import annotations

import json
import re

FENCE = "```"
TAG_OPEN, TAG_CLOSE = "<tool_call>", "</tool_call>"
_OPENERS = (FENCE, TAG_OPEN)


class SpokenFilter:
    """Feed reply text chunk by chunk; get back what may be spoken (possibly later, never twice)."""

    def __init__(self) -> None:
        self._pending = ""  # text not yet decided on
        self._closer: str | None = None  # inside a fenced or tagged block: the string that ends it
        self._started = False  # some prose was already let through
        self._bare_json = False  # the reply opened with { or [: hold it all until the end
        self.dropped = 0  # characters held back as tool-call text

    def feed(self, text: str) -> str:
        self._pending += text
        out = []
        while self._pending:
            if self._bare_json:
                return "".join(out)
            if self._closer is not None:
                end = self._pending.find(self._closer)
                if end < 0:
                    return "".join(out)
                self.dropped += end + len(self._closer)
                self._pending = self._pending[end + len(self._closer) :]
                self._closer = None
                continue
            if not self._started and not self._pending.strip():
                return "".join(out)
            if not self._started and self._pending.lstrip()[:1] in ("{", "["):
                self._bare_json = True
                continue
            start = _first_opener(self._pending)
            if start is not None:
                out.append(self._pending[:start])
                opener = FENCE if self._pending.startswith(FENCE, start) else TAG_OPEN
                self._closer = FENCE if opener == FENCE else TAG_CLOSE
                self.dropped += len(opener)
                self._pending = self._pending[start + len(opener) :]
                self._started = self._started or bool(out[-1].strip())
                continue
            keep = _partial_opener_len(self._pending)
            ready, self._pending = (
                self._pending[: len(self._pending) - keep],
                self._pending[len(self._pending) - keep :],
            )
            if ready:
                out.append(ready)
                self._started = self._started or bool(ready.strip())
            return "".join(out)
        return "".join(out)

    def finish(self) -> str:
        """The rest, at the end of the reply: a bare JSON reply or an unclosed block is dropped."""
        rest, self._pending = self._pending, ""
        if self._closer is not None:
            self.dropped += len(rest)
            return ""
        if self._bare_json and _is_json(rest):
            self.dropped += len(rest)
            return ""
        return rest


def _first_opener(text: str) -> int | None:
    found = [i for i in (text.find(op) for op in _OPENERS) if i >= 0]
    return min(found) if found else None


def _partial_opener_len(text: str) -> int:
    """Length of a suffix of ``text`` that could be the start of an opener (held back until known)."""
    for n in range(max(len(op) for op in _OPENERS) - 1, 0, -1):
        if any(op.startswith(text[-n:]) for op in _OPENERS) and len(text) >= n:
            return n
    return 0


def _is_json(text: str) -> bool:
    text = text.strip()
    try:
        json.loads(text)
    except ValueError:
        # Several objects, or one cut off: still tool-call text when it looks like one.
        return bool(re.match(r"^[\[{]", text)) and ('"name"' in text or '"arguments"' in text or text.count("{") > 1)
    return True
