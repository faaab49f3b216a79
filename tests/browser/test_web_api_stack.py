"""The web API as deployed (gunicorn, several workers) against the real livekit-server and Letta."""

from __future__ import annotations

import json

import httpx
import jwt
import pytest
from livekit import api

from services.shared.livekit import parse_room_metadata
from services.shared.settings import Settings
from tests.browser.conftest import livekit_call

pytestmark = pytest.mark.stack


def _room(settings: Settings, name: str) -> api.Room | None:
    async def call(lk: api.LiveKitAPI) -> api.Room | None:
        rooms = (await lk.room.list_rooms(api.ListRoomsRequest(names=[name]))).rooms
        return rooms[0] if rooms else None

    return livekit_call(settings, call)


def _dispatches(settings: Settings, name: str) -> list[api.AgentDispatch]:
    async def call(lk: api.LiveKitAPI) -> list[api.AgentDispatch]:
        return list(await lk.agent_dispatch.list_dispatch(room_name=name))

    return livekit_call(settings, call)


def test_health_and_readiness(stack: Settings) -> None:
    base = stack.web.base_url
    assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{base}/readyz", timeout=10)
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"livekit": True, "letta": True}
    assert "lvs_web_requests_total" in httpx.get(f"{base}/metrics").text


def test_session_lifecycle(stack: Settings, letta_agent: dict[str, str]) -> None:
    base, agent_id = stack.web.base_url, letta_agent["id"]
    agents = httpx.get(f"{base}/api/agents", timeout=30).json()["agents"]
    assert agent_id in {a["id"] for a in agents}

    first = httpx.post(f"{base}/api/sessions", json={"agent_id": agent_id, "takeover": True}, timeout=30)
    assert first.status_code == 201, first.text
    session = first.json()
    room = session["room"]
    try:
        claims = jwt.decode(session["token"], options={"verify_signature": False})
        assert claims["video"]["room"] == room and claims["exp"] - claims["nbf"] == stack.web.token_ttl
        # The room carries our marker and the Letta agent; our agent was dispatched explicitly.
        lk_room = _room(stack, room)
        assert lk_room is not None
        assert parse_room_metadata(lk_room.metadata) == {"lvs": True, "letta_agent_id": agent_id}
        if stack.agent.dispatch.value == "explicit":
            ours = [d for d in _dispatches(stack, room) if d.agent_name == stack.agent.name]
            assert len(ours) == 1
            assert json.loads(ours[0].metadata) == {"letta_agent_id": agent_id}

        # A second session for the same agent is refused (whichever worker answers) ...
        second = httpx.post(f"{base}/api/sessions", json={"agent_id": agent_id}, timeout=30)
        assert second.status_code == 409 and second.json()["room"] == room
        # ... unless it takes over: the old room is closed first.
        third = httpx.post(f"{base}/api/sessions", json={"agent_id": agent_id, "takeover": True}, timeout=30)
        assert third.status_code == 201, third.text
        assert _room(stack, room) is None
        room = third.json()["room"]
    finally:
        ended = httpx.delete(f"{base}/api/sessions/{room}", timeout=30)
    assert ended.status_code == 200 and _room(stack, room) is None
    assert httpx.delete(f"{base}/api/sessions/{room}", timeout=30).status_code == 404


def test_unknown_agent_and_secrets(stack: Settings) -> None:
    base = stack.web.base_url
    missing = httpx.post(f"{base}/api/sessions", json={"agent_id": "agent-does-not-exist"}, timeout=30)
    assert missing.status_code == 404 and missing.json()["field"] == "agent_id"
    secret = stack.livekit.api_secret.get_secret_value()
    # `make up` generates a strong one (.stack/secrets.env); a short word would match innocent text
    assert len(secret) >= 12, "LIVEKIT_API_SECRET is too short to search for: remove it from .env or the environment"
    for path in ("/", "/api/config", "/api/openapi.json", "/api/agents", "/readyz"):
        assert secret not in httpx.get(f"{base}{path}", timeout=30).text
    assert secret not in (stack.stack.log_dir / "web.log").read_text(errors="replace")
