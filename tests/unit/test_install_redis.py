"""scripts/install-system.sh installs Debian's redis-server for a LiveKit cluster only, and stops the system
Redis service the package starts (the stack runs its own)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


def run_install(tmp_path: Path, **env: str) -> tuple[str, list[str]]:
    """Run the script as root with apt-get, update-rc.d and the present tools stubbed; (output, calls)."""
    stubs, calls = tmp_path / "bin", tmp_path / "calls"
    stubs.mkdir()
    for name in ("apt-get", "update-rc.d", "systemctl", "espeak-ng", "unzip", "runuser"):
        (stubs / name).write_text(f'#!/bin/sh\necho "{name} $*" >> {calls}\n')
    (stubs / "id").write_text("#!/bin/sh\necho 0\n")
    for stub in stubs.iterdir():
        stub.chmod(0o755)
    base = {"PATH": f"{stubs}:/usr/bin:/bin", "HOME": str(tmp_path), "STACK_DIR": str(tmp_path / "stack")}
    absent = {  # nothing of this machine's own Redis is looked at or touched
        "REDIS_SERVER_BIN": str(tmp_path / "no-redis-server"),
        "SYSTEMD_RUN_DIR": str(tmp_path / "no-systemd"),
        "REDIS_INIT_SCRIPT": str(tmp_path / "no-init-script"),
        "REDIS_SYSTEM_PIDFILE": str(tmp_path / "no-pid"),
    }
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "install-system.sh")],
        env={**base, **absent, **env},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    lines = calls.read_text().splitlines() if calls.exists() else []
    return result.stdout, [line for line in lines if not line.startswith(("espeak-ng", "unzip", "runuser"))]


@pytest.mark.parametrize(
    ("env", "installs"),
    [
        ({}, False),
        ({"LIVEKIT_NODES": "1"}, False),
        ({"LIVEKIT_NODES": "2"}, True),
        ({"WITH_REDIS": "1"}, True),  # scripts/test.sh: the cluster test beside a one-node stack
    ],
)
def test_redis_server_only_for_a_cluster(tmp_path: Path, env: dict[str, str], installs: bool) -> None:
    out, calls = run_install(tmp_path, **env)
    installed = any(c.startswith("apt-get install") and "redis-server" in c for c in calls)
    assert installed is installs, calls
    assert ("System Redis service" in out) is installs  # the package's own service is stopped and disabled
    if installs:
        assert "update-rc.d redis-server disable" in calls


def test_a_systemd_machine_disables_the_unit(tmp_path: Path) -> None:
    (tmp_path / "systemd").mkdir()
    _, calls = run_install(tmp_path, LIVEKIT_NODES="2", SYSTEMD_RUN_DIR=str(tmp_path / "systemd"))
    assert "systemctl disable --now redis-server.service" in calls


def test_present_redis_server_is_left_alone(tmp_path: Path) -> None:
    out, calls = run_install(tmp_path, LIVEKIT_NODES="2", REDIS_SERVER_BIN="/bin/sh")
    assert calls == [] and "present" in out
