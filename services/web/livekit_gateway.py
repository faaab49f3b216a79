"""The web service's calls to livekit-server: a small synchronous facade over livekit-api.

Flask views are synchronous; each call runs one short asyncio loop with its own LiveKitAPI client.
Unit tests replace this object (app.extensions["livekit"]) at this boundary.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx
from livekit import api

from services.shared.livekit import api_url, livekit_api, parse_room_metadata, room_metadata
from services.shared.settings import DispatchMode, Settings
from services.web.policy import ParticipantSnapshot, RoomSnapshot

T = TypeVar("T")


class LiveKitError(Exception):
    """livekit-server could not be reached or refused a call."""


class LiveKitGateway:
    """Rooms, dispatches and health of livekit-server, as plain synchronous calls."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def _run(self, call: Callable[[api.LiveKitAPI], Awaitable[T]]) -> T:
        async def main() -> T:
            async with livekit_api(self.settings, api_url(self.settings)) as lk:
                return await call(lk)

        try:
            return asyncio.run(main())
        except api.TwirpError as exc:
            raise LiveKitError(f"livekit-server refused the call: {exc.code}") from exc
        except (OSError, TimeoutError) as exc:
            raise LiveKitError("livekit-server is unreachable") from exc
        except Exception as exc:  # aiohttp errors and the like: never leak details to the client
            raise LiveKitError(f"livekit-server call failed: {type(exc).__name__}") from exc

    def ping(self, timeout: float = 2.0) -> bool:
        """True when livekit-server answers its HTTP root."""
        try:
            return httpx.get(api_url(self.settings), timeout=timeout).status_code == 200
        except httpx.HTTPError:
            return False

    def rooms_for(self, letta_agent_id: str) -> list[RoomSnapshot]:
        """Our rooms (prefix + marker) bound to this Letta agent, with their participants."""
        prefix = self.settings.recovery.room_prefix

        async def call(lk: api.LiveKitAPI) -> list[RoomSnapshot]:
            listed = await lk.room.list_rooms(api.ListRoomsRequest())
            found: list[RoomSnapshot] = []
            for room in listed.rooms:
                meta = parse_room_metadata(room.metadata)
                if not room.name.startswith(prefix) or meta.get("letta_agent_id") != letta_agent_id:
                    continue
                people = await lk.room.list_participants(api.ListParticipantsRequest(room=room.name))
                found.append(_snapshot(room, meta, people.participants))
            return found

        return self._run(call)

    def sessions(self) -> list[RoomSnapshot]:
        """Every room of this stack (by prefix), with its participants and their attributes."""
        prefix = self.settings.recovery.room_prefix

        async def call(lk: api.LiveKitAPI) -> list[RoomSnapshot]:
            listed = await lk.room.list_rooms(api.ListRoomsRequest())
            found = []
            for room in listed.rooms:
                if room.name.startswith(prefix):
                    people = await lk.room.list_participants(api.ListParticipantsRequest(room=room.name))
                    found.append(_snapshot(room, parse_room_metadata(room.metadata), people.participants))
            return sorted(found, key=lambda r: r.created_ms)

        return self._run(call)

    def room(self, name: str) -> RoomSnapshot | None:
        """One room by name, or None when livekit-server does not have it."""

        async def call(lk: api.LiveKitAPI) -> RoomSnapshot | None:
            listed = await lk.room.list_rooms(api.ListRoomsRequest(names=[name]))
            if not listed.rooms:
                return None
            room = listed.rooms[0]
            people = await lk.room.list_participants(api.ListParticipantsRequest(room=name))
            return _snapshot(room, parse_room_metadata(room.metadata), people.participants)

        return self._run(call)

    def open_session(self, room: str, letta_agent_id: str, user: str = "", admin: bool = True) -> None:
        """Create the room (with our metadata: agent, user) and dispatch our agent into it."""
        lk_settings = self.settings.livekit
        agent = self.settings.agent

        async def call(lk: api.LiveKitAPI) -> None:
            await lk.room.create_room(
                api.CreateRoomRequest(
                    name=room,
                    metadata=room_metadata(letta_agent_id, **session_owner(user, admin)),
                    empty_timeout=lk_settings.empty_timeout,
                    departure_timeout=lk_settings.departure_timeout,
                )
            )
            if agent.dispatch is DispatchMode.EXPLICIT:
                await lk.agent_dispatch.create_dispatch(
                    api.CreateAgentDispatchRequest(
                        agent_name=agent.name,
                        room=room,
                        metadata=json.dumps({"letta_agent_id": letta_agent_id, **session_owner(user, admin)}),
                    )
                )

        self._run(call)

    def delete_room(self, name: str) -> None:
        """Delete a room (its participants are disconnected); a room that is gone already is no error."""

        async def call(lk: api.LiveKitAPI) -> None:
            try:
                await lk.room.delete_room(api.DeleteRoomRequest(room=name))
            except api.TwirpError as exc:
                if exc.code != api.TwirpErrorCode.NOT_FOUND:
                    raise

        self._run(call)


def session_owner(user: str, admin: bool) -> dict[str, object]:
    """The metadata keys naming a session's user (none when logins are off)."""
    return {"user": user, "admin": admin} if user else {}


def _snapshot(room: api.Room, meta: dict[str, object], people: list[api.ParticipantInfo]) -> RoomSnapshot:
    return RoomSnapshot(
        name=room.name,
        letta_agent_id=str(meta.get("letta_agent_id") or ""),
        ours=meta.get("lvs") is True,
        created_ms=room.creation_time_ms or room.creation_time * 1000,
        user=str(meta.get("user") or ""),
        participants=tuple(
            ParticipantSnapshot(
                identity=p.identity,
                is_agent=p.kind == api.ParticipantInfo.Kind.AGENT,
                attributes=tuple(sorted(p.attributes.items())),
                joined_ms=p.joined_at_ms or p.joined_at * 1000,
            )
            for p in people
        ),
    )
