"""Request policy and metadata parsing of the voice worker (pure functions, tables of cases)."""

from __future__ import annotations

import pytest

from services.agent.policy import (
    Decision,
    MetadataError,
    ParticipantView,
    PState,
    RequestContext,
    agent_identity,
    decide_request,
    free_job_slots,
    is_dead,
    is_live,
    job_load,
    parse_dispatch_metadata,
    parse_switch_request,
    valid_agent_id,
)

pytestmark = pytest.mark.unit

NOW = 1_000_000.0
PREFIX = "agent-letta"
AID = "agent-7bbda8ee-5779-4950-b35a-058818397202"


def p(identity: str, *, agent: bool = True, state: PState = PState.ACTIVE, age: float = 60.0, audio: bool = True):
    return ParticipantView(identity, agent, state, NOW - age, audio)


def ctx(**kw) -> RequestContext:
    return RequestContext(**{"room": "lvs-x", "identity_prefix": PREFIX, "now": NOW, **kw})


@pytest.mark.parametrize(
    ("snapshot", "context", "accept", "remove", "terminate"),
    [
        ([], ctx(), True, (), True),
        (None, ctx(), True, (), True),
        ([p("human-1", agent=False)], ctx(), True, (), True),
        # a live agent of ours -> reject, never two
        ([p("agent-letta-lvs-x")], ctx(), False, (), True),
        # ours, just joined and not yet publishing: still live (grace period)
        ([p("agent-letta-lvs-x", audio=False, age=2.0)], ctx(), False, (), True),
        # ours, long joined, never published although a human has waited with it: stale -> removed
        (
            [p("agent-letta-lvs-x", audio=False, age=60.0), p("human-1", agent=False, age=30.0)],
            ctx(),
            True,
            ("agent-letta-lvs-x",),
            True,
        ),
        # ... but a human who just arrived has not waited long enough
        ([p("agent-letta-lvs-x", audio=False, age=60.0), p("human-1", agent=False, age=3.0)], ctx(), False, (), True),
        # ours alone in the room publishes nothing yet (it waits for a human): live, not stale
        ([p("agent-letta-lvs-x", audio=False, age=600.0)], ctx(), False, (), True),
        # a human who left does not count
        (
            [
                p("agent-letta-lvs-x", audio=False, age=600.0),
                p("human-1", agent=False, age=300.0, state=PState.DISCONNECTED),
            ],
            ctx(),
            False,
            (),
            True,
        ),
        # ours but disconnected: stale
        ([p("agent-letta-old", state=PState.DISCONNECTED)], ctx(), True, ("agent-letta-old",), True),
        # a stale one and a live one of ours: reject, still clean up the stale one
        (
            [p("agent-letta-old", state=PState.DISCONNECTED), p("agent-letta-lvs-x")],
            ctx(),
            False,
            ("agent-letta-old",),
            True,
        ),
        # someone else's agent (other prefix) is never touched and does not block us
        ([p("other-agent", audio=False, age=600.0)], ctx(), True, (), True),
        # a human whose identity starts with our prefix is not an agent of ours
        ([p("agent-letta-human", agent=False, audio=False, age=600.0)], ctx(), True, (), True),
        # this worker already has a job (pending or running) for the room
        ([], ctx(busy_here=True), False, (), True),
        (None, ctx(busy_here=True), False, (), True),
        # at capacity: reject without terminating so another worker may take it
        ([], ctx(local_jobs=4, max_jobs=4), False, (), False),
        ([], ctx(local_jobs=3, max_jobs=4), True, (), True),
    ],
)
def test_decide_request(snapshot, context, accept, remove, terminate) -> None:
    decision = decide_request(snapshot, context)
    assert isinstance(decision, Decision)
    assert (decision.accept, decision.remove, decision.terminate) == (accept, remove, terminate), decision.reason


def test_identity_is_stable_per_room() -> None:
    assert agent_identity(PREFIX, "lvs-abc") == agent_identity(PREFIX, "lvs-abc") == "agent-letta-lvs-abc"
    assert agent_identity(PREFIX, "lvs-abc") != agent_identity(PREFIX, "lvs-abd")


