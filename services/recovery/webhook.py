"""Which LiveKit webhook events call for an immediate sweep of their room (pure)."""

from __future__ import annotations

from dataclasses import dataclass

from livekit.protocol import models
from livekit.protocol.webhook import WebhookEvent

from services.recovery.snapshot import is_ours
from services.shared.livekit import parse_room_metadata
from services.shared.settings import Settings

# Events after which a room may need healing or cleaning at once.
SWEEP_EVENTS = frozenset({"participant_joined", "participant_left", "participant_connection_aborted"})


@dataclass(frozen=True)
class Trigger:
    """A targeted sweep to run for one room, and why."""

    room: str
    reason: str


def trigger_for(event: WebhookEvent, settings: Settings) -> Trigger | None:
    """The targeted sweep an event asks for, or None (not ours, or nothing to do)."""
    if event.event not in SWEEP_EVENTS or not event.room.name:
        return None
    rs = settings.recovery
    # Webhook payloads may carry the room without its metadata: the name decides then, and the
    # sweep re-checks ownership against the listed room.
    metadata = parse_room_metadata(event.room.metadata)
    if event.room.metadata and not is_ours(event.room.name, metadata, rs.room_prefix, rs.ownership):
        return None
    if not event.room.metadata and not is_ours(event.room.name, {"lvs": True}, rs.room_prefix, rs.ownership):
        return None
    who = event.participant
    agent = who.kind == models.ParticipantInfo.Kind.AGENT
    role = "agent" if agent else "participant"
    return Trigger(event.room.name, f"{event.event}: {role} {who.identity}")
