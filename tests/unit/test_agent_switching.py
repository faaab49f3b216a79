"""Agent switch rules and the per-participant gate (issue 11: a flood costs one lookup, no queued apologies)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from services.agent.session import VoiceJob
from services.agent.switching import Gate, is_live_room, switch_refusal
from services.shared.ownership import ANONYMOUS_ADMIN, Principal, principal_from_metadata

pytestmark = pytest.mark.unit

BOB, ADMIN = Principal("bob", admin=False), Principal("owner", admin=True)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_gate_lets_one_pass_per_interval_and_none_while_busy() -> None:
    clock = Clock()
    gate = Gate(1.0, clock)
    assert gate.enter("p1") and not gate.enter("p1")
    assert gate.enter("p2")  # per participant
    clock.now += 1.5
    assert not gate.enter("p1")  # still running
    gate.leave("p1")
    assert gate.enter("p1")
    gate.leave("p1")
    clock.now += 0.5
    assert not gate.enter("p1")


@pytest.mark.parametrize(
    ("owner", "who", "elsewhere", "refused"),
    [
        ("bob", BOB, False, None),
        ("carol", BOB, False, "not the user's agent"),
        (None, BOB, False, "not the user's agent"),  # untagged: the admins'
        ("carol", ADMIN, False, None),
        (None, ANONYMOUS_ADMIN, False, None),  # logins off: as before
        ("bob", BOB, True, "agent is live in another session"),
    ],
)
def test_switch_refusal(owner: str | None, who: Principal, elsewhere: bool, refused: str | None) -> None:
    assert switch_refusal(owner, who, elsewhere) == refused


def test_room_metadata_names_the_principal() -> None:
    assert principal_from_metadata({"user": "bob", "admin": False}) == BOB
    assert principal_from_metadata({"user": "owner", "admin": True}) == ADMIN
    assert principal_from_metadata({}) == ANONYMOUS_ADMIN


@pytest.mark.parametrize(
    ("meta", "humans", "age_s", "live"),
    [
        ({"lvs": True, "letta_agent_id": "agent-a"}, 1, 3600, True),
        ({"lvs": True, "letta_agent_id": "agent-a"}, 0, 5, True),  # minted, inside the grace
        ({"lvs": True, "letta_agent_id": "agent-a"}, 0, 3600, False),
        ({"lvs": True, "letta_agent_id": "agent-b"}, 1, 5, False),
        ({"letta_agent_id": "agent-a"}, 1, 5, False),  # not ours
    ],
)
def test_is_live_room(meta: dict[str, object], humans: int, age_s: float, live: bool) -> None:
    now_ms = 10_000_000
    assert is_live_room(meta, humans, now_ms - int(age_s * 1000), now_ms, 30.0, "agent-a") is live


def _job() -> tuple[VoiceJob, list[str]]:
    job = VoiceJob.__new__(VoiceJob)  # only the switch wiring: no room, no session
    job.switch_gate = Gate(1.0)
    job.started = asyncio.Event()
    job.started.set()  # the session runs
    job._tasks = set()
    job.ctx = SimpleNamespace(room=SimpleNamespace(isconnected=lambda: True))  # type: ignore[assignment]
    calls: list[str] = []

    async def switch(payload: str | bytes) -> None:
        calls.append(str(payload))
        await asyncio.sleep(0.05)  # the Letta lookup

    job.switch = switch  # type: ignore[method-assign]
    return job, calls


def test_a_flood_of_switch_messages_costs_one_lookup() -> None:
    async def main() -> list[str]:
        job, calls = _job()
        for i in range(200):
            job._gated_switch("user-1", f'{{"letta_agent_id": "agent-{i}"}}')
        job._gated_switch("user-2", '{"letta_agent_id": "agent-x"}')
        await asyncio.gather(*job._tasks)
        return calls

    calls = asyncio.run(main())
    assert len(calls) == 2  # one for each participant; the other 199 were dropped, nothing queued


def test_a_flood_of_chat_messages_starts_one_turn(monkeypatch: pytest.MonkeyPatch) -> None:
    from services.agent import session as session_module

    turns: list[str] = []

    async def reply(sess: object, ev: object) -> None:
        turns.append(ev.text)  # type: ignore[attr-defined]
        await asyncio.sleep(0.05)

    monkeypatch.setattr(session_module, "DEFAULT_TEXT_INPUT", reply)
    job = VoiceJob.__new__(VoiceJob)
    job.chat_gate = Gate(1.0)
    sender = SimpleNamespace(identity="user-1")

    async def main() -> None:
        events = [SimpleNamespace(text=f"hi {i}", participant=sender) for i in range(200)]
        await asyncio.gather(*(job.on_text(None, ev) for ev in events))  # type: ignore[arg-type]

    asyncio.run(main())
    assert turns == ["hi 0"]


def test_a_switch_sent_before_the_session_runs_waits_for_it() -> None:
    """The page may ask the moment the agent joins, before the job's Letta lookup: kept, then carried out."""

    async def main() -> tuple[list[str], list[str]]:
        job, calls = _job()
        job.started = asyncio.Event()
        job._gated_switch("user-1", '{"letta_agent_id": "agent-early"}')
        await asyncio.sleep(0)
        before = list(calls)
        job.started.set()
        await asyncio.gather(*job._tasks)
        return before, calls

    before, after = asyncio.run(main())
    assert before == [] and after == ['{"letta_agent_id": "agent-early"}']
