"""The smoke checks: ordered, each returns a one-line detail or raises. They share one run context.

Everything a check creates (a throwaway Letta agent, sessions and their rooms) is recorded in the context and
removed by `cleanup`, which runs even when a check failed. Smoke never touches a room it did not create.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from livekit import api

from services.agent.probe import Human, espeak_wav, human_token, our_agents, poll, until
from services.shared.letta import letta_client, letta_headers
from services.shared.letta_agents import create_voice_agent
from services.shared.livekit import livekit_api
from services.shared.settings import Settings
from services.stack.health import probe
from services.stack.programs import Health, programs

REPLY_S = 90.0
LETTA_VERSION = "0.16.8"


class CheckFailed(AssertionError):
    """A smoke check did not pass; the message says what was seen."""


@dataclass
class SmokeContext:
    settings: Settings
    http: httpx.AsyncClient
    letta_agent_id: str | None = None
    rooms: list[str] = field(default_factory=list)
    humans: list[Human] = field(default_factory=list)
    session: dict[str, Any] | None = None
    human: Human | None = None

    async def new_session(self) -> dict[str, Any]:
        """A session through the web API for the throwaway agent (recorded for cleanup)."""
        body = {"agent_id": self.letta_agent_id, "takeover": True}
        response = await self.http.post(f"{self.settings.web.base_url}/api/sessions", json=body)
        if response.status_code != 201 and response.status_code != 200:
            raise CheckFailed(f"POST /api/sessions answered {response.status_code}: {response.text[:200]}")
        session = response.json()
        self.rooms.append(session["room"])
        return session

    async def join(self, session: dict[str, Any]) -> Human:
        human = Human(self.settings, session["room"], identity=session["identity"])
        self.humans.append(human)
        await human.join(session["url"], session["token"])  # the web service's own token
        return human


Check = Callable[[SmokeContext], Awaitable[str]]


def health_targets(settings: Settings) -> dict[str, Health]:
    """Native: every program. Elsewhere (containers), the endpoints reachable from the host."""
    if (settings.stack.run_dir / "supervisor.sock").exists():
        return {p.name: p.health for p in programs(settings)}
    return {
        "livekit": Health("http", f"{settings.livekit.http_url}/"),
        "letta": Health("http", f"{settings.letta.base_url}/v1/health/"),
        "web": Health("http", f"{settings.web.base_url}/readyz"),
    }


async def check_health(ctx: SmokeContext) -> str:
    targets = health_targets(ctx.settings)
    results = await asyncio.gather(*(asyncio.to_thread(probe, h) for h in targets.values()))
    down = [name for name, ok in zip(targets, results, strict=True) if not ok]
    if down:
        raise CheckFailed(f"not healthy: {', '.join(down)}")
    return f"{len(targets)} services healthy"


async def check_letta_contract(ctx: SmokeContext) -> str:
    s = ctx.settings
    health = (await ctx.http.get(f"{s.letta.base_url}/v1/health/", headers=letta_headers(s))).json()
    if health.get("version") != LETTA_VERSION:
        raise CheckFailed(f"Letta version {health.get('version')}, expected {LETTA_VERSION}")
    agent = await asyncio.to_thread(
        create_voice_agent, letta_client(s), s, f"smoke-{uuid.uuid4().hex[:8]}", "I am a smoke test.", "Smoke."
    )
    ctx.letta_agent_id = agent.id
    body = {"model": agent.id, "stream": True, "messages": [{"role": "user", "content": "Say yes."}]}
    chunks = 0
    started = time.monotonic()
    first_token = None
    async with ctx.http.stream(
        "POST", f"{s.letta.openai_url}/chat/completions", json=body, headers=letta_headers(s), timeout=120
    ) as response:
        if response.status_code != 200:
            raise CheckFailed(f"/v1/chat/completions answered {response.status_code}")
        async for line in response.aiter_lines():
            if line.startswith("data: {"):
                delta = json.loads(line[6:])["choices"][0]["delta"].get("content")
                if delta:
                    chunks += 1
                    first_token = first_token or time.monotonic() - started
    if not chunks:
        raise CheckFailed("streaming /v1/chat/completions returned no text")
    return f"Letta {LETTA_VERSION}, streamed {chunks} chunks, first token {first_token:.2f}s"


async def check_session(ctx: SmokeContext) -> str:
    session = await ctx.new_session()
    missing = {"url", "token", "room", "identity", "expires_at"} - set(session)
    if missing:
        raise CheckFailed(f"session response lacks {sorted(missing)}")
    ctx.session = session
    return f"room {session['room']}"


async def check_dispatch_human_first(ctx: SmokeContext) -> str:
    if ctx.session is None:
        raise CheckFailed("no session (previous check failed)")
    started = time.monotonic()
    human = await ctx.join(ctx.session)
    await until(human.agent, 30, "the agent to join")
    elapsed = time.monotonic() - started
    ctx.human = human
    limit = ctx.settings.smoke.dispatch_limit
    if elapsed > limit:
        raise CheckFailed(f"agent joined after {elapsed:.2f}s (limit SMOKE_DISPATCH_LIMIT={limit:g}s)")
    return f"agent joined {elapsed:.2f}s after the human (limit SMOKE_DISPATCH_LIMIT={limit:g}s)"


async def check_agent_first(ctx: SmokeContext) -> str:
    s = ctx.settings
    session = await ctx.new_session()
    async with livekit_api(s) as lk:
        await poll(lambda: our_agents(lk, s, session["room"]), 30, "the agent to join the empty room")
    human = await ctx.join(session)
    if human.agent() is None:
        raise CheckFailed("the agent was in the room but not in remote_participants after connect()")
    return "agent already in the room was seen right after connect()"


async def check_audio_round_trip(ctx: SmokeContext) -> str:
    human = ctx.human
    if human is None:
        raise CheckFailed("no connected session (previous check failed)")
    with tempfile.TemporaryDirectory() as tmp:
        pcm = espeak_wav("my name is Ada", Path(tmp) / "ada.wav")
    if ctx.settings.agent.greeting.strip():
        # Speak after the greeting, as a person would: "listening" is reported before the greeting starts.
        await until(lambda: human.loud_frames > 10, 60, "the greeting to be heard")
    await until(lambda: human.agent_state() == "listening", 60, "the agent to listen")
    spoke_at = time.monotonic()
    human.say_pcm(pcm)
    heard = lambda: _mentions(human.user_text(), ("name", "ada"))  # noqa: E731 (the human's own transcript)
    await until(heard, REPLY_S, lambda: f"a transcript of the speech sent as the human's: {human.transcripts}")
    # Only agent audio of a reply counts: the spoken sorry (Letta down or slow) is no answer.
    await until(
        lambda: human.reply_frames(spoke_at) > 10,
        REPLY_S,
        lambda: f"the agent's spoken reply (not a fallback line); it said {human.agent_text()[:120]!r}",
    )
    return (
        f"heard: {human.user_text()[:40]!r}; replied: {human.agent_text()[-60:]!r};"
        f" reply audio frames {human.reply_frames(spoke_at)}"
    )


async def check_recovery_removes_ghost(ctx: SmokeContext) -> str:
    """A client that opens its signal connection and never sets up media stays listed; the sidecar removes it."""
    s = ctx.settings
    if not ctx.rooms:
        raise CheckFailed("no session room (previous check failed)")
    room, identity = ctx.rooms[-1], f"smoke-ghost-{uuid.uuid4().hex[:6]}"
    url = f"{s.livekit.url}/rtc?access_token={human_token(s, room, identity)}&protocol=15&sdk=python"
    deadline = s.recovery.inactive_participant_after + 3 * s.recovery.sweep_interval + 15
    started = time.monotonic()
    async with aiohttp.ClientSession() as http, http.ws_connect(url), livekit_api(s) as lk:

        async def listed() -> bool:
            res = await lk.room.list_participants(api.ListParticipantsRequest(room=room))
            return any(p.identity == identity for p in res.participants)

        await poll(listed, 15, "the ghost to be listed")
        await poll(lambda: _negate(listed), deadline, "the recovery sidecar to remove the ghost")
    threshold = s.recovery.inactive_participant_after
    return f"ghost removed after {time.monotonic() - started:.1f}s (threshold {threshold:.0f}s)"


async def _negate(condition: Callable[[], Awaitable[bool]]) -> bool:
    return not await condition()


def _mentions(text: str, words: tuple[str, ...]) -> bool:
    return any(w in text for w in words)


CLEANUP_S = 20.0  # LiveKit closes a deleted room at once; the wait covers a loaded machine


async def cleanup(ctx: SmokeContext) -> str:
    """End every session smoke made, delete its rooms and the throwaway agent; then check they are gone."""
    for human in ctx.humans:
        await human.leave()
    async with livekit_api(ctx.settings) as lk:
        for room in ctx.rooms:
            await ctx.http.delete(f"{ctx.settings.web.base_url}/api/sessions/{room}")
            with contextlib.suppress(api.TwirpError):  # already gone: the DELETE above or LiveKit closed it
                await lk.room.delete_room(api.DeleteRoomRequest(room=room))
        if ctx.letta_agent_id:
            await asyncio.to_thread(letta_client(ctx.settings).agents.delete, ctx.letta_agent_id)

        async def leftovers() -> list[str]:
            listed = await lk.room.list_rooms(api.ListRoomsRequest(names=ctx.rooms)) if ctx.rooms else None
            left = [f"room {r.name}" for r in (listed.rooms if listed else [])]
            left += [f"connection {h.identity}" for h in ctx.humans if h.room.isconnected()]
            if ctx.letta_agent_id:
                agents = await asyncio.to_thread(lambda: list(letta_client(ctx.settings).agents.list(limit=1000)))
                left += [f"Letta agent {a.id}" for a in agents if a.id == ctx.letta_agent_id]
            return left

        try:
            await poll(lambda: _negate(leftovers), CLEANUP_S, "what smoke made to be gone")
        except AssertionError:
            raise CheckFailed(f"still there after {CLEANUP_S:.0f}s: {', '.join(await leftovers())}") from None
    agent = " and the throwaway agent" if ctx.letta_agent_id else ""
    return f"removed {len(ctx.rooms)} room(s){agent}; checked: none of them is left"


CHECKS: list[tuple[str, Check]] = [
    ("health endpoints", check_health),
    ("Letta contract", check_letta_contract),
    ("session through the web API", check_session),
    ("dispatch (human first)", check_dispatch_human_first),
    ("audio round trip", check_audio_round_trip),
    # a second session for the same assistant takes the first one over (one live session per assistant)
    ("dispatch (agent first)", check_agent_first),
    ("recovery removes a ghost", check_recovery_removes_ghost),
]
