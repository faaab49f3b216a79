"""The agent's "listening to" attribute is sent in order: the room ends with the newest link, however quickly
the links change (a human reconnecting several times a second)."""

from __future__ import annotations

import asyncio

import pytest

from services.agent.link_announcer import LinkAnnouncer

pytestmark = pytest.mark.unit


class _Room:
    """set_attributes whose first call is the slowest: sent concurrently, the oldest value would land last."""

    def __init__(self) -> None:
        self.value = ""
        self.calls: list[str] = []

    async def send(self, sid: str) -> None:
        self.calls.append(sid)
        await asyncio.sleep(0.05 if len(self.calls) == 1 else 0)
        self.value = sid


def test_the_newest_link_is_the_one_the_room_keeps() -> None:
    async def scenario() -> tuple[_Room, LinkAnnouncer]:
        room = _Room()
        link = LinkAnnouncer(room.send)
        tasks = []
        for sid in ("PA_old", "", "PA_new"):  # joined, left, the same person joined again
            if link.want(sid):
                tasks.append(asyncio.create_task(link.run()))
            await asyncio.sleep(0)
        await asyncio.gather(*tasks)
        assert link.want("PA_new") is False  # already sent: nothing more to do
        return room, link

    room, link = asyncio.run(scenario())
    assert room.value == "PA_new" and link.sent == "PA_new"
    assert room.calls == ["PA_old", "PA_new"]  # one at a time; the passing "" was never worth sending


def test_a_failed_send_is_sent_again_at_the_next_change() -> None:
    sent: list[str] = []

    async def send(sid: str) -> None:
        if not sent:
            sent.append(f"failed {sid}")
            raise ConnectionError("signal closed")
        sent.append(sid)

    async def scenario() -> LinkAnnouncer:
        link = LinkAnnouncer(send)
        assert link.want("PA_a")
        with pytest.raises(ConnectionError):
            await link.run()
        assert link.sent is None and not link.running
        assert link.want("PA_a")  # the room's value is unknown: the same sid is sent again
        await link.run()
        return link

    link = asyncio.run(scenario())
    assert sent == ["failed PA_a", "PA_a"] and link.sent == "PA_a"
