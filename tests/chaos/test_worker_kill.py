"""A worker killed mid-session: the running stack's recovery sidecar gives the person a live agent again.

Two workers: the killed worker's agent is found dead by its stopped heartbeat (LiveKit lists it ~20 s more) and
the other worker takes over. One worker: the room is healed once the restarted worker has registered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import pytest

from services.shared.settings import Settings
from services.stack.health import probe
from services.stack.programs import programs
from tests.chaos.worker_kill import JOIN_TIMEOUT, kill_serving_worker, sidecar_actions
from tests.helpers import eventually, log_tail, only_first_worker

pytestmark = [pytest.mark.stack, pytest.mark.chaos]


def worker_programs(settings: Settings) -> dict[str, object]:
    return {p.name: p for p in programs(settings) if p.name == "agent" or p.name.startswith("agent-")}


@pytest.fixture
def two_workers(stack: Settings) -> Settings:
    """The stack runs AGENT_WORKERS >= 2 (scripts/test.sh starts it so) and every worker is registered."""
    assert stack.agent.workers >= 2, "run the stack with AGENT_WORKERS=2 (scripts/test.sh does) for this scenario"
    for name, prog in worker_programs(stack).items():
        eventually(lambda prog=prog: probe(prog.health), JOIN_TIMEOUT, what=f"{name} healthy")
    return stack


@pytest.fixture
def one_worker(two_workers: Settings) -> Iterator[Settings]:
    """Only the first worker runs; the others are stopped for the test and started again after it."""
    with only_first_worker(two_workers, JOIN_TIMEOUT * 2) as settings:
        yield settings


def explain(settings: Settings, error: AssertionError) -> AssertionError:
    tails = "\n".join(f"--- {n} log ---\n{log_tail(settings, n, 15)}" for n in ("recovery", "agent", "agent-2"))
    return AssertionError(f"{error}\n{tails}")


def test_with_a_standby_worker_a_killed_worker_is_replaced_in_seconds(
    two_workers: Settings, chaos_figure: Callable[[str], None]
) -> None:
    """Agent worker killed (SIGKILL) mid-session, a second worker running"""
    dead_before = sidecar_actions(two_workers, "dead_agent")
    try:
        heal = asyncio.run(kill_serving_worker(two_workers))
    except AssertionError as error:
        raise explain(two_workers, error) from None
    assert sidecar_actions(two_workers, "dead_agent") > dead_before, "the sidecar did not remove the dead agent"
    assert heal.dead_agent_gone < 15, f"the dead agent stayed {heal.dead_agent_gone:.1f}s (LiveKit's own timeout)"
    chaos_figure(
        f"killed {heal.killed}: dead agent removed {heal.dead_agent_gone:.1f} s, new agent joined"
        f" {heal.new_agent_joined:.1f} s, its voice heard {heal.voice_heard:.1f} s after the kill (goal 5 s)"
    )


def test_with_one_worker_the_room_heals_once_the_worker_is_back(
    one_worker: Settings, chaos_figure: Callable[[str], None]
) -> None:
    """Agent worker killed (SIGKILL) mid-session, the only worker"""
    dispatched_before = sidecar_actions(one_worker, "orphaned_session")
    try:
        heal = asyncio.run(kill_serving_worker(one_worker))
    except AssertionError as error:
        raise explain(one_worker, error) from None
    assert heal.killed == "agent"
    assert sidecar_actions(one_worker, "orphaned_session") > dispatched_before, "healed without a re-dispatch"
    assert heal.worker_registered is not None, "the restarted worker left no registration marker"
    chaos_figure(
        f"worker registered again {heal.worker_registered:.1f} s after the kill; new agent's voice heard"
        f" {heal.voice_heard:.1f} s after the kill, {heal.voice_heard - heal.worker_registered:.1f} s after the"
        " worker was back (goal 5 s)"
    )
