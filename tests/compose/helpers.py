"""Helpers of the compose tests: the containers by service name, their state and log tails, make and the
scripts in compose mode, and a logged-in web client with a throwaway account made in the web container."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from services.shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
PROJECT = os.environ.get("COMPOSE_PROJECT_NAME", "letta-voice-stack")  # scripts/test-compose.sh sets its own
UP_S = 900  # `make up MODE=compose` (images cached)


def container(service: str) -> str:
    return f"{PROJECT}-{service}-1"


def docker(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)


def logs(service: str, lines: int = 30) -> str:
    out = docker("logs", "--tail", str(lines), container(service))
    return f"--- {container(service)}: last {lines} log lines ---\n{out.stdout}{out.stderr}"


def state(service: str) -> dict[str, object]:
    out = docker("inspect", "--format", "{{json .State}}|{{.RestartCount}}", container(service))
    assert out.returncode == 0, f"{container(service)} does not exist: {out.stderr.strip()}"
    raw, count = out.stdout.strip().rsplit("|", 1)
    info = json.loads(raw)
    return {
        "running": info.get("Running"),
        "health": (info.get("Health") or {}).get("Status", ""),
        "pid": info.get("Pid"),
        "restarts": int(count),
    }


def healthy(service: str) -> bool:
    st = state(service)
    return bool(st["running"]) and st["health"] in ("healthy", "")


def make(*args: str, timeout: float = UP_S) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", *args, "MODE=compose"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def script(name: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(ROOT / "scripts" / name), *args],
        cwd=ROOT,
        env={**os.environ, "MODE": "compose", **(env or {})},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def explain(error: AssertionError, *services: str) -> AssertionError:
    return AssertionError("\n".join([str(error), *(logs(s) for s in services)]))


def compose_cmd() -> list[str]:
    cmd = ["docker", "compose", "--project-directory", str(ROOT), "-f", str(ROOT / "compose.yaml")]
    return cmd + (["--env-file", str(ROOT / ".env")] if (ROOT / ".env").exists() else [])


@contextmanager
def web_account() -> Iterator[tuple[str, str]]:
    """A throwaway admin account (name, password) in the web container's store, removed afterwards."""
    name, password = f"ct-{secrets.token_hex(4)}", secrets.token_urlsafe(16)
    users = [*compose_cmd(), "exec", "-T", "web", "python", "-m", "services.web.users"]
    added = subprocess.run(
        [*users, "add", name, "--admin", "--password-stdin"],
        input=password + "\n",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert added.returncode == 0, added.stdout + added.stderr
    try:
        yield name, password
    finally:
        subprocess.run([*users, "remove", name], capture_output=True, timeout=120, check=False)


def require_healthy(*services: str) -> None:
    for service in services:
        assert healthy(service), explain(AssertionError(f"{container(service)} is not healthy"), service)


@contextmanager
def logged_in(settings: Settings) -> Iterator[httpx.Client]:
    """A client of the web service logged in with a throwaway admin account."""
    with web_account() as (name, password), httpx.Client(base_url=settings.web.base_url, timeout=30) as client:
        client.post("/api/login", json={"name": name, "password": password}).raise_for_status()
        yield client
