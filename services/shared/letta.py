"""Letta client factory: the letta-client SDK for management, plain HTTP for the voice contract."""

from __future__ import annotations

from letta_client import Letta

from services.shared.settings import Settings


def letta_headers(settings: Settings) -> dict[str, str]:
    """Authorization headers for the Letta server (empty when no password is set)."""
    password = settings.letta.password
    return {"Authorization": f"Bearer {password.get_secret_value()}"} if password else {}


def letta_client(settings: Settings, timeout: float = 10.0) -> Letta:
    """A letta-client SDK client for agents, memory blocks and messages."""
    password = settings.letta.password
    return Letta(
        base_url=settings.letta.base_url,
        api_key=password.get_secret_value() if password else None,
        timeout=timeout,
    )
