"""Room claims shared by the workers of a machine: one starting job per room, expiry, release, races."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import stat
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from services.agent.requests import RequestHandler
from services.agent.room_claims import CLAIM_TTL_S, PRUNE_AFTER_S, Holder, RoomClaims, claims_dir
from services.shared.settings import AgentSettings, LiveKitSettings, Settings, StackSettings

pytestmark = pytest.mark.unit


def test_a_live_claim_keeps_other_jobs_out_until_it_expires(tmp_path: Path) -> None:
    claims = RoomClaims(tmp_path)
    assert claims.claim("room-a", "job-1", now=100.0) is None
    assert claims.claim("room-a", "job-1", now=101.0) is None  # the holder itself may claim again
    assert claims.claim("room-a", "job-2", now=101.0) == Holder("job-1", 101.0)
    assert claims.claim("room-b", "job-2", now=101.0) is None  # rooms are independent
    # the holder's worker died before its job joined: the claim expires
    assert claims.claim("room-a", "job-2", now=101.0 + CLAIM_TTL_S) is None
    assert claims.claim("room-a", "job-1", now=102.0 + CLAIM_TTL_S) == Holder("job-2", 101.0 + CLAIM_TTL_S)


def test_a_claim_made_a_moment_later_than_the_callers_clock_still_holds(tmp_path: Path) -> None:
    """Two workers racing: the second read its clock before the first's claim was written (the bug the
    cross-worker stack test found: it took the room too)."""
    claims = RoomClaims(tmp_path)
    assert claims.claim("room", "job-1", now=100.010) is None
    assert claims.claim("room", "job-2", now=100.002) == Holder("job-1", 100.010)
    # but a claim far ahead (the clock went back by more than the ttl) does not hold forever
    assert claims.claim("room", "job-2", now=100.010 - CLAIM_TTL_S - 1) is None


def test_release_gives_up_only_the_jobs_own_claim(tmp_path: Path) -> None:
    claims = RoomClaims(tmp_path)
    claims.claim("room", "job-1", now=100.0)
    assert claims.release("room", "job-2") is False
    assert claims.claim("room", "job-2", now=100.5) == Holder("job-1", 100.0)
    assert claims.release("room", "job-1") is True
    assert claims.release("room", "job-1") is False
    assert claims.claim("room", "job-2", now=100.6) is None


def test_torn_or_foreign_content_is_no_claim(tmp_path: Path) -> None:
    claims = RoomClaims(tmp_path)
    claims.claim("room", "job-1", now=100.0)
    for content in ("{not json", '{"job": "x"}', "[1, 2]", '"text"'):
        claims.path("room").write_text(content)
        assert claims.claim("room", "job-2", now=100.0) is None, content


def test_claim_files_are_private_and_named_by_a_hash(tmp_path: Path) -> None:
    folder = tmp_path / "claims"
    claims = RoomClaims(folder)
    claims.claim("../../etc/passwd", "job-1", now=1.0)
    [path] = list(folder.iterdir())
    assert path.parent == folder and path.suffix == ".claim" and "passwd" not in path.name
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_prune_removes_only_old_files(tmp_path: Path) -> None:
    claims = RoomClaims(tmp_path)
    claims.claim("old", "job-1", now=1.0)
    claims.claim("new", "job-2", now=1.0)
    old = claims.path("old")
    os.utime(old, (1.0, 1.0))
    now = 1.0 + PRUNE_AFTER_S + 1
    os.utime(claims.path("new"), (now, now))
    assert claims.prune(now=now) == 1
    assert not old.exists() and claims.path("new").exists()


def _race(folder: str, job: str, start: Any, results: Any) -> None:
    start.wait()
    results.put((job, RoomClaims(Path(folder)).claim("room", job)))


def test_processes_racing_for_one_room_leave_exactly_one_winner(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    start, results = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_race, args=(str(tmp_path), f"job-{i}", start, results)) for i in range(8)]
    for proc in procs:
        proc.start()
    start.set()
    outcomes = dict(results.get(timeout=30) for _ in procs)
    for proc in procs:
        proc.join(timeout=30)
    winners = [job for job, holder in outcomes.items() if holder is None]
    assert len(winners) == 1, outcomes
    assert {holder.job_id for holder in outcomes.values() if holder} == set(winners)


def test_the_folder_is_shared_by_the_workers_of_the_stack_or_of_compose(tmp_path: Path) -> None:
    native = Settings(stack=StackSettings(dir=tmp_path / "stack"))
    assert claims_dir(native) == native.stack.run_dir / "room-claims"
    compose = Settings(agent=AgentSettings(slots_dir=tmp_path / "slots"))
    assert claims_dir(compose) == tmp_path / "slots" / "room-claims"


# -- the request handler of two workers that share the folder ------------------------------------------------


class FakeRequest:
    def __init__(self, room: str, job_id: str) -> None:
        self.id = job_id
        self.room = SimpleNamespace(name=room, metadata="")
        self.job = SimpleNamespace(metadata='{"letta_agent_id": "agent-00000000-0000-0000-0000-000000000001"}')
        self.answer: str | None = None

    async def accept(self, **_: Any) -> None:
        self.answer = "accept"

    async def reject(self, terminate: bool = False) -> None:
        self.answer = "reject"


def worker(tmp_path: Path, instance: int) -> RequestHandler:
    settings = Settings(
        stack=StackSettings(dir=tmp_path),
        agent=AgentSettings(instance=instance),
        livekit=LiveKitSettings(url="ws://127.0.0.1:17880", api_key="k-test", api_secret="s" * 32),
    )
    handler = RequestHandler(settings, SimpleNamespace(active_jobs=[]))  # type: ignore[arg-type]

    async def empty_room(room: str) -> list:
        return []  # neither worker sees an agent of ours in the room yet: the race

    handler._snapshot = empty_room  # type: ignore[method-assign]
    return handler


def test_two_workers_racing_for_one_room_accept_once(tmp_path: Path) -> None:
    first, second = worker(tmp_path, 0), worker(tmp_path, 1)
    a, b, other_room = FakeRequest("room-1", "AJ_1"), FakeRequest("room-1", "AJ_2"), FakeRequest("room-2", "AJ_3")

    async def race() -> None:
        await asyncio.gather(first(a), second(b), second(other_room))

    asyncio.run(race())
    assert sorted([a.answer, b.answer]) == ["accept", "reject"]
    assert other_room.answer == "accept"
    # the accepted job joined and released the claim: a later job is judged by the participant list again
    winner = a if a.answer == "accept" else b
    RoomClaims(claims_dir(first._settings)).release("room-1", winner.id)
    late = FakeRequest("room-1", "AJ_4")
    asyncio.run(second(late))
    assert late.answer == "accept"


# -- the recovery sidecar reads them: is a job starting for a waiting human? --------------------------------


def test_the_sidecar_sees_whether_a_job_is_starting_for_a_waiting_human(tmp_path: Path) -> None:
    from services.recovery.snapshot import Kind, ParticipantView, RoomView, State
    from services.recovery.sweeper import Sweeper

    settings = Settings(stack=StackSettings(dir=tmp_path))
    now = 1_000.0
    sweeper = Sweeper(settings, lkapi=None, clock=lambda: now)  # type: ignore[arg-type]
    human = ParticipantView("user", Kind.STANDARD, State.ACTIVE, now - 2, False, 1)
    ours = ParticipantView("agent-letta-x", Kind.AGENT, State.ACTIVE, now - 1, True, 1)
    waiting = RoomView("lvs-a", {"lvs": True}, now - 5, 1, (human,))
    served = RoomView("lvs-b", {"lvs": True}, now - 5, 2, (human, ours))

    assert sweeper.with_claim(waiting).job_starting is None  # no claim folder: the workers share none with it
    claims = RoomClaims(claims_dir(settings))
    claims.claim("lvs-other", "AJ_0")  # the folder exists now
    assert sweeper.with_claim(waiting).job_starting is False
    claims.claim("lvs-a", "AJ_1")
    assert sweeper.with_claim(waiting).job_starting is True
    assert claims.holder("lvs-a") == Holder("AJ_1", claims.holder("lvs-a").at)  # type: ignore[union-attr]
    claims.release("lvs-a", "AJ_1")
    assert sweeper.with_claim(waiting).job_starting is False
    assert sweeper.with_claim(served).job_starting is None  # our agent is there: nobody waits for one


def test_holder_reads_without_taking_and_ignores_expired_claims(tmp_path: Path) -> None:
    claims = RoomClaims(tmp_path)
    assert claims.holder("room") is None and not claims.path("room").exists()  # reading creates nothing
    claims.claim("room", "AJ_1", now=100.0)
    assert claims.holder("room", now=101.0) == Holder("AJ_1", 100.0)
    assert claims.holder("room", now=100.0 + CLAIM_TTL_S) is None
    assert claims.claim("room", "AJ_2", now=101.0) == Holder("AJ_1", 100.0)  # holder() took nothing
