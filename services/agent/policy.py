"""Request policy: whether this worker takes a job for a room (pure functions, no I/O).

Exactly one of our agents per room: a live agent of ours already there (or a job of this worker
for the room, pending or running) means reject; our own stale agent participants (gone, dead — their
heartbeat stopped, so their worker died although LiveKit still lists them — or not publishing although a
human has been with them for a while) are removed; other participants are never touched.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum

# How long an agent of ours may sit in a room without publishing audio before it counts as stale.
PUBLISH_GRACE_S = 20.0


class PState(StrEnum):
    """A participant's connection state, as the server API reports it."""

    JOINING = "joining"
    JOINED = "joined"
    ACTIVE = "active"
    DISCONNECTED = "disconnected"


@dataclass(frozen=True)
class ParticipantView:
    """What the request policy needs to know about one participant of the room."""

    identity: str
    is_agent: bool
    state: PState
    joined_at: float
    publishing_audio: bool
    heartbeat_at: float | None = None  # the agent's last published heartbeat (None: it publishes none)


@dataclass(frozen=True)
class RequestContext:
    """Everything the decision depends on besides the room's participants."""

    room: str
    identity_prefix: str
    now: float
    busy_here: bool = False
    local_jobs: int = 0
    max_jobs: int = 4
    publish_grace: float = PUBLISH_GRACE_S
    dead_after: float = 3.0


@dataclass(frozen=True)
class Decision:
    """Accept or reject, and which stale agent participants of ours to remove first."""

    accept: bool
    reason: str
    terminate: bool = True
    remove: tuple[str, ...] = field(default_factory=tuple)


def agent_identity(prefix: str, room: str) -> str:
    """The stable identity of our agent in a room (a second join with it replaces the first)."""
    return f"{prefix}-{room}"


def is_ours(p: ParticipantView, prefix: str) -> bool:
    return p.is_agent and p.identity.startswith(prefix)


def is_dead(p: ParticipantView, now: float, dead_after: float) -> bool:
    """Its heartbeat stopped: the process behind it is gone although the server still lists it.

    The first beat is the attribute given at accept time; on a busy machine the job may join seconds later,
    so the join itself counts as a sign of life too (else a slow start would be judged dead on arrival).
    """
    return p.heartbeat_at is not None and now - max(p.heartbeat_at, p.joined_at) > dead_after


def is_live(
    p: ParticipantView,
    now: float,
    grace: float,
    human_since: float | None = None,
    dead_after: float = float("inf"),
) -> bool:
    """Connected, beating, and publishing audio or excused: our agent publishes only once a human is there,
    so it counts as stale for not publishing only when a human has waited ``grace`` seconds with it.
    """
    if p.state is PState.DISCONNECTED or is_dead(p, now, dead_after):
        return False
    if p.publishing_audio or human_since is None:
        return True
    return now - max(p.joined_at, human_since) < grace


def human_since(snapshot: list[ParticipantView]) -> float | None:
    """When the earliest connected non-agent participant joined (None: no human in the room)."""
    times = [p.joined_at for p in snapshot if not p.is_agent and p.state is not PState.DISCONNECTED]
    return min(times) if times else None


def decide_request(snapshot: list[ParticipantView] | None, ctx: RequestContext) -> Decision:
    """Decide a job request. ``snapshot`` None means the room's participants are not known (yet)."""
    if ctx.busy_here:
        return Decision(False, "this worker already serves the room")
    if ctx.local_jobs >= ctx.max_jobs:
        return Decision(False, f"worker at capacity ({ctx.local_jobs} jobs)", terminate=False)
    snapshot = snapshot or []
    since = human_since(snapshot)
    ours = [p for p in snapshot if is_ours(p, ctx.identity_prefix)]
    live = [p.identity for p in ours if is_live(p, ctx.now, ctx.publish_grace, since, ctx.dead_after)]
    stale = tuple(p.identity for p in ours if p.identity not in live)
    if live:
        return Decision(False, f"agent {live[0]} is already in the room", remove=stale)
    return Decision(True, "room has no live agent of ours", remove=stale)


class MetadataError(ValueError):
    """Dispatch metadata without a usable Letta agent id."""


def parse_dispatch_metadata(metadata: str | None, room_metadata: str | None = None) -> str:
    """The Letta agent id from dispatch metadata, falling back to the room's metadata.

    Raises MetadataError naming what is missing or malformed.
    """
    for source in (metadata, room_metadata):
        if not source or not source.strip():
            continue
        try:
            value = json.loads(source)
        except json.JSONDecodeError:
            if source is metadata:
                raise MetadataError("dispatch metadata is not JSON") from None
            continue
        if not isinstance(value, dict):
            if source is metadata:
                raise MetadataError("dispatch metadata is not a JSON object")
            continue
        agent_id = value.get("letta_agent_id")
        if agent_id is None:
            continue
        if not isinstance(agent_id, str) or not valid_agent_id(agent_id):
            raise MetadataError(f"letta_agent_id {str(agent_id)[:80]!r} is not a Letta agent id")
        return agent_id
    raise MetadataError("no letta_agent_id in dispatch or room metadata")


def valid_agent_id(agent_id: str) -> bool:
    """Shape check of a Letta agent id ('agent-' + uuid-like); existence is checked against Letta."""
    rest = agent_id.removeprefix("agent-")
    return agent_id.startswith("agent-") and 0 < len(rest) <= 64 and all(c.isalnum() or c == "-" for c in rest)


def parse_switch_request(payload: str | bytes) -> str:
    """The Letta agent id from a 'lvs.switch-agent' message: JSON {"letta_agent_id": "..."}."""
    if isinstance(payload, bytes):
        payload = payload.decode("utf-8", errors="replace")
    try:
        value = json.loads(payload)
    except json.JSONDecodeError:
        raise MetadataError("switch request is not JSON") from None
    if not isinstance(value, dict) or not isinstance(value.get("letta_agent_id"), str):
        raise MetadataError("switch request needs letta_agent_id")
    agent_id = value["letta_agent_id"]
    if not valid_agent_id(agent_id):
        raise MetadataError(f"letta_agent_id {agent_id[:80]!r} is not a Letta agent id")
    return agent_id


def job_load(active_jobs: int, max_jobs: int) -> float:
    """Load reported to livekit-server: the share of job slots in use (1.0 = full).

    The server picks workers weighted by 1 - load and skips a worker at 1.0, so the default
    (system CPU) load would refuse every dispatch on a busy shared machine.
    """
    return min(max(active_jobs, 0) / max(max_jobs, 1), 1.0)


def free_job_slots(busy_jobs: int, max_jobs: int) -> int:
    """Job slots a worker still has (its /metrics ``lvs_agent_job_slots_free``, read by the recovery sidecar
    to hold re-dispatches that no worker could take)."""
    return max(0, max_jobs - max(busy_jobs, 0))
