"""scripts/deploy-vm.sh against a fake host (a directory, `--local DIR`): secrets and .env handling, copy,
idempotence, and the host checks' messages. No SSH and no Docker engine needed."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from services.deploy.secrets import parse_env
from services.shared.settings import MIN_SECRET_BYTES, ROOT

pytestmark = pytest.mark.unit

SECRETS = ("LIVEKIT_API_KEY", "LIVEKIT_API_SECRET", "LETTA_PASSWORD", "POSTGRES_PASSWORD")


def deploy(host: Path, work: Path, *extra: str, seed: str = "") -> subprocess.CompletedProcess[str]:
    seed_file = work / "seed.env"
    seed_file.write_text(seed)
    env = {**os.environ, "DEPLOY_ENV_FILE": str(work / "deploy.env"), "DEPLOY_SEED_ENV": str(seed_file)}
    return subprocess.run(
        [
            "bash",
            str(ROOT / "scripts" / "deploy-vm.sh"),
            "--local",
            str(host),
            "DOMAIN=voice.example.com",
            *extra,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def assert_no_secret_in(result: subprocess.CompletedProcess[str], values: dict[str, str]) -> None:
    for name in SECRETS:
        assert values[name] not in result.stdout + result.stderr, f"{name} was printed"


def test_first_deploy_writes_strong_secrets_copies_the_project_and_prints_ports(tmp_path: Path) -> None:
    host, work = tmp_path / "host", tmp_path / "work"
    work.mkdir()
    result = deploy(host, work, "--no-start", seed="OPENAI_API_KEY=sk-user\nLIVEKIT_API_SECRET=secret\n")
    assert result.returncode == 0, result.stdout + result.stderr
    remote_env = host / ".env"
    values = parse_env(remote_env.read_text())
    assert remote_env.stat().st_mode & 0o777 == 0o600
    assert values == parse_env((work / "deploy.env").read_text())
    assert len(values["LIVEKIT_API_SECRET"].encode()) >= MIN_SECRET_BYTES and values["LIVEKIT_API_SECRET"] != "secret"
    assert values["OPENAI_API_KEY"] == "sk-user", "the user's own settings travel with the deployment"
    assert values["DEPLOY_DOMAIN"] == "voice.example.com"
    assert values["LIVEKIT_PUBLIC_URL"] == "wss://voice.example.com"
    assert_no_secret_in(result, values)
    for needed in (
        "compose.yaml",
        "Dockerfile",
        "config/Caddyfile",
        "config/letta-entry.sh",
        "config/livekit-entry.sh",
        "scripts/compose.sh",
        "services/shared/settings.py",
        "config/container-requirements.txt",
    ):
        assert (host / needed).is_file(), needed
    for left_out in (".stack", ".git", ".deploy"):
        assert not (host / left_out).exists(), left_out
    for port in ("443/tcp", "7881/tcp", "3478/udp", "50000-60000/udp"):
        assert port in result.stdout
    assert "https://voice.example.com/" in result.stdout


def test_a_second_deploy_keeps_every_secret(tmp_path: Path) -> None:
    host, work = tmp_path / "host", tmp_path / "work"
    work.mkdir()
    assert deploy(host, work, "--no-start").returncode == 0
    before = (host / ".env").read_text()
    again = deploy(host, work, "--no-start")
    assert again.returncode == 0, again.stderr
    assert (host / ".env").read_text() == before
    assert "kept" in again.stdout
    assert_no_secret_in(again, parse_env(before))


def test_secrets_already_on_the_host_are_reused_when_the_local_copy_is_gone(tmp_path: Path) -> None:
    host, work = tmp_path / "host", tmp_path / "work"
    work.mkdir()
    assert deploy(host, work, "--no-start").returncode == 0
    before = parse_env((host / ".env").read_text())
    (work / "deploy.env").unlink()  # e.g. deploying again from another machine
    again = deploy(host, work, "--no-start")
    assert again.returncode == 0, again.stderr
    after = parse_env((host / ".env").read_text())
    assert {k: after[k] for k in SECRETS} == {k: before[k] for k in SECRETS}
    assert "reusing the secrets" in again.stdout
    assert_no_secret_in(again, after)


def test_a_weak_secret_stops_the_deploy_naming_the_setting(tmp_path: Path) -> None:
    host, work = tmp_path / "host", tmp_path / "work"
    work.mkdir()
    result = deploy(host, work, "--no-start", seed="LIVEKIT_API_SECRET=only-20-bytes-long!\n")
    assert result.returncode != 0
    assert "LIVEKIT_API_SECRET" in result.stderr and "only-20-bytes-long!" not in result.stdout + result.stderr
    assert not (host / ".env").exists(), "nothing copied after a failed step"


def test_missing_arguments_are_named(tmp_path: Path) -> None:
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "deploy-vm.sh"), "HOST=user@vm"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode != 0 and "DOMAIN is required" in result.stderr
    bad = deploy(tmp_path / "h", tmp_path, "--no-start", "DOMAIN=https://x")
    assert bad.returncode != 0 and "DOMAIN" in bad.stderr


@pytest.mark.skipif(
    shutil.which("docker") is not None
    and subprocess.run(["docker", "info"], capture_output=True, check=False, timeout=120).returncode == 0,
    reason="a Docker engine answers here: the check would pass and the stack would really start",
)
def test_without_a_docker_engine_the_host_check_stops_with_what_to_do(tmp_path: Path) -> None:
    host, work = tmp_path / "host", tmp_path / "work"
    work.mkdir()
    result = deploy(host, work)
    assert result.returncode != 0
    assert "docker" in result.stderr.lower()
    assert (work / "deploy.env").exists(), "secrets are created before the host checks"
    assert not (host / "compose.yaml").exists(), "nothing copied to a host that cannot run it"
