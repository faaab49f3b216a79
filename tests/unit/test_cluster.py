"""A LiveKit cluster (LIVEKIT_NODES > 1): node ports and URLs, rendered configs, programs, the node a browser
gets, the worker's node, and the recovery lease (its Redis protocol and what a standby sidecar does)."""

from __future__ import annotations

import asyncio
import socket
import time
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from livekit import api
from redis.exceptions import RedisError

from services.agent.server import worker_api_url, worker_url
from services.recovery.lease import Lease, lease_for, redis_client
from services.recovery.sweeper import Sweeper
from services.shared.livekit import room_metadata
from services.shared.settings import Settings, shift_port
from services.stack.applied import reads
from services.stack.dev_secrets import GENERATED
from services.stack.programs import REDIS_SERVER, programs
from services.stack.render import livekit_config_name, livekit_yaml, redis_conf
from services.web.nodes import NodeHealth, browser_url_for
from services.web.policy import pick_node
from services.web.security import content_security_policy

pytestmark = pytest.mark.unit


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch) -> Settings:
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "LIVEKIT_PUBLIC_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LIVEKIT_NODES", "2")
    monkeypatch.setenv("REDIS_PASSWORD", "p" * 64)
    return Settings()


@pytest.fixture
def single(monkeypatch: pytest.MonkeyPatch) -> Settings:
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "LIVEKIT_NODES", "LIVEKIT_PUBLIC_URL"):
        monkeypatch.delenv(var, raising=False)
    return Settings()


@pytest.mark.parametrize(
    ("url", "by", "expected"),
    [
        ("ws://127.0.0.1:7880", 0, "ws://127.0.0.1:7880"),
        ("ws://127.0.0.1:7880", 100, "ws://127.0.0.1:7980"),
        ("http://127.0.0.1:7880/", 200, "http://127.0.0.1:8080/"),
        ("wss://voice.example.com", 100, "wss://voice.example.com:543"),
        ("ws://lk.internal", 100, "ws://lk.internal:180"),
        ("ws://[::1]:7880", 100, "ws://[::1]:7980"),
    ],
)
def test_shift_port(url: str, by: int, expected: str) -> None:
    assert shift_port(url, by) == expected


def test_node_ports_and_urls_step_by_100(cluster: Settings) -> None:
    lk = cluster.livekit
    assert lk.cluster
    assert [lk.node_port(i) for i in range(2)] == [7880, 7980]
    assert [lk.node_rtc_udp_port(i) for i in range(2)] == [7882, 7982]
    assert [lk.node_url(i) for i in range(2)] == ["ws://127.0.0.1:7880", "ws://127.0.0.1:7980"]
    assert lk.node_http_url(1) == "http://127.0.0.1:7980"
    ports = cluster.ports()
    assert ports["redis"] == cluster.redis.port and ports["livekit-2"] == 7980


@pytest.mark.parametrize(
    ("nodes", "public_url", "expected"),
    [
        ("1", None, ["ws://127.0.0.1:7880"]),
        ("2", None, ["ws://127.0.0.1:7880", "ws://127.0.0.1:7980"]),
        ("3", None, ["ws://127.0.0.1:7880", "ws://127.0.0.1:7980", "ws://127.0.0.1:8080"]),
        ("2", "wss://voice.example.com/rtc", ["wss://voice.example.com/rtc"]),  # a load balancer before the nodes
    ],
)
def test_browser_urls(monkeypatch: pytest.MonkeyPatch, nodes: str, public_url: str | None, expected: list[str]) -> None:
    monkeypatch.setenv("LIVEKIT_NODES", nodes)
    if public_url:
        monkeypatch.setenv("LIVEKIT_PUBLIC_URL", public_url)
    else:
        monkeypatch.delenv("LIVEKIT_PUBLIC_URL", raising=False)
    assert Settings().livekit.browser_urls == expected


def test_one_node_renders_no_redis_and_no_second_program(single: Settings) -> None:
    assert not single.livekit.cluster
    conf = yaml.safe_load(livekit_yaml(single))
    assert "redis" not in conf and conf["port"] == 7880
    names = [p.name for p in programs(single)]
    assert "redis" not in names and "livekit-2" not in names
    assert names[:2] == ["postgres", "livekit"]
    assert "redis" not in single.ports()


def test_each_node_has_its_ports_and_the_shared_redis(cluster: Settings) -> None:
    first, second = (yaml.safe_load(livekit_yaml(cluster, node)) for node in range(2))
    assert (first["port"], second["port"]) == (7880, 7980)
    assert (first["rtc"]["udp_port"], second["rtc"]["udp_port"]) == (7882, 7982)
    assert first["rtc"]["tcp_port"] == second["rtc"]["tcp_port"] == 0  # loopback: no ICE/TCP on any interface
    for conf in (first, second):
        assert conf["redis"] == {"address": "127.0.0.1:6390", "password": "p" * 64}
        assert conf["keys"] == first["keys"]  # one API key pair for the whole cluster
        assert conf["webhook"] == first["webhook"]
    assert [livekit_config_name(n) for n in range(3)] == ["livekit.yaml", "livekit-2.yaml", "livekit-3.yaml"]


