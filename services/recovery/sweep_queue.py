"""Targeted sweeps asked for by webhooks and the heartbeat watch, coalesced: one sweep takes every room due.

Each webhook asks for its room to be swept now and again once the orphan wait has passed. Swept one by one,
under load (ten sessions starting: hundreds of joins and leaves a minute) those sweeps queued behind the
sweeper's lock, and a room whose dispatch had failed waited seconds for its turn. Here the requests wait in
one queue: whatever is due when the sweeper is free goes into a single sweep (one ListRooms for all of them),
so the wait stays one sweep long however many events arrive.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from services.recovery import metrics
from services.shared.logging import log_context

log = logging.getLogger("lvs.recovery")
MAX_ROOMS_PER_SWEEP = 50  # one ListRooms names at most this many rooms
HEARTBEAT = "heartbeat"  # the routine check of a room with our agent: logged only when the sweep acted on it


@dataclass(order=True)
class _Ask:
    due: float
    room: str = field(compare=False)
    reason: str = field(compare=False)


@dataclass(frozen=True)
class Batch:
    """Rooms swept together, why, and how long the oldest of them waited past its due time."""

    rooms: list[str]
    reasons: dict[str, str]
    waited: float


class SweepQueue:
    """Rooms to sweep at a time; ``take`` hands out those that are due, each room once."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._heap: list[_Ask] = []
        self._changed = asyncio.Event()

    def ask(self, room: str, reason: str, delay: float = 0.0) -> None:
        """Sweep ``room`` once ``delay`` seconds have passed."""
        heapq.heappush(self._heap, _Ask(self.clock() + delay, room, reason))
        self._changed.set()

    def __len__(self) -> int:
        return len(self._heap)

    def next_due(self) -> float | None:
        return self._heap[0].due if self._heap else None

    def take(self, limit: int = MAX_ROOMS_PER_SWEEP) -> Batch | None:
        """The rooms due now (None: none is): asks for one room coalesce into one entry."""
        now = self.clock()
        reasons: dict[str, str] = {}
        waited = 0.0
        while self._heap and self._heap[0].due <= now and len(reasons) < limit:
            ask = heapq.heappop(self._heap)
            waited = max(waited, now - ask.due)
            if reasons.get(ask.room, HEARTBEAT) == HEARTBEAT:  # a webhook's reason names the sweep, not routine
                reasons[ask.room] = ask.reason
        return Batch(list(reasons), reasons, waited) if reasons else None

    async def wait_due(self) -> None:
        """Return once an ask is due."""
        while (due := self.next_due()) is None or due > self.clock():
            self._changed.clear()  # no await since next_due: an ask made meanwhile is already in the heap
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), None if due is None else due - self.clock())


async def run_targeted(queue: SweepQueue, sweep: Callable[[list[str]], Awaitable[Any]], stop: asyncio.Event) -> None:
    """Sweep what the queue holds as it comes due, every due room of a moment in one sweep, until ``stop``
    (or the task is cancelled)."""
    while not stop.is_set():
        await queue.wait_due()
        batch = queue.take()
        if batch is None:
            continue
        metrics.TARGETED_WAIT.observe(batch.waited)
        try:
            result = await sweep(batch.rooms)
        except Exception:
            log.exception("targeted sweep failed", extra={"rooms": batch.rooms})
            continue
        acted = Counter(action.room for action, _ in getattr(result, "done", ()))
        for room, reason in batch.reasons.items():
            if reason == HEARTBEAT and not acted[room]:
                continue
            with log_context(room=room):
                log.info(
                    "targeted sweep",
                    extra={
                        "reason": reason,
                        "actions": acted[room],
                        "rooms_in_sweep": len(batch.rooms),
                        "waited": round(batch.waited, 3),
                    },
                )
