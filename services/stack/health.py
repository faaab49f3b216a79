"""Health probes and waiting on a condition with a deadline (never a fixed sleep)."""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx

from services.stack.programs import Health

T = TypeVar("T")


def marker_alive(marker: Path) -> bool:
    """True when the marker file exists and names a process that is still running."""
    try:
        pid = int(json.loads(marker.read_text())["pid"])
        os.kill(pid, 0)
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return True


def probe(health: Health, timeout: float = 2.0) -> bool:
    """True when the endpoint answers as a healthy service does (and its marker, if any, is live)."""
    if health.marker is not None and not marker_alive(health.marker):
        return False
    try:
        if health.kind == "tcp":
            host, port = health.target.rsplit(":", 1)
            with socket.create_connection((host, int(port)), timeout=timeout):
                return True
        response = httpx.get(health.target, timeout=timeout)
        return response.status_code < 300
    except (OSError, httpx.HTTPError):
        return False


def wait_for(
    condition: Callable[[], T | None],
    deadline_s: float,
    interval: float = 0.2,
    on_tick: Callable[[float], None] | None = None,
) -> T | None:
    """Poll ``condition`` until it returns a truthy value or the deadline passes (then None)."""
    end = time.monotonic() + deadline_s
    while True:
        value = condition()
        if value:
            return value
        now = time.monotonic()
        if now >= end:
            return None
        if on_tick:
            on_tick(end - now)
        time.sleep(min(interval, end - now))


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True when something already listens on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0
