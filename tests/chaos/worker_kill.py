"""The worker-kill scenario, as the person in the room lives it: SIGKILL of the worker that serves the session,
then the time until a new agent's voice is heard (used by the chaos tests and `make bench`)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import urllib.request
from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families

from services.agent.probe import Human, default_agent_id, human_with_agent, our_agents, poll, until
from services.agent.server import program_name, registration_path
from services.shared.livekit import LETTA_AGENT_ATTRIBUTE
from services.shared.settings import Settings
from services.stack.supervisor import Supervisor

JOIN_TIMEOUT = 60.0  # the first agent joining (dispatch + job start on a shared 2-core machine)
HEAL_TIMEOUT = 90.0  # functional deadline for a new agent's voice after the kill; the speed goal is in make bench
HOLD_S = 3.0  # how long "exactly one agent" must keep holding after the heal


@dataclass(frozen=True)
class Heal:
    """Seconds from the SIGKILL until each was first seen."""

    dead_agent_gone: float  # the killed worker's agent no longer listed
    new_agent_joined: float
    voice_heard: float  # the person hears the new agent (its greeting)
    worker_registered: float | None  # the killed worker registered again (one-worker case)
    killed: str  # the program killed


def sidecar_actions(settings: Settings, rule: str) -> float:
    """How many actions of `rule` the running recovery sidecar has carried out (its /metrics)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{settings.recovery.port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "lvs_recovery_actions_total" and sample.labels == {"rule": rule, "outcome": "done"}
    )


def serving_worker(settings: Settings) -> str:
    """The worker program that runs a job now (each worker's GET /worker reports its active jobs)."""
    busy = {}
    for i in range(settings.agent.workers):
        try:
            info = httpx.get(f"http://127.0.0.1:{settings.agent.instance_port(i)}/worker", timeout=5).json()
        except httpx.ConnectError:
            continue  # a stopped worker serves nothing
        busy[program_name(i)] = float(info.get("active_jobs", 0))
    serving = [name for name, jobs in busy.items() if jobs > 0]
    assert len(serving) == 1, f"expected exactly one busy worker, got {busy}"
    return serving[0]


def registered_at(settings: Settings, name: str) -> float | None:
    """Wall-clock time the worker program wrote its registration marker (None: not registered)."""
    instance = 0 if name == "agent" else int(name.rsplit("-", 1)[1]) - 1
    path = registration_path(settings, instance)
    try:
        pid = json.loads(path.read_text())["pid"]
        os.kill(pid, 0)
    except (OSError, ValueError, KeyError):
        return None
    return path.stat().st_mtime


async def hold_one_agent(human: Human, settings: Settings, lk: object) -> None:
    """Exactly one agent of ours stays in the room for HOLD_S (sampled until then, never a sleep-and-hope)."""
    end = time.monotonic() + HOLD_S
    while time.monotonic() < end:
        agents = await our_agents(lk, settings, human.room_name)  # type: ignore[arg-type]
        assert len(agents) == 1, f"{len(agents)} agents of ours in the room after the heal"
        await asyncio.sleep(0.2)


async def kill_serving_worker(settings: Settings) -> Heal:
    """Open a session, wait for the agent's greeting to end, kill -9 its worker, wait for a new agent's voice."""
    letta_id = default_agent_id(settings)
    async with human_with_agent(settings, letta_id) as (lk, human):
        first = await poll(lambda: our_agents(lk, settings, human.room_name), JOIN_TIMEOUT, "the first agent")
        old_sid = first[0].sid
        await until(lambda: human.agent_state() == "listening" and human.loud_frames > 0, JOIN_TIMEOUT, "greeting")
        name = serving_worker(settings)
        os.kill(Supervisor(settings).info()[name].pid, signal.SIGKILL)
        killed, killed_wall = time.monotonic(), time.time()
        gone = joined = heard = None
        while time.monotonic() - killed < HEAL_TIMEOUT:
            agents = await our_agents(lk, settings, human.room_name)
            now = time.monotonic() - killed
            if gone is None and all(a.sid != old_sid for a in agents):
                gone = now
            fresh = [a for a in agents if a.sid != old_sid]
            if joined is None and fresh:
                joined = now
                assert dict(fresh[0].attributes).get(LETTA_AGENT_ATTRIBUTE) == letta_id, "a different Letta agent"
            if joined is not None and (t := human.first_loud_after(killed + joined)) is not None:
                heard = t - killed
                break
            await asyncio.sleep(0.1)
        assert heard is not None and gone is not None and joined is not None, (
            f"no new agent voice within {HEAL_TIMEOUT:.0f}s of killing {name}: dead agent gone at {gone}, new agent at"
            f" {joined}"
        )
        await hold_one_agent(human, settings, lk)
        back = registered_at(settings, name)
        return Heal(gone, joined, heard, None if back is None else back - killed_wall, name)
