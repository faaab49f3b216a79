"""Which LiveKit node URL the web service hands a browser (a native cluster without a load balancer).

With one node, or LIVEKIT_PUBLIC_URL set (a load balancer in front of every node), every session gets that
one URL. Otherwise each session gets one node's URL by a stable hash of its room name (policy.pick_node),
skipping nodes that did not answer their HTTP root within the last few seconds. Any node accepts any room:
LiveKit relays the signal through Redis to the node that hosts the room, and media flows from that node.
"""

from __future__ import annotations

import threading
import time

import httpx

from services.shared.settings import Settings
from services.web.policy import pick_node

CHECK_EVERY_S = 5.0
PROBE_TIMEOUT_S = 0.5


class NodeHealth:
    """Remembers, per node URL, whether its HTTP root answered at the last check (re-checked every few s)."""

    def __init__(self, check_every: float = CHECK_EVERY_S) -> None:
        self.check_every = check_every
        self._checked: dict[str, tuple[float, bool]] = {}
        self._lock = threading.Lock()

    def is_down(self, url: str) -> bool:
        now = time.monotonic()
        with self._lock:
            at, ok = self._checked.get(url, (-1e9, True))
        if now - at < self.check_every:
            return not ok
        ok = _answers(url)
        with self._lock:
            self._checked[url] = (now, ok)
        return not ok


def _answers(ws_url: str) -> bool:
    http = ws_url.replace("ws://", "http://", 1).replace("wss://", "https://", 1)
    try:
        return httpx.get(http, timeout=PROBE_TIMEOUT_S).status_code == 200
    except httpx.HTTPError:
        return False


_HEALTH = NodeHealth()


def browser_url_for(settings: Settings, room: str, health: NodeHealth = _HEALTH) -> str:
    """The LiveKit URL for this session's browser."""
    urls = settings.livekit.browser_urls
    if len(urls) == 1:
        return urls[0]
    return pick_node(room, urls, {u for u in urls if health.is_down(u)})
