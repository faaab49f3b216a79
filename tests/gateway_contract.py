"""The web gateways' contract, run against the unit tests' fakes (tests/unit) and the real services (tests/stack).

The same checks on both sides keep the fakes from drifting: method names and signatures equal the real
gateway's, and each call's answer has the shape and behaviour the real LiveKit and Letta give.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from typing import Any

from services.agent.policy import valid_agent_id
from services.web.letta_gateway import AgentSummary, LettaError, LettaGateway, persona_preview
from services.web.livekit_gateway import LiveKitError, LiveKitGateway
from services.web.policy import ParticipantSnapshot, RoomSnapshot, new_room_name

# An id of the right shape that no Letta server has.
UNKNOWN_AGENT_ID = "agent-00000000-0000-4000-8000-00000000dead"


def public_methods(cls: type) -> dict[str, inspect.Signature]:
    """The public methods of a class (its own and inherited) and their signatures."""
    members = inspect.getmembers(cls, inspect.isfunction)
    return {name: inspect.signature(f) for name, f in members if not name.startswith("_")}


def check_signatures(fake: type, real: type) -> None:
    """Every public method of the real gateway exists on the fake with the very same signature."""
    fake_methods = public_methods(fake)
    for name, signature in public_methods(real).items():
        assert name in fake_methods, f"{fake.__name__} lacks {name}{signature}"
        assert fake_methods[name] == signature, f"{fake.__name__}.{name}{fake_methods[name]} != {signature}"


def check_livekit_session(gw: Any, prefix: str, agent_id: str, other_agent_id: str) -> None:
    """open_session, room, rooms_for and delete_room behave like livekit-server's (the room is removed after)."""
    name = new_room_name(prefix)
    assert gw.ping() is True
    assert gw.room(name) is None
    started_ms = time.time() * 1000
    gw.open_session(name, agent_id, "contract-user", False)
    try:
        room = gw.room(name)
        assert isinstance(room, RoomSnapshot)
        assert (room.name, room.letta_agent_id, room.ours, room.user) == (name, agent_id, True, "contract-user")
        assert abs(room.created_ms - started_ms) < 60_000, (room.created_ms, started_ms)
        assert isinstance(room.participants, tuple)
        assert all(isinstance(p, ParticipantSnapshot) for p in room.participants)
        listed = gw.rooms_for(agent_id)
        assert isinstance(listed, list) and all(isinstance(r, RoomSnapshot) for r in listed)
        assert name in {r.name for r in listed}
        assert all(r.letta_agent_id == agent_id and r.name.startswith(prefix) for r in listed)
        assert name not in {r.name for r in gw.rooms_for(other_agent_id)}
    finally:
        gw.delete_room(name)
    assert gw.room(name) is None
    assert name not in {r.name for r in gw.rooms_for(agent_id)}
    gw.delete_room(name)  # deleting a room that is gone already is not an error (two sessions may race to it)


def check_livekit_unreachable(gw: Any, prefix: str) -> None:
    """A livekit-server that does not answer: ping is False and every call raises LiveKitError."""
    assert gw.ping(timeout=0.5) is False
    name = new_room_name(prefix)
    calls: list[Callable[[], object]] = [
        lambda: gw.room(name),
        lambda: gw.rooms_for(UNKNOWN_AGENT_ID),
        lambda: gw.open_session(name, UNKNOWN_AGENT_ID),
        lambda: gw.delete_room(name),
    ]
    for call in calls:
        _raises(call, LiveKitError)


def check_letta_agents(gw: Any, name: str, remove: Callable[[str], None]) -> None:
    """create_agent, get_agent and list_agents behave like the Letta server's (the agent is removed after)."""
    assert gw.ping() is True
    persona = "I am the contract test's agent. " * 10  # longer than the preview
    created = gw.create_agent(name, persona, "The human is a test.", "contract-owner")
    try:
        assert isinstance(created, AgentSummary)
        assert valid_agent_id(created.id), created.id
        assert (created.name, created.owner) == (name, "contract-owner")
        assert created.persona == persona_preview(persona)
        found = gw.get_agent(created.id)
        assert isinstance(found, AgentSummary)
        # A lookup carries id, name and owner; the persona is left empty (it is not fetched).
        assert (found.id, found.name, found.persona, found.owner) == (created.id, name, "", "contract-owner")
        listed = gw.list_agents()
        assert isinstance(listed, list) and all(isinstance(a, AgentSummary) for a in listed)
        assert created in listed, "list_agents lacks the new agent (or gives it another name, persona or owner)"
        assert gw.get_agent(UNKNOWN_AGENT_ID) is None
        assert gw.get_agent("not-an-agent-id") is None
    finally:
        remove(created.id)
    assert gw.get_agent(created.id) is None


def check_letta_unreachable(gw: Any) -> None:
    """A Letta server that does not answer: ping is False and every call raises LettaError."""
    assert gw.ping(timeout=0.5) is False
    for call in (gw.list_agents, lambda: gw.get_agent(UNKNOWN_AGENT_ID), lambda: gw.create_agent("x", "p", "h")):
        _raises(call, LettaError)


def _raises(call: Callable[[], object], error: type[Exception]) -> None:
    try:
        call()
    except error:
        return
    except Exception as other:
        raise AssertionError(f"raised {type(other).__name__} instead of {error.__name__}: {other}") from other
    raise AssertionError(f"did not raise {error.__name__}")


REAL_GATEWAYS = (LiveKitGateway, LettaGateway)
