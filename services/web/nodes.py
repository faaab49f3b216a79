"""Which LiveKit node URL the web service hands a browser (a native cluster without a load balancer).

With one node, or LIVEKIT_PUBLIC_URL set (a load balancer in front of every node), every session gets that
one URL. Otherwise each session gets one node's URL by a stable hash of its room name (policy.pick_node),
skipping nodes that did not answer their HTTP root at their last check (every 5 s). Any node accepts any room:
LiveKit relays the signal through Redis to the node that hosts the room, and media flows from that node.
"""

from __future__ import annotations

from services.shared.livekit import NODES, NodeHealth
from services.shared.settings import Settings
from services.web.policy import pick_node


def browser_url_for(settings: Settings, room: str, health: NodeHealth = NODES) -> str:
    """The LiveKit URL for this session's browser."""
    urls = settings.livekit.browser_urls
    if len(urls) == 1:
        return urls[0]
    return pick_node(room, urls, {u for u in urls if health.is_down(u)})
