"""LiveKit server-API client and the conventions that mark what this stack owns."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from livekit import api

from services.shared.settings import Settings

# Room metadata key that marks a room as created by this stack (with the recovery room prefix).
ROOM_MARKER = "lvs"
# Participant attribute of our agent that names the Letta agent it talks to.
LETTA_AGENT_ATTRIBUTE = "lvs.letta_agent_id"
# Set by the agent on itself: the participant (sid) whose microphone it is listening to now.
LISTENING_TO_ATTRIBUTE = "lvs.listening_to_sid"
# Set by the agent on itself every AGENT_HEARTBEAT_INTERVAL seconds: its wall-clock time (epoch seconds).
# LiveKit keeps listing an agent whose process was killed for ~20 s; a stale heartbeat tells it is dead.
HEARTBEAT_ATTRIBUTE = "lvs.alive_at"
# Set by the agent on join: the worker program serving it (agent, agent-2 …), shown on the status page.
WORKER_ATTRIBUTE = "lvs.worker"


def parse_heartbeat(attributes: Mapping[str, str]) -> float | None:
    """The agent's last heartbeat (epoch seconds), or None when it publishes none (an older agent)."""
    try:
        value = float(attributes.get(HEARTBEAT_ATTRIBUTE, ""))
    except ValueError:
        return None
    return value if value > 0 else None


def livekit_api(settings: Settings) -> api.LiveKitAPI:
    """A server-API client (use as ``async with``)."""
    return api.LiveKitAPI(
        settings.livekit.http_url, settings.livekit.api_key, settings.livekit.api_secret.get_secret_value()
    )


def room_metadata(letta_agent_id: str, **extra: Any) -> str:
    """Metadata stored on rooms this stack creates."""
    return json.dumps({ROOM_MARKER: True, "letta_agent_id": letta_agent_id, **extra})


def parse_room_metadata(metadata: str | None) -> dict[str, Any]:
    """The JSON object in a room's metadata, or {} when it is empty or not ours."""
    try:
        value = json.loads(metadata or "{}")
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}
