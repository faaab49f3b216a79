"""The attribute that tells the room whom the agent hears, sent in order.

Humans who reconnect quickly make the agent re-link several times within a millisecond. Each change used to be
sent as a task of its own, and the room kept whichever landed last, not the newest: the agent could say it
heard a connection that had already left, and never say otherwise (a later change to the same value was not
sent again). One sender here sends one change at a time, always the newest wanted, until it is the one sent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

SendSid = Callable[[str], Awaitable[object]]


class LinkAnnouncer:
    """`want(sid)` records the participant sid to announce; `run()` sends until the newest one is sent."""

    def __init__(self, send: SendSid) -> None:
        self._send = send
        self.wanted = ""
        self.sent: str | None = ""  # None: the last send failed, so the room's value is unknown
        self.running = False

    def want(self, sid: str) -> bool:
        """Record ``sid``; True when a sender must be started (it differs from what was sent, none runs)."""
        self.wanted = sid
        return sid != self.sent and not self.running

    async def run(self) -> None:
        """Send the newest wanted sid, one at a time, until the room has it (an error ends it: the next want
        starts another)."""
        self.running = True
        try:
            while self.sent != self.wanted:
                sid = self.wanted
                self.sent = None
                await self._send(sid)
                self.sent = sid
        finally:
            self.running = False