@pytest.mark.parametrize(
    ("dispatch", "room", "expected"),
    [
        (f'{{"letta_agent_id": "{AID}"}}', None, AID),
        (f'{{"letta_agent_id": "{AID}", "extra": 1}}', "", AID),
        # empty dispatch metadata falls back to the room's metadata
        ("", f'{{"lvs": true, "letta_agent_id": "{AID}"}}', AID),
        ("{}", f'{{"lvs": true, "letta_agent_id": "{AID}"}}', AID),
        # a room metadata that is not JSON is ignored when the dispatch has the id
        (f'{{"letta_agent_id": "{AID}"}}', "not json", AID),
    ],
)
def test_parse_dispatch_metadata(dispatch, room, expected) -> None:
    assert parse_dispatch_metadata(dispatch, room) == expected


@pytest.mark.parametrize(
    ("dispatch", "room", "message"),
    [
        (None, None, "no letta_agent_id"),
        ("", "", "no letta_agent_id"),
        ("{}", "{}", "no letta_agent_id"),
        ("not json", None, "not JSON"),
        ("[1, 2]", None, "not a JSON object"),
        ('{"letta_agent_id": 5}', None, "is not a Letta agent id"),
        ('{"letta_agent_id": "bob"}', None, "is not a Letta agent id"),
        ('{"letta_agent_id": "agent-"}', None, "is not a Letta agent id"),
        ('{"letta_agent_id": "agent-x/../../etc"}', None, "is not a Letta agent id"),
        ("", "not json", "no letta_agent_id"),
    ],
)
def test_parse_dispatch_metadata_errors(dispatch, room, message) -> None:
    with pytest.raises(MetadataError, match=message):
        parse_dispatch_metadata(dispatch, room)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (f'{{"letta_agent_id": "{AID}"}}', AID),
        (f'{{"letta_agent_id": "{AID}"}}'.encode(), AID),
        ('{"letta_agent_id": 3}', None),
        ("{}", None),
        ("nope", None),
        ('{"letta_agent_id": "not-an-agent"}', None),
    ],
)
def test_parse_switch_request(payload, expected) -> None:
    if expected is None:
        with pytest.raises(MetadataError):
            parse_switch_request(payload)
    else:
        assert parse_switch_request(payload) == expected


@pytest.mark.parametrize(
    ("active", "max_jobs", "load"),
    [(0, 4, 0.0), (1, 4, 0.25), (4, 4, 1.0), (9, 4, 1.0), (0, 0, 0.0), (-1, 4, 0.0)],
)
def test_job_load(active: int, max_jobs: int, load: float) -> None:
    assert job_load(active, max_jobs) == load


@pytest.mark.parametrize(
    ("busy", "max_jobs", "free"),
    [(0, 4, 4), (1, 4, 3), (4, 4, 0), (9, 4, 0), (0, 0, 0), (-1, 4, 4)],
)
def test_free_job_slots(busy: int, max_jobs: int, free: int) -> None:
    assert free_job_slots(busy, max_jobs) == free


def beating(identity: str, beat_age: float | None, **kw) -> ParticipantView:
    view = p(identity, **kw)
    return ParticipantView(
        view.identity,
        view.is_agent,
        view.state,
        view.joined_at,
        view.publishing_audio,
        None if beat_age is None else NOW - beat_age,
    )


@pytest.mark.parametrize(
    ("snapshot", "accept", "remove"),
    [
        # a fresh heartbeat: the agent is alive -> reject, never two
        ([beating("agent-letta-lvs-x", 0.5), p("human-1", agent=False)], False, ()),
        # just under the limit: still alive (a late beat is not a death)
        ([beating("agent-letta-lvs-x", 2.9), p("human-1", agent=False)], False, ()),
        # the heartbeat stopped (worker killed; LiveKit still lists it as active): dead -> removed, accept
        ([beating("agent-letta-lvs-x", 3.5), p("human-1", agent=False)], True, ("agent-letta-lvs-x",)),
        # an agent without any heartbeat (an older worker) is never judged dead by it
        ([beating("agent-letta-lvs-x", None), p("human-1", agent=False)], False, ()),
        # joined just now with the beat it was given at accept, seconds ago (a slow job start): alive
        ([beating("agent-letta-lvs-x", 8.0, age=0.5), p("human-1", agent=False)], False, ()),
        # joined long ago and silent since: dead
        ([beating("agent-letta-lvs-x", 8.0, age=4.0), p("human-1", agent=False)], True, ("agent-letta-lvs-x",)),
        # a dead one and a live one of ours: reject, clean up the dead one
        ([beating("agent-letta-old", 10.0), beating("agent-letta-lvs-x", 0.2)], False, ("agent-letta-old",)),
        # someone else's agent with a stale heartbeat attribute is not ours: never touched
        ([beating("other-agent", 60.0)], True, ()),
    ],
)
def test_dead_agents_do_not_block_a_new_one(snapshot, accept, remove) -> None:
    decision = decide_request(snapshot, ctx(dead_after=3.0))
    assert (decision.accept, decision.remove) == (accept, remove), decision.reason


