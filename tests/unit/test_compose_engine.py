"""scripts/install-docker-engine.sh with fake docker/dockerd/apt-get on PATH: an engine that already answers
is used as it is, dockerd gets the host-networking-only flags and its own paths, and `stop` ends only the
dockerd whose pidfile the script wrote."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from services.shared.settings import ROOT

pytestmark = pytest.mark.unit

SCRIPT = ROOT / "scripts" / "install-docker-engine.sh"
NETWORK_FLAGS = [
    "--iptables=false",
    "--ip6tables=false",
    "--ip-forward=false",
    "--ip-masq=false",
    "--bridge=none",
    "native.cgroupdriver=cgroupfs",
]

FAKE_DOCKER = """#!/usr/bin/env bash
echo "docker $*" >>"$FAKE_LOG"
case "$1" in
  info) [[ -n "${FAKE_ENGINE_ANSWERS:-}" || ( "$DOCKER_HOST" == "unix://$FAKE_ENGINE_DIR/docker.sock"
          && -f "$FAKE_ENGINE_DIR/up" ) ]] ;;
  compose) echo "Docker Compose version v2.40.3" ;;
  version) echo "20.10.24" ;;
  *) exit 1 ;;
esac
"""
# a dockerd that writes its pidfile, says it is up, and idles until SIGTERM
FAKE_DOCKERD = """#!/usr/bin/env bash
[[ "${1:-}" == --version ]] && { echo "Docker version 20.10.24, build x"; exit 0; }
echo "dockerd $*" >>"$FAKE_LOG"
while (($#)); do [[ "$1" == --pidfile ]] && echo $$ >"$2"; shift; done
touch "$FAKE_ENGINE_DIR/up"
trap 'rm -f "$FAKE_ENGINE_DIR/up"; exit 0' TERM
while :; do sleep 0.1; done
"""
FAKE_APT = """#!/usr/bin/env bash
echo "apt-get $*" >>"$FAKE_LOG"
"""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in {
        "docker": FAKE_DOCKER,
        "dockerd": FAKE_DOCKERD,
        "apt-get": FAKE_APT,
        "debootstrap": "#!/bin/sh\n",
    }.items():
        path = bin_dir / name
        path.write_text(text)
        path.chmod(0o755)
    engine = tmp_path / "engine"
    return {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "STACK_DIR": str(tmp_path / "stack"),
        "STACK_CACHE_DIR": str(tmp_path / "cache"),
        "DOCKER_ENGINE_DIR": str(engine),
        "DOCKER_ENGINE_TIMEOUT": "10",
        "FAKE_ENGINE_DIR": str(engine),
        "FAKE_LOG": str(tmp_path / "calls.log"),
    }


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def calls(env: dict[str, str]) -> str:
    log = Path(env["FAKE_LOG"])
    return log.read_text() if log.exists() else ""


def test_an_engine_that_already_answers_is_used_as_it_is(env: dict[str, str]) -> None:
    env |= {"FAKE_ENGINE_ANSWERS": "1", "DOCKER_HOST": "unix:///var/run/docker.sock"}
    result = run(env)
    assert result.returncode == 0, result.stderr
    assert "export DOCKER_HOST=unix:///var/run/docker.sock" in result.stdout
    assert "nothing installed or started" in result.stderr
    assert "apt-get" not in calls(env) and "dockerd" not in calls(env)


@pytest.mark.skipif(os.geteuid() != 0, reason="the script starts dockerd only as root")
def test_dockerd_runs_with_host_networking_only_and_stop_ends_it(env: dict[str, str]) -> None:
    engine = Path(env["DOCKER_ENGINE_DIR"])
    result = run(env)
    try:
        assert result.returncode == 0, result.stderr
        assert f"export DOCKER_HOST=unix://{engine}/docker.sock" in result.stdout
        started = [line for line in calls(env).splitlines() if line.startswith("dockerd ")]
        assert len(started) == 1, calls(env)
        for flag in [*NETWORK_FLAGS, f"--data-root {engine}/data", f"--exec-root {engine}/exec"]:
            assert flag in started[0]
        assert "apt-get" not in calls(env), "nothing to install: dockerd and debootstrap are on PATH"
        pid = int((engine / "dockerd.pid").read_text())
        again = run(env)
        assert again.returncode == 0 and "already runs" in again.stderr
        assert len([line for line in calls(env).splitlines() if line.startswith("dockerd ")]) == 1
    finally:
        stopped = run(env, "stop")
    assert stopped.returncode == 0, stopped.stderr
    deadline = time.monotonic() + 5
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not (engine / "dockerd.pid").exists()
    assert run(env, "status").returncode == 1


def test_stop_never_ends_a_process_that_is_not_its_dockerd(env: dict[str, str]) -> None:
    other = subprocess.Popen(["sleep", "30"])
    try:
        engine = Path(env["DOCKER_ENGINE_DIR"])
        engine.mkdir(parents=True)
        (engine / "dockerd.pid").write_text(str(other.pid))
        result = run(env, "stop")
        assert result.returncode == 0, result.stderr
        assert "none runs" in result.stdout
        assert other.poll() is None, "a process that is not our dockerd was stopped"
    finally:
        other.send_signal(signal.SIGTERM)
        other.wait()


def test_stop_with_nothing_started_succeeds(env: dict[str, str]) -> None:
    result = run(env, "stop")
    assert result.returncode == 0 and "none runs" in result.stdout
