"""Whether our newest dispatch into a room reached a worker, from livekit's own dispatch list."""

from __future__ import annotations

import pytest
from livekit.protocol import agent, agent_dispatch

from services.recovery.snapshot import newest_dispatch_unserved

pytestmark = pytest.mark.unit


def dispatch(name: str, created_at: int, jobs: int) -> agent_dispatch.AgentDispatch:
    taken = [agent.Job(id=f"AJ_{i}") for i in range(jobs)]
    state = agent_dispatch.AgentDispatchState(created_at=created_at, jobs=taken)
    return agent_dispatch.AgentDispatch(id=f"AD_{created_at}", agent_name=name, room="lvs-a", state=state)


@pytest.mark.parametrize(
    ("dispatches", "unserved"),
    [
        ([], None),
        ([dispatch("other", 1, 0)], None),  # not our agent's
        ([dispatch("letta-voice", 1, 0)], True),
        ([dispatch("letta-voice", 1, 1)], False),
        ([dispatch("letta-voice", 1, 1), dispatch("letta-voice", 2, 0)], True),  # the newest decides
        ([dispatch("letta-voice", 2, 1), dispatch("letta-voice", 1, 0)], False),
        ([dispatch("letta-voice", 1, 1), dispatch("", 3, 0)], False),  # an automatic one is not ours
    ],
)
def test_newest_dispatch_unserved(dispatches: list[agent_dispatch.AgentDispatch], unserved: bool | None) -> None:
    assert newest_dispatch_unserved(dispatches, "letta-voice") is unserved
