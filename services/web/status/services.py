"""Every service's health (its stack health check) and uptime (supervisord, natively, when it answers)."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from services.shared.settings import Settings
from services.stack.health import probe
from services.stack.programs import Program, programs

log = logging.getLogger(__name__)
PROBE_TIMEOUT_S = 1.5


@dataclass(frozen=True)
class ServiceHealth:
    name: str
    healthy: bool
    target: str  # the health URL or host:port that was probed
    state: str = ""  # supervisord's state (RUNNING, EXITED …); '' when supervisord is not there (compose)
    uptime_s: int | None = None


def _uptimes(settings: Settings) -> dict[str, tuple[str, int]]:
    """supervisord's (state, uptime) per program; {} when it does not answer (compose, or not started)."""
    try:
        from services.stack.supervisor import Supervisor

        sup = Supervisor(settings)
        if not sup.running():
            return {}
        return {name: (info.state, info.uptime_s) for name, info in sup.info().items()}
    except Exception as error:  # supervisor not installed, socket gone: uptime is then unknown
        log.debug("no supervisord uptime", extra={"error": type(error).__name__})
        return {}


def _probe(program: Program) -> bool:
    if program.name == "web":
        return True  # this request is the answer; probing our own port could wait on a busy worker
    # Without the registration marker: it is a file of the worker's machine, absent in a web container.
    return probe(replace(program.health, marker=None), timeout=PROBE_TIMEOUT_S)


def service_health(settings: Settings) -> list[ServiceHealth]:
    """Health of every program of the stack (probed in parallel), in start order."""
    progs = programs(settings)
    uptimes = _uptimes(settings)
    with ThreadPoolExecutor(max_workers=len(progs)) as pool:
        healthy = list(pool.map(_probe, progs))
    return [
        ServiceHealth(
            p.name,
            ok,
            p.health.target,
            uptimes.get(p.name, ("", 0))[0],
            uptimes[p.name][1] if p.name in uptimes and uptimes[p.name][0] == "RUNNING" else None,
        )
        for p, ok in zip(progs, healthy, strict=True)
    ]
