"""Agent switch mid-session and typed chat: who may switch to what, and how often anyone may ask.

A switch keeps the web service's rules: the new Letta agent must be the session user's (an admin's: any),
must not be live in another session, and the room's metadata then names it. A participant gets at most
one switch (one Letta lookup) and one chat turn per second; the rest is dropped, not queued.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from livekit import api

from services.shared.livekit import ROOM_MARKER, livekit_api, parse_room_metadata, room_metadata
from services.shared.ownership import Principal, may_use_agent
from services.shared.settings import Settings


@dataclass
class Gate:
    """At most one pass per ``interval`` seconds per key, and none while that key's last pass still runs."""

    interval: float = 1.0
    clock: Callable[[], float] = time.monotonic
    _last: dict[str, float] = field(default_factory=dict)
    _busy: set[str] = field(default_factory=set)

    def enter(self, key: str) -> bool:
        now = self.clock()
        if key in self._busy or now - self._last.get(key, -1e18) < self.interval:
            return False
        self._last[key] = now
        self._busy.add(key)
        if len(self._last) > 1000:  # forget long-gone participants
            self._last = {k: t for k, t in self._last.items() if now - t < self.interval or k in self._busy}
        return True

    def leave(self, key: str) -> None:
        self._busy.discard(key)


def switch_refusal(new_owner: str | None, who: Principal, live_elsewhere: bool) -> str | None:
    """Why a switch to an agent owned by ``new_owner`` is refused for ``who``; None when allowed."""
    if not may_use_agent(new_owner, who):
        return "not the user's agent"
    if live_elsewhere:
        return "agent is live in another session"
    return None


def is_live_room(
    meta: dict[str, object], humans: int, created_ms: int, now_ms: int, grace_s: float, agent_id: str
) -> bool:
    """Another of our rooms holding ``agent_id`` with a person in it, or new enough that one is coming."""
    if meta.get(ROOM_MARKER) is not True or meta.get("letta_agent_id") != agent_id:
        return False
    return humans > 0 or now_ms - created_ms < grace_s * 1000


async def live_elsewhere(settings: Settings, agent_id: str, this_room: str) -> bool:
    """True when a session other than ``this_room`` is live for ``agent_id`` (the web service's rule)."""
    now_ms = int(time.time() * 1000)
    prefix = settings.recovery.room_prefix
    async with livekit_api(settings) as lk:
        listed = await lk.room.list_rooms(api.ListRoomsRequest())
        for room in listed.rooms:
            if room.name == this_room or not room.name.startswith(prefix):
                continue
            meta = parse_room_metadata(room.metadata)
            if meta.get("letta_agent_id") != agent_id:
                continue
            people = await lk.room.list_participants(api.ListParticipantsRequest(room=room.name))
            humans = sum(
                1
                for p in people.participants
                if p.kind != api.ParticipantInfo.Kind.AGENT
                and not p.identity.startswith(settings.agent.identity_prefix)
            )
            created = room.creation_time_ms or room.creation_time * 1000
            if is_live_room(meta, humans, created, now_ms, settings.web.session_grace, agent_id):
                return True
    return False


async def set_room_agent(settings: Settings, room: str, metadata: str | None, agent_id: str) -> str:
    """Point the room's metadata at ``agent_id`` (keeping its other keys); the new metadata."""
    meta = {k: v for k, v in parse_room_metadata(metadata).items() if k not in (ROOM_MARKER, "letta_agent_id")}
    updated = room_metadata(agent_id, **meta)
    async with livekit_api(settings) as lk:
        await lk.room.update_room_metadata(api.UpdateRoomMetadataRequest(room=room, metadata=updated))
    return updated
