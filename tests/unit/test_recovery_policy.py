"""Table-driven tests of the recovery policy (pure: no LiveKit)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from services.recovery.policy import (
    Action,
    ActionKind,
    RoomMemory,
    Rule,
    decide,
    decide_room,
    next_dispatch_at,
    next_wakeup,
    observe,
    observe_room,
    record_dispatch,
    within_free_slots,
)
from services.recovery.snapshot import Kind, ParticipantView, RoomView, Snapshot, State, is_ours
from services.shared.settings import RecoverySettings, RoomOwnership

pytestmark = pytest.mark.unit

NOW = 1_000_000.0
HOUR = 3600.0
S = RecoverySettings(
    empty_room_after=60,
    agents_only_after=60,
    inactive_participant_after=30,
    orphan_after=3,
    max_redispatch=3,
    redispatch_backoff=5,
)
OURS = {"lvs": True, "letta_agent_id": "agent-123"}


def human(identity: str = "user", state: State = State.ACTIVE, age: float = 10.0) -> ParticipantView:
    return ParticipantView(identity, Kind.STANDARD, state, NOW - age, False, 1)


def agent(identity: str = "agent-letta-a", state: State = State.ACTIVE, age: float = 10.0, ours: bool = True):
    return ParticipantView(identity, Kind.AGENT, state, NOW - age, ours, 1)


def room(*people: ParticipantView, name: str = "lvs-abc", meta: dict | None = None, age: float = 100.0):
    metadata = OURS if meta is None else meta
    return RoomView(name, metadata, NOW - age, len(people), tuple(people))


def kinds(actions: list[Action]) -> list[tuple[str, str | None, str]]:
    return [(a.rule.value, a.identity, a.kind.value) for a in actions]


# Each case: a room as first seen (memory estimated from the snapshot alone) -> expected actions.
FIRST_SIGHT = [
    ("empty room, old", room(age=120), [("empty_room", None, "delete_room")]),
    ("empty room, young", room(age=10), []),
    ("live human with live agent, an hour old", room(human(age=HOUR), agent(age=HOUR), age=HOUR), []),
    ("live human alone, just joined", room(human(age=1)), []),
    ("live human alone past orphan wait", room(human(age=10)), [("orphaned_session", None, "dispatch")]),
    (
        "joined (not yet active) human alone",
        room(human(state=State.JOINED, age=10)),
        [("orphaned_session", None, "dispatch")],
    ),
    ("human alone, room without a Letta id", room(human(age=10), meta={"lvs": True}), []),
    ("human with our agent still joining", room(human(age=10), agent(state=State.JOINING, age=5)), []),
    (
        "human with only a foreign agent",
        room(human(age=10), agent("other-bot", ours=False)),
        [("orphaned_session", None, "dispatch")],
    ),
    (
        "participant stuck joining past threshold",
        room(human(age=HOUR), agent(age=HOUR), human("ghost", State.JOINING, 40)),
        [("inactive_participant", "ghost", "remove_participant")],
    ),
    (
        "participant joined but never active, under threshold",
        room(human(age=HOUR), agent(age=HOUR), human("slow", State.JOINED, 20)),
        [],
    ),
    (
        "disconnected participant first seen: wait the threshold",
        room(human(age=HOUR), agent(age=HOUR), human("gone", State.DISCONNECTED, HOUR)),
        [],
    ),
    (
        "two agents of ours: keep the older live one",
        room(human(age=HOUR), agent("agent-letta-new", age=5), agent("agent-letta-old", age=50)),
        [("duplicate_agent", "agent-letta-new", "remove_participant")],
    ),
    (
        "two agents: a live one beats an older joining one",
        room(human(age=HOUR), agent("agent-letta-live", age=5), agent("agent-letta-stuck", State.JOINED, 20)),
        [("duplicate_agent", "agent-letta-stuck", "remove_participant")],
    ),
    (
        "three agents of ours: two removed",
        room(
            human(age=HOUR),
            agent("agent-letta-1", age=30),
            agent("agent-letta-2", age=20),
            agent("agent-letta-3", age=9),
        ),
        [
            ("duplicate_agent", "agent-letta-2", "remove_participant"),
            ("duplicate_agent", "agent-letta-3", "remove_participant"),
        ],
    ),
    (
        "our agent plus a foreign agent: not duplicates",
        room(human(age=HOUR), agent(age=HOUR), agent("other-bot", ours=False)),
        [],
    ),
    ("agents only, first seen: wait the threshold", room(agent(age=HOUR), age=HOUR), []),
    ("not ours (no prefix), empty and old", room(name="other-room", age=HOUR), []),
    (
        "not ours (no marker), ghost and duplicates",
        room(
            human("ghost", State.JOINING, HOUR),
            agent("agent-letta-1", age=9),
            agent("agent-letta-2", age=8),
            meta={"letta_agent_id": "x"},
        ),
        [],
    ),
]


@pytest.mark.parametrize(("case", "snapshot_room", "expected"), FIRST_SIGHT, ids=[c[0] for c in FIRST_SIGHT])
def test_first_sight(case: str, snapshot_room: RoomView, expected: list) -> None:
    assert kinds(decide(Snapshot((snapshot_room,)), NOW, S)) == expected


def test_dispatch_carries_the_rooms_letta_agent_id() -> None:
    [action] = decide(Snapshot((room(human(age=10)),)), NOW, S)
    assert action.letta_agent_id == "agent-123" and action.room == "lvs-abc" and action.kind is ActionKind.DISPATCH


def test_no_dispatch_while_the_worker_is_down() -> None:
    assert decide(Snapshot((room(human(age=10)),)), NOW, S, worker_ready=False) == []


# Re-dispatches and the workers' free job slots: (waiting rooms' ages, free slots) -> rooms sent, held.
FREE_SLOTS = [
    ("slots unknown: every re-dispatch goes out", (10, 20, 30), None, {"lvs-10", "lvs-20", "lvs-30"}, 0),
    ("enough slots", (10, 20), 2, {"lvs-10", "lvs-20"}, 0),
    ("one slot: the longest-waiting room", (10, 30, 20), 1, {"lvs-30"}, 2),
    ("two slots of three rooms", (10, 30, 20), 2, {"lvs-30", "lvs-20"}, 1),
    ("every worker full: all held", (10, 20), 0, set(), 2),
]


@pytest.mark.parametrize(("case", "ages", "free", "sent", "held"), FREE_SLOTS, ids=[c[0] for c in FREE_SLOTS])
def test_redispatches_wait_for_a_free_job_slot(
    case: str, ages: tuple[float, ...], free: int | None, sent: set[str], held: int
) -> None:
    rooms = tuple(room(human(age=a), name=f"lvs-{a:.0f}") for a in ages)
    snap = Snapshot((*rooms, room(human(age=HOUR), agent(age=1), name="lvs-live"), room(age=HOUR, name="lvs-old")))
    memory = observe({}, snap, NOW)
    actions = decide(snap, NOW, S, memory)
    kept, n_held = within_free_slots(actions, memory, free)
    assert {a.room for a in kept if a.kind is ActionKind.DISPATCH} == sent
    assert n_held == held
    # other actions are never held back: the old empty room is deleted whatever the slots
    assert [a.room for a in kept if a.kind is ActionKind.DELETE_ROOM] == ["lvs-old"]


def test_a_held_redispatch_uses_no_try_and_goes_out_when_a_slot_frees() -> None:
    orphan = room(human(age=10), age=HOUR)
    memory: dict[str, RoomMemory] = {}
    sent_at = []
    for t, free in [(0, 0), (1, 0), (2, 0), (3, 1), (4, 1)]:
        snap = Snapshot((orphan,))
        memory = observe(memory, snap, NOW + t)
        kept, _ = within_free_slots(decide(snap, NOW + t, S, memory), memory, free)
        for a in kept:
            memory = record_dispatch(memory, a.room, NOW + t)
            sent_at.append(t)
    # held while full, sent the moment a slot was free, then the usual backoff (5 s) before another try
    assert sent_at == [3] and memory["lvs-abc"].tries == 1


# Rooms seen over several sweeps: the memory decides when a condition started.
def sweeps(rooms_at: list[tuple[float, RoomView]], settings: RecoverySettings = S) -> list[list[tuple]]:
    memory: dict[str, RoomMemory] = {}
    out = []
    for t, r in rooms_at:
        snap = Snapshot((r,))
        memory = observe(memory, snap, t)
        actions = decide(snap, t, settings, memory)
        for a in actions:
            if a.kind is ActionKind.DISPATCH:
                memory = record_dispatch(memory, a.room, t)
        out.append(kinds(actions))
    return out


def test_room_emptied_after_an_hour_waits_the_threshold_from_when_it_emptied() -> None:
    live = room(human(age=HOUR), agent(age=HOUR), age=HOUR)
    empty = room(age=HOUR)
    got = sweeps([(NOW, live), (NOW + 5, empty), (NOW + 60, empty), (NOW + 66, empty)])
    assert got == [[], [], [], [("empty_room", None, "delete_room")]]


def test_agents_only_room_deleted_after_threshold_from_when_the_human_left() -> None:
    both = room(human(age=HOUR), agent(age=HOUR), age=HOUR)
    alone = room(agent(age=HOUR), age=HOUR)
    got = sweeps([(NOW, both), (NOW + 5, alone), (NOW + 30, alone), (NOW + 65, alone)])
    assert got == [[], [], [], [("agents_only", None, "delete_room")]]


def test_human_coming_back_resets_the_agents_only_clock() -> None:
    both = room(human(age=HOUR), agent(age=HOUR), age=HOUR)
    alone = room(agent(age=HOUR), age=HOUR)
    got = sweeps([(NOW, alone), (NOW + 50, both), (NOW + 70, alone), (NOW + 100, alone), (NOW + 131, alone)])
    assert got == [[], [], [], [], [("agents_only", None, "delete_room")]]


def test_agent_that_left_an_hour_old_session_is_replaced_after_the_orphan_wait() -> None:
    live = room(human(age=HOUR), agent(age=HOUR), age=HOUR)
    orphan = room(human(age=HOUR), age=HOUR)
    got = sweeps([(NOW, live), (NOW + 1, orphan), (NOW + 3, orphan), (NOW + 4.5, orphan)])
    assert got == [[], [], [], [("orphaned_session", None, "dispatch")]]


def test_redispatch_backs_off_and_gives_up_after_max_tries() -> None:
    orphan = room(human(age=10), age=HOUR)
    times = [0, 1, 4, 5, 9, 10, 14, 19, 20, 100, 1000]
    got = sweeps([(NOW + t, orphan) for t in times])
    dispatched_at = [t for t, acts in zip(times, got, strict=True) if acts]
    # first at once (human waited 10s > 3s), then 5s later, then 10s after that; then no more (max 3 tries)
    assert dispatched_at == [0, 5, 19]


def test_tries_reset_when_our_agent_is_back() -> None:
    orphan = room(human(age=10), age=HOUR)
    healed = room(human(age=10), agent(age=1), age=HOUR)
    got = sweeps(
        [
            (NOW, orphan),
            (NOW + 5, orphan),
            (NOW + 20, orphan),
            (NOW + 21, healed),
            (NOW + 22, orphan),
            (NOW + 26, orphan),
        ]
    )
    assert got[3:] == [[], [], [("orphaned_session", None, "dispatch")]]


def test_disconnected_participant_removed_threshold_after_first_seen_disconnected() -> None:
    base = [human(age=HOUR), agent(age=HOUR)]
    gone = room(*base, human("gone", State.DISCONNECTED, HOUR), age=HOUR)
    got = sweeps([(NOW, gone), (NOW + 29, gone), (NOW + 30, gone)])
    assert got == [[], [], [("inactive_participant", "gone", "remove_participant")]]


def test_live_human_and_live_agent_never_removed_however_long() -> None:
    live = room(human(age=HOUR), agent(age=HOUR), age=HOUR)
    got = sweeps([(NOW + t, live) for t in (0, HOUR, 24 * HOUR, 365 * 24 * HOUR)])
    assert got == [[], [], [], []]


def test_zero_thresholds_still_spare_live_sessions() -> None:
    zero = S.model_copy(
        update={
            "empty_room_after": 0,
            "agents_only_after": 0,
            "inactive_participant_after": 0,
            "orphan_after": 0,
        }
    )
    live = room(human(age=HOUR), agent(age=HOUR), age=HOUR)
    assert decide(Snapshot((live,)), NOW, zero) == []


@pytest.mark.parametrize(
    ("name", "meta", "ownership", "ours"),
    [
        ("lvs-1", {"lvs": True}, RoomOwnership.BOTH, True),
        ("lvs-1", {}, RoomOwnership.BOTH, False),
        ("x-1", {"lvs": True}, RoomOwnership.BOTH, False),
        ("lvs-1", {}, RoomOwnership.PREFIX, True),
        ("x-1", {"lvs": True}, RoomOwnership.PREFIX, False),
        ("x-1", {"lvs": True}, RoomOwnership.MARKER, True),
        ("lvs-1", {"lvs": "yes"}, RoomOwnership.MARKER, False),
        ("x-1", {"lvs": True}, RoomOwnership.EITHER, True),
        ("lvs-1", {}, RoomOwnership.EITHER, True),
        ("x-1", {}, RoomOwnership.EITHER, False),
    ],
)
def test_ownership_rule(name: str, meta: dict, ownership: RoomOwnership, ours: bool) -> None:
    assert is_ours(name, meta, "lvs-", ownership) is ours


def test_first_observation_estimates_from_the_snapshot() -> None:
    mem = observe_room(None, room(human(age=40), human("j", State.JOINING, 7)), NOW)
    assert mem.waiting_since == NOW - 40
    assert mem.inactive_since == {"j": NOW - 7}
    assert next_dispatch_at(mem, S) == NOW - 40 + S.orphan_after


def test_full_sweep_forgets_rooms_that_are_gone_and_partial_keeps_them() -> None:
    a, b = room(name="lvs-a"), room(name="lvs-b")
    memory = observe({}, Snapshot((a, b)), NOW)
    assert set(observe(memory, Snapshot((a,)), NOW + 1)) == {"lvs-a"}
    assert set(observe(memory, Snapshot((a,)), NOW + 1, partial=True)) == {"lvs-a", "lvs-b"}
    assert decide(Snapshot((a, b)), NOW, S)[0].rule is Rule.EMPTY_ROOM


def test_next_wakeup_is_the_earliest_future_redispatch() -> None:
    settings = S.model_copy(update={"max_redispatch": 2})
    waiting = RoomMemory(seen_at=NOW, waiting_since=NOW - 1)  # due at NOW + 2 (orphan wait 3s)
    retry = RoomMemory(seen_at=NOW, waiting_since=NOW - 60, tries=1, last_try_at=NOW - 1)  # due at NOW + 4
    spent = RoomMemory(seen_at=NOW, waiting_since=NOW - 60, tries=2, last_try_at=NOW)  # no more tries
    quiet = RoomMemory(seen_at=NOW)
    assert next_wakeup({"a": waiting, "b": retry, "c": spent, "d": quiet}, settings, NOW) == NOW + 2
    assert next_wakeup({"b": retry, "c": spent}, settings, NOW) == NOW + 4
    assert next_wakeup({"c": spent, "d": quiet}, settings, NOW) is None
    assert next_wakeup({"a": waiting}, settings, NOW + 5) is None  # already due: the sweep acts on it


def beating_agent(beat_age: float | None, identity: str = "agent-letta-a", age: float = 60.0) -> ParticipantView:
    view = agent(identity, age=age)
    beat = None if beat_age is None else NOW - beat_age
    return ParticipantView(view.identity, view.kind, view.state, view.joined_at, True, 1, beat)


DEAD_AFTER = 3.0


@pytest.mark.parametrize(
    ("case", "people", "expected"),
    [
        ("beating agent with a human", (human(age=60), beating_agent(0.5)), []),
        ("a late beat is not a death", (human(age=60), beating_agent(2.9)), []),
        (
            "dead agent with a human: removed and replaced at once",
            (human(age=60), beating_agent(3.5)),
            [("dead_agent", "agent-letta-a", "remove_participant"), ("orphaned_session", None, "dispatch")],
        ),
        ("agent without heartbeat is never judged dead", (human(age=60), beating_agent(None)), []),
        (
            "joined just now with the beat it got at accept, seconds ago (slow job start): alive",
            (human(age=60), beating_agent(8.0, age=0.5)),
            [],
        ),
        (
            "joined 4 s ago with an 8 s old beat: dead",
            (human(age=60), beating_agent(8.0, age=4.0)),
            [("dead_agent", "agent-letta-a", "remove_participant"), ("orphaned_session", None, "dispatch")],
        ),
        (
            "dead and live agent of ours: only the dead one goes, no dispatch",
            (human(age=60), beating_agent(9.0, "agent-letta-old"), beating_agent(0.2, "agent-letta-new")),
            [("dead_agent", "agent-letta-old", "remove_participant")],
        ),
        (
            "someone else's agent with an old beat is not ours",
            (
                human(age=60),
                beating_agent(0.2),
                ParticipantView("bot", Kind.AGENT, State.ACTIVE, NOW - 60, False, 1, NOW - 99),
            ),
            [],
        ),
    ],
)
def test_dead_agents_are_removed_and_their_human_gets_a_new_one(case, people, expected) -> None:
    snap = Snapshot((room(*people),))
    memory = observe({}, snap, NOW - 1, dead_after=DEAD_AFTER)  # seen one sweep ago
    memory = observe(memory, snap, NOW, dead_after=DEAD_AFTER)
    assert kinds(decide(snap, NOW, S, memory, dead_after=DEAD_AFTER)) == expected, case


def test_a_dead_agent_waits_for_the_worker_before_a_dispatch() -> None:
    snap = Snapshot((room(human(age=60), beating_agent(5.0)),))
    actions = decide(
        snap, NOW, S, observe({}, snap, NOW, dead_after=DEAD_AFTER), worker_ready=False, dead_after=DEAD_AFTER
    )
    assert kinds(actions) == [("dead_agent", "agent-letta-a", "remove_participant")]


def test_the_human_left_by_a_dead_agent_has_waited_since_its_last_beat() -> None:
    before = observe({}, Snapshot((room(human(age=60), beating_agent(0.5)),)), NOW - 5, dead_after=DEAD_AFTER)
    assert before["lvs-abc"].had_agent
    after = observe(before, Snapshot((room(human(age=60), beating_agent(4.0)),)), NOW, dead_after=DEAD_AFTER)
    assert after["lvs-abc"].waiting_since == NOW - 4.0
    assert not after["lvs-abc"].had_agent


# Mutation testing (make mutation) found these unpinned: the whole action (room, identity, reason an operator
# reads in the log), the exact thresholds, and how the memory starts a clock on first sight and later.
def test_every_action_names_its_room_and_a_reason() -> None:
    for case, snapshot_room, _expected in FIRST_SIGHT:
        for action in decide(Snapshot((snapshot_room,)), NOW, S):
            assert action.room == snapshot_room.name and action.reason, (case, action)


@pytest.mark.parametrize(
    ("snapshot_room", "memory", "expected"),
    [
        (room(age=60), None, Action(ActionKind.DELETE_ROOM, Rule.EMPTY_ROOM, "lvs-abc", reason="empty")),
        (
            room(agent(age=HOUR)),
            RoomMemory(seen_at=NOW, agents_only_since=NOW - 60),
            Action(ActionKind.DELETE_ROOM, Rule.AGENTS_ONLY, "lvs-abc", reason="no human"),
        ),
        (
            room(human(age=HOUR), agent(age=HOUR), human("ghost", State.JOINING, 40)),
            None,
            Action(
                ActionKind.REMOVE_PARTICIPANT, Rule.INACTIVE_PARTICIPANT, "lvs-abc", "ghost", None, "joining for 40s"
            ),
        ),
        (
            room(human(age=HOUR), agent("agent-letta-new", age=5), agent("agent-letta-old", age=50)),
            None,
            Action(
                ActionKind.REMOVE_PARTICIPANT,
                Rule.DUPLICATE_AGENT,
                "lvs-abc",
                "agent-letta-new",
                None,
                "duplicate of agent-letta-old",
            ),
        ),
        (
            room(human(age=10)),
            None,
            Action(
                ActionKind.DISPATCH, Rule.ORPHANED_SESSION, "lvs-abc", None, "agent-123", "human waiting 10s, try 1"
            ),
        ),
    ],
)
def test_whole_actions(snapshot_room: RoomView, memory: RoomMemory | None, expected: Action) -> None:
    mem = None if memory is None else {snapshot_room.name: memory}
    assert decide(Snapshot((snapshot_room,)), NOW, S, mem) == [expected]


def test_a_dead_agent_seen_first_is_removed_with_its_silence_in_the_reason() -> None:
    snap = Snapshot((room(human(age=60), beating_agent(3.5)),))
    for memory in (None, {}):  # estimated from the snapshot, or a room the memory does not know yet
        [removal, dispatch] = decide(snap, NOW, S, memory, dead_after=DEAD_AFTER)
        assert removal == Action(
            ActionKind.REMOVE_PARTICIPANT, Rule.DEAD_AGENT, "lvs-abc", "agent-letta-a", None, "no heartbeat for 3.5s"
        )
        assert dispatch.kind is ActionKind.DISPATCH and dispatch.reason == "human waiting 4s, try 1"


def test_a_beat_exactly_dead_after_old_is_not_a_death() -> None:
    snap = Snapshot((room(human(age=60), beating_agent(DEAD_AFTER)),))
    assert decide(snap, NOW, S, dead_after=DEAD_AFTER) == []


def test_thresholds_are_inclusive() -> None:
    assert kinds(decide(Snapshot((room(age=S.empty_room_after),)), NOW, S)) == [("empty_room", None, "delete_room")]
    assert decide(Snapshot((room(age=S.empty_room_after - 0.5),)), NOW, S) == []


def test_a_room_not_ours_does_not_stop_the_sweep_of_the_next() -> None:
    snap = Snapshot((room(name="other-room", age=HOUR), room(name="lvs-next", age=HOUR)))
    assert [a.room for a in decide(snap, NOW, S)] == ["lvs-next"]


def test_decide_applies_the_configured_ownership_rule() -> None:
    unmarked = room(name="lvs-unmarked", meta={"letta_agent_id": "agent-123"}, age=HOUR)
    by_prefix = S.model_copy(update={"ownership": RoomOwnership.PREFIX})
    assert decide(Snapshot((unmarked,)), NOW, S) == []
    assert [a.room for a in decide(Snapshot((unmarked,)), NOW, by_prefix)] == ["lvs-unmarked"]


def test_a_foreign_agent_alone_is_no_waiting_human() -> None:
    assert decide(Snapshot((room(agent("other-bot", ours=False, age=HOUR), age=HOUR),)), NOW, S) == []


def test_decide_room_dispatches_when_the_worker_state_is_not_given() -> None:
    r = room(human(age=10))
    [action] = decide_room(r, observe_room(None, r, NOW), NOW, S)
    assert action.kind is ActionKind.DISPATCH


def test_first_sight_memory() -> None:
    mem = observe_room(None, room(agent(age=HOUR)), NOW)
    assert (mem.seen_at, mem.agents_only_since, mem.waiting_since) == (NOW, NOW, None)


def test_clocks_of_a_room_seen_before_start_at_this_sweep() -> None:
    earlier = observe_room(None, room(age=5), NOW - 5)  # empty then
    later = observe_room(earlier, room(human(age=30), human("slow", State.JOINING, 30)), NOW)
    assert later.waiting_since == NOW  # not the human's join time: they were not here at the last sweep
    assert later.inactive_since == {"slow": NOW}


def test_our_agent_back_resets_the_tries() -> None:
    tried = RoomMemory(seen_at=NOW - 1, waiting_since=NOW - 30, tries=2, last_try_at=NOW - 5)
    mem = observe_room(tried, room(human(age=60), agent(age=2)), NOW)
    assert (mem.tries, mem.last_try_at, mem.had_agent) == (0, None, True)


def test_record_dispatch_into_a_room_not_in_memory() -> None:
    assert record_dispatch({}, "lvs-new", NOW)["lvs-new"] == RoomMemory(seen_at=NOW, tries=1, last_try_at=NOW)


def test_a_try_without_its_time_counts_from_the_wait() -> None:
    mem = RoomMemory(seen_at=NOW, waiting_since=NOW - 10, tries=1, last_try_at=None)
    assert next_dispatch_at(mem, S) == NOW - 10 + S.orphan_after


def test_next_wakeup_skips_a_dispatch_due_right_now() -> None:
    due_now = RoomMemory(seen_at=NOW, waiting_since=NOW - S.orphan_after)
    assert next_wakeup({"lvs-a": due_now}, S, NOW) is None


def test_a_first_agent_still_starting_is_not_duplicated_but_a_dead_one_is_replaced_at_once() -> None:
    """The orphan grace covers a job that is still starting; a room whose agent died does not wait for it."""
    slow = RecoverySettings(orphan_after=8, max_redispatch=3, redispatch_backoff=5)
    starting = Snapshot((room(human(age=5)),))
    assert kinds(decide(starting, NOW, slow, observe({}, starting, NOW))) == [], "a second dispatch 5 s in"
    later = Snapshot((room(human(age=9)),))
    assert kinds(decide(later, NOW, slow, observe({}, later, NOW))) == [("orphaned_session", None, "dispatch")]

    alive = Snapshot((room(human(age=60), beating_agent(0.5)),))
    dead = Snapshot((room(human(age=60), beating_agent(3.5)),))
    memory = observe(observe({}, alive, NOW - 3, dead_after=DEAD_AFTER), dead, NOW, dead_after=DEAD_AFTER)
    assert memory["lvs-abc"].agent_died
    assert kinds(decide(dead, NOW, slow, memory, dead_after=DEAD_AFTER))[-1] == ("orphaned_session", None, "dispatch")
    gone = Snapshot((room(human(age=60)),))  # the dead agent removed: the room still counts as left by a death
    assert observe(memory, gone, NOW + 1, dead_after=DEAD_AFTER)["lvs-abc"].agent_died


FAST = S.model_copy(update={"orphan_after": 8, "failed_dispatch_after": 2})


@pytest.mark.parametrize(
    ("job_starting", "waited", "dispatch"),
    [
        (False, 3, True),  # no job of the workers starting, past the short grace: its dispatch failed
        (False, 1, False),  # within the short grace
        (True, 3, False),  # a job is starting: the orphan grace applies (a dispatch now would duplicate it)
        (True, 9, True),
        (None, 3, False),  # unknown (the sidecar shares no claim folder): the orphan grace
        (None, 9, True),
    ],
)
def test_a_failed_first_dispatch_is_retried_after_the_short_grace(
    job_starting: bool | None, waited: float, dispatch: bool
) -> None:
    waiting = replace(room(human(age=waited)), job_starting=job_starting)
    actions = decide(Snapshot((waiting,)), NOW, FAST)
    assert (("orphaned_session", None, "dispatch") in kinds(actions)) is dispatch
    if dispatch:
        assert ("dispatch failed" in actions[0].reason) is (job_starting is False), actions[0].reason


def test_the_short_grace_is_remembered_and_a_dead_agent_still_goes_first() -> None:
    mem = observe_room(None, replace(room(human(age=1)), job_starting=False), NOW)
    assert mem.job_starting is False and next_dispatch_at(mem, FAST) == NOW - 1 + FAST.failed_dispatch_after
    assert next_wakeup({"lvs-abc": mem}, FAST, NOW) == NOW + 1
    died = replace(mem, agent_died=True)
    assert next_dispatch_at(died, FAST) == NOW - 1
    retried = replace(mem, tries=1, last_try_at=NOW)  # later tries back off as before
    assert next_dispatch_at(retried, FAST) == NOW + FAST.redispatch_backoff


@pytest.mark.parametrize(
    ("tries", "unserved", "due"),
    [
        (1, True, NOW + FAST.failed_dispatch_after),  # the last re-dispatch reached no worker: again shortly
        (FAST.max_redispatch, True, NOW + FAST.failed_dispatch_after),  # and it was no try: the cap does not apply
        (9, True, NOW + FAST.failed_dispatch_after),
        (1, False, NOW + FAST.redispatch_backoff),  # a worker took it (and no agent came): backs off as before
        (1, None, NOW + FAST.redispatch_backoff),  # unknown: as before
        (FAST.max_redispatch, False, None),  # tries used up
        (FAST.max_redispatch, None, None),
    ],
)
def test_a_re_dispatch_that_reached_no_worker_is_no_try(tries: int, unserved: bool | None, due: float | None) -> None:
    mem = RoomMemory(seen_at=NOW, waiting_since=NOW - 20, tries=tries, last_try_at=NOW, dispatch_unserved=unserved)
    assert next_dispatch_at(mem, FAST) == due


def test_what_a_sweep_saw_of_the_dispatch_is_remembered_while_the_human_waits() -> None:
    waiting = replace(room(human(age=20)), dispatch_unserved=True)
    mem = observe_room(RoomMemory(seen_at=NOW - 1, waiting_since=NOW - 20, tries=5, last_try_at=NOW - 3), waiting, NOW)
    assert mem.dispatch_unserved is True and mem.tries == 5
    actions = decide(Snapshot((waiting,)), NOW, FAST, {"lvs-abc": mem})
    assert kinds(actions) == [("orphaned_session", None, "dispatch")]
    assert "reached no worker" in actions[0].reason
    served = observe_room(mem, room(human(age=21), agent()), NOW + 1)  # the agent came: all forgotten
    assert served.dispatch_unserved is None and served.tries == 0
