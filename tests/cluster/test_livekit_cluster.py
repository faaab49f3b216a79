"""LiveKit's distributed mode for real: two livekit-server nodes sharing Redis, a worker on each, two sidecars.

The test runs its own cluster beside the stack under test (which keeps its one node and its ports): Redis, two
nodes, two agent workers and two recovery sidecars, on ports 50 above the stack's own, with the configuration
rendered by the product's code for LIVEKIT_NODES=2 (services/stack/render.py, programs.py). Only the stack's
Letta is shared (the agents' brain). Sessions on both nodes get agents (dispatched through node 1, routed
through Redis); an orphaned session is healed exactly once by two sidecars (one holds the lease); node 1
stopped: its client is told, node 2's session has its agent, a new session works there, and the sidecar
moved its server API to node 2.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from livekit import api, rtc

from services.agent.probe import Human, default_agent_id, delete_room, dispatch, our_agents, poll, until
from services.shared.livekit import WORKER_ATTRIBUTE, NodeHealth, api_url, livekit_api, room_metadata
from services.shared.settings import Settings
from services.stack.health import marker_alive, probe, wait_for
from services.stack.programs import REDIS_SERVER, livekit_nodes
from services.stack.render import livekit_config_name, livekit_yaml, redis_conf, write_private
from tests.helpers import eventually

pytestmark = [pytest.mark.stack, pytest.mark.cluster]
OFFSET = 50  # the cluster's ports: the stack's + 50 (node 2: + 150), clear of the stack's nodes and workers
START_S = 120.0  # services of the cluster healthy / workers registered (busy 2-core machine)
AGENT_S = 60.0
TOLD_S = 30.0
LEASE_TTL_S = 4.0
STOP_S = 30.0


@dataclass
class Cluster:
    settings: Settings  # LIVEKIT_NODES=2 on the cluster's ports
    folder: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    node_ids: list[str] = field(default_factory=list)

    def log(self, name: str, lines: int = 30) -> str:
        path = self.folder / f"{name}.log"
        text = path.read_text(errors="replace").splitlines()[-lines:] if path.exists() else ["(no log)"]
        return f"--- {name} ---\n" + "\n".join(text)

    def logs(self, *names: str) -> str:
        return "\n".join(self.log(n) for n in (names or self.procs))

    def start(self, name: str, command: list[str], env: dict[str, str] | None = None) -> None:
        out = (self.folder / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)

    def stop(self, name: str, *signals: signal.Signals) -> bool:
        """Signal the process and wait; killed after STOP_S. True when it exited by itself."""
        proc = self.procs[name]
        for sig in signals or (signal.SIGTERM,):
            if proc.poll() is None:
                proc.send_signal(sig)
        try:
            proc.wait(timeout=STOP_S)
            return True
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=STOP_S)
            return False

    def force_stop(self, name: str) -> bool:
        """SIGTERM twice: the first makes livekit-server drain (it waits for every participant to leave), the
        second closes its rooms at once. Go keeps one pending signal: the second waits until the first is read."""
        log = self.folder / f"{name}.log"
        requests = lambda: log.read_text(errors="replace").count("exit requested, shutting down")  # noqa: E731
        seen = requests()
        self.procs[name].send_signal(signal.SIGTERM)
        if not wait_for(lambda: requests() > seen, STOP_S, interval=0.1):
            raise AssertionError(f"{name} did not take the first SIGTERM\n{self.log(name)}")
        return self.stop(name, signal.SIGTERM)

    def api(self, node: int = 0) -> api.LiveKitAPI:
        lk = self.settings.livekit
        return api.LiveKitAPI(lk.node_http_url(node), lk.api_key, lk.api_secret.get_secret_value())


ROOT = Path(__file__).resolve().parents[2]


def cluster_settings(stack: Settings, folder: Path) -> Settings:
    """The stack's settings moved to the cluster's ports, two nodes, state under ``folder``."""
    lk = stack.livekit
    livekit = lk.model_copy(
        update={
            "nodes": 2,
            "port": lk.port + OFFSET,
            "url": f"ws://127.0.0.1:{lk.port + OFFSET}",
            "public_url": None,
            "rtc_udp_port": lk.rtc_udp_port + OFFSET,
            "rtc_tcp_port": lk.rtc_tcp_port + OFFSET,
        }
    )
    return stack.model_copy(
        update={
            "stack": stack.stack.model_copy(update={"dir": folder, "cache_dir": stack.stack.cache}),
            "livekit": livekit,
            "redis": stack.redis.model_copy(update={"port": stack.redis.port + 1, "lease_ttl": LEASE_TTL_S}),
            "agent": stack.agent.model_copy(
                update={"port": stack.agent.port + OFFSET, "metrics_port": stack.agent.metrics_port + OFFSET}
            ),
            "recovery": stack.recovery.model_copy(update={"port": stack.recovery.port + OFFSET}),
        }
    )


def service_env(cs: Settings, **extra: str) -> dict[str, str]:
    """Environment of a worker or sidecar of the cluster (it overrides `.env`; secrets come from the stack's)."""
    lk, rd = cs.livekit, cs.redis
    env = dict(os.environ)
    env |= {
        "LIVEKIT_NODES": str(lk.nodes),
        "LIVEKIT_URL": lk.url,
        "LIVEKIT_PORT": str(lk.port),
        "LIVEKIT_RTC_UDP_PORT": str(lk.rtc_udp_port),
        "LIVEKIT_RTC_TCP_PORT": str(lk.rtc_tcp_port),
        "REDIS_PORT": str(rd.port),
        "REDIS_PASSWORD": rd.password.get_secret_value() if rd.password else "",
        "REDIS_LEASE_TTL": str(rd.lease_ttl),
        "STACK_DIR": str(cs.stack.dir),
        "STACK_CACHE_DIR": str(cs.stack.cache),
        "AGENT_WORKERS": "2",
        "AGENT_PORT": str(cs.agent.port),
        "AGENT_METRICS_PORT": str(cs.agent.metrics_port),
        # Routing is under test, not speech: the light providers start jobs fastest on a busy machine.
        "AGENT_STT": "sphinx",
        "AGENT_TTS": "espeak",
        "AGENT_NUM_IDLE_PROCESSES": "1",
        "RECOVERY_PORT": str(cs.recovery.port),
        "RECOVERY_SWEEP_INTERVAL": "1",
        "PYTHONUNBUFFERED": "1",
    }
    return env | extra


NODE_ID = re.compile(r'"msg":"starting LiveKit server".*?"portHttp":(\d+).*?"nodeID":"([A-Za-z0-9_]+)"')


def node_id(log: Path, port: int) -> str | None:
    """The node id livekit-server logged at start (the cluster's Redis knows nodes by it)."""
    if not log.exists():
        return None
    for match in NODE_ID.finditer(log.read_text(errors="replace")):
        if int(match.group(1)) == port:
            return match.group(2)
    return None


def sidecar_health(cs: Settings, i: int) -> dict[str, object] | None:
    try:
        return httpx.get(f"http://127.0.0.1:{cs.recovery.port + i}/healthz", timeout=2).json()
    except httpx.HTTPError:
        return None


def sidecar_dispatches(cs: Settings, i: int) -> int:
    """Re-dispatches sidecar i carried out (its /actions: rule and outcome, no names)."""
    rows = httpx.get(f"http://127.0.0.1:{cs.recovery.port + i}/actions", timeout=5).json()["actions"]
    return sum(1 for r in rows if r["action"] == "dispatch" and r["outcome"] == "done")


@pytest.fixture(scope="module")
def cluster(stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    assert Path(REDIS_SERVER).exists(), "redis-server is not installed: WITH_REDIS=1 bash scripts/install-system.sh"
    folder = tmp_path_factory.mktemp("cluster")
    cs = cluster_settings(stack, folder)
    (folder / "run").mkdir()
    (folder / "data" / "redis").mkdir(parents=True)
    for node in range(cs.livekit.nodes):
        write_private(folder / "run" / livekit_config_name(node), livekit_yaml(cs, node))
    write_private(folder / "run" / "redis.conf", redis_conf(cs))
    c = Cluster(cs, folder)
    py = str(stack.stack.dir / "venv" / "bin" / "python")
    try:
        progs = livekit_nodes(cs)
        assert [p.name for p in progs] == ["redis", "livekit", "livekit-2"]
        for prog in progs:  # Redis first: the nodes connect to it at start
            c.start(prog.name, prog.command)
            if not wait_for(lambda prog=prog: probe(prog.health, timeout=1.0), START_S, interval=0.2):
                pytest.fail(f"{prog.name} of the cluster did not become healthy\n{c.logs(prog.name)}")
        c.node_ids = [
            eventually(lambda n=n, log=folder / f"{p.name}.log": node_id(log, cs.livekit.node_port(n)), 10, what="id")
            for n, p in enumerate(progs[1:])
        ]
        for i in range(2):
            c.start(f"agent-{i + 1}", [py, "-m", "services.agent", "start"], service_env(cs, AGENT_INSTANCE=str(i)))
            c.start(
                f"recovery-{i + 1}",
                [py, "-m", "services.recovery", "serve"],
                service_env(cs, RECOVERY_PORT=str(cs.recovery.port + i)),
            )
        markers = [folder / "run" / "agent.registered", folder / "run" / "agent-2.registered"]
        if not wait_for(lambda: all(marker_alive(m) for m in markers), START_S, interval=0.5):
            pytest.fail(f"the cluster's workers did not register\n{c.logs('agent-1', 'agent-2')}")
        if not wait_for(lambda: all(sidecar_health(cs, i) for i in range(2)), START_S, interval=0.5):
            pytest.fail(f"the cluster's sidecars did not start\n{c.logs('recovery-1', 'recovery-2')}")
        yield c
    finally:
        for name in reversed(list(c.procs)):
            c.stop(name)
        shutil.rmtree(folder / "data", ignore_errors=True)


async def open_room(c: Cluster, lk: api.LiveKitAPI, letta_id: str, node: int | None, name: str) -> str:
    room = f"{c.settings.recovery.room_prefix}cluster-{name}-{os.urandom(4).hex()}"
    node_arg = {"node_id": c.node_ids[node]} if node is not None else {}
    await lk.room.create_room(api.CreateRoomRequest(name=room, metadata=room_metadata(letta_id), **node_arg))
    return room


class Told:
    """What a human's room reported about its connection."""

    def __init__(self, human: Human) -> None:
        self.outcome: str | None = None
        human.room.on("disconnected", lambda reason: self._set(f"disconnected ({rtc.DisconnectReason.Name(reason)})"))
        human.room.on("reconnecting", lambda: self._set("reconnecting"))

    def _set(self, outcome: str) -> None:
        self.outcome = self.outcome or outcome


def test_two_sidecars_heal_an_orphaned_session_once(cluster: Cluster) -> None:
    """Two recovery sidecars on one cluster: one holds the lease; an orphaned session is re-dispatched once."""
    cs = cluster.settings
    roles = sorted(str((sidecar_health(cs, i) or {}).get("role")) for i in range(2))
    assert roles == ["active", "standby"], roles
    before = [sidecar_dispatches(cs, i) for i in range(2)]

    async def scenario() -> None:
        letta_id = default_agent_id(cs)
        async with cluster.api(0) as lk:
            room = await open_room(cluster, lk, letta_id, 1, "orphan")  # on node 2, via node 1's API
            human = Human(cs, room)
            try:
                await human.join(url=cs.livekit.node_url(1))
                # No dispatch: a sidecar finds the human waiting and sends the agent after RECOVERY_ORPHAN_AFTER.
                wait = cs.recovery.orphan_after + AGENT_S
                await until(lambda: human.agent() is not None, wait, "the agent a sidecar sends to the orphan")
                # Held: neither sidecar sends a second one (two would start two jobs).
                end = time.monotonic() + 3 * cs.recovery.sweep_interval
                while time.monotonic() < end:
                    assert len(await our_agents(lk, cs, room)) == 1
                    await asyncio.sleep(0.5)
                # (LiveKit also lists the room's own automatic dispatch, with no agent name.)
                ours = [d for d in await lk.agent_dispatch.list_dispatch(room) if d.agent_name == cs.agent.name]
                assert len(ours) == 1, ours
            finally:
                await human.leave()
                await delete_room(lk, room)

    try:
        asyncio.run(scenario())
    except AssertionError as error:
        pytest.fail(f"{error}\n{cluster.logs('recovery-1', 'recovery-2', 'agent-1', 'agent-2')}")
    done = [sidecar_dispatches(cs, i) - before[i] for i in range(2)]
    assert sorted(done) == [0, 1], f"re-dispatches per sidecar: {done}"

    # The active sidecar stops (a release, as on SIGTERM): the standby takes over.
    active = next(i for i in range(2) if (sidecar_health(cs, i) or {}).get("role") == "active")
    cluster.stop(f"recovery-{active + 1}")
    other = 1 - active
    eventually(
        lambda: (sidecar_health(cs, other) or {}).get("role") == "active",
        LEASE_TTL_S + 3 * cs.recovery.sweep_interval + 5,
        what="the standby sidecar to take the lease",
    )


def test_sessions_on_both_nodes_get_agents_and_a_stopped_node_tells_its_client(cluster: Cluster) -> None:
    """Two livekit-server nodes + Redis: sessions on both nodes get agents (one joined through the other node);
    node 1 stopped: its client is told, node 2's session has its agent, and a new session works on node 2."""
    cs = cluster.settings

    async def scenario() -> str:
        letta_id = default_agent_id(cs)
        humans: list[Human] = []
        rooms: list[str] = []
        # The server API as the web service and the sidecar use it: the first node that answers.
        lk = livekit_api(cs, api_url(cs, NodeHealth(check_every=0.0).answers))
        try:
            # Room 1 on node 1 and room 2 on node 2, each joined through its node; room 3 on node 2 joined through
            # node 1 (its signal relayed by Redis, as behind a load balancer). Every dispatch goes to node 1.
            for node, via in ((0, 0), (1, 1), (1, 0)):
                rooms.append(await open_room(cluster, lk, letta_id, node, f"node{node + 1}"))
                human = Human(cs, rooms[-1])
                await human.join(url=cs.livekit.node_url(via))
                humans.append(human)
                await dispatch(lk, cs, rooms[-1], letta_id)
            started = time.monotonic()
            for human in humans:
                await until(lambda h=human: h.agent() is not None, AGENT_S, f"an agent in {human.room_name}")
            joined = time.monotonic() - started
            workers = [(h.agent().attributes or {}).get(WORKER_ATTRIBUTE) for h in humans]  # type: ignore[union-attr]
            relayed = humans.pop()
            await relayed.leave()
            await delete_room(lk, rooms.pop())
            first, second = humans
            told, kept = Told(first), Told(second)
            stopped = time.monotonic()
            # Node 1 stops; the second signal forces it (the first only drains: it waits for every participant to
            # leave, as for a rolling upgrade); its rooms are closed and their participants told.
            assert await asyncio.to_thread(cluster.force_stop, "livekit"), "node 1 had to be killed"
            await until(lambda: told.outcome, TOLD_S, "the client on the stopped node to be told")
            told_s = time.monotonic() - stopped
            await lk.aclose()
            lk = livekit_api(cs, api_url(cs, NodeHealth(check_every=0.0).answers))
            # Node 2's session: still connected, with an agent (kept, or sent again by the sidecar when its agent had
            # come through node 1).
            await poll(
                lambda: _has_agent(lk, cs, rooms[1]), AGENT_S, "an agent in node 2's session after node 1 stopped"
            )
            assert kept.outcome in (None, "reconnecting"), f"node 2's client was {kept.outcome}"
            # A new session lands on node 2 (the only node left) and gets an agent.
            rooms.append(await open_room(cluster, lk, letta_id, None, "after"))
            late = Human(cs, rooms[-1])
            await late.join(url=cs.livekit.node_url(1))
            humans.append(late)
            await dispatch(lk, cs, rooms[-1], letta_id)
            await until(lambda: late.agent() is not None, AGENT_S, "an agent in a new session after the stop")
            after_s = time.monotonic() - stopped
            # The sidecar left running moved its server API to node 2 and sweeps without errors again.
            await poll(lambda: asyncio.to_thread(_sweeps_ok, cs), AGENT_S, "the sidecar sweeping node 2 without errors")
        finally:
            for human in humans:
                await human.leave()
            for room in rooms:
                await delete_room(lk, room)
            await lk.aclose()
        return (
            f"agents in three sessions {joined:.1f} s after dispatch (workers {workers}); node 1 stopped: client "
            f"{told.outcome} after {told_s:.1f} s; agent in a new session on node 2 {after_s:.1f} s after the stop"
        )

    try:
        figure = asyncio.run(scenario())
    except (AssertionError, rtc.ConnectError) as error:
        logs = cluster.logs("livekit", "livekit-2", "agent-1", "agent-2", "recovery-1", "recovery-2")
        pytest.fail(f"{error}\n{logs}")
    print(f"cluster figure: {figure}", file=sys.stderr)


async def _has_agent(lk: api.LiveKitAPI, cs: Settings, room: str) -> bool:
    return bool(await our_agents(lk, cs, room))


def _sweeps_ok(cs: Settings) -> bool:
    """Every sidecar still running answers with a sweep after the stop and no error."""
    bodies = [b for b in (sidecar_health(cs, i) for i in range(2)) if b]
    return bool(bodies) and all(b.get("status") == "ok" and b.get("last_error") is None for b in bodies)
