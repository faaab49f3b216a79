"""Fuzz the running web service: cases generated from its own OpenAPI document, and mutations of them.

CHAOS_FUZZ_REQUESTS requests (default 10,000; `make test` sends fewer, see scripts/test.sh), from 254 loopback
addresses of their own (the rate limiter the fuzz trips never throttles tests that send from 127.0.0.1), plus a
burst from one address that must be rate-limited. No answer may be a 5xx; every 4xx under /api is JSON with an
"error" string (except gunicorn's own HTML answer to a request line over its limit, which the app never sees);
no secret of the settings appears in any answer or in the web log. CHAOS_FUZZ_SEED repeats a run.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections import Counter
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

import httpx
import pytest
from pydantic import SecretStr

from services.shared.letta import letta_client
from services.shared.settings import Settings, env_name
from tests.chaos.loopback import addresses, assert_web_sees, client
from tests.chaos.web_fuzz import FuzzRequest, answer_problems, fuzz_plan, openapi_requests
from tests.helpers import log_tail

pytestmark = [pytest.mark.stack, pytest.mark.chaos]
REQUESTS_ENV, SEED_ENV = "CHAOS_FUZZ_REQUESTS", "CHAOS_FUZZ_SEED"
DEFAULT_REQUESTS = 10_000
CONCURRENCY = 16  # twice the web service's 2 workers x 4 threads: it always has work queued
SOURCES = addresses("127.77.0.1", 254)
BURST_SOURCE, BURST_OVER = "127.77.1.1", 20  # a burst this far over what the rate limit lets one address send
AGENTS_CAP = 3  # valid POST /api/agents cases sent: each makes a Letta agent (deleted at once)
MIN_SECRET_CHARS = 12  # shorter values are ordinary words ("secret", "letta"): searching for them proves nothing


def wanted_requests() -> int:
    value = os.environ.get(REQUESTS_ENV, str(DEFAULT_REQUESTS))
    assert value.isdigit() and int(value) >= 500, f"{REQUESTS_ENV} must be a number from 500 up, not {value!r}"
    return int(value)


def settings_secrets(settings: Settings) -> dict[str, str]:
    """Every secret (SecretStr) of the settings that is set, by environment variable."""
    found = {}
    for _, section in settings:
        for name, value in section:
            if isinstance(value, SecretStr) and value.get_secret_value():
                found[env_name(type(section), name)] = value.get_secret_value()
    return found


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


async def fuzz(settings: Settings, plan: list[FuzzRequest], secrets: dict[str, bytes]) -> FuzzRun:
    """Send the plan, CONCURRENCY at a time: burst requests from BURST_SOURCE, the others from SOURCES in turn."""
    run, gate = FuzzRun(), asyncio.Semaphore(CONCURRENCY)

    async def one(c: httpx.AsyncClient, request: FuzzRequest) -> None:
        async with gate:
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
            if status == 201:
                await undo(c, run, request, response)

    async with AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(client(settings, a)) for a in SOURCES]
        burster = await stack.enter_async_context(client(settings, BURST_SOURCE))
        picks = [burster if r.origin == "burst" else clients[i % len(clients)] for i, r in enumerate(plan)]
        await asyncio.gather(*(one(c, r) for c, r in zip(picks, plan, strict=True)))
    return run


def leaked_in_logs(settings: Settings, secrets: dict[str, bytes]) -> list[str]:
    """Names of secrets found in the web service's logs (the current one and any rotated ones)."""
    logs = sorted(settings.stack.log_dir.glob("web.log*"))
    assert logs, f"no web log in {settings.stack.log_dir}"
    text = b"".join(p.read_bytes() for p in logs)
    return sorted(name for name, value in secrets.items() if value in text)


def run_fuzz(settings: Settings, total: int, seed: int, secrets: dict[str, bytes]) -> tuple[str, list[Problem]]:
    """Generate, send and check `total` requests; return the figure and the problems found."""
    rng = random.Random(seed)
    started = time.monotonic()
    generated = openapi_requests(
        f"{settings.web.base_url}/api/openapi.json", min(250, max(25, total // 40)), seed, AGENTS_CAP
    )
    allowed = settings.web.workers * settings.web.sessions_per_minute  # each gunicorn worker counts alone
    burst = FuzzRequest("POST", "/api/sessions", (("Content-Type", "application/json"),), b'{"agent_id": "x"}', "burst")
    plan = fuzz_plan(generated, total - allowed - BURST_OVER, rng)
    at = rng.randrange(len(plan) + 1)
    plan[at:at] = [burst] * (allowed + BURST_OVER)  # in one block: well within a minute
    generating = time.monotonic() - started
    run = FuzzRun()
    try:
        run = asyncio.run(fuzz(settings, plan, secrets))
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
    print(f"\n{figure}\nsessions made and ended: {run.sessions_made}; agents made and deleted: {len(run.agents_made)}")
    problems = run.problems[:]
    if run.burst[429] < BURST_OVER:
        what = f"{allowed + BURST_OVER} session requests from one address in a row: {dict(run.burst)}"
        problems.append(Problem("after", f"{what}; at most {allowed} may pass the rate limit"))
    problems += [Problem("after", f"{name} in the web log") for name in leaked_in_logs(settings, secrets)]
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
