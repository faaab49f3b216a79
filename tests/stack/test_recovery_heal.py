"""Orphaned sessions healed: by the stack's own recovery sidecar (webhook path) and after a worker crash.

These use the real agent worker (dispatch name AGENT_NAME) and a real Letta agent id.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from livekit import api
from livekit.protocol import models
from prometheus_client.parser import text_string_to_metric_families

from services.recovery.policy import Rule
from services.recovery.server import watch_worker
from services.recovery.sweeper import Outcome, Sweeper
from services.shared.letta import letta_client
from services.shared.livekit import livekit_api, room_metadata
from services.shared.settings import Settings
from services.stack.supervisor import Supervisor
from tests.helpers import log_tail
from tests.stack.recovery_rtc import start_client
from tests.stack.test_recovery_sweeper import PREFIX, people, room_name, settings_for, until

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


@dataclass
class HealTimes:
    """Seconds from the worker's SIGKILL until each was first seen."""

    agent_gone: float  # the dead worker's agent no longer listed (LiveKit drops it after its own timeout)
    worker_back: float  # the restarted worker answers its health check
    healed: float  # an agent of ours is in the room again

    @property
    def after_worker_back(self) -> float:
        """Heal time once the room could be healed: worker back and the dead agent gone."""
        return self.healed - max(self.worker_back, self.agent_gone)


def worker_healthy(settings: Settings) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{settings.agent.port}/", timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


async def kill_worker_and_heal(stack: Settings) -> HealTimes:
    """Kill -9 the agent worker mid-session; an in-process sweeper heals the room once it is back."""
    settings = settings_for(stack, orphan_after=3.0, redispatch_backoff=2.0, max_redispatch=30)
    room = room_name("crash")
    letta_id = letta_agent_id(stack)
    prefix = stack.agent.identity_prefix
    async with livekit_api(settings) as lk:
        sweeper = Sweeper(settings, lk)
        stop, wake = asyncio.Event(), asyncio.Event()
        # The sweeper runs from the start: on a loaded machine the worker may decline the first dispatch,
        # which LiveKit then drops; healing that is the sidecar's job too.
        tasks = [
            asyncio.create_task(sweeper.run_forever(stop, wake)),
            asyncio.create_task(watch_worker(sweeper, stop, wake)),
        ]
        await open_session(lk, settings, room, letta_id)
        human = start_client(room, "human")
        try:
            await until(lambda: _agents(lk, room, prefix), JOIN_TIMEOUT, "the dispatched agent to join")
            pid = Supervisor(stack).info()["agent"].pid
            os.kill(pid, signal.SIGKILL)
            killed_at = time.time()
            times = await _watch_heal(lk, stack, room, time.monotonic())
            assert any(
                a.room == room and a.rule is Rule.ORPHANED_SESSION and o is Outcome.DONE and at > killed_at
                for at, a, o in sweeper.recent
            ), "the agent came back without a re-dispatch"
            assert "human" in await people(lk, room)
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            human.kill()
            await lk.room.delete_room(api.DeleteRoomRequest(room=room))
    return times


async def _watch_heal(lk: api.LiveKitAPI, settings: Settings, room: str, killed: float) -> HealTimes:
    """Poll (one loop, so each time is first-seen) until the room has an agent after the kill."""
    gone = back = None
    was_down = False
    deadline = killed + RESTART_TIMEOUT + JOIN_TIMEOUT
    while time.monotonic() < deadline:
        agents = await _agents(lk, room, settings.agent.identity_prefix)
        now = time.monotonic() - killed
        if gone is None and not agents:
            gone = now
        if back is None:
            healthy = await asyncio.to_thread(worker_healthy, settings)
            was_down = was_down or not healthy
            back = now if healthy and was_down else None
        if gone is not None and back is not None and agents:
            return HealTimes(gone, back, now)
        await asyncio.sleep(0.2)
    raise AssertionError(f"no agent back in {room}: dead agent gone at {gone}, worker healthy at {back}")


@pytest.mark.stack
@pytest.mark.chaos
def test_worker_killed_mid_session_room_has_an_agent_again(
    stack: Settings, chaos_figure: Callable[[str], None]
) -> None:
    """Agent worker killed (SIGKILL) mid-session"""
    try:
        times = asyncio.run(kill_worker_and_heal(stack))
    except AssertionError as error:
        raise AssertionError(f"{error}\n--- agent log ---\n{log_tail(stack, 'agent', 25)}") from error
    chaos_figure(
        f"worker healthy after {times.worker_back:.1f} s, dead agent gone after {times.agent_gone:.1f} s,"
        f" room healed after {times.healed:.1f} s: {times.after_worker_back:.1f} s after the worker was back"
        f" and the dead agent gone ({PREFIX} room)"
    )
