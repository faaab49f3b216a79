"""Plain data views of LiveKit rooms and participants, and their conversion from the server API."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from livekit.protocol import agent_dispatch, models

from services.shared.livekit import LETTA_AGENT_ATTRIBUTE, ROOM_MARKER, parse_heartbeat, parse_room_metadata
from services.shared.settings import RoomOwnership


class Kind(StrEnum):
    STANDARD = "standard"
    INGRESS = "ingress"
    EGRESS = "egress"
    SIP = "sip"
    AGENT = "agent"
    OTHER = "other"


class State(StrEnum):
    JOINING = "joining"
    JOINED = "joined"
    ACTIVE = "active"
    DISCONNECTED = "disconnected"


HUMAN_KINDS = frozenset({Kind.STANDARD, Kind.SIP})
PRESENT_STATES = frozenset({State.JOINING, State.JOINED, State.ACTIVE})


@dataclass(frozen=True)
class ParticipantView:
    """One participant as the server lists it."""

    identity: str
    kind: Kind = Kind.STANDARD
    state: State = State.ACTIVE
    joined_at: float = 0.0
    is_our_agent: bool = False
    tracks: int = 0
    heartbeat_at: float | None = None  # our agent's last heartbeat (None: it publishes none)

    @property
    def is_human(self) -> bool:
        return self.kind in HUMAN_KINDS

    @property
    def is_agent(self) -> bool:
        return self.kind is Kind.AGENT

    @property
    def is_present(self) -> bool:
        """Connected or on its way (not listed as disconnected)."""
        return self.state in PRESENT_STATES

    @property
    def is_live(self) -> bool:
        return self.state is State.ACTIVE


@dataclass(frozen=True)
class RoomView:
    """One room with its participants."""

    name: str
    metadata: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    num_participants: int = 0
    participants: tuple[ParticipantView, ...] = ()
    # A worker of this machine is starting a job for the room (its room claim is live); None: unknown (the
    # sidecar does not share the workers' claim folder, or nobody waits in the room).
    job_starting: bool | None = None
    # The newest dispatch of our agent into the room reached no worker (livekit lists it without a job: every
    # worker was full when it came); None: unknown, or nobody waits in the room.
    dispatch_unserved: bool | None = None

    @property
    def letta_agent_id(self) -> str | None:
        value = self.metadata.get("letta_agent_id")
        return value if isinstance(value, str) and value else None

    @property
    def is_empty(self) -> bool:
        """No participant listed (the participant list is the truth: the room's count lags)."""
        return not self.participants


@dataclass(frozen=True)
class Snapshot:
    """Rooms seen in one sweep (all rooms, or the few of a targeted sweep)."""

    rooms: tuple[RoomView, ...] = ()

    def room(self, name: str) -> RoomView | None:
        return next((r for r in self.rooms if r.name == name), None)


def is_ours(name: str, metadata: dict[str, Any], prefix: str, ownership: RoomOwnership) -> bool:
    """True for a room this stack created, by the configured marker rule."""
    by_prefix = name.startswith(prefix)
    by_marker = metadata.get(ROOM_MARKER) is True
    match ownership:
        case RoomOwnership.PREFIX:
            return by_prefix
        case RoomOwnership.MARKER:
            return by_marker
        case RoomOwnership.EITHER:
            return by_prefix or by_marker
        case _:
            return by_prefix and by_marker


_KINDS = {
    models.ParticipantInfo.Kind.STANDARD: Kind.STANDARD,
    models.ParticipantInfo.Kind.INGRESS: Kind.INGRESS,
    models.ParticipantInfo.Kind.EGRESS: Kind.EGRESS,
    models.ParticipantInfo.Kind.SIP: Kind.SIP,
    models.ParticipantInfo.Kind.AGENT: Kind.AGENT,
}
_STATES = {
    models.ParticipantInfo.State.JOINING: State.JOINING,
    models.ParticipantInfo.State.JOINED: State.JOINED,
    models.ParticipantInfo.State.ACTIVE: State.ACTIVE,
    models.ParticipantInfo.State.DISCONNECTED: State.DISCONNECTED,
}


def participant_view(info: models.ParticipantInfo, agent_identity_prefix: str) -> ParticipantView:
    """Convert the server's ParticipantInfo; ours = kind agent with our identity prefix."""
    kind = _KINDS.get(info.kind, Kind.OTHER)
    ours = kind is Kind.AGENT and (
        info.identity.startswith(agent_identity_prefix) or LETTA_AGENT_ATTRIBUTE in info.attributes
    )
    joined = info.joined_at_ms / 1000 if info.joined_at_ms else float(info.joined_at)
    return ParticipantView(
        identity=info.identity,
        kind=kind,
        state=_STATES.get(info.state, State.DISCONNECTED),
        joined_at=joined,
        is_our_agent=ours,
        tracks=len(info.tracks),
        heartbeat_at=parse_heartbeat(info.attributes) if ours else None,
    )


def room_view(
    room: models.Room, participants: Iterable[models.ParticipantInfo], agent_identity_prefix: str
) -> RoomView:
    """Convert the server's Room and its listed participants."""
    created = room.creation_time_ms / 1000 if room.creation_time_ms else float(room.creation_time)
    return RoomView(
        name=room.name,
        metadata=parse_room_metadata(room.metadata),
        created_at=created,
        num_participants=room.num_participants,
        participants=tuple(participant_view(p, agent_identity_prefix) for p in participants),
    )


def newest_dispatch_unserved(dispatches: Sequence[agent_dispatch.AgentDispatch], agent_name: str) -> bool | None:
    """True when the newest dispatch of ``agent_name`` has no job (no worker took it); None: there is none."""
    ours = [d for d in dispatches if d.agent_name == agent_name]
    if not ours:
        return None
    newest = max(ours, key=lambda d: d.state.created_at)
    return len(newest.state.jobs) == 0
