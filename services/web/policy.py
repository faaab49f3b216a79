"""Session policy as pure functions: which room is a live session, who wins a race, which rooms are unused."""

from __future__ import annotations

import re
import secrets
import zlib
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class ParticipantSnapshot:
    identity: str
    is_agent: bool
    attributes: tuple[tuple[str, str], ...] = ()  # the participant's attributes (the status page reads them)
    joined_ms: int = 0

    def attribute(self, key: str) -> str:
        return dict(self.attributes).get(key, "")


@dataclass(frozen=True)
class RoomSnapshot:
    """What the web service needs to know about one LiveKit room."""

    name: str
    letta_agent_id: str
    ours: bool
    created_ms: int
    participants: tuple[ParticipantSnapshot, ...] = ()
    user: str = ""  # who opened the session ('' when logins were off)


def is_agent(p: ParticipantSnapshot, agent_identity_prefix: str) -> bool:
    """Our agent, or any agent-kind participant."""
    return p.is_agent or p.identity.startswith(agent_identity_prefix)


def is_live(room: RoomSnapshot, now_ms: int, grace_s: float, agent_identity_prefix: str) -> bool:
    """A session is live while a person is in it, or while it is new enough that one is about to join."""
    if not room.ours:
        return False
    if any(not is_agent(p, agent_identity_prefix) for p in room.participants):
        return True
    return now_ms - room.created_ms < grace_s * 1000


def live_rooms(
    rooms: Iterable[RoomSnapshot],
    letta_agent_id: str,
    now_ms: int,
    grace_s: float,
    agent_identity_prefix: str,
) -> list[RoomSnapshot]:
    """The live sessions of one Letta agent, oldest first."""
    found = [
        r for r in rooms if r.letta_agent_id == letta_agent_id and is_live(r, now_ms, grace_s, agent_identity_prefix)
    ]
    return sorted(found, key=lambda r: (r.created_ms, r.name))


def unused_rooms(rooms: Iterable[RoomSnapshot], live: Iterable[RoomSnapshot]) -> list[RoomSnapshot]:
    """Our rooms of an agent that are not live: no human in them, past the grace period (minted, never joined).

    Deleted when a newer session for the agent is made, so their still-valid tokens open nothing
    (livekit-server does not auto-create rooms).
    """
    live_names = {r.name for r in live}
    return [r for r in rooms if r.ours and r.name not in live_names]


def race_winner(rooms: Iterable[RoomSnapshot]) -> RoomSnapshot | None:
    """Of sessions created concurrently for one agent, the oldest one stays (ties: by name)."""
    ordered = sorted(rooms, key=lambda r: (r.created_ms, r.name))
    return ordered[0] if ordered else None


def new_room_name(prefix: str) -> str:
    """A fresh, unguessable room name carrying the stack's prefix."""
    return f"{prefix}{secrets.token_hex(8)}"


def is_session_room_name(name: str, prefix: str) -> bool:
    """True for a name new_room_name could have made."""
    return name.startswith(prefix) and re.fullmatch(r"[0-9a-f]{16}", name[len(prefix) :]) is not None


def new_identity() -> str:
    """Identity of a browser participant when the client gives none."""
    return f"user-{secrets.token_hex(4)}"


def pick_node(room: str, urls: Sequence[str], down: Collection[str] = ()) -> str:
    """The LiveKit node URL a browser gets for ``room``: a stable hash of the room name over the nodes that
    answer (every node when none does), so sessions spread evenly and every web process (gunicorn worker,
    second web server) hands out the same node for a room without sharing any state."""
    if not urls:
        raise ValueError("no LiveKit URL")
    candidates = [u for u in urls if u not in down] or list(urls)
    return candidates[zlib.crc32(room.encode()) % len(candidates)]
