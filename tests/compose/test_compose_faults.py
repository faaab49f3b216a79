"""Faults against the running compose stack (run by scripts/test-compose.sh after `make smoke MODE=compose`).

Each scenario prints a figure ("compose figure: …", recorded in docs/benchmarks.md): the agent container's
main process SIGKILLed mid-session, the livekit container restarted, `make down && make up` in compose mode
with a word told before, and `make backup`/`make restore` in compose mode. A failure names the container
and shows its last log lines. The tests talk to the containers from this machine (host networking): the
settings come from the same `.env` the containers read.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import re
import secrets
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from services.agent.probe import Human, human_with_agent, our_agents, poll, until
from services.shared.letta import letta_client
from services.shared.letta_agents import create_voice_agent
from services.shared.livekit import LETTA_AGENT_ATTRIBUTE
from services.shared.settings import Settings, get_settings
from services.stack.health import probe
from tests.compose.helpers import (
    PROJECT,
    ROOT,
    UP_S,
    container,
    docker,
    explain,
    healthy,
    logged_in,
    logs,
    make,
    require_healthy,
    script,
    state,
)
from tests.helpers import ask_letta, eventually

pytestmark = pytest.mark.compose

JOIN_S = 90.0  # an agent joining a room (dispatch + job start on a shared 2-core machine)
HEAL_S = 150.0  # the agent container restarted, registered again, and the room re-dispatched


@pytest.fixture(scope="module")
def settings() -> Settings:
    require_healthy("livekit", "letta-db", "letta", "agent", "web", "recovery")
    return get_settings()


@pytest.fixture(scope="module")
def web(settings: Settings) -> Iterator[httpx.Client]:
    """A logged-in client of the web service, with a throwaway admin account made in the web container."""
    with logged_in(settings) as client:
        yield client


@pytest.fixture(scope="module")
def letta_agent(settings: Settings) -> Iterator[str]:
    """A throwaway voice agent for the sessions of these tests (deleted at the end)."""
    client = letta_client(settings, timeout=60)
    agent = create_voice_agent(client, settings, f"compose-faults-{uuid.uuid4().hex[:8]}", "I am brief.", "A tester.")
    yield agent.id
    with contextlib.suppress(Exception):
        letta_client(settings, timeout=60).agents.delete(agent.id)


def test_letta_db_asks_every_connection_for_its_password(settings: Settings) -> None:
    """With host networking 127.0.0.1 is the VM's: the image's initdb default (trust) let any local user in."""
    require_healthy("letta-db")
    pg = settings.postgres

    def psql(password: str, *where: str) -> subprocess.CompletedProcess[str]:
        command = ["psql", *where, "-p", str(pg.port), "-U", pg.user, "-d", pg.db, "-w", "-qtAc", "SELECT 1"]
        return docker("exec", "-u", "postgres", "-e", f"PGPASSWORD={password}", container("letta-db"), *command)

    for where in (["-h", "127.0.0.1"], []):  # TCP on loopback (the VM's), then the container's socket
        refused = psql("", *where)
        assert refused.returncode != 0 and "password" in refused.stderr, (where, refused.stdout, refused.stderr)
        wrong = psql("not-the-password", *where)
        assert wrong.returncode != 0 and "password authentication failed" in wrong.stderr, (where, wrong.stderr)
        right = psql(pg.password.get_secret_value(), *where)
        assert right.returncode == 0 and right.stdout.strip() == "1", (where, right.stderr)
    print("compose figure: letta-db refuses no password and a wrong one on 127.0.0.1 and its socket", flush=True)


CONTAINER_ID = re.compile(r"[0-9a-f]{64}")


def container_of(pid: int, ours: set[str]) -> str | None:
    """The container of ours a host process runs in (from its cgroup path), or None."""
    try:
        found = CONTAINER_ID.findall(Path(f"/proc/{pid}/cgroup").read_text())
    except OSError:
        return None
    return next((cid for cid in found if cid in ours), None)


def test_nothing_of_ours_listens_beyond_loopback_but_livekits_media(settings: Settings) -> None:
    """With host networking every container's socket is the VM's: only livekit's ICE/TCP ports may face the
    network here (Caddy's 80/443 come with the tls profile). Letta's startup.sh would put a Redis without a
    password on 0.0.0.0:6379; config/letta-entry.sh keeps it on loopback."""
    ids = docker("ps", "-q", "--no-trunc", "--filter", f"label=com.docker.compose.project={PROJECT}").stdout
    ours = set(ids.split())
    assert ours, "no container of the project is running"
    listening = [
        (ipaddress.ip_address(c.laddr.ip), c.laddr.port, proc_name(c.pid))
        for c in psutil.net_connections(kind="tcp")
        if c.status == psutil.CONN_LISTEN and c.pid and container_of(c.pid, ours)
    ]
    lk = settings.livekit
    media = {lk.rtc_tcp_port, lk.rtc_tcp_port + 100}  # node 1 and, in the scale profile, node 2
    facing = sorted(str(x) for x in listening if not x[0].is_loopback and x[1] not in media)
    assert facing == [], f"listening beyond loopback: {facing}"
    redis = [ip for ip, port, _ in listening if port == int(os.environ.get("LETTA_REDIS_PORT", "6389"))]
    assert redis and all(ip.is_loopback for ip in redis), f"Letta's Redis is not on loopback: {redis}"
    print(f"compose figure: {len(listening)} TCP listeners of ours, beyond loopback only livekit's ICE/TCP")


def proc_name(pid: int) -> str:
    with contextlib.suppress(psutil.Error):
        return psutil.Process(pid).name()
    return "?"


def test_agent_container_killed_mid_session_comes_back_and_the_room_has_an_agent_again(
    settings: Settings, letta_agent: str
) -> None:
    """SIGKILL of the agent container's main process mid-session"""

    async def scenario() -> str:
        async with human_with_agent(settings, letta_agent) as (lk, human):
            first = await poll(lambda: our_agents(lk, settings, human.room_name), JOIN_S, "the first agent")
            old_sid = first[0].sid
            before = state("agent")
            os.kill(int(before["pid"]), signal.SIGKILL)  # the container's main process, from the host
            killed = time.monotonic()
            running = healthy_at = None
            fresh: list[object] = []
            while time.monotonic() - killed < HEAL_S:
                now = time.monotonic() - killed
                st = await asyncio.to_thread(state, "agent")
                if running is None and st["restarts"] > before["restarts"] and st["running"]:
                    running = now
                if running is not None and healthy_at is None and st["health"] == "healthy":
                    healthy_at = now
                agents = await our_agents(lk, settings, human.room_name)
                fresh = [a for a in agents if a.sid != old_sid]
                if fresh and running is not None:
                    break
                await asyncio.sleep(0.25)
            assert running is not None, f"the restart policy did not bring the agent container back in {HEAL_S:.0f}s"
            assert fresh, f"no new agent in the waiting person's room {HEAL_S:.0f}s after the kill"
            joined = time.monotonic() - killed
            assert dict(fresh[0].attributes).get(LETTA_AGENT_ATTRIBUTE) == letta_agent, "a different Letta agent"
            await until(human.agent, JOIN_S, "the person to see the new agent")
            health = "not yet" if healthy_at is None else f"{healthy_at:.1f} s"
            return (
                f"container running again {running:.1f} s after the kill (RestartCount {before['restarts']} ->"
                f" {state('agent')['restarts']}), healthy {health},"
                f" new agent in the waiting person's room {joined:.1f} s after the kill"
            )

    try:
        figure = asyncio.run(scenario())
    except AssertionError as error:
        raise explain(error, "agent", "recovery") from None
    eventually(lambda: healthy("agent"), JOIN_S, what=f"{container('agent')} healthy again")
    print(f"compose figure: {figure}", flush=True)


def test_livekit_container_restarted_a_new_session_works(
    settings: Settings, web: httpx.Client, letta_agent: str
) -> None:
    """livekit container restarted: a new session works"""
    started = time.monotonic()
    restarted = docker("restart", container("livekit"), timeout=120)
    assert restarted.returncode == 0, explain(AssertionError(restarted.stderr), "livekit")
    try:
        eventually(lambda: healthy("livekit"), 90, what=f"{container('livekit')} healthy")
    except AssertionError as error:
        raise explain(error, "livekit") from None
    back = time.monotonic() - started

    def new_session() -> dict[str, str] | None:
        resp = web.post("/api/sessions", json={"agent_id": letta_agent, "takeover": True})
        return resp.json() if resp.status_code in (200, 201) else None

    async def join(session: dict[str, str]) -> float:
        human = Human(settings, session["room"], identity=session["identity"])
        try:
            await human.join(session["url"], session["token"])
            await until(human.agent, JOIN_S, "the agent in the new session")
            return time.monotonic() - started
        finally:
            await human.leave()
            web.delete(f"/api/sessions/{session['room']}")

    try:
        session = eventually(new_session, JOIN_S, interval=1.0, what="POST /api/sessions to succeed again")
        joined = asyncio.run(join(session))
    except AssertionError as error:
        raise explain(error, "livekit", "agent", "web") from None
    print(
        f"compose figure: livekit container healthy {back:.1f} s after `docker restart`; agent in a new session"
        f" {joined:.1f} s after the restart",
        flush=True,
    )


def said(settings: Settings, agent_id: str) -> str:
    """Every message text of the agent's history, through Letta's API."""
    texts = []
    for message in letta_client(settings, timeout=60).agents.messages.list(agent_id, limit=100):
        content = getattr(message, "content", None)
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts += [getattr(part, "text", "") or "" for part in content]
    return "\n".join(texts)


def test_backup_and_restore_round_trip_in_compose_mode(settings: Settings, tmp_path: Path) -> None:
    """`make backup` / `make restore` in compose mode round-trip"""
    client = letta_client(settings, timeout=60)
    marker = f"compose-backup-{uuid.uuid4().hex[:10]}"
    agent = create_voice_agent(client, settings, f"lvs-{marker}", "I am a test persona.", f"The word is {marker}.")
    dump = tmp_path / "letta.dump"
    safety_before = set((ROOT / "backups").glob("letta-before-restore-*.dump"))
    try:
        started = time.monotonic()
        backup = script("backup.sh", f"FILE={dump}")
        assert backup.returncode == 0, backup.stdout + backup.stderr + logs("letta-db")
        backed = time.monotonic() - started
        assert dump.stat().st_size > 0 and dump.stat().st_mode & 0o077 == 0, "the dump must be owner-only"
        client.agents.delete(agent.id)
        assert agent.id not in {a.id for a in client.agents.list(limit=1000)}
        started = time.monotonic()
        restored = script("restore.sh", f"FILE={dump}", env={"CONFIRM": "yes"})
        assert restored.returncode == 0, restored.stdout + restored.stderr + logs("letta-db") + logs("letta")
        eventually(
            lambda: agent.id in {a.id for a in letta_client(settings).agents.list(limit=1000)},
            120,
            interval=1.0,
            what="the agent back in Letta after the restore",
        )
        back = time.monotonic() - started
        blocks = {b.label: b.value for b in letta_client(settings).agents.blocks.list(agent.id)}
        assert marker in blocks.get("human", ""), blocks
        eventually(lambda: healthy("letta"), 120, what=f"{container('letta')} healthy after the restore")
    except AssertionError as error:
        raise explain(error, "letta", "letta-db") from None
    finally:
        for path in set((ROOT / "backups").glob("letta-before-restore-*.dump")) - safety_before:
            path.unlink()  # the safety dump this test caused
        with contextlib.suppress(Exception):
            letta_client(settings, timeout=60).agents.delete(agent.id)
    print(
        f"compose figure: backup {backed:.1f} s ({dump.stat().st_size // 1024} KiB); restore until the agent is back"
        f" {back:.1f} s",
        flush=True,
    )


@pytest.mark.timeout(UP_S + 300)
def test_down_and_up_keep_the_letta_agent_and_a_word_told_before(settings: Settings, letta_agent: str) -> None:
    """`make down && make up` in compose mode: the Letta agent and a word told before are still there"""
    word = f"zebra{secrets.token_hex(3)}"
    ask_letta(settings, letta_agent, f"Please remember this word: {word}.", timeout=180)
    assert word in said(settings, letta_agent), "the word is not in the agent's history before the restart"
    volumes_before = set(docker("volume", "ls", "-q").stdout.split())
    started = time.monotonic()
    down = make("down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert not docker("ps", "-q", "--filter", f"label=com.docker.compose.project={PROJECT}").stdout.strip()
    assert volumes_before <= set(docker("volume", "ls", "-q").stdout.split()), "make down removed a volume"
    up = make("up")
    assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
    took = time.monotonic() - started
    try:
        assert probe_letta(settings), "Letta does not answer after make up"
        ids = {a.id for a in letta_client(settings, timeout=60).agents.list(limit=1000)}
        assert letta_agent in ids, f"the agent {letta_agent} is gone after make down && make up"
        assert word in said(settings, letta_agent), f"the word '{word}' is gone from the agent's history"
    except AssertionError as error:
        raise explain(error, "letta", "letta-db") from None
    print(f"compose figure: make down && make up MODE=compose {took:.0f} s; agent and word '{word}' kept", flush=True)


def probe_letta(settings: Settings) -> bool:
    from services.stack.programs import Health

    return eventually(
        lambda: probe(Health("http", f"{settings.letta.base_url}/v1/health/")), 120, what="Letta's health"
    )