def test_cluster_programs_start_redis_a_stage_before_the_nodes(cluster: Settings) -> None:
    progs = {p.name: p for p in programs(cluster)}
    redis, node1, node2 = progs["redis"], progs["livekit"], progs["livekit-2"]
    assert redis.command[0] == REDIS_SERVER and redis.command[1].endswith("/run/redis.conf")
    assert redis.stage < node1.stage == node2.stage
    assert redis.health.target == "127.0.0.1:6390"
    assert node2.command[-1].endswith("/run/livekit-2.yaml") and node2.health.target == "http://127.0.0.1:7980/"
    assert node2.ports[0] == ("LIVEKIT_PORT", 7980)


def test_redis_conf_is_loopback_with_a_password_and_no_files(cluster: Settings) -> None:
    lines = redis_conf(cluster).splitlines()
    assert "bind 127.0.0.1" in lines and "port 6390" in lines and "protected-mode yes" in lines
    assert f'requirepass "{"p" * 64}"' in lines
    assert 'save ""' in lines and "appendonly no" in lines
    assert 'rename-command CONFIG ""' in lines


def test_the_redis_password_is_generated_and_config_safe() -> None:
    value = GENERATED["REDIS_PASSWORD"]()
    assert len(value) >= 32 and value.isalnum()


@pytest.mark.parametrize(
    ("program", "section", "expected"),
    [
        ("livekit-2", "redis", True),
        ("livekit-2", "livekit", True),
        ("livekit", "redis", True),
        ("redis", "redis", True),
        ("redis", "livekit", False),
        ("recovery", "redis", True),  # its lease
        ("agent", "redis", False),
        ("web", "redis", False),
    ],
)
def test_which_programs_a_redis_change_restarts(program: str, section: str, expected: bool) -> None:
    assert reads(program, section) is expected


@pytest.mark.parametrize(
    ("nodes", "instance", "expected_port"),
    [("1", "0", 7880), ("1", "1", 7880), ("2", "0", 7880), ("2", "1", 7980), ("2", "2", 7880), ("3", "2", 8080)],
)
def test_workers_spread_over_the_nodes(
    monkeypatch: pytest.MonkeyPatch, nodes: str, instance: str, expected_port: int
) -> None:
    monkeypatch.setenv("LIVEKIT_NODES", nodes)
    monkeypatch.setenv("AGENT_INSTANCE", instance)
    assert worker_url(Settings()) == f"ws://127.0.0.1:{expected_port}"
    # its duplicate checks ask the same node's server API (node 1 may be the one that stopped)
    assert worker_api_url(Settings()) == f"http://127.0.0.1:{expected_port}"


URLS = ["ws://a:1", "ws://b:1", "ws://c:1"]


@pytest.mark.parametrize(
    ("down", "allowed"),
    [
        (set(), set(URLS)),
        ({"ws://b:1"}, {"ws://a:1", "ws://c:1"}),
        ({"ws://a:1", "ws://b:1"}, {"ws://c:1"}),
        (set(URLS), set(URLS)),  # none answers: hand one out anyway (the page reports the failure)
    ],
)
def test_pick_node_skips_nodes_that_are_down(down: set[str], allowed: set[str]) -> None:
    picks = {pick_node(f"lvs-room-{i}", URLS, down) for i in range(60)}
    assert picks == allowed


def test_pick_node_is_stable_and_spreads() -> None:
    rooms = [f"lvs-{i:04x}" for i in range(300)]
    assert [pick_node(r, URLS) for r in rooms] == [pick_node(r, URLS) for r in rooms]  # same in every process
    counts = {u: sum(pick_node(r, URLS) == u for r in rooms) for u in URLS}
    assert min(counts.values()) > 60, counts
    with pytest.raises(ValueError):
        pick_node("lvs-x", [])


class _Health(NodeHealth):
    def __init__(self, down: set[str]) -> None:
        super().__init__()
        self.down = down
        self.asked: list[str] = []

    def is_down(self, url: str) -> bool:
        self.asked.append(url)
        return url in self.down


def test_browser_url_for_a_session(cluster: Settings, single: Settings) -> None:
    health = _Health({"ws://127.0.0.1:7980"})
    assert browser_url_for(cluster, "lvs-any", health) == "ws://127.0.0.1:7880"
    one = _Health(set())
    assert browser_url_for(single, "lvs-any", one) == "ws://127.0.0.1:7880" and one.asked == []  # no probe


def test_csp_allows_every_node(cluster: Settings) -> None:
    csp = content_security_policy(cluster)
    assert "ws://127.0.0.1:7880" in csp and "ws://127.0.0.1:7980" in csp and "http://127.0.0.1:7980" in csp


