"""The pure checks behind the settings validators: one function per rule, raising ValueError with the message
the operator reads (services/shared/settings.py names the setting in front of it).

Kept apart from the pydantic model so each rule is a plain function: unit tests call it directly, and mutation
testing (`make mutation`) can change it (mutmut does not mutate decorated validator methods).
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlparse

MIN_SECRET_BYTES = 32
SQL_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
MAX_DNS_LABEL = 63


def is_loopback(host: str) -> bool:
    """True for a host name or address that only this machine can reach."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(value: str, schemes: tuple[str, ...]) -> str:
    """``value`` without a trailing slash, if it is a URL with one of ``schemes`` and a host."""
    parsed = urlparse(value)
    if parsed.scheme not in schemes or not parsed.hostname:
        raise ValueError(f"must be a URL starting with {' or '.join(s + '://' for s in schemes)}")
    return value.rstrip("/")


def under_root(value: Path | None, root: Path) -> Path | None:
    """A relative path is relative to the project folder ``root``, whatever the working directory."""
    if value is None:
        return None
    return value if value.is_absolute() else root / value


def check_sql_name(value: str) -> str:
    if not SQL_NAME.fullmatch(value):
        raise ValueError("must be a lower-case SQL name (letters, digits, _; starting with a letter or _)")
    return value


def check_two_roles(admin_user: str, user: str) -> None:
    if admin_user == user:
        raise ValueError("POSTGRES_ADMIN_USER must differ from POSTGRES_USER (Letta's role is not the admin)")


def check_llm_choice(provider_is_openai: bool, has_openai_key: bool, gguf_path: Path | None) -> None:
    if provider_is_openai and not has_openai_key:
        raise ValueError("LLM_PROVIDER=openai needs OPENAI_API_KEY")
    if gguf_path is not None and not gguf_path.is_file():
        raise ValueError(f"LLM_GGUF_PATH={gguf_path} is not a file")


def check_dead_after(dead_after: float, heartbeat_interval: float) -> None:
    if dead_after < 2 * heartbeat_interval:
        raise ValueError("AGENT_DEAD_AFTER must be at least twice AGENT_HEARTBEAT_INTERVAL")


def check_compact_keep(keep: float, compact_at: float) -> None:
    """A compaction must leave a conversation clearly under the share that starts the next one."""
    if compact_at > 0 and keep > compact_at - 0.1:
        raise ValueError(
            "LETTA_COMPACT_KEEP must be at least 0.1 under LETTA_COMPACT_AT (else a compacted conversation is due"
            " for compaction again after its next session)"
        )


def check_networks(values: list[str]) -> list[str]:
    """Each item an IP address or network."""
    for item in values:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ValueError(f"{item!r} is not an IP address or network (e.g. 127.0.0.1, 10.0.0.0/8)") from None
    return values


def split_list(value: object) -> object:
    """A comma-separated (or JSON list) string as a list of its non-empty, stripped items; anything else as is."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        return json.loads(text)
    return [part.strip() for part in text.split(",") if part.strip()]


def check_session_grace(session_grace: float, token_ttl: float) -> None:
    # An unjoined room counts as live for the grace; past it a newer session deletes the room, so its token
    # (valid WEB_TOKEN_TTL) opens nothing. A grace longer than the token's life makes no sense.
    if session_grace > token_ttl:
        raise ValueError("WEB_SESSION_GRACE must not exceed WEB_TOKEN_TTL")


def check_health_url(value: str) -> str:
    """'' or 'off' (no check), else an http(s) URL."""
    value = value.strip()
    return value if value in ("", "off", "OFF") else check_url(value, ("http", "https"))


def check_hostname(value: str | None) -> str | None:
    """A DNS name like voice.example.com, lower-cased, without its final dot; None for empty."""
    if not value:
        return None
    labels = value.rstrip(".").split(".")
    ok = len(labels) >= 2 and all(
        0 < len(label) <= MAX_DNS_LABEL and label.replace("-", "").isalnum() and not label.startswith("-")
        for label in labels
    )
    if not ok or "://" in value:
        raise ValueError("must be a DNS name like voice.example.com (no scheme, no port)")
    return value.rstrip(".").lower()


def check_strong_secret(binds: Iterable[str], secret: str) -> None:
    """A LiveKit secret of at least MIN_SECRET_BYTES once anything listens beyond loopback."""
    exposed = [b for b in binds if not is_loopback(b)]
    if exposed and len(secret.encode()) < MIN_SECRET_BYTES:
        raise ValueError(f"LIVEKIT_API_SECRET must be at least {MIN_SECRET_BYTES} bytes when binding to {exposed[0]}")
