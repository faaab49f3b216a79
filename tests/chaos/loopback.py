"""Clients of the web service from loopback addresses of their own (all of 127/8 is loopback on Linux).

The web service rate-limits session requests per client address: a test that sends from its own addresses
neither is throttled by, nor throttles, tests that send from 127.0.0.1.
"""

from __future__ import annotations

import ipaddress

import httpx

from services.shared.settings import Settings
from tests.helpers import eventually, log_entries, log_size

LOOPBACK = ipaddress.ip_network("127.0.0.0/8")


def addresses(first: str, count: int) -> list[str]:
    """`count` consecutive loopback addresses from `first` (never 127.0.0.1, the other tests' address)."""
    start = ipaddress.IPv4Address(first)
    found = [start + i for i in range(count)]
    bad = [str(a) for a in found if a not in LOOPBACK or str(a) == "127.0.0.1" or a.packed[-1] in (0, 255)]
    assert not bad, f"not usable as a separate loopback client address: {bad}"
    return [str(a) for a in found]


def client(settings: Settings, address: str, timeout: float = 60.0) -> httpx.AsyncClient:
    """An async client of the web service whose connections come from `address`; one connection per request."""
    transport = httpx.AsyncHTTPTransport(local_address=address, limits=httpx.Limits(max_keepalive_connections=0))
    return httpx.AsyncClient(base_url=settings.web.base_url, transport=transport, timeout=timeout)


def assert_web_sees(settings: Settings, sources: list[str], timeout: float = 15.0) -> None:
    """Send one request from each address; fail unless the web service logs each as its own client address."""
    offset = log_size(settings, "web")
    for address in sources:
        transport = httpx.HTTPTransport(local_address=address)
        with httpx.Client(base_url=settings.web.base_url, transport=transport, timeout=10) as c:
            assert c.get("/api/config").status_code == 200
    eventually(
        lambda: set(sources) <= {str(e.get("client")) for e in log_entries(settings, "web", offset)},
        timeout,
        what=f"the web log to show requests from {', '.join(sources)} (client addresses seen by the web service)",
    )
