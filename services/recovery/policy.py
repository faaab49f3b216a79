"""The recovery rules: pure functions from a snapshot (and what earlier sweeps saw) to actions.

`observe` turns each sweep's snapshot into `RoomMemory` (since when a room has been empty, agents-only,
or has had a human waiting without our agent; since when a participant has been inactive). The first
time a room is seen those times are estimated from the snapshot alone (room creation, join times), so a
one-shot sweep can act too. `decide` reads snapshot + memory and returns the actions; it never does I/O.

Invariants: rooms that are not ours are never touched; a live human is never removed; a live agent is
only removed as the duplicate of another agent of ours; age alone is never a reason to remove anyone.
An agent of ours whose heartbeat is older than `dead_after` is dead (its worker was killed; LiveKit goes
on listing it for ~20 s): it is removed and the human it left is treated as waiting since its last beat.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

from services.recovery.snapshot import ParticipantView, RoomView, Snapshot, State, is_ours
from services.shared.settings import RecoverySettings


class Rule(StrEnum):
    EMPTY_ROOM = "empty_room"
    AGENTS_ONLY = "agents_only"
    DUPLICATE_AGENT = "duplicate_agent"
    DEAD_AGENT = "dead_agent"
    INACTIVE_PARTICIPANT = "inactive_participant"
    ORPHANED_SESSION = "orphaned_session"


class ActionKind(StrEnum):
    DELETE_ROOM = "delete_room"
    REMOVE_PARTICIPANT = "remove_participant"
    DISPATCH = "dispatch"


@dataclass(frozen=True)
class Action:
    """One thing the sweeper should do, and why."""

    kind: ActionKind
    rule: Rule
    room: str
    identity: str | None = None
    letta_agent_id: str | None = None
    reason: str = ""


@dataclass(frozen=True)
class RoomMemory:
    """What sweeps have seen of one room; times are epoch seconds."""

    seen_at: float
    empty_since: float | None = None
    agents_only_since: float | None = None
    waiting_since: float | None = None
    inactive_since: Mapping[str, float] = field(default_factory=dict)
    had_agent: bool = False
    agent_died: bool = False  # the human waits because our agent died (heartbeat): re-dispatch at once
    tries: int = 0
    last_try_at: float | None = None
    job_starting: bool | None = None  # as the last sweep saw it (RoomView.job_starting)
    dispatch_unserved: bool | None = None  # as the last sweep saw it (RoomView.dispatch_unserved)


Memory = Mapping[str, RoomMemory]


NEVER_DEAD = float("inf")


def last_sign_of_life(p: ParticipantView) -> float | None:
    """The newer of an agent's heartbeat and its join (None: it publishes no heartbeat).

    The first beat is the attribute given when the job was accepted; a job that starts slowly joins seconds
    later with that old beat, and a join is as good a sign of life as a beat."""
    return None if p.heartbeat_at is None else max(p.heartbeat_at, p.joined_at)


def is_dead(p: ParticipantView, now: float, dead_after: float) -> bool:
    """An agent of ours whose heartbeat stopped (one without a heartbeat is never judged dead)."""
    alive_at = last_sign_of_life(p)
    return p.is_our_agent and alive_at is not None and now - alive_at > dead_after


def our_agents(room: RoomView, now: float = 0.0, dead_after: float = NEVER_DEAD) -> list[ParticipantView]:
    """Our agents in the room that are present and alive."""
    return [p for p in room.participants if p.is_our_agent and p.is_present and not is_dead(p, now, dead_after)]


def dead_agents(room: RoomView, now: float, dead_after: float) -> list[ParticipantView]:
    return [p for p in room.participants if p.is_our_agent and p.is_present and is_dead(p, now, dead_after)]


def waiting_humans(room: RoomView) -> list[ParticipantView]:
    """Humans connected (joined or active) to the room."""
    return [p for p in room.participants if p.is_human and p.state in (State.JOINED, State.ACTIVE)]


def is_agents_only(room: RoomView) -> bool:
    present = [p for p in room.participants if p.is_present]
    return bool(present) and all(p.is_agent for p in present)


def _since(previous: float | None, condition: bool, first: float, now: float, seen: bool) -> float | None:
    """Start time of a condition: kept while it holds, `now` when it starts, `first` on first sight."""
    if not condition:
        return None
    if previous is not None:
        return previous
    return now if seen else first


def observe_room(previous: RoomMemory | None, room: RoomView, now: float, dead_after: float = NEVER_DEAD) -> RoomMemory:
    """Update one room's memory with what this sweep sees."""
    seen = previous is not None
    prev = previous or RoomMemory(seen_at=now)
    humans = waiting_humans(room)
    has_agent = bool(our_agents(room, now, dead_after))
    waiting = bool(humans) and not has_agent
    last_beat = max((last_sign_of_life(p) or now for p in dead_agents(room, now, dead_after)), default=None)
    if waiting and last_beat is not None and (prev.waiting_since is None or last_beat < prev.waiting_since):
        waiting_since: float | None = last_beat  # a dead agent: the human has waited since its last sign of life
    elif waiting and seen and prev.had_agent:
        waiting_since = now  # our agent was here at the last sweep: it just left
    else:
        first_wait = min((p.joined_at for p in humans), default=now)
        waiting_since = _since(prev.waiting_since, waiting, first_wait, now, seen)
    inactive: dict[str, float] = {}
    for p in room.participants:
        if p.is_live:
            continue
        first = p.joined_at if p.state in (State.JOINING, State.JOINED) and p.joined_at else now
        inactive[p.identity] = _since(prev.inactive_since.get(p.identity), True, first, now, seen) or now
    return RoomMemory(
        seen_at=now,
        empty_since=_since(prev.empty_since, room.is_empty, room.created_at or now, now, seen),
        agents_only_since=_since(prev.agents_only_since, is_agents_only(room), now, now, seen),
        waiting_since=waiting_since,
        inactive_since=inactive,
        had_agent=has_agent,
        agent_died=waiting and (last_beat is not None or (prev.agent_died and prev.waiting_since is not None)),
        tries=0 if has_agent else prev.tries,
        last_try_at=None if has_agent else prev.last_try_at,
        job_starting=room.job_starting,
        dispatch_unserved=None if has_agent else room.dispatch_unserved,
    )


