"""Idle timer: leave the room after a stretch with no human in it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass


class IdleTimer:
    """Calls ``on_idle`` once ``timeout`` seconds have passed with ``humans_present()`` false throughout.

    ``arm`` when the last human leaves (or nobody is there at start), ``disarm`` when one joins.
    """

    def __init__(self, timeout: float, humans_present: Callable[[], bool], on_idle: Callable[[], None]) -> None:
        self.timeout = timeout
        self._humans_present = humans_present
        self._on_idle = on_idle
        self._task: asyncio.Task[None] | None = None

    @property
    def armed(self) -> bool:
        return self._task is not None and not self._task.done()

    def arm(self) -> None:
        if not self.armed:
            self._task = asyncio.create_task(self._countdown(), name="idle_countdown")

    def disarm(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _countdown(self) -> None:
        await asyncio.sleep(self.timeout)
        if not self._humans_present():
            self._on_idle()


@dataclass(frozen=True)
class HumanView:
    """What the link decision needs to know about one human in the room (in join order)."""

    identity: str
    has_microphone: bool  # the agent receives a microphone track from them


def choose_link(linked: str | None, humans: list[HumanView]) -> str | None:
    """Whom the session should listen to: None keeps the current link.

    Only humans whose microphone reaches us count while there is one: the agent's view of a room lags
    (a participant who left a moment ago can still be listed for seconds after a reconnect), and a
    listed human without a microphone cannot be heard anyway. Among those, keep the linked one while
    it is there (a second tab does not steal the session); otherwise take the newest. Join, leave and
    track events of a reconnect can arrive in any order, so this runs on each of them.
    """
    pool = [h for h in humans if h.has_microphone] or humans
    if linked is not None and any(h.identity == linked for h in pool):
        return None
    return pool[-1].identity if pool else None
