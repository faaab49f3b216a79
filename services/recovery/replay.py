"""Recognise a LiveKit webhook delivered again (a retry or a replay of a captured request), by event id."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

REPLAY_WINDOW = 600.0  # seconds an event id is remembered (a signed webhook token lives about as long)
MAX_REMEMBERED = 10_000


class ReplayGuard:
    """Remembers the ids of recent events; ``seen_before`` is True for an id it already saw in the window."""

    def __init__(
        self, window: float = REPLAY_WINDOW, limit: int = MAX_REMEMBERED, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.window = window
        self.limit = limit
        self.clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()

    def seen_before(self, event_id: str) -> bool:
        """Record ``event_id``; True when it was already recorded (an event without id is never a replay)."""
        now = self.clock()
        while self._seen and (next(iter(self._seen.values())) < now - self.window or len(self._seen) > self.limit):
            self._seen.popitem(last=False)
        if not event_id:
            return False
        if event_id in self._seen:
            return True
        self._seen[event_id] = now
        return False

    def __len__(self) -> int:
        return len(self._seen)
