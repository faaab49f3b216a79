"""Scale-out in compose (run by scripts/test-compose.sh with AGENT_WORKERS=2 and LIVEKIT_NODES=2 in .env).

Two agent replicas of one service claim their own worker index (ports AGENT_PORT + 100*i) and register under
the one agent name; the scale profile's Redis and second livekit-server node share the rooms. Sessions made
through the web service get agents on both nodes, and a replica killed mid-session (and kept down) leaves
its room to the other replica, re-dispatched by the recovery sidecar. Each scenario prints a figure
("compose figure: …").
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from services.agent.probe import Human, human_with_agent, our_agents, poll, until
from services.agent.server import program_name
from services.recovery.sweeper import says_registered
from services.shared.letta import letta_client
from services.shared.letta_agents import create_voice_agent
from services.shared.livekit import LETTA_AGENT_ATTRIBUTE, WORKER_ATTRIBUTE, livekit_api
from services.shared.settings import Settings, get_settings
from tests.compose.helpers import PROJECT, compose_cmd, docker, explain, logged_in, require_healthy
from tests.helpers import eventually

pytestmark = pytest.mark.compose

JOIN_S = 90.0  # an agent joining a room (dispatch + job start on a shared 2-core machine)
HEAL_S = 90.0  # the dead agent noticed, the room re-dispatched to the other replica, its job started
START_S = 180.0  # a stopped replica started again and healthy


def replicas(service: str) -> list[str]:
    """Container names of every replica of ``service``, running or not."""
    out = docker(
        "ps", "-a", "--format", "{{.Names}}",
        "--filter", f"label=com.docker.compose.project={PROJECT}",
        "--filter", f"label=com.docker.compose.service={service}",
    )  # fmt: skip
    return sorted(out.stdout.split())


def claimed_index(name: str) -> int | None:
    """The worker index the agent in container ``name`` claimed (services/agent/slots.py)."""
    out = docker("exec", name, "cat", "/var/lib/lvs/run/agent.instance")
    return int(out.stdout.strip()) if out.returncode == 0 and out.stdout.strip().isdigit() else None


def container_healthy(name: str) -> bool:
    out = docker("inspect", "--format", "{{.State.Running}} {{.State.Health.Status}}", name)
    return out.stdout.strip() == "true healthy"


def registered(settings: Settings, index: int) -> bool:
    """Worker ``index`` reports on its /metrics that livekit-server registered it (what the sidecar reads)."""
    url = f"http://127.0.0.1:{settings.agent.instance_metrics_port(index)}/metrics"
    try:
        return says_registered(httpx.get(url, timeout=5).text)
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def settings() -> Settings:
    settings = get_settings()
    assert settings.agent.workers == 2 and settings.livekit.nodes == 2, "run with AGENT_WORKERS=2 LIVEKIT_NODES=2"
    require_healthy("livekit", "livekit-2", "redis", "letta", "web", "recovery")
    return settings


@pytest.fixture(scope="module")
def letta_agent(settings: Settings) -> Iterator[str]:
    client = letta_client(settings, timeout=60)
    agent = create_voice_agent(client, settings, f"compose-scale-{uuid.uuid4().hex[:8]}", "I am brief.", "A tester.")
    yield agent.id
    with contextlib.suppress(Exception):
        letta_client(settings, timeout=60).agents.delete(agent.id)


def test_both_agent_replicas_claim_their_own_worker_and_register(settings: Settings) -> None:
    """Two replicas of the agent service: worker indexes 0 and 1, both healthy and registered, both in status"""
    names = replicas("agent")
    assert len(names) == 2, f"agent replicas: {names}"
    try:
        eventually(lambda: all(container_healthy(n) for n in names), START_S, what=f"{names} healthy")
        indexes = {name: claimed_index(name) for name in names}
        assert sorted(indexes.values(), key=str) == [0, 1], f"claimed worker indexes: {indexes}"
        for index in (0, 1):
            eventually(lambda i=index: registered(settings, i), JOIN_S, what=f"worker {index} registered")
    except AssertionError as error:
        raise explain(error, "agent", "livekit") from None
    status = subprocess.run(
        [*compose_cmd(), "--profile", "scale", "ps", "--format", "json", "agent"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    rows = [json.loads(line) for line in status.stdout.splitlines() if line.strip()]
    assert [r["Health"] for r in rows] == ["healthy", "healthy"], status.stdout + status.stderr
    print(f"compose figure: agent replicas {indexes} (container -> worker index), both registered", flush=True)


def test_sessions_on_both_livekit_nodes_get_agents(settings: Settings, letta_agent: str) -> None:
    """Scale profile: a session joined through each livekit node gets an agent; both nodes see the room"""
    node_urls = [settings.livekit.node_url(i) for i in range(2)]
    figures = []

    async def session_on(web: httpx.Client, node: int) -> str:
        resp = web.post("/api/sessions", json={"agent_id": letta_agent, "takeover": True})
        assert resp.status_code in (200, 201), resp.text
        session = resp.json()
        assert session["url"] in node_urls, f"the web service handed out {session['url']}, not a node URL"
        human = Human(settings, session["room"], identity=session["identity"])
        started = time.monotonic()
        try:
            # joined through the node under test (a load balancer could send the person to either one)
            await human.join(node_urls[node], session["token"])
            agent = await until(human.agent, JOIN_S, f"an agent in the session joined through node {node + 1}")
            joined = time.monotonic() - started
            assert agent.attributes.get(LETTA_AGENT_ATTRIBUTE) == letta_agent, "a different Letta agent"
            worker = agent.attributes.get(WORKER_ATTRIBUTE)
            assert worker in {program_name(0), program_name(1)}, f"agent of an unknown worker: {worker}"
            for other in range(2):  # the room is the cluster's: every node's server API lists it
                async with livekit_api(settings, settings.livekit.node_http_url(other)) as lk:
                    assert await our_agents(lk, settings, session["room"]), f"node {other + 1} does not see it"
            return f"node {node + 1}: agent ({worker}) {joined:.1f} s after joining"
        finally:
            await human.leave()
            web.delete(f"/api/sessions/{session['room']}")

    try:
        with logged_in(settings) as web:
            for node in (0, 1):
                figures.append(asyncio.run(session_on(web, node)))
    except AssertionError as error:
        raise explain(error, "livekit", "livekit-2", "agent", "web") from None
    print(f"compose figure: {'; '.join(figures)}", flush=True)


def test_a_replica_killed_mid_session_leaves_its_room_to_the_other(settings: Settings, letta_agent: str) -> None:
    """docker kill of the replica serving a session (kept down): the other replica's agent takes the room"""
    by_index = {claimed_index(name): name for name in replicas("agent")}
    assert set(by_index) == {0, 1}, f"claimed worker indexes: {by_index}"

    async def scenario() -> tuple[str, str, str]:
        async with human_with_agent(settings, letta_agent) as (lk, human):
            first = await poll(lambda: our_agents(lk, settings, human.room_name), JOIN_S, "the first agent")
            worker = dict(first[0].attributes).get(WORKER_ATTRIBUTE, "")
            index = 0 if worker == program_name(0) else 1
            victim, survivor = by_index[index], by_index[1 - index]
            # a manual kill: the restart policy leaves it down, so only the other replica can take the room
            killed_at = time.monotonic()
            out = await asyncio.to_thread(docker, "kill", "--signal", "KILL", victim)
            assert out.returncode == 0, out.stderr

            async def fresh() -> list[object]:
                return [a for a in await our_agents(lk, settings, human.room_name) if a.sid != first[0].sid]

            new = await poll(fresh, HEAL_S, "an agent of the other replica in the room")
            healed = time.monotonic() - killed_at
            attrs = dict(new[0].attributes)  # type: ignore[attr-defined]
            assert attrs.get(WORKER_ATTRIBUTE) == program_name(1 - index), f"healed by {attrs.get(WORKER_ATTRIBUTE)}"
            assert attrs.get(LETTA_AGENT_ATTRIBUTE) == letta_agent, "a different Letta agent"
            await until(human.agent, JOIN_S, "the person to see the new agent")
            return victim, survivor, f"{worker} killed; {program_name(1 - index)} in the room {healed:.1f} s after"

    victim = ""
    try:
        victim, survivor, figure = asyncio.run(scenario())
        assert container_healthy(survivor), f"{survivor} is not healthy after taking the room"
    except AssertionError as error:
        raise explain(error, "agent", "recovery") from None
    finally:
        for name in replicas("agent"):
            if name == victim or not container_healthy(name):
                docker("start", name)
    eventually(lambda: all(container_healthy(n) for n in replicas("agent")), START_S, what="both replicas healthy")
    print(f"compose figure: {figure}", flush=True)
