"""Helpers shared by the stack, browser and chaos tests."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

import httpx

from services.shared.letta import letta_headers
from services.shared.settings import Settings
from services.web.store import throwaway_account as web_account  # noqa: F401 (the tests' name for it)

ROOT = Path(__file__).resolve().parents[1]

T = TypeVar("T")


def ask_letta(settings: Settings, agent_id: str, text: str, timeout: float = 120) -> str:
    """One turn through Letta's OpenAI-compatible voice contract (streaming); the whole reply."""

    body = {"model": agent_id, "stream": True, "messages": [{"role": "user", "content": text}]}
    out = []
    with httpx.stream(
        "POST",
        f"{settings.letta.openai_url}/chat/completions",
        json=body,
        headers=letta_headers(settings),
        timeout=timeout,
    ) as response:
        assert response.status_code == 200, response.read()
        for line in response.iter_lines():
            if line.startswith("data: {"):
                out.append(json.loads(line[6:])["choices"][0]["delta"].get("content") or "")
    return "".join(out)


def log_tail(settings: Settings, name: str, lines: int = 40) -> str:
    """The last lines of a service's log, to print when a test fails."""
    path = settings.stack.log_dir / f"{name}.log"
    if not path.exists():
        return f"(no log at {path})"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def settings_secrets(settings: Settings) -> dict[str, str]:
    """Every secret (SecretStr) of the settings that is set, by environment variable: LiveKit's API secret, the
    passwords of Letta and of PostgreSQL's two roles, the login-cookie key, the owner's password when given, keys."""
    from pydantic import SecretStr

    from services.shared.settings import env_name

    found = {}
    for _, section in settings:
        for name, value in section:
            if isinstance(value, SecretStr) and value.get_secret_value():
                found[env_name(type(section), name)] = value.get_secret_value()
    return found


def secrets_in_logs(settings: Settings, secrets: dict[str, bytes]) -> list[str]:
    """'NAME in FILE' for each secret found in any service's log (every file in the log folder, rotated too)."""
    logs = sorted(p for p in settings.stack.log_dir.iterdir() if p.is_file() and ".log" in p.name)
    assert logs, f"no logs in {settings.stack.log_dir}"
    found = []
    for path in logs:
        text = path.read_bytes()
        found += [f"{name} in {path.name}" for name, value in secrets.items() if value in text]
    return found


def log_size(settings: Settings, name: str) -> int:
    """Bytes in a service's log now: pass it to log_entries to read only what comes after."""
    path = settings.stack.log_dir / f"{name}.log"
    return path.stat().st_size if path.exists() else 0


def log_entries(settings: Settings, name: str, offset: int = 0) -> list[dict[str, Any]]:
    """The JSON lines of a service's log from byte `offset` on (other lines are skipped)."""
    path = settings.stack.log_dir / f"{name}.log"
    if not path.exists():
        return []
    with path.open("rb") as f:
        f.seek(offset)
        lines = f.read().decode(errors="replace").splitlines()
    entries = []
    for line in lines:
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict):
            entries.append(entry)
    return entries


def eventually(condition: Callable[[], T], timeout: float, interval: float = 0.2, what: str = "condition") -> T:
    """Poll until ``condition`` returns a truthy value; fail with ``what`` after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < end:
        try:
            value = condition()
            if value:
                return value
        except Exception as error:  # the condition may fail while a service is still starting
            last_error = error
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}" + (f": {last_error!r}" if last_error else ""))


def worker_names(settings: Settings) -> list[str]:
    """The agent worker programs of the stack (agent, agent-2 … for AGENT_WORKERS)."""
    from services.agent.server import program_name

    return [program_name(i) for i in range(settings.agent.workers)]


@contextmanager
def job_processes_paused(settings: Settings) -> Iterator[int]:
    """Suspend (SIGSTOP) the job processes of every agent worker for the block; yields how many at its start.

    The workers themselves keep answering LiveKit, so a room dispatched meanwhile is accepted and its job
    waits in a paused process: the agent joins only once the block ends, deterministically late. A process a
    worker starts during the block (its idle pool refilled) is paused within 50 ms, long before it could join."""
    import psutil

    from services.agent.server import is_worker_program
    from services.stack.supervisor import Supervisor

    # every worker supervisord runs, whatever AGENT_WORKERS this process was given
    running = Supervisor(settings).info().values()
    workers = [psutil.Process(p.pid) for p in running if is_worker_program(p.name) and p.pid]
    paused: dict[int, psutil.Process] = {}

    def pause_new() -> None:
        for worker in workers:
            with suppress(psutil.NoSuchProcess):  # a job process that ends while its tree is read
                for child in worker.children(recursive=True):
                    if child.pid not in paused:
                        child.suspend()
                        paused[child.pid] = child

    def keep_pausing() -> None:
        while not done.wait(0.05):
            pause_new()

    pause_new()
    done = threading.Event()
    watcher = threading.Thread(target=keep_pausing, daemon=True)
    watcher.start()
    try:
        yield len(paused)
    finally:
        done.set()
        watcher.join()
        for proc in paused.values():
            with suppress(psutil.NoSuchProcess):
                proc.resume()


def worker_log_lines(settings: Settings) -> list[str]:
    """Every worker's log lines (a job may run on any of them)."""
    lines: list[str] = []
    for name in worker_names(settings):
        path = settings.stack.log_dir / f"{name}.log"
        if path.exists():
            lines += path.read_text(errors="replace").splitlines()
    return lines


