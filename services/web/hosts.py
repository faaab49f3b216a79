"""Which Host (and Origin) names the web service answers to: a guard against DNS rebinding.

Rebinding needs a DNS name that an attacker controls, so IP literals and loopback names are always
allowed; other names only when they are DEPLOY_DOMAIN or listed in WEB_ALLOWED_HOSTS.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from services.shared.settings import Settings

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})


def host_name(host: str) -> str:
    """The name part of a Host header value: no port, no brackets, lower case, no trailing dot."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host.rstrip(".")


def is_ip_literal(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def allowed_names(settings: Settings) -> frozenset[str]:
    """The DNS names allowed besides loopback names and IP literals."""
    names = {host_name(h) for h in settings.web.allowed_hosts}
    if settings.deploy.domain:
        names.add(settings.deploy.domain)
    return frozenset(n for n in names if n)


def host_allowed(host: str, names: frozenset[str]) -> bool:
    """True when a request's Host header names this service (not a rebinding attacker's domain)."""
    name = host_name(host)
    if not name:
        return False
    return name in LOOPBACK_NAMES or name.endswith(".localhost") or is_ip_literal(name) or name in names


def origin_allowed(origin: str, names: frozenset[str]) -> bool:
    """The same rule for an Origin header (scheme://host[:port])."""
    try:
        parsed = urlsplit(origin)
    except ValueError:
        return False
    return parsed.scheme in ("http", "https") and bool(parsed.netloc) and host_allowed(parsed.netloc, names)
