"""Pure session policy, security helpers and validation messages, as tables."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from livekit import api
from pydantic import ValidationError

from services.web.errors import validation_error
from services.web.letta_gateway import summarize
from services.web.livekit_gateway import _snapshot
from services.web.policy import (
    ParticipantSnapshot,
    RoomSnapshot,
    is_live,
    is_session_room_name,
    live_rooms,
    new_identity,
    new_room_name,
    race_winner,
    unused_rooms,
)
from services.web.schemas import CreateSession
from services.web.security import livekit_sources, same_origin

pytestmark = pytest.mark.unit

NOW = 1_000_000_000
HUMAN = ParticipantSnapshot("user-1", False)
AGENT = ParticipantSnapshot("agent-letta-x", True)
AGENT_BY_NAME = ParticipantSnapshot("agent-letta-y", False)


def room(
    age_s: float, *people: ParticipantSnapshot, ours: bool = True, agent: str = "a1", name: str = "r"
) -> RoomSnapshot:
    return RoomSnapshot(name, agent, ours, NOW - int(age_s * 1000), tuple(people))


@pytest.mark.parametrize(
    ("snapshot", "live"),
    [
        (room(1), True),  # new and empty: the page is about to join
        (room(29.9), True),
        (room(30), False),  # grace over, nobody came
        (room(3600, HUMAN), True),  # a person is in it
        (room(3600, AGENT), False),  # only our agent
        (room(3600, AGENT_BY_NAME), False),  # agent recognised by identity prefix
        (room(3600, AGENT, HUMAN), True),
        (room(1, HUMAN, ours=False), False),  # not created by this stack
    ],
)
def test_is_live(snapshot: RoomSnapshot, live: bool) -> None:
    assert is_live(snapshot, NOW, 30, "agent-letta") is live


def test_live_rooms_filters_by_agent_and_sorts_oldest_first() -> None:
    rooms = [room(5, name="b"), room(10, name="a"), room(1, agent="a2", name="c"), room(100, name="d")]
    assert [r.name for r in live_rooms(rooms, "a1", NOW, 30, "agent-letta")] == ["a", "b"]


@pytest.mark.parametrize(
    ("rooms", "winner"),
    [
        ([], None),
        ([room(1, name="x")], "x"),
        ([room(1, name="x"), room(2, name="y")], "y"),  # older wins
        ([room(1, name="y"), room(1, name="x")], "x"),  # same instant: by name
    ],
)
def test_race_winner(rooms: list[RoomSnapshot], winner: str | None) -> None:
    found = race_winner(rooms)
    assert (found.name if found else None) == winner


def test_room_names() -> None:
    names = {new_room_name("lvs-") for _ in range(50)}
    assert len(names) == 50
    assert all(is_session_room_name(n, "lvs-") for n in names)
    identities = {new_identity() for _ in range(50)}
    assert len(identities) == 50
    assert all(re.fullmatch(r"user-[0-9a-f]{8}", i) for i in identities), identities


def test_unused_rooms_are_ours_and_not_live() -> None:
    live = room(1, HUMAN, name="live")
    stale = room(600, name="stale")
    foreign = room(600, ours=False, name="foreign")  # another app's room of the same agent: never ours to delete
    assert [r.name for r in unused_rooms([live, stale, foreign], [live])] == ["stale"]


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("lvs-0123456789abcdef", True),
        ("lvs-0123456789abcde", False),
        ("lvs-0123456789ABCDEF", False),
        ("lvs-0123456789abcdef0", False),
        ("xyz-0123456789abcdef", False),
        ("lvs-0123456789abcdeg", False),
    ],
)
def test_is_session_room_name(name: str, ok: bool) -> None:
    assert is_session_room_name(name, "lvs-") is ok


@pytest.mark.parametrize(
    ("url", "sources"),
    [
        ("ws://127.0.0.1:7880", ["ws://127.0.0.1:7880", "http://127.0.0.1:7880"]),
        ("wss://lk.example.com", ["wss://lk.example.com", "https://lk.example.com"]),
        ("https://lk.example.com:443", ["wss://lk.example.com:443", "https://lk.example.com:443"]),
    ],
)
def test_livekit_sources(url: str, sources: list[str]) -> None:
    assert livekit_sources(url) == sources


@pytest.mark.parametrize(
    ("origin", "host", "same"),
    [
        ("http://127.0.0.1:8080", "127.0.0.1:8080", True),
        ("https://voice.example", "voice.example", True),
        ("http://127.0.0.1:8081", "127.0.0.1:8080", False),
        ("https://evil.example", "voice.example", False),
        ("null", "voice.example", False),
    ],
)
def test_same_origin(origin: str, host: str, same: bool) -> None:
    assert same_origin(origin, host) is same


@pytest.mark.parametrize(
    ("body", "field", "starts"),
    [
        ({}, "agent_id", "'agent_id' is required"),
        ({"agent_id": "a", "x": 1}, "x", "unknown field 'x'"),
        ({"agent_id": 3}, "agent_id", "invalid 'agent_id'"),
    ],
)
def test_validation_error_messages(body: dict, field: str, starts: str) -> None:
    with pytest.raises(ValidationError) as info:
        CreateSession.model_validate(body)
    err = validation_error(info.value)
    assert err.status == 400 and err.field == field and err.error.startswith(starts)


def test_summarize_letta_agent_state() -> None:
    block = SimpleNamespace(label="persona", value="p" * 500)
    other = SimpleNamespace(label="human", value="h")
    agent = SimpleNamespace(id="agent-1", name="n", blocks=[other, block], memory=None)
    summary = summarize(agent)
    assert summary.id == "agent-1" and len(summary.persona) == 160 and summary.persona.endswith("…")
    bare = SimpleNamespace(id="agent-2", name=None, blocks=[], memory=SimpleNamespace(blocks=[]))
    assert summarize(bare).to_json() == {"id": "agent-2", "name": "", "persona": ""}


def test_snapshot_of_a_livekit_room() -> None:
    lk_room = api.Room(name="lvs-0123456789abcdef", metadata='{"lvs": true, "letta_agent_id": "a1"}', creation_time=5)
    people = [
        api.ParticipantInfo(identity="agent-letta-1", kind=api.ParticipantInfo.Kind.AGENT),
        api.ParticipantInfo(identity="user-1", kind=api.ParticipantInfo.Kind.STANDARD),
    ]
    snap = _snapshot(lk_room, {"lvs": True, "letta_agent_id": "a1"}, people)
    assert snap.ours and snap.letta_agent_id == "a1" and snap.created_ms == 5000
    assert [p.is_agent for p in snap.participants] == [True, False]
