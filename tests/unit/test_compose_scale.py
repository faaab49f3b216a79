"""Scale-out in compose without an engine: agent replicas claim their worker index (services/agent/slots.py),
the livekit containers take the native cluster's node ports and Redis (config/livekit-entry.sh), and
compose.yaml's scale profile wires Redis with a password that never reaches a command line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.agent import __main__ as agent_main
from services.agent.slots import SlotError, claim_slot, read_instance, write_instance
from services.deploy.health import health_url
from services.shared.settings import NODE_PORT_STEP, ROOT, Settings, get_settings
from services.stack.render import livekit_config
from tests.helpers import eventually

pytestmark = pytest.mark.unit

COMPOSE = ROOT / "compose.yaml"
LIVEKIT_ENTRY = ROOT / "config" / "livekit-entry.sh"
# prints the environment livekit-server would start with, one KEY=VALUE a line, then its arguments
FAKE_SERVER = (
    "#!/bin/sh\nenv | grep -E '^LIVEKIT_(PORT|RTC_TCP_PORT|TURN_ENABLED|REDIS_[A-Z]+|NODES)=' | sort\n"
    'echo "ARGS $*"\n'
)


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def test_replicas_claim_the_lowest_free_index_and_never_share_one(tmp_path: Path) -> None:
    first, held_first = claim_slot(tmp_path, 2)
    second, held_second = claim_slot(tmp_path, 2)
    assert (first, second) == (0, 1)
    with pytest.raises(SlotError, match="AGENT_WORKERS=2"):
        claim_slot(tmp_path, 2)
    held_first.close()  # the replica of index 0 stopped: its index is free again
    again, held_again = claim_slot(tmp_path, 2)
    assert again == 0
    for handle in (held_second, held_again):
        handle.close()
    assert oct(os.stat(tmp_path / "agent-0.lock").st_mode & 0o777) == "0o600"


def test_a_killed_replica_gives_its_index_back(tmp_path: Path) -> None:
    """Another process holds index 0 until it is SIGKILLed (as a container's processes are): then 0 is free."""
    code = (
        "import pathlib, time; from services.agent.slots import claim_slot;"
        f" held = claim_slot(pathlib.Path({str(tmp_path)!r}), 2); print('held', flush=True); time.sleep(120)"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        index, handle = claim_slot(tmp_path, 2)
        assert index == 1, "index 0 is held by the other process"
        handle.close()
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)

        def free() -> bool:
            index, handle = claim_slot(tmp_path, 2)
            handle.close()
            return index == 0

        eventually(free, 10, what="index 0 free after its holder was killed")
    finally:
        holder.kill()
        holder.wait(timeout=30)


def test_a_claimed_index_sets_the_workers_ports_and_its_health_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AGENT_INSTANCE", "AGENT_PORT"):
        monkeypatch.setenv(name, "0")  # recorded, so the claim's own AGENT_INSTANCE is undone after the test
        monkeypatch.delenv(name)
    monkeypatch.setenv("STACK_DIR", str(tmp_path / "stack"))
    monkeypatch.setenv("AGENT_SLOTS_DIR", str(tmp_path / "slots"))
    monkeypatch.setenv("AGENT_WORKERS", "2")
    get_settings.cache_clear()
    _index, taken = claim_slot(tmp_path / "slots", 2)  # another replica holds index 0
    try:
        settings = get_settings()
        assert health_url(settings, "agent") == f"http://127.0.0.1:{settings.agent.port}/", "nothing claimed yet"
        claimed = agent_main.claim_instance(settings)
        assert claimed.agent.instance == 1 and os.environ["AGENT_INSTANCE"] == "1"
        assert read_instance(settings.stack.run_dir) == 1
        assert health_url(claimed, "agent") == f"http://127.0.0.1:{settings.agent.port + 100}/"
        assert health_url(settings, "agent") == health_url(claimed, "agent"), "the health check reads the claim"
    finally:
        taken.close()
        if agent_main._slot_lock is not None:
            agent_main._slot_lock.close()
        get_settings.cache_clear()


def test_no_free_index_stops_the_worker_naming_the_setting(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "STACK_DIR": str(tmp_path / "stack"),
        "AGENT_SLOTS_DIR": str(tmp_path / "slots"),
        "AGENT_WORKERS": "1",
    }
    _index, taken = claim_slot(tmp_path / "slots", 1)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "services.agent", "start"],
            cwd=tmp_path,
            env={**env, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        taken.close()
    assert result.returncode == 2, result.stderr
    assert "AGENT_WORKERS=1" in result.stderr and "replicas" in result.stderr


def test_the_instance_file_is_read_back_and_ignores_garbage(tmp_path: Path) -> None:
    assert read_instance(tmp_path) is None
    write_instance(tmp_path, 3)
    assert read_instance(tmp_path) == 3
    (tmp_path / "agent.instance").write_text("x")
    assert read_instance(tmp_path) is None


def run_livekit_entry(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    server = tmp_path / "livekit-server"
    server.write_text(FAKE_SERVER)
    server.chmod(0o755)
    return subprocess.run(
        ["sh", str(LIVEKIT_ENTRY), *args],
        env={"PATH": os.environ["PATH"], "LIVEKIT_SERVER_BIN": str(server), **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def started_with(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    assert result.returncode == 0, result.stderr
    return dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)


def cluster_settings(nodes: int) -> Settings:
    return Settings(
        _env_file=None,
        livekit={"nodes": nodes, "bind": "0.0.0.0", "api_secret": "s" * 48, "port": 7880, "rtc_tcp_port": 7881},
        redis={"host": "127.0.0.1", "port": 6390, "password": "p" * 64},
    )


REDIS_ENV = {"LIVEKIT_REDIS_ADDRESS": "127.0.0.1:6390", "LIVEKIT_REDIS_PASSWORD": "p" * 64}


def test_node_two_gets_the_native_clusters_ports_and_redis(tmp_path: Path) -> None:
    settings = cluster_settings(2)
    for node in (0, 1):
        args = ["--node", str(node)] if node else []
        env = started_with(run_livekit_entry(tmp_path, {"LIVEKIT_NODES": "2", **REDIS_ENV}, *args, "--extra"))
        native = livekit_config(settings, node)
        assert int(env["LIVEKIT_PORT"]) == native["port"] == 7880 + NODE_PORT_STEP * node
        assert int(env["LIVEKIT_RTC_TCP_PORT"]) == native["rtc"]["tcp_port"]
        assert env["LIVEKIT_REDIS_ADDRESS"] == native["redis"]["address"]
        assert env["LIVEKIT_REDIS_PASSWORD"] == native["redis"]["password"]
        assert env.get("LIVEKIT_TURN_ENABLED") == (None if node == 0 else "false"), "one TURN port per host"
        assert "LIVEKIT_NODES" not in env


def test_one_node_runs_without_redis_on_the_configured_ports(tmp_path: Path) -> None:
    ports = {"LIVEKIT_PORT": "17880", "LIVEKIT_RTC_TCP_PORT": "17881"}
    env = started_with(run_livekit_entry(tmp_path, {"LIVEKIT_NODES": "1", **ports, **REDIS_ENV}))
    assert (env["LIVEKIT_PORT"], env["LIVEKIT_RTC_TCP_PORT"]) == ("17880", "17881")
    assert "LIVEKIT_REDIS_ADDRESS" not in env and "LIVEKIT_REDIS_PASSWORD" not in env
    assert livekit_config(cluster_settings(1)).get("redis") is None


@pytest.mark.parametrize("node", [0, 1])
def test_the_compose_livekit_containers_listen_on_the_env_files_ports(tmp_path: Path, node: int) -> None:
    """What compose hands the container (not a hand-made environment): .env's LIVEKIT_PORT and
    LIVEKIT_RTC_TCP_PORT reach the entry, which must not fall back to the defaults."""
    from tests.unit.test_compose_file import COMPOSE, TEST_ENV, interpolate

    dotenv = {**TEST_ENV, "LIVEKIT_PORT": "17880", "LIVEKIT_RTC_TCP_PORT": "17881", "LIVEKIT_NODES": "2"}
    dotenv |= {"REDIS_PASSWORD": "p" * 64}
    service = interpolate(yaml.safe_load(COMPOSE.read_text()), dotenv)["services"]["livekit"]
    container_env = {k: str(v) for k, v in service["environment"].items()}
    args = ["--node", str(node)] if node else []
    env = started_with(run_livekit_entry(tmp_path, container_env, *args))
    assert (int(env["LIVEKIT_PORT"]), int(env["LIVEKIT_RTC_TCP_PORT"])) == (17880 + 100 * node, 17881 + 100 * node)


@pytest.mark.parametrize(
    ("env", "args", "message"),
    [
        ({"LIVEKIT_NODES": "2", "LIVEKIT_REDIS_PASSWORD": ""}, [], "REDIS_PASSWORD is empty"),
        ({"LIVEKIT_NODES": "1"}, ["--node", "1"], "not below LIVEKIT_NODES=1"),
        ({"LIVEKIT_NODES": "x"}, [], "LIVEKIT_NODES must be a number"),
        ({}, ["--node", "one"], "--node must be a number"),
    ],
)
def test_livekit_entry_refuses_what_cannot_work(
    tmp_path: Path, env: dict[str, str], args: list[str], message: str
) -> None:
    result = run_livekit_entry(tmp_path, env, *args)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert "ARGS" not in result.stdout, "livekit-server must not start"


def test_agent_replicas_follow_agent_workers_and_share_the_slots_volume(raw: dict[str, Any]) -> None:
    agent = raw["services"]["agent"]
    assert agent["deploy"]["replicas"] == "${AGENT_WORKERS:-1}"
    assert agent["environment"]["AGENT_SLOTS_DIR"] == "/var/lib/lvs/slots"
    assert "agent-slots:/var/lib/lvs/slots" in agent["volumes"] and "agent-slots" in raw["volumes"]
    assert "container_name" not in agent, "replicas need compose's own names"
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "/var/lib/lvs/slots" in dockerfile, "the volume's folder exists in the image, owned by the service user"


def test_the_scale_profile_has_redis_with_a_password_only_on_stdin_and_a_second_node(raw: dict[str, Any]) -> None:
    redis, node2, node1 = raw["services"]["redis"], raw["services"]["livekit-2"], raw["services"]["livekit"]
    command = "\n".join(redis["command"])
    assert "${REDIS_PASSWORD" not in command and "requirepass $$REDISCLI_AUTH" in command
    assert "exec redis-server - " in command, "the config (with the password) comes on stdin"
    assert "--bind ${REDIS_HOST:-127.0.0.1}" in command and "--port ${REDIS_PORT:-6390}" in command
    assert redis["environment"] == {"REDISCLI_AUTH": "${REDIS_PASSWORD:-}"}
    assert str(redis["user"]).split(":")[0] not in ("0", "root")
    assert node2["command"] == ["--node", "1"] and node2["image"] == node1["image"]
    assert node2["entrypoint"] == node1["entrypoint"] == ["/bin/sh", "/lvs/livekit-entry.sh"]
    assert node2["environment"] == node1["environment"], "one configuration; the entry moves the ports"
    assert f"+ {NODE_PORT_STEP}" in " ".join(node2["healthcheck"]["test"])
    assert node1["depends_on"]["redis"] == {"condition": "service_healthy", "required": False}


def test_redis_password_is_generated_for_compose() -> None:
    from services.deploy.secrets import SECRET_NAMES, SPECS

    spec = next(s for s in SPECS if s.name == "REDIS_PASSWORD")
    value = spec.make()
    assert "REDIS_PASSWORD" in SECRET_NAMES and len(value) >= 32 and value.isalnum()
    assert spec.make() != value


def metrics_servers(bodies: dict[int, str]) -> list[Any]:
    """Two real HTTP servers answering /metrics with bodies[i], on ports P and P + 100 (worker 0 and 1)."""
    import http.server
    import threading

    def handler_for(index: int) -> type[http.server.BaseHTTPRequestHandler]:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = bodies[index].encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: object) -> None:
                pass

        return Handler

    for _ in range(50):
        first = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler_for(0))
        try:
            second = http.server.ThreadingHTTPServer(("127.0.0.1", first.server_address[1] + 100), handler_for(1))
        except OSError:
            first.server_close()
            continue
        for server in (first, second):
            threading.Thread(target=server.serve_forever, daemon=True).start()
        return [first, second]
    raise AssertionError("no two free ports 100 apart")


def test_workers_command_names_each_worker_and_fails_while_one_is_unregistered(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`python -m services.deploy.workers` (make up/status in compose) against two real /metrics servers."""
    from services.deploy import workers

    bodies = {0: 'lvs_agent_worker_registered{worker="agent"} 1.0\n', 1: "# not registered yet\n"}
    servers = metrics_servers(bodies)
    try:
        settings = Settings(_env_file=None, agent={"workers": 2, "metrics_port": servers[0].server_address[1]})
        monkeypatch.setattr(workers, "load_settings_or_exit", lambda: settings)
        assert workers.main([]) == 1
        out = capsys.readouterr().out
        assert "agent: registered" in out and "agent-2: NOT registered" in out
        bodies[1] = 'lvs_agent_worker_registered{worker="agent-2"} 1.0\n'
        assert workers.main(["--wait", "5"]) == 0
        assert "agent-2: registered" in capsys.readouterr().out
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
