"""Idle timer: leave the room after a stretch with no human in it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


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


def choose_link(linked: str | None, humans: list[str]) -> str | None:
    """Whom the session should listen to: None keeps the current link.

    Keep a linked human who is still here; otherwise take the newest human (a reconnect with a new
    identity, a second tab). Join and leave events of a reconnect can arrive in either order.
    """
    if linked is not None and linked in humans:
        return None
    return humans[-1] if humans else None
