"""The recovery sweeper against the real livekit-server, with real rtc participants.

The sweeper runs in-process with its own settings (short thresholds, its own room prefix "lvsrec-" so the
stack's recovery sidecar, which owns "lvs-" rooms, never acts on these rooms).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import TypeVar

import aiohttp
import pytest
from livekit import api
from livekit.protocol import models

from services.recovery.policy import ActionKind, Rule, decide, observe
from services.recovery.sweeper import Outcome, Sweeper
from services.shared.livekit import HEARTBEAT_ATTRIBUTE, livekit_api, room_metadata
from services.shared.settings import RecoverySettings, RoomOwnership, Settings
from tests.helpers import log_tail
from tests.stack.recovery_rtc import RtcClient, start_client, token

pytestmark = pytest.mark.stack
T = TypeVar("T")
PREFIX = "lvsrec-"
MARKED = '{"lvs": true}'  # our marker without a Letta agent id: these rooms are never re-dispatched
# LiveKit itself drops a participant whose process died after its own reconnect window (~20 s measured
# on v1.13.5, listed ACTIVE until then): the ghost test's deadline must end well before it.
LIVEKIT_OWN_REMOVAL = 20.0


def settings_for(stack: Settings, **overrides: float) -> Settings:
    values = {
        "room_prefix": PREFIX,
        "ownership": RoomOwnership.BOTH,
        "sweep_interval": 1.0,
        "empty_room_after": 600.0,
        "agents_only_after": 600.0,
        "inactive_participant_after": 3.0,
        "orphan_after": 2.0,
        "redispatch_backoff": 3.0,
        "max_redispatch": 10,
    } | overrides
    return stack.model_copy(update={"recovery": RecoverySettings(**values)})


def room_name(tag: str, prefix: str = PREFIX) -> str:
    return f"{prefix}{tag}-{uuid.uuid4().hex[:8]}"


async def until(check: Callable[[], Awaitable[T]], timeout: float, what: str) -> T:
    """Poll an async condition until it is truthy, or fail after `timeout` seconds."""
    end = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.25)


async def people(lk: api.LiveKitAPI, room: str) -> dict[str, models.ParticipantInfo]:
    res = await lk.room.list_participants(api.ListParticipantsRequest(room=room))
    return {p.identity: p for p in res.participants}


async def room_exists(lk: api.LiveKitAPI, room: str) -> bool:
    return bool((await lk.room.list_rooms(api.ListRoomsRequest(names=[room]))).rooms)


@contextlib.asynccontextmanager
async def sweeping(settings: Settings, clock: Callable[[], float] = time.time) -> AsyncIterator[Sweeper]:
    """A sweeper looping in the background at settings.recovery.sweep_interval."""
    async with livekit_api(settings) as lk:
        sweeper = Sweeper(settings, lk, clock=clock)
        stop = asyncio.Event()
        task = asyncio.create_task(sweeper.run_forever(stop))
        try:
            yield sweeper
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
            await sweeper.close()


async def sweeps_done(sweeper: Sweeper, count: int) -> None:
    """Wait until `count` more full sweeps have completed."""
    target = time.time()
    seen = 0
    last = sweeper.last_sweep_at

    async def next_sweep() -> bool:
        nonlocal seen, last
        if sweeper.last_sweep_at != last and (sweeper.last_sweep_at or 0) >= target:
            seen, last = seen + 1, sweeper.last_sweep_at
        return seen >= count

    await until(next_sweep, 10 + count * sweeper.settings.recovery.sweep_interval * 3, f"{count} sweeps")


def actions_in(sweeper: Sweeper, room: str) -> list[tuple[str, str | None, str]]:
    return [(a.rule.value, a.identity, o.value) for _, a, o in sweeper.recent if a.room == room]


@contextlib.asynccontextmanager
async def half_joined(settings: Settings, room: str, identity: str) -> AsyncIterator[None]:
    """A client that opens its signal connection and never sets up media: listed JOINED forever."""
    tok = token(settings, room, identity, agent=False, attributes={})
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(f"{settings.livekit.url}/rtc?access_token={tok}&protocol=15&sdk=python")
        try:
            yield
        finally:
            await ws.close()


@contextlib.contextmanager
def clients(*started: RtcClient) -> Iterator[None]:
    try:
        yield
    finally:
        for c in started:
            c.kill()


def run(coro: Awaitable[None], stack: Settings) -> None:
    try:
        asyncio.run(coro)  # type: ignore[arg-type]
    except AssertionError as error:
        raise AssertionError(f"{error}\n--- livekit log ---\n{log_tail(stack, 'livekit', 15)}") from error


def test_ghost_killed_hard_is_removed_by_the_sweeper_and_the_live_participant_stays(stack: Settings) -> None:
    """An agent of ours killed hard (no leave) is removed by the sweeper well inside LiveKit's own window.

    LiveKit keeps listing a killed participant ACTIVE for ~20 s and then drops it itself, so the deadline here
    is the sweeper's (heartbeat stale + a few sweeps), far shorter: with a sweeper that does nothing it fails.
    """
    settings = settings_for(stack)
    room = room_name("ghost")
    ghost_id = f"{stack.agent.identity_prefix}-rectest-ghost"
    dead_after = stack.agent.dead_after
    deadline = dead_after + 4 * settings.recovery.sweep_interval + 2.0
    assert deadline < LIVEKIT_OWN_REMOVAL / 2, "the deadline must end well before LiveKit drops the ghost itself"

    async def scenario() -> None:
        async with livekit_api(settings) as lk:
            await lk.room.create_room(api.CreateRoomRequest(name=room, metadata=MARKED))
            bystander = start_client(room, "bystander")
            ghost = start_client(room, ghost_id, agent=True, attributes={HEARTBEAT_ATTRIBUTE: f"{time.time():.3f}"})
            with clients(bystander, ghost):
                ghost.kill()  # SIGKILL right after its last heartbeat: no leave message
                killed = time.monotonic()
                async with sweeping(settings) as sweeper:
                    await until(lambda: _gone(lk, room, ghost_id), deadline, "the sweeper to remove the ghost")
                    gone_after = time.monotonic() - killed
                    print(f"ghost removed by the sweeper {gone_after:.1f}s after SIGKILL")
                    assert (Rule.DEAD_AGENT.value, ghost_id, Outcome.DONE.value) in actions_in(sweeper, room)
                    await sweeps_done(sweeper, 2)
                    assert "bystander" in await people(lk, room), "the live participant was removed"
                    assert all(i != "bystander" for _, i, _ in actions_in(sweeper, room))
            await lk.room.delete_room(api.DeleteRoomRequest(room=room))

    run(scenario(), stack)


async def _gone(lk: api.LiveKitAPI, room: str, identity: str) -> bool:
    return identity not in await people(lk, room)


def test_participant_that_never_finished_joining_is_removed(stack: Settings) -> None:
    settings = settings_for(stack)
    room = room_name("halfjoin")

    async def scenario() -> None:
        async with livekit_api(settings) as lk:
            await lk.room.create_room(api.CreateRoomRequest(name=room, metadata=MARKED))
            async with half_joined(settings, room, "stuck"):
                listed = await until(lambda: people(lk, room), 10, "the half-joined participant to be listed")
                assert listed["stuck"].state != models.ParticipantInfo.State.ACTIVE
                async with sweeping(settings) as sweeper:
                    deadline = settings.recovery.inactive_participant_after + 3 * settings.recovery.sweep_interval
                    await until(lambda: _gone(lk, room, "stuck"), deadline + 5, "the stuck participant removed")
                    # the removal lands in LiveKit a moment before the sweeper records it: wait for the sweep to end
                    await sweeps_done(sweeper, 1)
                    assert (Rule.INACTIVE_PARTICIPANT.value, "stuck", Outcome.DONE.value) in actions_in(sweeper, room)
            await lk.room.delete_room(api.DeleteRoomRequest(room=room))

    run(scenario(), stack)


def test_second_agent_in_a_room_is_removed_and_one_remains(stack: Settings) -> None:
    settings = settings_for(stack)
    room = room_name("dup")
    first, second = f"{stack.agent.identity_prefix}-rectest-first", f"{stack.agent.identity_prefix}-rectest-second"

    async def scenario() -> None:
        async with livekit_api(settings) as lk:
            await lk.room.create_room(api.CreateRoomRequest(name=room, metadata=MARKED))
            human = start_client(room, "human")
            a1 = start_client(room, first, agent=True)
            a2 = start_client(room, second, agent=True)
            with clients(human, a1, a2):
                listed = await people(lk, room)
                assert {p.kind for i, p in listed.items() if i != "human"} == {models.ParticipantInfo.Kind.AGENT}
                async with sweeping(settings) as sweeper:

                    async def one_agent() -> bool:
                        agents = [
                            p for p in (await people(lk, room)).values() if p.kind == models.ParticipantInfo.Kind.AGENT
                        ]
                        return len(agents) == 1

                    await until(one_agent, 15, "one agent left in the room")
                    await sweeps_done(sweeper, 2)
                    remaining = await people(lk, room)
                    assert set(remaining) == {"human", first}, remaining.keys()
                    assert actions_in(sweeper, room) == [(Rule.DUPLICATE_AGENT.value, second, Outcome.DONE.value)]
            await lk.room.delete_room(api.DeleteRoomRequest(room=room))

    run(scenario(), stack)


def test_rooms_without_our_marker_are_left_alone(stack: Settings) -> None:
    # Every threshold 0 and the clock an hour ahead: anything of ours would be acted on at once.
    settings = settings_for(
        stack, empty_room_after=0, agents_only_after=0, inactive_participant_after=0, orphan_after=0
    )
    foreign = room_name("meeting", prefix="rectest-")  # no prefix, no marker
    unmarked = room_name("nomark")  # our prefix, no marker
    empty_foreign = room_name("empty", prefix="rectest-")

    async def scenario() -> None:
        async with livekit_api(settings) as lk:
            await lk.room.create_room(api.CreateRoomRequest(name=foreign))
            await lk.room.create_room(api.CreateRoomRequest(name=unmarked, metadata='{"letta_agent_id": "x"}'))
            await lk.room.create_room(api.CreateRoomRequest(name=empty_foreign))
            a1 = start_client(foreign, f"{stack.agent.identity_prefix}-rectest-1", agent=True)
            a2 = start_client(foreign, f"{stack.agent.identity_prefix}-rectest-2", agent=True)
            human = start_client(unmarked, "waiting-human")
            with clients(a1, a2, human):
                async with half_joined(settings, foreign, "stuck"):
                    before = {r: set(await people(lk, r)) for r in (foreign, unmarked)}
                    assert before[foreign] == {a1.identity, a2.identity, "stuck"}
                    async with sweeping(settings, clock=lambda: time.time() + 3600) as sweeper:
                        await sweeps_done(sweeper, 3)
                        for r in (foreign, unmarked, empty_foreign):
                            assert actions_in(sweeper, r) == []
                            assert await room_exists(lk, r)
                        assert {r: set(await people(lk, r)) for r in (foreign, unmarked)} == before
            for r in (foreign, unmarked, empty_foreign):
                await lk.room.delete_room(api.DeleteRoomRequest(room=r))

    run(scenario(), stack)


def test_hour_old_live_session_is_not_touched(stack: Settings) -> None:
    # The session is "an hour old" by the sweeper's clock, and every threshold is 0.
    settings = settings_for(
        stack, empty_room_after=0, agents_only_after=0, inactive_participant_after=0, orphan_after=0
    )
    room = room_name("live")
    agent_identity = f"{stack.agent.identity_prefix}-rectest-live"

    async def scenario() -> None:
        async with livekit_api(settings) as lk:
            await lk.room.create_room(api.CreateRoomRequest(name=room, metadata=room_metadata("letta-agent-x")))
            human = start_client(room, "human")
            agent = start_client(room, agent_identity, agent=True)
            with clients(human, agent):
                async with sweeping(settings, clock=lambda: time.time() + 3600) as sweeper:
                    await sweeps_done(sweeper, 3)
                    assert actions_in(sweeper, room) == []
                    listed = await people(lk, room)
                    assert set(listed) == {"human", agent_identity}
                    assert all(p.state == models.ParticipantInfo.State.ACTIVE for p in listed.values())
            await lk.room.delete_room(api.DeleteRoomRequest(room=room))

    run(scenario(), stack)


@pytest.mark.parametrize("rule", [Rule.EMPTY_ROOM, Rule.AGENTS_ONLY])
def test_a_human_who_joins_after_the_snapshot_keeps_the_room(stack: Settings, rule: Rule) -> None:
    """The race, made deterministic: the sweeper takes its snapshot and decides to delete the room, a human joins,
    then the sweeper carries the deletion out. Its re-check against the room as it is now must spare the room."""
    settings = settings_for(stack, empty_room_after=0, agents_only_after=0)
    room = room_name("recheck")
    agent_identity = f"{stack.agent.identity_prefix}-rectest-alone"

    async def scenario() -> None:
        async with livekit_api(settings) as lk:
            await lk.room.create_room(api.CreateRoomRequest(name=room, metadata=MARKED))
            started = [start_client(room, agent_identity, agent=True)] if rule is Rule.AGENTS_ONLY else []
            with clients(*started):
                sweeper = Sweeper(settings, lk)
                snapshot = await sweeper.fetch([room])
                now = time.time()
                sweeper.memory = observe({}, snapshot, now)
                actions = decide(snapshot, now, settings.recovery, sweeper.memory)
                assert [(a.kind, a.rule) for a in actions] == [(ActionKind.DELETE_ROOM, rule)], actions
                human = start_client(room, "just-joined")  # between the snapshot and the deletion
                with clients(human):
                    assert await sweeper.execute(actions[0]) is Outcome.SKIPPED
                    assert await room_exists(lk, room), "the room was deleted under the human who just joined"
                    assert "just-joined" in await people(lk, room)
                    # Without the human the same deletion goes ahead: the re-check spares only a room that changed.
                    await lk.room.remove_participant(api.RoomParticipantIdentity(room=room, identity="just-joined"))
                    await until(lambda: _gone(lk, room, "just-joined"), 15, "the human's removal to be listed")
                    assert await sweeper.execute(actions[0]) is Outcome.DONE
                    assert not await room_exists(lk, room)

    run(scenario(), stack)
