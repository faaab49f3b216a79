"""Orphaned sessions healed: by the stack's own recovery sidecar (webhook path) and after a worker crash.

These use the real agent worker (dispatch name AGENT_NAME) and a real Letta agent id.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
import uuid

import pytest
from livekit import api
from livekit.protocol import models
from prometheus_client.parser import text_string_to_metric_families

from services.shared.letta import letta_client
from services.shared.livekit import livekit_api, room_metadata
from services.shared.settings import Settings
from tests.helpers import log_entries, log_tail
from tests.stack.recovery_rtc import start_client
from tests.stack.test_recovery_sweeper import people, until

JOIN_TIMEOUT = 60.0  # an agent joining a room (dispatch + job start; the machine is shared)
RESTART_TIMEOUT = 120.0  # supervisord restarting the killed worker until it is healthy


def letta_agent_id(settings: Settings) -> str:
    agents = list(letta_client(settings).agents.list(name=settings.letta.default_agent_name, limit=1))
    assert agents, f"no Letta agent named {settings.letta.default_agent_name} (make up creates it)"
    return agents[0].id


def our_agents(listed: dict[str, models.ParticipantInfo], prefix: str) -> list[str]:
    return [
        i
        for i, p in listed.items()
        if p.kind == models.ParticipantInfo.Kind.AGENT
        and i.startswith(prefix)
        and p.state != models.ParticipantInfo.State.DISCONNECTED
    ]


async def open_session(lk: api.LiveKitAPI, settings: Settings, room: str, letta_id: str) -> None:
    """What the web app does: a marked room and an explicit dispatch of our agent."""
    await lk.room.create_room(api.CreateRoomRequest(name=room, metadata=room_metadata(letta_id)))
    await lk.agent_dispatch.create_dispatch(
        api.CreateAgentDispatchRequest(
            agent_name=settings.agent.name, room=room, metadata=json.dumps({"letta_agent_id": letta_id})
        )
    )


def sidecar_metric(settings: Settings, name: str, **labels: str) -> float:
    """One sample of the running sidecar's /metrics (0 when it has not been counted yet)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{settings.recovery.port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0


@pytest.mark.stack
def test_sidecar_replaces_an_agent_that_left_a_waiting_human(stack: Settings) -> None:
    """The running sidecar (webhook + sweep) re-dispatches when our agent leaves a human alone."""
    room = f"{stack.recovery.room_prefix}rectest-{uuid.uuid4().hex[:8]}"
    letta_id = letta_agent_id(stack)
    prefix = stack.agent.identity_prefix

    async def scenario() -> None:
        async with livekit_api(stack) as lk:
            await open_session(lk, stack, room, letta_id)
            human = start_client(room, "human")
            try:
                first = await until(lambda: _agents(lk, room, prefix), JOIN_TIMEOUT, "the dispatched agent to join")
                hooks = sidecar_metric(stack, "lvs_recovery_webhooks_total", event="participant_left", outcome="sweep")
                dispatched = sidecar_metric(
                    stack, "lvs_recovery_actions_total", rule="orphaned_session", outcome="done"
                )
                await lk.room.remove_participant(api.RoomParticipantIdentity(room=room, identity=first[0]))
                left_at = time.monotonic()
                await until(lambda: _no_agent(lk, room, prefix), 15, "the agent to be gone")
                await until(lambda: _agents(lk, room, prefix), JOIN_TIMEOUT, "an agent back in the room")
                healed = time.monotonic() - left_at
                after = sidecar_metric(stack, "lvs_recovery_webhooks_total", event="participant_left", outcome="sweep")
                assert after > hooks, "the sidecar did not receive LiveKit's participant_left webhook"
                assert (
                    sidecar_metric(stack, "lvs_recovery_actions_total", rule="orphaned_session", outcome="done")
                    > dispatched
                ), "the agent came back without a re-dispatch by the sidecar"
                print(f"agent replaced {healed:.1f}s after it left (orphan wait {stack.recovery.orphan_after}s)")
            finally:
                human.kill()
                await lk.room.delete_room(api.DeleteRoomRequest(room=room))

    try:
        asyncio.run(scenario())
    except AssertionError as error:
        raise AssertionError(f"{error}\n--- recovery log ---\n{log_tail(stack, 'recovery', 20)}") from error


async def _agents(lk: api.LiveKitAPI, room: str, prefix: str) -> list[str]:
    return our_agents(await people(lk, room), prefix)


async def _no_agent(lk: api.LiveKitAPI, room: str, prefix: str) -> bool:
    return not await _agents(lk, room, prefix)


@pytest.mark.stack
def test_a_human_whose_dispatch_failed_gets_an_agent_by_the_failed_dispatch_rule(stack: Settings) -> None:
    """No job of the workers is starting for a waiting human (here: no dispatch was made at all, as when every
    worker was full): the sidecar dispatches by the failed-dispatch rule (RECOVERY_FAILED_DISPATCH_AFTER)."""
    room = f"{stack.recovery.room_prefix}rectest-{uuid.uuid4().hex[:8]}"
    letta_id = letta_agent_id(stack)
    prefix = stack.agent.identity_prefix

    async def scenario() -> None:
        async with livekit_api(stack) as lk:
            await lk.room.create_room(api.CreateRoomRequest(name=room, metadata=room_metadata(letta_id)))
            human = start_client(room, "human")
            try:
                await until(lambda: _agents(lk, room, prefix), JOIN_TIMEOUT, "the sidecar's agent to join")
            finally:
                human.kill()
                await lk.room.delete_room(api.DeleteRoomRequest(room=room))
        actions = [
            e
            for e in log_entries(stack, "recovery")
            if e.get("room") == room and e.get("rule") == "orphaned_session" and e.get("outcome") == "done"
        ]
        assert actions, "the agent came without a dispatch by the sidecar"
        assert "no job starting" in actions[0]["reason"], actions[0]  # that rule, not the orphan one

    try:
        asyncio.run(scenario())
    except AssertionError as error:
        raise AssertionError(f"{error}\n--- recovery log ---\n{log_tail(stack, 'recovery', 20)}") from error
