"""`python -m services.deploy.workers [--wait SECONDS]`: is every agent worker registered with livekit-server?

Compose mode runs it in the web container (host network) after `up` and for `status` (scripts/compose.sh):
worker i of AGENT_WORKERS answers on AGENT_METRICS_PORT + 100*i, the gauge the recovery sidecar reads
before it re-dispatches (lvs_agent_worker_registered). Exit 0 when all are registered, 1 otherwise.
"""

from __future__ import annotations

import argparse
import time
import urllib.error
import urllib.request

from services.agent.server import program_name
from services.recovery.sweeper import says_registered
from services.shared.settings import Settings, load_settings_or_exit

TIMEOUT_S = 2.0


def registered(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            return response.status == 200 and says_registered(response.read().decode(errors="replace"))
    except (urllib.error.URLError, OSError):
        return False


def worker_states(settings: Settings) -> list[tuple[str, int, bool]]:
    """(worker program name: agent, agent-2 …, its metrics port, registered) of every worker."""
    agent = settings.agent
    ports = [(program_name(i), agent.instance_metrics_port(i)) for i in range(agent.workers)]
    return [(name, port, registered(f"http://127.0.0.1:{port}/metrics")) for name, port in ports]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.deploy.workers", description=__doc__.split("\n")[0])
    parser.add_argument("--wait", type=float, default=0.0, help="Seconds to wait for every worker (default 0).")
    args = parser.parse_args(argv)
    settings = load_settings_or_exit()
    deadline = time.monotonic() + args.wait
    while True:
        states = worker_states(settings)
        if all(ok for _, _, ok in states) or time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    for name, port, ok in states:
        print(f"    {name}: {'registered' if ok else 'NOT registered'} (metrics :{port})", flush=True)
    return 0 if all(ok for _, _, ok in states) else 1


if __name__ == "__main__":
    raise SystemExit(main())
