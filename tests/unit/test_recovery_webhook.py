"""Webhook triggers (pure) and the sidecar's HTTP endpoints (no LiveKit needed)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from google.protobuf.json_format import MessageToJson
from livekit import api
from livekit.protocol import models
from livekit.protocol.webhook import WebhookEvent

from services.recovery.policy import Action, ActionKind, Rule
from services.recovery.replay import ReplayGuard
from services.recovery.server import SWEEPER, create_app
from services.recovery.sweeper import Outcome, Sweeper
from services.recovery.webhook import trigger_for
from services.shared.livekit import room_metadata
from services.shared.settings import LiveKitSettings, RecoverySettings, RoomOwnership, Settings

pytestmark = pytest.mark.unit
SECRET = "webhook-test-secret-" + "x" * 16
SETTINGS = Settings(
    livekit=LiveKitSettings(api_key="devkey", api_secret=SECRET),
    recovery=RecoverySettings(room_prefix="lvs-", ownership=RoomOwnership.BOTH),
)
AGENT = models.ParticipantInfo.Kind.AGENT
STANDARD = models.ParticipantInfo.Kind.STANDARD


def event(name: str, room: str, metadata: str = "", identity: str = "p", kind: int = STANDARD) -> WebhookEvent:
    return WebhookEvent(
        event=name,
        room=models.Room(name=room, metadata=metadata),
        participant=models.ParticipantInfo(identity=identity, kind=kind),
    )


OURS = room_metadata("agent-1")
CASES = [
    ("our agent left", event("participant_left", "lvs-a", OURS, "agent-letta-x", AGENT), "lvs-a"),
    ("human joined our room", event("participant_joined", "lvs-a", OURS, "user"), "lvs-a"),
    ("second agent joined", event("participant_joined", "lvs-a", OURS, "agent-letta-y", AGENT), "lvs-a"),
    ("no metadata in payload: the name decides", event("participant_left", "lvs-a"), "lvs-a"),
    ("foreign room by name", event("participant_left", "meeting-1", OURS), None),
    ("our prefix but foreign metadata", event("participant_left", "lvs-a", json.dumps({"x": 1})), None),
    ("room started is not a trigger", event("room_started", "lvs-a", OURS), None),
    ("track published is not a trigger", event("track_published", "lvs-a", OURS), None),
]


@pytest.mark.parametrize(("case", "ev", "room"), CASES, ids=[c[0] for c in CASES])
def test_trigger_for(case: str, ev: WebhookEvent, room: str | None) -> None:
    trigger = trigger_for(ev, SETTINGS)
    assert (trigger.room if trigger else None) == room


def signed(body: str, secret: str = SECRET, key: str = "devkey") -> str:
    digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
    return api.AccessToken(key, secret).with_sha256(digest).to_jwt()


def with_client(check: Callable[[TestClient], Awaitable[None]]) -> None:
    async def run() -> None:
        async with api.LiveKitAPI("http://127.0.0.1:9", "devkey", SECRET) as lkapi:
            app = create_app(SETTINGS, Sweeper(SETTINGS, lkapi))
            async with TestClient(TestServer(app)) as client:
                await check(client)

    asyncio.run(run())


async def post(client: TestClient, body: str, auth: str | None) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/webhook+json"} | ({"Authorization": auth} if auth else {})
    resp = await client.post("/webhooks/livekit", data=body, headers=headers)
    return resp.status, await resp.json()


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_webhook_signature_is_checked() -> None:
    body = MessageToJson(event("participant_left", "meeting-1"))

    async def check(client: TestClient) -> None:
        assert await post(client, body, signed(body)) == (
            200,
            {"ok": True, "event": "participant_left", "sweep": None},
        )
        status, reply = await post(client, body, None)
        assert status == 401 and reply["field"] == "Authorization"
        status, reply = await post(client, body, signed(body, secret="not-the-secret"))
        assert status == 401 and "signature" in reply["error"]
        status, _ = await post(client, body + " ", signed(body))  # body changed after signing
        assert status == 401

    with_client(check)


def test_healthz_and_metrics() -> None:
    async def check(client: TestClient) -> None:
        health = await client.get("/healthz")
        assert health.status == 200 and (await health.json())["status"] == "ok"
        metrics = await client.get("/metrics")
        assert metrics.status == 200 and "lvs_recovery_webhooks" in await metrics.text()

    with_client(check)


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_a_replayed_webhook_is_answered_but_not_acted_on() -> None:
    ev = event("participant_left", "lvs-a", OURS, "agent-letta-x", AGENT)
    ev.id = "EV_replay_1"
    body = MessageToJson(ev)

    async def check(client: TestClient) -> None:
        first = await post(client, body, signed(body))
        assert first == (200, {"ok": True, "event": "participant_left", "sweep": "lvs-a"})
        again = await post(client, body, signed(body))  # the same signed request, delivered again
        assert again == (200, {"ok": True, "event": "participant_left", "sweep": None, "duplicate": True})

    with_client(check)


def test_replay_guard_forgets_ids_after_the_window() -> None:
    now = [0.0]
    guard = ReplayGuard(window=10, limit=3, clock=lambda: now[0])
    assert not guard.seen_before("a") and guard.seen_before("a")
    assert not guard.seen_before("") and not guard.seen_before("")  # no id: never a replay
    now[0] = 11
    assert not guard.seen_before("a")  # the window passed
    for name in "bcdef":
        guard.seen_before(name)
    assert len(guard) <= 4  # bounded


def test_healthz_names_no_room_and_no_identity() -> None:
    async def check(client: TestClient) -> None:
        sweeper = client.app[SWEEPER]
        action = Action(
            ActionKind.REMOVE_PARTICIPANT, Rule.INACTIVE_PARTICIPANT, "lvs-secret-room", "alice@example.com", None, ""
        )
        sweeper.recent.append((1.0, action, Outcome.DONE))
        sweeper.last_error = "RuntimeError: room lvs-secret-room failed"
        text = await (await client.get("/healthz")).text()
        assert "lvs-secret-room" not in text and "alice" not in text
        body = json.loads(text)
        assert body["recent_actions"] == 1 and body["recent_actions_by_rule"] == {Rule.INACTIVE_PARTICIPANT.value: 1}
        assert body["last_error"] == "RuntimeError"

    with_client(check)
