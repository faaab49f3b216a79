"""LiveKit server-API client and the conventions that mark what this stack owns."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
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


def livekit_api(settings: Settings, url: str | None = None) -> api.LiveKitAPI:
    """A server-API client (use as ``async with``): LIVEKIT_URL's server, or ``url``."""
    return api.LiveKitAPI(
        url or settings.livekit.http_url, settings.livekit.api_key, settings.livekit.api_secret.get_secret_value()
    )


def api_url(settings: Settings, answers: Callable[[str], bool] | None = None) -> str:
    """The node whose server API to call: LIVEKIT_URL's, or in a native cluster the first node that answers
    (any node lists every room and routes every call through Redis), so node 1 stopping stops nothing."""
    lk = settings.livekit
    if not lk.cluster:
        return lk.http_url
    check = answers or NODES.answers
    return next((url for url in (lk.node_http_url(i) for i in range(lk.nodes)) if check(url)), lk.http_url)


class NodeHealth:
    """Whether a node's HTTP root answered at its last check; checked again after ``check_every`` seconds."""

    def __init__(self, check_every: float = 5.0, timeout: float = 0.5) -> None:
        self.check_every, self.timeout = check_every, timeout
        self._checked: dict[str, tuple[float, bool]] = {}
        self._lock = threading.Lock()

    def answers(self, url: str) -> bool:
        now = time.monotonic()
        with self._lock:
            at, ok = self._checked.get(url, (-1e9, True))
        if now - at < self.check_every:
            return ok
        http = url.replace("ws://", "http://", 1).replace("wss://", "https://", 1)
        try:
            ok = httpx.get(http, timeout=self.timeout).status_code == 200
        except httpx.HTTPError:
            ok = False
        with self._lock:
            self._checked[url] = (now, ok)
        return ok

    def is_down(self, url: str) -> bool:
        return not self.answers(url)


NODES = NodeHealth()  # one per process: the web's gunicorn worker, the sidecar


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
