"""Live sessions as the status page lists them: room, user, Letta agent, since when, which worker."""

from __future__ import annotations

import time

from services.shared.livekit import HEARTBEAT_ATTRIBUTE, LETTA_AGENT_ATTRIBUTE, WORKER_ATTRIBUTE
from services.web.policy import RoomSnapshot, is_agent

AGENT_STATE_ATTRIBUTE = "lk.agent.state"


def session_rows(rooms: list[RoomSnapshot], agent_prefix: str, now: float | None = None) -> list[dict[str, object]]:
    """One row per room of ours: its user, agent, age, humans and the agent participant (state, worker)."""
    now = time.time() if now is None else now
    rows = []
    for room in rooms:
        agents = [p for p in room.participants if is_agent(p, agent_prefix)]
        humans = [p for p in room.participants if not is_agent(p, agent_prefix)]
        agent = agents[0] if agents else None
        beat = agent.attribute(HEARTBEAT_ATTRIBUTE) if agent else ""
        rows.append(
            {
                "room": room.name,
                "user": room.user or None,
                "letta_agent_id": (agent.attribute(LETTA_AGENT_ATTRIBUTE) if agent else "") or room.letta_agent_id,
                "since": room.created_ms / 1000,
                "age_s": max(0.0, now - room.created_ms / 1000),
                "humans": [p.identity for p in humans],
                "agent": None
                if agent is None
                else {
                    "identity": agent.identity,
                    "state": agent.attribute(AGENT_STATE_ATTRIBUTE) or None,
                    "worker": agent.attribute(WORKER_ATTRIBUTE) or None,
                    "heartbeat_age_s": round(now - float(beat), 1) if beat else None,
                    "agents_in_room": len(agents),
                },
            }
        )
    return rows