# Mutation testing (make mutation) found these unpinned: the reasons and messages operators read in the logs,
# the boundaries of the heartbeat and publish-grace rules, and the id shape's length limits.
@pytest.mark.parametrize(
    ("snapshot", "context", "reason"),
    [
        ([], ctx(busy_here=True), "this worker already serves the room"),
        ([], ctx(local_jobs=4, max_jobs=4), "worker at capacity (4 jobs)"),
        ([p(f"{PREFIX}-lvs-x")], ctx(), f"agent {PREFIX}-lvs-x is already in the room"),
        ([], ctx(), "room has no live agent of ours"),
    ],
)
def test_decision_reasons(snapshot, context, reason: str) -> None:
    assert decide_request(snapshot, context).reason == reason


def test_heartbeat_exactly_dead_after_old_is_still_alive() -> None:
    beat = ParticipantView(f"{PREFIX}-a", True, PState.ACTIVE, NOW - 60, True, heartbeat_at=NOW - 3.0)
    assert not is_dead(beat, NOW, 3.0)
    assert is_dead(beat, NOW + 0.001, 3.0)


def test_publish_grace_ends_exactly_at_grace() -> None:
    silent = ParticipantView(f"{PREFIX}-a", True, PState.ACTIVE, NOW - 100, False)
    assert is_live(silent, NOW, 20.0, human_since=NOW - 19.999)
    assert not is_live(silent, NOW, 20.0, human_since=NOW - 20.0)


@pytest.mark.parametrize(
    ("agent_id", "valid"),
    [
        ("agent-a", True),
        ("agent-" + "a" * 64, True),
        ("agent-" + "a" * 65, False),
        ("agent-", False),
        ("x-agent-abc", False),
        ("agent-ab_c", False),
    ],
)
def test_valid_agent_id_limits(agent_id: str, valid: bool) -> None:
    assert valid_agent_id(agent_id) is valid


@pytest.mark.parametrize(
    ("dispatch", "room", "message"),
    [
        ("{", None, "dispatch metadata is not JSON"),
        ("[1]", None, "dispatch metadata is not a JSON object"),
        ("{}", "{}", "no letta_agent_id in dispatch or room metadata"),
        ('{"letta_agent_id": 7}', None, "letta_agent_id '7' is not a Letta agent id"),
        ('{"letta_agent_id": "' + "x" * 100 + '"}', None, f"letta_agent_id {'x' * 80!r} is not a Letta agent id"),
    ],
)
def test_parse_dispatch_metadata_messages(dispatch: str, room: str | None, message: str) -> None:
    with pytest.raises(MetadataError) as raised:
        parse_dispatch_metadata(dispatch, room)
    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("{", "switch request is not JSON"),
        ('{"other": 1}', "switch request needs letta_agent_id"),
        ('{"letta_agent_id": "' + "y" * 100 + '"}', f"letta_agent_id {'y' * 80!r} is not a Letta agent id"),
    ],
)
def test_parse_switch_request_messages(payload: str, message: str) -> None:
    with pytest.raises(MetadataError) as raised:
        parse_switch_request(payload)
    assert str(raised.value) == message


def test_switch_request_with_invalid_utf8_elsewhere_is_still_read() -> None:
    payload = b'{"letta_agent_id": "' + AID.encode() + b'", "note": "\xff"}'
    assert parse_switch_request(payload) == AID


def test_one_job_slot_full_is_full_load() -> None:
    assert job_load(1, 1) == 1.0
