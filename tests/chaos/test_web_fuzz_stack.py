"""Fuzz the running web service: cases generated from its own OpenAPI document, and mutations of them.

CHAOS_FUZZ_REQUESTS requests (default 10,000; `make test` sends fewer, see scripts/test.sh), from 254 loopback
addresses of their own (the rate limiter the fuzz trips never throttles tests that send from 127.0.0.1), plus a
burst from one address that must be rate-limited. No answer may be a 5xx; every 4xx under /api is JSON with an
"error" string (except gunicorn's own HTML answer to a request line over its limit, which the app never sees);
no secret of the settings appears in any answer or in any service's log. CHAOS_FUZZ_SEED repeats a run.

A share of the session requests carry the ids of real Letta agents (made for the run), in blocks sent at once:
they reach the room lookup, room creation, the race rule (rooms opened and closed again when requests race)
and takeover. How many cases reached each is counted, and every count must be above zero.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

import httpx
import pytest
from livekit import api

from services.agent.probe import delete_room
from services.shared.letta import letta_client
from services.shared.letta_agents import create_voice_agent
from services.shared.livekit import livekit_api, parse_room_metadata
from services.shared.settings import Settings
from services.web.policy import is_session_room_name
from tests.chaos.loopback import addresses, assert_web_sees, client
from tests.chaos.web_fuzz import (
    REAL_ID_ORIGIN,
    FuzzRequest,
    answer_problems,
    fuzz_plan,
    openapi_requests,
    real_id_sessions,
)
from tests.helpers import eventually, log_entries, log_size, log_tail, running_jobs, secrets_in_logs, settings_secrets

pytestmark = [pytest.mark.stack, pytest.mark.chaos]
REQUESTS_ENV, SEED_ENV = "CHAOS_FUZZ_REQUESTS", "CHAOS_FUZZ_SEED"
DEFAULT_REQUESTS = 10_000
CONCURRENCY = 16  # twice the web service's 2 workers x 4 threads: it always has work queued
SOURCES = addresses("127.77.0.1", 254)
BURST_SOURCE, BURST_OVER = "127.77.1.1", 20  # a burst this far over what the rate limit lets one address send
AGENTS_CAP = 3  # valid POST /api/agents cases sent: each makes a Letta agent (deleted at once)
REAL_AGENTS, REAL_CASES, REAL_BLOCK = 2, 64, 16  # each real-id session dispatches a voice job: keep them few
JOBS_GONE_S = 90.0
BRANCHES = ("room lookup", "created", "conflict", "race rule", "takeover")
MIN_SECRET_CHARS = 12  # shorter values are ordinary words ("secret", "letta"): searching for them proves nothing


def wanted_requests() -> int:
    value = os.environ.get(REQUESTS_ENV, str(DEFAULT_REQUESTS))
    assert value.isdigit() and int(value) >= 500, f"{REQUESTS_ENV} must be a number from 500 up, not {value!r}"
    return int(value)


def searchable(secrets: dict[str, str]) -> tuple[dict[str, bytes], list[str]]:
    """(secrets long enough to search for, names of those that are not); a weak LiveKit secret fails the test."""
    short = sorted(name for name, value in secrets.items() if len(value) < MIN_SECRET_CHARS)
    if "LIVEKIT_API_SECRET" in short:
        pytest.fail(
            f"LIVEKIT_API_SECRET has fewer than {MIN_SECRET_CHARS} characters: too weak to search answers and logs"
            " for (a word like 'secret' appears in ordinary text). Give the stack a strong secret (`make up`"
            " generates one into .stack/secrets.env) and restart it."
        )
    return {n: v.encode() for n, v in secrets.items() if n not in short}, short


@dataclass(frozen=True)
class Problem:
    origin: str  # what made the request ("openapi", a mutation, "burst"), or "after" for the checks at the end
    what: str
    request: str = ""

    @property
    def kind(self) -> str:
        return f"[{self.origin}] {self.what.split(':', 1)[0]}"

    def __str__(self) -> str:
        return f"{self.request} [{self.origin}]: {self.what}"


@dataclass
class FuzzRun:
    statuses: Counter[str] = field(default_factory=Counter)
    problems: list[Problem] = field(default_factory=list)
    sessions_made: int = 0
    agents_made: list[str] = field(default_factory=list)
    burst: Counter[int] = field(default_factory=Counter)
    real: Counter[int] = field(default_factory=Counter)  # statuses of the real-id session requests
    created_rooms: set[str] = field(default_factory=set)  # every room a 201 handed out

    def problem(self, request: FuzzRequest, what: str) -> None:
        shown = f"{request.method} {request.path[:100]} body={(request.body or b'')[:60]!r}"
        self.problems.append(Problem(request.origin, what, shown))


async def send(c: httpx.AsyncClient, request: FuzzRequest) -> httpx.Response:
    return await c.request(request.method, request.path, headers=list(request.headers), content=request.body)


async def undo(c: httpx.AsyncClient, run: FuzzRun, request: FuzzRequest, response: httpx.Response) -> None:
    """End a session or note an agent a valid request made (nothing of the fuzz may stay around)."""
    try:
        made = response.json()
    except ValueError:
        return
    if request.path.startswith("/api/sessions") and isinstance(made, dict) and "room" in made:
        run.sessions_made += 1
        ended = await c.delete(f"/api/sessions/{made['room']}")
        if ended.status_code != 200:
            run.problem(request, f"could not end the session it made: {ended.status_code}")
    elif request.path.startswith("/api/agents") and isinstance(made, dict) and "id" in made:
        run.agents_made.append(str(made["id"]))


async def fuzz(
    settings: Settings, plan: list[FuzzRequest], secrets: dict[str, bytes], blocks: list[list[FuzzRequest]]
) -> FuzzRun:
    """Send the plan, CONCURRENCY at a time: burst requests from BURST_SOURCE, the others from SOURCES in turn.
    Then each of `blocks` (the real-id session requests) all at once, one block after the other."""
    run, gate = FuzzRun(), asyncio.Semaphore(CONCURRENCY)

    async def one(c: httpx.AsyncClient, request: FuzzRequest) -> None:
        async with gate if request.origin != REAL_ID_ORIGIN else contextlib.nullcontext():
            try:
                response = await send(c, request)
            except httpx.HTTPError as error:
                run.statuses[type(error).__name__] += 1
                run.problem(request, f"no answer: {type(error).__name__}")
                return
            status = response.status_code
            run.statuses[str(status)] += 1
            if request.origin == "burst":
                run.burst[status] += 1
                if status == 429 and not response.headers.get("Retry-After", "").isdigit():
                    run.problem(request, "429 without Retry-After seconds")
            for what in answer_problems(request, status, response.headers.multi_items(), response.content, secrets):
                run.problem(request, what)
            if request.origin == REAL_ID_ORIGIN:
                run.real[status] += 1
            if status == 201 and request.path.startswith("/api/sessions"):
                with_room = response.json() if "json" in response.headers.get("content-type", "") else {}
                run.created_rooms.add(str(with_room.get("room")))
            if status == 201 and request.origin != REAL_ID_ORIGIN:
                await undo(c, run, request, response)  # a real-id session stays live for the next ones to meet

    async with AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(client(settings, a)) for a in SOURCES]
        burster = await stack.enter_async_context(client(settings, BURST_SOURCE))
        picks = [burster if r.origin == "burst" else clients[i % len(clients)] for i, r in enumerate(plan)]
        await asyncio.gather(*(one(c, r) for c, r in zip(picks, plan, strict=True)))
        for block in blocks:
            await asyncio.gather(*(one(clients[i], r) for i, r in enumerate(block)))
    return run


async def remove_rooms_of(settings: Settings, agent_ids: set[str]) -> int:
    """Delete every session room bound to one of these Letta agents; how many there were."""
    async with livekit_api(settings) as lk:
        listed = (await lk.room.list_rooms(api.ListRoomsRequest())).rooms
        mine = [r.name for r in listed if parse_room_metadata(r.metadata).get("letta_agent_id") in agent_ids]
        for name in mine:
            await delete_room(lk, name)
    return len(mine)


def branches_reached(settings: Settings, run: FuzzRun, web_offset: int, livekit_offset: int) -> Counter[str]:
    """How many real-id cases reached each branch of POST /api/sessions (from the answers and the logs)."""
    prefix = settings.recovery.room_prefix
    opened = {
        str(e.get("room"))
        for e in log_entries(settings, "livekit", livekit_offset)
        if e.get("msg") == "API RoomService.CreateRoom" and is_session_room_name(str(e.get("room")), prefix)
    }
    takeovers = [e for e in log_entries(settings, "web", web_offset) if e.get("msg") == "taking over session"]
    return Counter(
        {
            "room lookup": run.real[201] + run.real[409],  # past validation and the agent lookup
            "created": run.real[201],
            "conflict": run.real[409],
            # opened, never handed out, and not taken over by a racing request: closed by the race rule
            "race rule": len(opened - run.created_rooms - {str(e.get("old_room")) for e in takeovers}),
            "takeover": len(takeovers),
        }
    )


def run_fuzz(settings: Settings, total: int, seed: int, secrets: dict[str, bytes]) -> tuple[str, list[Problem]]:
    """Generate, send and check `total` requests; return the figure and the problems found."""
    rng = random.Random(seed)
    letta = letta_client(settings, timeout=60)
    real_ids = [
        create_voice_agent(letta, settings, f"fuzz-real-{uuid.uuid4().hex[:8]}", "I am fuzzed.", "A fuzzer.").id
        for _ in range(REAL_AGENTS)
    ]
    try:
        return _run_fuzz(settings, total, rng, seed, secrets, real_ids)
    finally:
        asyncio.run(remove_rooms_of(settings, set(real_ids)))
        for agent_id in real_ids:
            letta.agents.delete(agent_id)
        # The real-id sessions dispatched voice jobs: leave the workers idle for the next test.
        eventually(lambda: running_jobs(settings) == 0, JOBS_GONE_S, what="the fuzz's voice jobs to end")


def _run_fuzz(
    settings: Settings, total: int, rng: random.Random, seed: int, secrets: dict[str, bytes], real_ids: list[str]
) -> tuple[str, list[Problem]]:
    started = time.monotonic()
    generated = openapi_requests(
        f"{settings.web.base_url}/api/openapi.json", min(250, max(25, total // 40)), seed, AGENTS_CAP
    )
    allowed = settings.web.workers * settings.web.sessions_per_minute  # each gunicorn worker counts alone
    burst = FuzzRequest("POST", "/api/sessions", (("Content-Type", "application/json"),), b'{"agent_id": "x"}', "burst")
    plan = fuzz_plan(generated, total - allowed - BURST_OVER - REAL_CASES, rng)
    real = real_id_sessions(real_ids, REAL_CASES, REAL_BLOCK, rng)
    blocks = [real[i : i + REAL_BLOCK] for i in range(0, len(real), REAL_BLOCK)]
    at = rng.randrange(len(plan) + 1)
    plan[at:at] = [burst] * (allowed + BURST_OVER)  # in one block: well within a minute
    generating = time.monotonic() - started
    run = FuzzRun()
    web_offset, livekit_offset = log_size(settings, "web"), log_size(settings, "livekit")
    try:
        run = asyncio.run(fuzz(settings, plan, secrets, blocks))
    finally:
        letta = letta_client(settings, timeout=60)
        for agent_id in run.agents_made:
            letta.agents.delete(agent_id)
    sending = time.monotonic() - started - generating

    histogram = ", ".join(f"{status}: {n}" for status, n in sorted(run.statuses.items()))
    figure = (
        f"{total} requests in {sending:.1f} s ({total / sending:.0f}/s; {len(generated)} generated from the OpenAPI"
        f" document in {generating:.1f} s, the rest mutations; seed {seed}); status {histogram}"
    )
    reached = branches_reached(settings, run, web_offset, livekit_offset)
    figure += f"; real-id session cases {REAL_CASES}, reaching " + ", ".join(f"{b} {reached[b]}" for b in BRANCHES)
    print(f"\n{figure}\nsessions made and ended: {run.sessions_made}; agents made and deleted: {len(run.agents_made)}")
    problems = run.problems[:]
    problems += [
        Problem("after", f"no real-id session case reached {b}: {dict(reached)}; statuses {dict(run.real)}")
        for b in BRANCHES
        if reached[b] <= 0
    ]
    if run.burst[429] < BURST_OVER:
        what = f"{allowed + BURST_OVER} session requests from one address in a row: {dict(run.burst)}"
        problems.append(Problem("after", f"{what}; at most {allowed} may pass the rate limit"))
    problems += [Problem("after", f"{leak}") for leak in secrets_in_logs(settings, secrets)]
    return figure, problems


def test_fuzzed_requests_never_break_the_web_api(stack: Settings, chaos_figure: Callable[[str], None]) -> None:
    """Fuzzed requests to the web API (OpenAPI cases and malformed ones)"""
    secrets, unsearchable = searchable(settings_secrets(stack))
    if unsearchable:
        print(f"secrets too short to search for, not checked: {', '.join(unsearchable)}")
    assert_web_sees(stack, [SOURCES[0], SOURCES[-1], BURST_SOURCE])
    seed = int(os.environ.get(SEED_ENV) or random.randrange(2**32))
    figure, problems = run_fuzz(stack, wanted_requests(), seed, secrets)
    chaos_figure(figure + (f"; {len(problems)} problems" if problems else ""))
    if problems:
        kinds = Counter(p.kind for p in problems)
        pytest.fail(
            f"{len(problems)} problems (seed {seed}):\n"
            + "\n".join(f"  {n} x {kind}" for kind, n in kinds.most_common(10))
            + "\nfirst ones:\n"
            + "\n".join(str(p) for p in problems[:10])
            + f"\n--- web log ---\n{log_tail(stack, 'web', 10)}"
        )
