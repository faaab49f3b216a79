"""The workers' free job slots, as the recovery sidecar reads them (lvs_agent_job_slots_free on each /metrics).

The sidecar holds a re-dispatch back while no worker has a free slot (services/recovery/policy.within_free_slots),
so the figure must follow the sessions for real: one slot fewer while a session runs, back when it ends.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from services.agent.probe import default_agent_id, human_with_agent, until
from services.recovery.sweeper import free_job_slots
from services.shared.settings import Settings

pytestmark = pytest.mark.stack
SETTLE_S = 60.0  # the jobs of earlier tests end / a new job starts (busy 2-core machine)


def free_slots(settings: Settings) -> int | None:
    """Free job slots summed over the workers; None while one of them does not say."""
    agent = settings.agent
    total = 0
    for i in range(agent.workers):
        text = httpx.get(f"http://127.0.0.1:{agent.instance_metrics_port(i)}/metrics", timeout=5).text
        free = free_job_slots(text)
        if free is None:
            return None
        total += free
    return total


def test_a_session_takes_one_job_slot_and_gives_it_back(stack: Settings) -> None:
    slots = stack.agent.workers * stack.agent.max_jobs
    letta_id = default_agent_id(stack)

    async def scenario() -> list[int | None]:
        seen = [await until(lambda: free_slots(stack) == slots, SETTLE_S, "every slot free before the session")]
        async with human_with_agent(stack, letta_id) as (_lk, human):
            await until(lambda: human.agent() is not None, SETTLE_S, "our agent to join")
            seen.append(await until(lambda: free_slots(stack) == slots - 1, 5.0, "one slot taken by the session"))
        seen.append(await until(lambda: free_slots(stack) == slots, SETTLE_S, "the slot given back"))
        return seen

    assert asyncio.run(scenario()) == [True, True, True]
