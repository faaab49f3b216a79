"""GET /actions: the sidecar's recovery actions of the last hour.

Rooms and identities are listed only for a caller holding a token signed with the LiveKit API secret
(the web service's admin-only status page); anyone else gets rule, action, outcome and time.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web
from livekit import api

from services.recovery.policy import Action
from services.recovery.sweeper import Outcome, Sweeper

WINDOW_S = 3600.0
# The identity of the token the web service sends; the sidecar checks signature, expiry and this name.
STATUS_IDENTITY = "lvs-status-page"
Handler = Callable[[web.Request], Awaitable[web.Response]]


def recent_actions(
    recent: Iterable[tuple[float, Action, Outcome]], now: float, names: bool, window_s: float = WINDOW_S
) -> list[dict[str, object]]:
    """Actions newer than `window_s`, newest first; room, identity and reason only when `names`."""
    out: list[dict[str, object]] = []
    for at, action, outcome in recent:
        if now - at > window_s:
            continue
        row: dict[str, object] = {
            "at": at,
            "rule": action.rule.value,
            "action": action.kind.value,
            "outcome": outcome.value,
        }
        if names:
            row |= {"room": action.room, "identity": action.identity, "reason": action.reason}
        out.append(row)
    return sorted(out, key=lambda r: -float(r["at"]))  # type: ignore[arg-type]


def may_see_names(auth_header: str, verifier: api.TokenVerifier) -> bool:
    """True for a valid token of the status page (signed with this stack's LiveKit API key and secret)."""
    token = auth_header.removeprefix("Bearer ").strip()
    if not token:
        return False
    try:
        claims = verifier.verify(token)
    except Exception:
        return False
    return claims.identity == STATUS_IDENTITY


def status_token(api_key: str, api_secret: str, ttl_s: int = 60) -> str:
    """The short-lived token the web service sends to see names (no room grant: useless in LiveKit)."""
    import datetime as dt

    return (
        api.AccessToken(api_key, api_secret)
        .with_identity(STATUS_IDENTITY)
        .with_ttl(dt.timedelta(seconds=ttl_s))
        .to_jwt()
    )


def actions_handler(sweeper: Sweeper, verifier: api.TokenVerifier) -> Handler:
    """The aiohttp handler of GET /actions for this sweeper."""

    async def view(request: web.Request) -> web.Response:
        names = may_see_names(request.headers.get("Authorization", ""), verifier)
        rows = recent_actions(list(sweeper.recent), time.time(), names)
        return web.json_response({"window_s": WINDOW_S, "names": names, "actions": rows})

    return view
