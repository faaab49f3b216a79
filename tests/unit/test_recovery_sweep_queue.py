"""The webhooks' targeted sweeps: due rooms coalesce into one sweep, later ones wait their turn."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import types

import pytest

from services.recovery.sweep_queue import HEARTBEAT, SweepQueue, run_targeted

pytestmark = pytest.mark.unit


def test_take_hands_out_due_rooms_once_each() -> None:
    now = [100.0]
    queue = SweepQueue(clock=lambda: now[0])
    queue.ask("lvs-a", "participant_joined: participant u")
    queue.ask("lvs-a", "participant_left: agent x")
    queue.ask("lvs-b", "participant_left: participant v")
    queue.ask("lvs-a", "participant_joined: participant u", delay=8.25)
    now[0] = 101.5
    batch = queue.take()
    assert batch is not None
    assert batch.rooms == ["lvs-a", "lvs-b"] and batch.reasons["lvs-a"] == "participant_joined: participant u"
    assert batch.waited == pytest.approx(1.5)
    assert queue.take() is None  # the delayed ask is not due yet
    now[0] = 108.25
    later = queue.take()
    assert later is not None and later.rooms == ["lvs-a"] and later.waited == 0
    assert len(queue) == 0


def test_take_caps_one_sweep() -> None:
    queue = SweepQueue(clock=lambda: 0.0)
    for i in range(7):
        queue.ask(f"lvs-{i}", "participant_joined")
    first = queue.take(limit=5)
    second = queue.take(limit=5)
    assert first is not None and second is not None
    assert (len(first.rooms), len(second.rooms)) == (5, 2)


def test_asks_made_while_a_sweep_runs_go_together_into_the_next() -> None:
    async def scenario() -> list[list[str]]:
        queue, stop = SweepQueue(), asyncio.Event()
        calls: list[list[str]] = []
        first_running, release = asyncio.Event(), asyncio.Event()

        async def sweep(rooms: list[str]) -> object:
            calls.append(list(rooms))
            if len(calls) == 1:
                first_running.set()
                await release.wait()  # the sweeper is busy (its lock held) while the webhooks keep coming
            if len(calls) == 2:
                stop.set()
            if len(calls) == 3:
                raise AssertionError("a third sweep: the asks were not coalesced")
            return None

        runner = asyncio.create_task(run_targeted(queue, sweep, stop))
        queue.ask("lvs-first", "participant_joined")
        await asyncio.wait_for(first_running.wait(), 5)
        for i in range(10):
            queue.ask(f"lvs-{i}", "participant_joined")
            queue.ask(f"lvs-{i}", "participant_left")
        release.set()
        await asyncio.wait_for(runner, 5)
        return calls

    calls = asyncio.run(scenario())
    assert calls == [["lvs-first"], [f"lvs-{i}" for i in range(10)]]


def test_a_failed_sweep_does_not_end_the_loop() -> None:
    async def scenario() -> list[list[str]]:
        queue, stop = SweepQueue(), asyncio.Event()
        calls: list[list[str]] = []

        async def sweep(rooms: list[str]) -> object:
            calls.append(list(rooms))
            if len(calls) == 1:
                queue.ask("lvs-next", "participant_left")
                raise RuntimeError("LiveKit away")
            stop.set()
            return None

        queue.ask("lvs-a", "participant_left")
        await asyncio.wait_for(run_targeted(queue, sweep, stop), 5)
        return calls

    assert asyncio.run(scenario()) == [["lvs-a"], ["lvs-next"]]


def test_a_webhook_reason_names_a_sweep_shared_with_heartbeats() -> None:
    queue = SweepQueue(clock=lambda: 0.0)
    queue.ask("lvs-a", HEARTBEAT)
    queue.ask("lvs-a", "participant_left: agent x")
    queue.ask("lvs-b", HEARTBEAT)
    batch = queue.take()
    assert batch is not None
    assert batch.reasons == {"lvs-a": "participant_left: agent x", "lvs-b": HEARTBEAT}


def test_heartbeat_sweeps_are_logged_only_when_they_act(caplog: pytest.LogCaptureFixture) -> None:
    @dataclasses.dataclass
    class Action:
        room: str

    async def scenario() -> None:
        queue, stop = SweepQueue(), asyncio.Event()

        async def sweep(rooms: list[str]) -> object:
            stop.set()
            return types.SimpleNamespace(done=[(Action("lvs-dead"), "ok")])

        for room in ("lvs-quiet", "lvs-dead"):
            queue.ask(room, HEARTBEAT)
        await asyncio.wait_for(run_targeted(queue, sweep, stop), 5)

    with caplog.at_level(logging.INFO, logger="lvs.recovery"):
        asyncio.run(scenario())
    logged = [r for r in caplog.records if r.msg == "targeted sweep"]
    assert [(r.__dict__["reason"], r.__dict__["actions"]) for r in logged] == [(HEARTBEAT, 1)]
