"""What the page tests share: the session's waits and the LiveKit calls that check a room from outside."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
from livekit import api
from playwright.sync_api import Page, expect

from services.shared.settings import Settings
from tests.browser.conftest import livekit_call
from tests.helpers import eventually, worker_logs_tail

JOIN_S = 90.0  # the agent worker may be busy with other rooms on a 2-core machine
REPLY_S = 150.0


def participants(settings: Settings, room: str) -> list[api.ParticipantInfo]:
    async def call(lk: api.LiveKitAPI) -> list[api.ParticipantInfo]:
        return list((await lk.room.list_participants(api.ListParticipantsRequest(room=room))).participants)

    return livekit_call(settings, call)


def agent_in_room(settings: Settings, room: str) -> bool:
    return any(p.kind == api.ParticipantInfo.Kind.AGENT for p in participants(settings, room))


def room_exists(settings: Settings, room: str) -> bool:
    async def call(lk: api.LiveKitAPI) -> bool:
        return bool((await lk.room.list_rooms(api.ListRoomsRequest(names=[room]))).rooms)

    return livekit_call(settings, call)


def delete_room(settings: Settings, room: str) -> None:
    async def call(lk: api.LiveKitAPI) -> None:
        with contextlib.suppress(api.TwirpError):
            await lk.room.delete_room(api.DeleteRoomRequest(room=room))

    livekit_call(settings, call)


def worker_has_room(settings: Settings) -> bool:
    """livekit-server only offers a job to a worker under its load threshold (0.7); a busy 2-core machine
    can push our worker over it, and a dispatch made then is dropped, so start only when it has room."""
    info = httpx.get(f"http://127.0.0.1:{settings.agent.port}/worker", timeout=5).json()
    return float(info.get("worker_load", 0)) < 0.7


def redispatch(settings: Settings, room: str, letta_agent_id: str) -> None:
    async def call(lk: api.LiveKitAPI) -> None:
        await lk.agent_dispatch.create_dispatch(
            api.CreateAgentDispatchRequest(
                agent_name=settings.agent.name, room=room, metadata=json.dumps({"letta_agent_id": letta_agent_id})
            )
        )

    livekit_call(settings, call)


def wait_agent_connected(page: Page, settings: Settings) -> None:
    try:
        expect(page.locator("#session")).to_have_attribute("data-agent", "connected", timeout=JOIN_S * 1000)
    except AssertionError:
        print(worker_logs_tail(settings))
        raise


def connect_here(page: Page, settings: Settings, letta_agent_id: str) -> str | None:
    """On the open page: pick the agent, Connect once the worker has room; the session's room once the agent is in."""
    eventually(lambda: worker_has_room(settings), JOIN_S, interval=1, what="the agent worker to have room")
    page.locator(f'#agent-list button[data-agent-id="{letta_agent_id}"]').click()
    page.get_by_role("button", name="Connect", exact=True).click()
    wait_agent_connected(page, settings)
    return page.locator("#session").get_attribute("data-room")


def connect_to(page: Page, settings: Settings, letta_agent_id: str) -> str | None:
    """Open the stack's page and connect to the agent there (connect_here)."""
    page.goto(settings.web.base_url)
    return connect_here(page, settings, letta_agent_id)


@dataclass
class TestRoom:
    """The room a page test made, once it knows it (None until then)."""

    name: str | None = None


@contextlib.contextmanager
def room_of_the_test(settings: Settings) -> Iterator[TestRoom]:
    """The block's room is deleted at its end; a failure prints the workers' logs first (any worker may serve it)."""
    room = TestRoom()
    try:
        yield room
    except Exception:
        print(worker_logs_tail(settings))
        raise
    finally:
        if room.name:
            delete_room(settings, room.name)
