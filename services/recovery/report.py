"""Readable tables of rooms, participants and actions for the operator CLI."""

from __future__ import annotations

import time
from collections.abc import Sequence

from services.recovery.policy import Action, RoomMemory
from services.recovery.snapshot import Snapshot, is_ours
from services.recovery.sweeper import Outcome
from services.shared.settings import RecoverySettings


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain aligned text table."""
    cells = [[str(h) for h in headers], *[["" if c is None else str(c) for c in r] for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _ago(ts: float | None, now: float) -> str:
    if not ts:
        return "-"
    secs = max(0.0, now - ts)
    if secs < 120:
        return f"{secs:.0f}s ago"
    if secs < 7200:
        return f"{secs / 60:.0f}m ago"
    return f"{secs / 3600:.1f}h ago"


def _clock(ts: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(ts)) if ts else "-"


def rooms_table(snapshot: Snapshot, settings: RecoverySettings, now: float, *, all_listed: bool = False) -> str:
    """Every room and each of its participants (identity, kind, state, joined).

    A sweep lists participants of our rooms only; `all_listed` says every room's were listed.
    """
    rows: list[list[object]] = []
    for room in sorted(snapshot.rooms, key=lambda r: r.created_at):
        ours = "yes" if is_ours(room.name, room.metadata, settings.room_prefix, settings.ownership) else "no"
        created = f"created {_clock(room.created_at)} ({_ago(room.created_at, now)})"
        unlisted = not all_listed and ours == "no" and not room.participants
        note = f"{room.num_participants} (not listed: not ours)" if unlisted else ""
        rows.append([room.name, ours, note, "", "", created])
        for p in sorted(room.participants, key=lambda p: p.joined_at):
            kind = f"{p.kind.value}{' (ours)' if p.is_our_agent else ''}"
            joined = f"{_clock(p.joined_at)} ({_ago(p.joined_at, now)})"
            rows.append(["", "", p.identity, kind, p.state.value, joined])
    if not rows:
        return "no rooms"
    return table(["room", "ours", "participant", "kind", "state", "joined / created (UTC)"], rows)


def actions_table(done: Sequence[tuple[Action, Outcome]]) -> str:
    if not done:
        return "no actions: nothing to recover"
    rows = [[a.room, a.identity or "-", a.rule.value, a.kind.value, o.value, a.reason] for a, o in done]
    return table(["room", "participant", "rule", "action", "outcome", "why"], rows)


def memory_table(memory: dict[str, RoomMemory], now: float) -> str:
    rows = [
        [name, _ago(m.empty_since, now), _ago(m.agents_only_since, now), _ago(m.waiting_since, now), m.tries]
        for name, m in sorted(memory.items())
        if m.empty_since or m.agents_only_since or m.waiting_since or m.tries
    ]
    return (
        table(["room", "empty since", "agents only since", "human waiting since", "re-dispatches"], rows)
        if rows
        else ""
    )
