"""The running stack with short timeouts: the recovery sidecar deletes our empty and agent-only rooms, and the
agent leaves a room that has had no human for AGENT_IDLE_TIMEOUT.

The module writes the timeouts into the project's .env and applies them with `make up` (which restarts the
agent workers and the sidecar); the original .env comes back, applied, at the end. Every room is created with
LiveKit's own timeouts far longer than the test, so only our code can be what removes it, and each test also
finds the action in the log of the service that must have done it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator

import pytest
from livekit import api

from services.agent.probe import Human, default_agent_id, delete_room, dispatch, our_agents, poll
from services.shared.livekit import livekit_api
from services.shared.settings import Settings
from tests.helpers import eventually, log_entries, log_size, log_tail, settings_applied, worker_names
from tests.stack.recovery_rtc import start_client

pytestmark = pytest.mark.lifecycle

SWEEP_INTERVAL = 1.0
EMPTY_AFTER = 3.0
AGENTS_ONLY_AFTER = 30.0  # longer than the idle test's deadline: the sidecar must not be what ends that agent
IDLE_TIMEOUT = 3.0
LIVEKIT_OWN = 600  # LiveKit's empty/departure timeouts of the test rooms: never reached during a test
MARKER = '{"lvs": true}'  # ours, without a Letta agent id (nothing to re-dispatch)


@pytest.fixture(scope="module")
def short(stack: Settings) -> Iterator[Settings]:
    """The stack running with the short timeouts; the original .env restored and applied afterwards."""
    with settings_applied(
        f"RECOVERY_SWEEP_INTERVAL={SWEEP_INTERVAL}",
        f"RECOVERY_EMPTY_ROOM_AFTER={EMPTY_AFTER}",
        f"RECOVERY_AGENTS_ONLY_AFTER={AGENTS_ONLY_AFTER}",
        f"AGENT_IDLE_TIMEOUT={IDLE_TIMEOUT}",
    ) as settings:
        assert settings.recovery.empty_room_after == EMPTY_AFTER and settings.agent.idle_timeout == IDLE_TIMEOUT
        yield settings


def room_name(settings: Settings, tag: str) -> str:
    return f"{settings.recovery.room_prefix}timeouts-{tag}-{uuid.uuid4().hex[:8]}"


async def create_long_lived(lk: api.LiveKitAPI, room: str, metadata: str = MARKER) -> None:
    """A room LiveKit itself would keep for LIVEKIT_OWN seconds, empty or not."""
    req = api.CreateRoomRequest(name=room, metadata=metadata, empty_timeout=LIVEKIT_OWN, departure_timeout=LIVEKIT_OWN)
    await lk.room.create_room(req)


async def exists(lk: api.LiveKitAPI, room: str) -> bool:
    return bool((await lk.room.list_rooms(api.ListRoomsRequest(names=[room]))).rooms)


def sidecar_deleted(settings: Settings, offset: int, room: str, rule: str) -> bool:
    """The sidecar's log (from `offset`) records deleting `room` under `rule`."""
    return any(
        (e.get("room"), e.get("action"), e.get("rule"), e.get("outcome")) == (room, "delete_room", rule, "done")
        for e in log_entries(settings, "recovery", offset)
    )


def run(settings: Settings, coro: object, logs: tuple[str, ...]) -> None:
    try:
        asyncio.run(coro)  # type: ignore[arg-type]
    except AssertionError as error:
        tails = "\n".join(f"--- {n} log ---\n{log_tail(settings, n, 25)}" for n in logs)
        raise AssertionError(f"{error}\n{tails}") from error


def test_the_sidecar_deletes_our_empty_room(short: Settings) -> None:
    room = room_name(short, "empty")
    offset = log_size(short, "recovery")
    deadline = EMPTY_AFTER + 6 * SWEEP_INTERVAL + 10  # the threshold, a few sweeps, a loaded machine

    async def scenario() -> None:
        async with livekit_api(short) as lk:
            await create_long_lived(lk, room)
            created = time.monotonic()
            try:
                await poll(lambda: _negate(exists(lk, room)), deadline, "the sidecar to delete the empty room")
                print(f"empty room deleted {time.monotonic() - created:.1f}s after it was created")
            finally:
                await delete_room(lk, room)

    run(short, scenario(), ("recovery",))
    eventually(lambda: sidecar_deleted(short, offset, room, "empty_room"), 10, what="the sidecar's empty_room deletion")


def test_the_sidecar_deletes_our_room_with_only_an_agent(short: Settings) -> None:
    room = room_name(short, "agentonly")
    identity = f"{short.agent.identity_prefix}-timeouts-{uuid.uuid4().hex[:6]}"
    offset = log_size(short, "recovery")
    deadline = AGENTS_ONLY_AFTER + 6 * SWEEP_INTERVAL + 10

    async def scenario() -> None:
        async with livekit_api(short) as lk:
            await create_long_lived(lk, room)
            agent = start_client(room, identity, agent=True)  # an agent of ours without a heartbeat: never "dead"
            joined = time.monotonic()
            try:
                listed = await lk.room.list_participants(api.ListParticipantsRequest(room=room))
                assert [p.identity for p in listed.participants] == [identity]
                await poll(lambda: _negate(exists(lk, room)), deadline, "the sidecar to delete the agent-only room")
                alone = time.monotonic() - joined
                print(f"agent-only room deleted {alone:.1f}s after the agent joined")
                assert alone >= AGENTS_ONLY_AFTER - 1, f"deleted after {alone:.1f}s, before the grace"
            finally:
                agent.kill()
                await delete_room(lk, room)

    run(short, scenario(), ("recovery",))
    deleted = lambda: sidecar_deleted(short, offset, room, "agents_only")  # noqa: E731
    eventually(deleted, 10, what="the sidecar's agents_only deletion")


def test_the_agent_leaves_after_the_idle_timeout_with_no_human(short: Settings) -> None:
    room = room_name(short, "idle")
    offsets = {name: log_size(short, name) for name in worker_names(short)}
    letta_id = default_agent_id(short)
    # Well before the sidecar would delete the agent-only room (AGENTS_ONLY_AFTER) and before LiveKit's timeouts.
    deadline = AGENTS_ONLY_AFTER - 5

    async def scenario() -> None:
        async with livekit_api(short) as lk:
            await create_long_lived(lk, room, f'{{"lvs": true, "letta_agent_id": "{letta_id}"}}')
            human = Human(short, room)
            try:
                await human.join()
                await dispatch(lk, short, room, letta_id)
                await poll(lambda: our_agents(lk, short, room), 60, "our agent to join")
                await human.leave()
                left = time.monotonic()
                await poll(lambda: _no_agent(lk, short, room), deadline, "the agent to leave the idle room")
                idle = time.monotonic() - left
                print(f"agent left {idle:.1f}s after the last human (AGENT_IDLE_TIMEOUT={IDLE_TIMEOUT:g})")
                assert idle >= IDLE_TIMEOUT - 0.5, f"the agent left after {idle:.1f}s, before the idle timeout"
            finally:
                await delete_room(lk, room)

    run(short, scenario(), tuple(worker_names(short)))

    def said_idle() -> bool:
        return any(
            e.get("room") == room and e.get("msg") == "no human for the idle timeout, leaving"
            for name, offset in offsets.items()
            for e in log_entries(short, name, offset)
        )

    eventually(said_idle, 10, what="the worker's idle-timeout log line for the room")


async def _negate(check: object) -> bool:
    return not await check  # type: ignore[misc]


async def _no_agent(lk: api.LiveKitAPI, settings: Settings, room: str) -> bool:
    return not await our_agents(lk, settings, room)