def observe(
    memory: Memory, snapshot: Snapshot, now: float, *, partial: bool = False, dead_after: float = NEVER_DEAD
) -> dict[str, RoomMemory]:
    """Memory after this snapshot; a full sweep forgets rooms that are gone, a partial one keeps them."""
    updated = dict(memory) if partial else {}
    for room in snapshot.rooms:
        updated[room.name] = observe_room(memory.get(room.name), room, now, dead_after)
    return updated


def record_dispatch(memory: Memory, room: str, now: float) -> dict[str, RoomMemory]:
    """Memory after a successful re-dispatch into `room` (one more try)."""
    updated = dict(memory)
    current = updated.get(room, RoomMemory(seen_at=now))
    updated[room] = replace(current, tries=current.tries + 1, last_try_at=now)
    return updated


def last_try_missed(mem: RoomMemory) -> bool:
    """Our last re-dispatch into the room reached no worker (livekit lists it without a job)."""
    return mem.tries > 0 and mem.last_try_at is not None and mem.dispatch_unserved is True


def next_dispatch_at(mem: RoomMemory, settings: RecoverySettings) -> float | None:
    """When the next re-dispatch may happen, or None when the tries are used up.

    A re-dispatch that reached no worker (every one was full when it came, and a fresh session took the slot
    that had freed) was no try of the room's: the next goes out after RECOVERY_FAILED_DISPATCH_AFTER, whatever
    the count, for as long as a human waits (the free-slot gate holds it while every worker is full). Without
    this, a room under sustained full load used up its tries in ~30 s and was left without an agent."""
    if mem.waiting_since is None:
        return None
    if last_try_missed(mem):
        assert mem.last_try_at is not None
        return mem.last_try_at + settings.failed_dispatch_after
    if mem.tries >= settings.max_redispatch:
        return None
    if mem.tries == 0 or mem.last_try_at is None:
        # One whose agent died has waited since its last beat. A session whose first agent has not come yet
        # gets the orphan grace (its job may still be starting: a second dispatch would start a duplicate),
        # or the short one when the workers' room claims say no job is starting (its dispatch failed).
        if mem.agent_died:
            return mem.waiting_since
        grace = settings.failed_dispatch_after if mem.job_starting is False else settings.orphan_after
        return mem.waiting_since + grace
    return mem.last_try_at + settings.redispatch_backoff * 2 ** (mem.tries - 1)


def next_wakeup(memory: Memory, settings: RecoverySettings, now: float) -> float | None:
    """The earliest future time a re-dispatch falls due, so the loop can sweep then (not a tick later)."""
    dues = [due for mem in memory.values() if (due := next_dispatch_at(mem, settings)) is not None and due > now]
    return min(dues, default=None)


def _keeper(agents: list[ParticipantView]) -> ParticipantView:
    """The agent to keep among duplicates: live first, then the oldest, then by identity."""
    return min(agents, key=lambda p: (not p.is_live, p.joined_at, p.identity))