def worker_logs_tail(settings: Settings, lines: int = 40) -> str:
    return "\n".join(f"--- {n} log ---\n{log_tail(settings, n, lines)}" for n in worker_names(settings))


def worker_metrics_text(settings: Settings) -> str:
    """Every worker's /metrics, concatenated (sum samples over it to count across workers)."""

    ports = [settings.agent.instance_metrics_port(i) for i in range(settings.agent.workers)]
    return "\n".join(httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text for port in ports)


def running_jobs(settings: Settings) -> float:
    """Jobs the stack's workers run now (each worker's GET /worker; a stopped worker runs none)."""

    total = 0.0
    for i in range(settings.agent.workers):
        try:
            info = httpx.get(f"http://127.0.0.1:{settings.agent.instance_port(i)}/worker", timeout=5).json()
        except httpx.ConnectError:
            continue
        total += float(info.get("active_jobs", 0))
    return total


async def holds(condition: Callable[[], Awaitable[object]], duration: float, what: str, interval: float = 0.25) -> None:
    """Await ``condition`` repeatedly for ``duration`` seconds; fail naming ``what`` the first time it is false."""
    end = time.monotonic() + duration
    while True:
        value = await condition()
        if not value:
            raise AssertionError(f"{what} stopped holding {duration - (end - time.monotonic()):.1f}s in: {value!r}")
        if time.monotonic() >= end:
            return
        await asyncio.sleep(interval)


@contextmanager
def only_first_worker(settings: Settings, restart_timeout: float = 120.0) -> Iterator[Settings]:
    """Stop every agent worker but the first for the block; start them again and wait until they are healthy."""
    from services.stack.health import probe
    from services.stack.programs import programs
    from services.stack.supervisor import Supervisor

    sup = Supervisor(settings)
    others = [name for name in worker_names(settings) if name != "agent"]
    for name in others:
        sup.stop(name)
    try:
        yield settings
    finally:
        for name in others:
            sup.start(name)
        for prog in programs(settings):
            if prog.name in others:
                eventually(lambda prog=prog: probe(prog.health), restart_timeout, what=f"{prog.name} healthy again")


def make_up(**environ: str) -> subprocess.CompletedProcess[str]:
    """`make up` (scripts/up.sh) on the project, its output captured; ``environ`` added to its environment."""
    return subprocess.run(
        ["bash", "scripts/up.sh"],
        cwd=ROOT,
        env={**os.environ, **environ},
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def add_env_lines(path: Path, *lines: str) -> None:
    """Append settings to a .env file."""
    before = path.read_text() if path.exists() else ""
    path.write_text(before + ("" if before.endswith("\n") or not before else "\n") + "\n".join(lines) + "\n")


@contextmanager
def env_file_kept(path: Path) -> Iterator[str | None]:
    """The block may change the .env file ``path``: its content before (None: there was none) comes back at
    the end, whatever happened. Yields that content."""
    original = path.read_text() if path.exists() else None
    try:
        yield original
    finally:
        if original is None:
            path.unlink(missing_ok=True)
        else:
            path.write_text(original)


@contextmanager
def settings_applied(*lines: str) -> Iterator[Settings]:
    """The stack running with these .env lines added (`make up` applies them); the original .env comes back,
    applied, at the end. Yields the settings as the stack now runs them."""
    from services.shared.settings import ENV_FILE, get_settings

    try:
        with env_file_kept(ENV_FILE):
            add_env_lines(ENV_FILE, *lines)
            applied = make_up()
            assert applied.returncode == 0, applied.stdout[-3000:]
            get_settings.cache_clear()
            yield get_settings()
    finally:
        get_settings.cache_clear()
        restored = make_up()
        assert restored.returncode == 0, restored.stdout[-3000:]
