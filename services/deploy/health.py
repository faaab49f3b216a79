"""Container health probe: `python -m services.deploy.health web|agent|recovery|llm|embeddings|speech`.

The URL comes from the settings (the same ports as the native stack), so a changed port keeps its health
check right. Exit 0 when the service answers 2xx within the timeout, 1 otherwise (Docker HEALTHCHECK).
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request

from services.agent.slots import read_instance
from services.shared.settings import Settings, get_settings

TIMEOUT_S = 4.0


def agent_port(settings: Settings) -> int:
    """This container's worker: the index it claimed (a compose replica, services/agent/slots.py), else
    AGENT_INSTANCE."""
    claimed = read_instance(settings.stack.run_dir) if settings.agent.slots_dir is not None else None
    return settings.agent.instance_port(settings.agent.instance if claimed is None else claimed)


def health_url(settings: Settings, service: str) -> str:
    """Where ``service`` answers its health check (as the native stack's programs probe it)."""
    urls = {
        "web": f"{settings.web.base_url}/healthz",
        "agent": f"http://127.0.0.1:{agent_port(settings)}/",
        "recovery": f"http://127.0.0.1:{settings.recovery.port}/healthz",
        "llm": f"{settings.llm.local_base_url}/models",
        "embeddings": f"{settings.embeddings.base_url}/models",
        "speech": f"http://127.0.0.1:{settings.speech.port}/healthz",
    }
    if service not in urls:
        raise KeyError(f"unknown service {service!r}: one of {', '.join(urls)}")
    return urls[service]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m services.deploy.health SERVICE", file=sys.stderr)
        return 2
    try:
        url = health_url(get_settings(), args[0])
    except KeyError as error:
        print(f"health: {error.args[0]}", file=sys.stderr)
        return 2
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            ok = 200 <= response.status < 300
    except (urllib.error.URLError, OSError) as error:
        print(f"health: {args[0]} at {url}: {error}", file=sys.stderr)
        return 1
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