def decide_room(
    room: RoomView,
    mem: RoomMemory,
    now: float,
    settings: RecoverySettings,
    *,
    worker_ready: bool = True,
    dead_after: float = NEVER_DEAD,
) -> list[Action]:
    """Actions for one room of ours."""
    if room.is_empty:
        if mem.empty_since is not None and now - mem.empty_since >= settings.empty_room_after:
            return [Action(ActionKind.DELETE_ROOM, Rule.EMPTY_ROOM, room.name, reason="empty")]
        return []
    if is_agents_only(room):
        since = mem.agents_only_since
        if since is not None and now - since >= settings.agents_only_after:
            return [Action(ActionKind.DELETE_ROOM, Rule.AGENTS_ONLY, room.name, reason="no human")]
    actions: list[Action] = []
    removed: set[str] = set()
    for p in room.participants:
        since = mem.inactive_since.get(p.identity)
        if not p.is_live and since is not None and now - since >= settings.inactive_participant_after:
            removed.add(p.identity)
            reason = f"{p.state.value} for {now - since:.0f}s"
            actions.append(
                Action(
                    ActionKind.REMOVE_PARTICIPANT,
                    Rule.INACTIVE_PARTICIPANT,
                    room.name,
                    p.identity,
                    None,
                    reason,
                )
            )
    for p in dead_agents(room, now, dead_after):
        if p.identity not in removed:
            removed.add(p.identity)
            reason = f"no heartbeat for {now - (last_sign_of_life(p) or now):.1f}s"
            actions.append(Action(ActionKind.REMOVE_PARTICIPANT, Rule.DEAD_AGENT, room.name, p.identity, None, reason))
    agents = [p for p in our_agents(room, now, dead_after) if p.identity not in removed]
    if len(agents) > 1:
        keep = _keeper(agents)
        for p in agents:
            if p is not keep:
                reason = f"duplicate of {keep.identity}"
                actions.append(
                    Action(
                        ActionKind.REMOVE_PARTICIPANT,
                        Rule.DUPLICATE_AGENT,
                        room.name,
                        p.identity,
                        None,
                        reason,
                    )
                )
    if not agents and room.letta_agent_id and worker_ready:
        due = next_dispatch_at(mem, settings) if waiting_humans(room) else None
        if due is not None and now >= due:
            reason = f"human waiting {now - (mem.waiting_since or now):.0f}s, try {mem.tries + 1}"
            if mem.tries == 0 and not mem.agent_died and mem.job_starting is False:
                reason += ", no job starting (its dispatch failed)"
            elif last_try_missed(mem):
                reason += ", the last one reached no worker"
            actions.append(
                Action(ActionKind.DISPATCH, Rule.ORPHANED_SESSION, room.name, None, room.letta_agent_id, reason)
            )
    return actions


def within_free_slots(
    actions: list[Action], memory: Mapping[str, RoomMemory], free_slots: int | None
) -> tuple[list[Action], int]:
    """The actions without the re-dispatches no free job slot can take, and how many were held back.

    A re-dispatch while every worker is full fails as the first dispatch did and uses up one of the room's tries;
    held, it goes out as soon as a slot frees (the longest-waiting room first). None: the workers do not say
    (a custom health URL, workers elsewhere): every re-dispatch goes out."""
    if free_slots is None:
        return actions, 0
    dispatches = [a for a in actions if a.kind is ActionKind.DISPATCH]
    if len(dispatches) <= free_slots:
        return actions, 0

    def waited_since(action: Action) -> tuple[float, str]:
        mem = memory.get(action.room)
        return (mem.waiting_since if mem and mem.waiting_since is not None else float("inf"), action.room)

    sent = {a.room for a in sorted(dispatches, key=waited_since)[: max(0, free_slots)]}
    kept = [a for a in actions if a.kind is not ActionKind.DISPATCH or a.room in sent]
    return kept, len(dispatches) - len(sent)


def decide(
    snapshot: Snapshot,
    now: float,
    settings: RecoverySettings,
    memory: Memory | None = None,
    *,
    worker_ready: bool = True,
    dead_after: float = NEVER_DEAD,
) -> list[Action]:
    """Every action for the rooms of this snapshot that are ours (memory estimated when not given)."""
    if memory is None:
        memory = observe({}, snapshot, now, dead_after=dead_after)
    actions: list[Action] = []
    for room in snapshot.rooms:
        if not is_ours(room.name, room.metadata, settings.room_prefix, settings.ownership):
            continue
        mem = memory.get(room.name) or observe_room(None, room, now, dead_after)
        actions.extend(decide_room(room, mem, now, settings, worker_ready=worker_ready, dead_after=dead_after))
    return actions
