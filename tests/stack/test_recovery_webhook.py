"""`participant_connection_aborted` from the real livekit-server reaches the running recovery sidecar, which
verifies it and sweeps the participant's room at once.

livekit-server v1.13.5 sends `participant_connection_aborted` (instead of `participant_left`) when a
participant leaves that never became ACTIVE: here a client process that opened its signal connection, never
set up media, and was SIGKILLed (no leave message; the kernel drops its transport).
"""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import pytest
from livekit import api
from prometheus_client.parser import text_string_to_metric_families

from services.agent.probe import delete_room, poll
from services.shared.livekit import livekit_api
from services.shared.settings import Settings
from tests.helpers import eventually, log_entries, log_size, log_tail
from tests.stack.recovery_rtc import start_client

pytestmark = pytest.mark.stack

EVENT = "participant_connection_aborted"


def webhooks(settings: Settings, event: str, outcome: str) -> float:
    """The sidecar's count of verified webhooks of `event` with `outcome` (sweep, ignored …)."""
    text = httpx.get(f"http://127.0.0.1:{settings.recovery.port}/metrics", timeout=5).text
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "lvs_recovery_webhooks_total" and s.labels == {"event": event, "outcome": outcome}:
                return s.value
    return 0.0


def livekit_sent(settings: Settings, offset: int, room: str, event: str) -> bool:
    return any(
        e.get("msg") == "sent webhook" and e.get("event") == event and e.get("room") == room
        for e in log_entries(settings, "livekit", offset)
    )


def test_an_aborted_connection_is_received_and_its_room_swept(stack: Settings) -> None:
    room = f"{stack.recovery.room_prefix}webhook-abort-{uuid.uuid4().hex[:8]}"
    identity = f"aborting-{uuid.uuid4().hex[:6]}"
    offsets = {name: log_size(stack, name) for name in ("livekit", "recovery")}
    swept_before = webhooks(stack, EVENT, "sweep")

    async def scenario() -> None:
        async with livekit_api(stack) as lk:
            await lk.room.create_room(api.CreateRoomRequest(name=room, metadata='{"lvs": true}'))
            try:
                client = start_client(room, identity, signal=True)
                listed = await lk.room.list_participants(api.ListParticipantsRequest(room=room))
                assert [p.identity for p in listed.participants] == [identity]
                assert listed.participants[0].state != api.ParticipantInfo.State.ACTIVE
                client.kill()  # SIGKILL: no leave
                killed = time.monotonic()

                async def gone() -> bool:
                    res = await lk.room.list_participants(api.ListParticipantsRequest(room=room))
                    return identity not in {p.identity for p in res.participants}

                await poll(gone, 30, "LiveKit to drop the aborted participant")
                print(f"aborted participant dropped {time.monotonic() - killed:.1f}s after SIGKILL")
            finally:
                await delete_room(lk, room)

    try:
        asyncio.run(scenario())
        eventually(lambda: livekit_sent(stack, offsets["livekit"], room, EVENT), 15, what=f"livekit to send {EVENT}")

        def swept() -> bool:
            return any(
                e.get("msg") == "targeted sweep" and e.get("room") == room and str(e.get("reason")).startswith(EVENT)
                for e in log_entries(stack, "recovery", offsets["recovery"])
            )

        eventually(swept, 15, what=f"the sidecar's targeted sweep of the room for {EVENT}")
        assert webhooks(stack, EVENT, "sweep") >= swept_before + 1
    except AssertionError as error:
        raise AssertionError(f"{error}\n--- recovery log ---\n{log_tail(stack, 'recovery', 20)}") from error