def test_an_unreachable_redis_means_standby_at_once() -> None:
    """No retries: the sidecar's loop is not held up, and it acts on nothing while unsure."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again before the lease connects: refused
    lease = Lease(redis_client("127.0.0.1", port, None, timeout_s=0.5), "me", 15.0)
    started = time.monotonic()
    assert asyncio.run(lease.active()) is False
    assert lease.role == "standby" and time.monotonic() - started < 2.0


class _Redis:
    """Answers the lease script with scripted replies (an exception is raised)."""

    def __init__(self, replies: list[object]) -> None:
        self.replies = replies
        self.commands: list[tuple[Any, ...]] = []

    async def eval(self, *args: Any) -> object:
        self.commands.append(args)
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply

    async def aclose(self) -> None:
        pass


@pytest.mark.parametrize(
    ("replies", "roles"),
    [
        ([1, 1], ["active", "active"]),
        ([0, 0], ["standby", "standby"]),
        ([0, 1], ["standby", "active"]),  # the holder stopped renewing: taken over
        ([1, RedisError("down")], ["active", "standby"]),  # unsure who holds it: act on nothing
    ],
)
def test_lease_roles(replies: list[object], roles: list[str]) -> None:
    redis = _Redis(list(replies))
    lease = Lease(redis, "me", 15.0, held=False)  # type: ignore[arg-type]

    async def run() -> list[str]:
        seen = []
        for _ in roles:
            await lease.active()
            seen.append(lease.role)
        return seen

    assert asyncio.run(run()) == roles
    assert redis.commands[0][2:] == ("lvs:recovery:leader", "me", 15000)


def test_one_node_has_no_lease(single: Settings, cluster: Settings) -> None:
    alone = lease_for(single)
    assert alone.redis is None and asyncio.run(alone.active()) is True
    shared = lease_for(cluster)
    assert shared.redis is not None and shared.role == "standby"  # until it has taken the lease


class _LiveKit:
    """The three calls a sweep makes: one orphaned session (a human, no agent, waiting for a minute)."""

    def __init__(self, room: str) -> None:
        human = api.ParticipantInfo(
            identity="human-1", kind=api.ParticipantInfo.Kind.STANDARD, state=api.ParticipantInfo.State.ACTIVE
        )
        human.joined_at = 1000
        self.rooms = [api.Room(name=room, metadata=room_metadata("agent-x"), creation_time=1000)]
        self.participants = [human]
        self.dispatched: list[str] = []
        self.room = SimpleNamespace(list_rooms=self._rooms, list_participants=self._participants)
        self.agent_dispatch = SimpleNamespace(create_dispatch=self._dispatch)

    async def _rooms(self, _req: object) -> object:
        return SimpleNamespace(rooms=self.rooms)

    async def _participants(self, _req: object) -> object:
        return SimpleNamespace(participants=self.participants)

    async def _dispatch(self, req: api.CreateAgentDispatchRequest) -> None:
        self.dispatched.append(req.room)


@pytest.mark.parametrize(("holds", "dispatched"), [(True, ["lvs-orphan"]), (False, [])])
def test_only_the_lease_holder_acts(
    monkeypatch: pytest.MonkeyPatch, cluster: Settings, holds: bool, dispatched: list[str]
) -> None:
    monkeypatch.setenv("RECOVERY_AGENT_HEALTH_URL", "off")
    settings = Settings()
    lk = _LiveKit("lvs-orphan")
    sweeper = Sweeper(settings, lk, clock=lambda: 1060.0, lease=Lease(_Redis([1 if holds else 0]), "me", 15.0))  # type: ignore[arg-type]
    result = asyncio.run(sweeper.sweep())
    assert lk.dispatched == dispatched
    assert result.active is holds
    assert "lvs-orphan" in sweeper.memory  # a standby keeps observing, to take over with current memory


def test_redis_settings_restart_nothing_on_one_node(single: Settings, cluster: Settings) -> None:
    from services.stack.cli import applied_rows

    assert not any(r.section == "redis" for r in applied_rows(single))
    assert any(r.name == "REDIS_PASSWORD" for r in applied_rows(cluster))


@pytest.mark.parametrize(
    ("answering", "expected"),
    [
        ({"http://127.0.0.1:7880", "http://127.0.0.1:7980"}, "http://127.0.0.1:7880"),
        ({"http://127.0.0.1:7980"}, "http://127.0.0.1:7980"),  # node 1 stopped: node 2 takes the API calls
        (set(), "http://127.0.0.1:7880"),  # none answers: LIVEKIT_URL's (the error names it)
    ],
)
def test_the_server_api_moves_to_a_node_that_answers(cluster: Settings, answering: set[str], expected: str) -> None:
    from services.shared.livekit import api_url

    assert api_url(cluster, lambda url: url in answering) == expected


def test_one_node_always_calls_livekit_url(single: Settings) -> None:
    from services.shared.livekit import api_url

    assert api_url(single, lambda url: False) == single.livekit.http_url
