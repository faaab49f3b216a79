"""The recovery sidecar's actions of the last hour (names included: the status page is admin-only)."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

from services.recovery.actions import status_token
from services.shared.settings import Settings

TIMEOUT_S = 1.5


@dataclass(frozen=True)
class RecoveryActions:
    up: bool
    actions: list[dict[str, object]] = field(default_factory=list)


def actions_url(settings: Settings) -> str:
    rs = settings.recovery
    host = "127.0.0.1" if rs.bind in ("0.0.0.0", "::") else rs.bind
    return f"http://{host}:{rs.port}/actions"


def recovery_actions(settings: Settings) -> RecoveryActions:
    lk = settings.livekit
    token = status_token(lk.api_key, lk.api_secret.get_secret_value())
    try:
        response = httpx.get(actions_url(settings), headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT_S)
        response.raise_for_status()
        return RecoveryActions(True, list(response.json().get("actions", [])))
    except (httpx.HTTPError, ValueError):
        return RecoveryActions(False)
