"""The web API through Flask's test client, with LiveKit and Letta replaced at the gateway boundary."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import jwt
import pytest
from flask.testing import FlaskClient

from services.web.openapi import openapi_document
from tests.unit.test_web_fakes import (
    AGENT_ID,
    LETTA_PASSWORD,
    LIVEKIT_SECRET,
    OTHER_AGENT_ID,
    Harness,
    build,
)

pytestmark = pytest.mark.unit


@pytest.fixture
def h() -> Harness:
    return build(sessions_per_minute=100)


@pytest.fixture
def client(h: Harness) -> Iterator[FlaskClient]:
    with h.app.test_client() as c:
        yield c


def post(client: FlaskClient, path: str, body: object) -> tuple[int, dict]:
    r = client.post(path, json=body)
    return r.status_code, r.get_json()


# ------------------------------------------------------------------ health


def test_healthz(client: FlaskClient) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200 and r.get_json() == {"status": "ok"}


@pytest.mark.parametrize(
    ("livekit_down", "letta_down", "status", "down"),
    [
        (False, False, 200, None),
        (True, False, 503, ["livekit"]),
        (False, True, 503, ["letta"]),
        (True, True, 503, ["letta", "livekit"]),
    ],
)
def test_readyz(h: Harness, client: FlaskClient, livekit_down: bool, letta_down: bool, status: int, down) -> None:
    h.livekit.down, h.letta.down = livekit_down, letta_down
    r = client.get("/readyz")
    assert r.status_code == status
    assert r.get_json().get("down") == down


def test_metrics_count_requests(client: FlaskClient) -> None:
    client.get("/healthz")
    r = client.get("/metrics")
    assert r.status_code == 200
    assert 'lvs_web_requests_total{method="GET",route="/healthz",status="200"}' in r.get_data(as_text=True)


def test_config_has_page_facts_only(client: FlaskClient, h: Harness) -> None:
    data = client.get("/api/config").get_json()
    assert data["livekit_url"] == h.settings.livekit.browser_url
    assert set(data) == {"livekit_url", "llm", "offline_model", "token_ttl"}
    assert set(data["llm"]) == {"provider", "model", "is_local"}


def test_index_page_is_served(client: FlaskClient) -> None:
    r = client.get("/")
    assert r.status_code == 200 and b"livekit-client.umd.js" in r.data
    assert client.get("/static/app.js").status_code == 200


def test_openapi_matches_the_routes(h: Harness, client: FlaskClient) -> None:
    doc = client.get("/api/openapi.json").get_json()
    assert doc == openapi_document(h.settings.recovery.room_prefix)
    routes: dict[str, set[str]] = {}
    for rule in h.app.url_map.iter_rules():
        if rule.endpoint in ("static", "meta.index", "status.page"):  # pages, not API
            continue
        path = rule.rule.replace("<", "{").replace(">", "}")
        routes.setdefault(path, set()).update({m.lower() for m in rule.methods or ()} - {"head", "options"})
    documented = {path: set(ops) for path, ops in doc["paths"].items()}
    assert routes == documented


# ------------------------------------------------------------------ agents


def test_list_agents(client: FlaskClient) -> None:
    r = client.get("/api/agents")
    assert r.status_code == 200
    assert r.get_json()["agents"] == [{"id": AGENT_ID, "name": "voice-assistant", "persona": "I am friendly."}]


def test_list_agents_letta_down_is_503(h: Harness, client: FlaskClient) -> None:
    h.letta.down = True
    r = client.get("/api/agents")
    assert r.status_code == 503 and r.get_json()["error"] == "Letta is not available"


def test_create_agent(h: Harness, client: FlaskClient) -> None:
    status, data = post(client, "/api/agents", {"name": "my bot", "persona": "I help.", "human": "Ann."})
    assert status == 201 and data["name"] == "my bot"
    assert data["id"] in h.letta.agents


GOOD_AGENT = {"name": "bot", "persona": "I help.", "human": "Ann."}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"persona": "p", "human": "h"}, "name"),  # missing
        ({**GOOD_AGENT, "extra": 1}, "extra"),  # unknown
        ({**GOOD_AGENT, "name": 5}, "name"),  # wrong type
        ({**GOOD_AGENT, "persona": ["x"]}, "persona"),  # wrong type
        ({**GOOD_AGENT, "name": "x" * 65}, "name"),  # oversize
        ({**GOOD_AGENT, "persona": "x" * 2001}, "persona"),  # oversize
        ({**GOOD_AGENT, "name": "<script>"}, "name"),  # bad characters
        ({**GOOD_AGENT, "name": "a/../b"}, "name"),  # bad characters
        ({**GOOD_AGENT, "name": "v1.0"}, "name"),  # Letta refuses dots with a 500
        ({**GOOD_AGENT, "human": "bell\x07"}, "human"),  # control characters
        ({**GOOD_AGENT, "persona": "   "}, "persona"),  # blank
        ({**GOOD_AGENT, "name": ""}, "name"),  # empty
        ([GOOD_AGENT], "body"),  # not an object
        ("text", "body"),
        (None, "body"),
    ],
)
def test_create_agent_bad_input_names_the_field(client: FlaskClient, body: object, field: str) -> None:
    status, data = post(client, "/api/agents", body)
    assert status == 400, data
    assert data["field"] == field
    assert isinstance(data["error"], str) and data["error"]


def test_malformed_json_is_400(client: FlaskClient) -> None:
    r = client.post("/api/agents", data="{not json", content_type="application/json")
    assert r.status_code == 400 and r.get_json()["field"] == "body"


@pytest.mark.parametrize("path", ["/api/agents", "/api/sessions"])
def test_deeply_nested_json_is_400_not_500(client: FlaskClient, path: str) -> None:
    r = client.post(path, data="[" * 8_000 + "]" * 8_000, content_type="application/json")
    assert r.status_code == 400 and r.get_json()["field"] == "body"


def test_empty_body_is_400(client: FlaskClient) -> None:
    r = client.post("/api/sessions", data="", content_type="application/json")
    assert r.status_code == 400 and r.get_json()["field"] == "body"


def test_non_json_content_type_is_415(client: FlaskClient) -> None:
    r = client.post("/api/agents", data="name=x", content_type="application/x-www-form-urlencoded")
    assert r.status_code == 415 and r.get_json()["field"] == "Content-Type"


def test_oversize_body_is_413_json(client: FlaskClient) -> None:
    r = client.post("/api/agents", data="x" * 20_000, content_type="application/json")
    assert r.status_code == 413 and r.get_json() == {"error": "request body too large", "field": "body"}


def test_create_agent_letta_down_is_503(h: Harness, client: FlaskClient) -> None:
    h.letta.down = True
    status, data = post(client, "/api/agents", GOOD_AGENT)
    assert status == 503 and "error" in data


# ------------------------------------------------------------------ sessions


def test_session_creates_room_dispatch_and_token(h: Harness, client: FlaskClient) -> None:
    status, data = post(client, "/api/sessions", {"agent_id": AGENT_ID, "identity": "ann"})
    assert status == 201, data
    assert set(data) == {"url", "token", "room", "identity", "agent_id", "expires_at"}
    assert data["url"] == h.settings.livekit.browser_url
    assert data["identity"] == "ann" and data["agent_id"] == AGENT_ID
    room = data["room"]
    assert room.startswith(h.settings.recovery.room_prefix)
    assert h.livekit.rooms[room].letta_agent_id == AGENT_ID and h.livekit.rooms[room].ours
    assert h.livekit.dispatches == [(room, h.settings.agent.name, AGENT_ID)]


def test_token_claims(h: Harness, client: FlaskClient) -> None:
    _, data = post(client, "/api/sessions", {"agent_id": AGENT_ID})
    claims = jwt.decode(data["token"], LIVEKIT_SECRET, algorithms=["HS256"])
    assert claims["iss"] == "testkey"
    assert claims["sub"] == data["identity"] and data["identity"].startswith("user-")
    assert claims["exp"] - claims["nbf"] == h.settings.web.token_ttl <= 900
    video = claims["video"]
    assert video["room"] == data["room"]
    assert video["roomJoin"] is True
    assert video["canPublish"] is True and video["canPublishSources"] == ["microphone"]
    assert video["canPublishData"] is True and video["canSubscribe"] is True
    for admin in ("roomAdmin", "roomCreate", "roomList", "roomRecord", "agent", "hidden"):
        assert not video.get(admin)
    assert data["expires_at"].endswith("Z")


def test_two_sessions_get_different_rooms_when_the_first_is_ended(client: FlaskClient) -> None:
    _, first = post(client, "/api/sessions", {"agent_id": AGENT_ID})
    assert client.delete(f"/api/sessions/{first['room']}").status_code == 200
    _, second = post(client, "/api/sessions", {"agent_id": AGENT_ID})
    assert second["room"] != first["room"]


def test_second_session_for_agent_is_409_with_live_room(client: FlaskClient) -> None:
    _, first = post(client, "/api/sessions", {"agent_id": AGENT_ID})
    status, data = post(client, "/api/sessions", {"agent_id": AGENT_ID})
    assert status == 409 and data["room"] == first["room"] and data["field"] == "agent_id"


def test_other_agent_is_not_blocked(h: Harness, client: FlaskClient) -> None:
    h.letta.create_agent("other", "p", "h")
    other = next(a for a in h.letta.agents if a != AGENT_ID)
    post(client, "/api/sessions", {"agent_id": AGENT_ID})
    status, _ = post(client, "/api/sessions", {"agent_id": other})
    assert status == 201


def test_room_with_a_person_is_live_even_when_old(h: Harness, client: FlaskClient) -> None:
    h.livekit.add_room("lvs-00000000000000aa", AGENT_ID, age_s=3600, humans=1)
    status, data = post(client, "/api/sessions", {"agent_id": AGENT_ID})
    assert status == 409 and data["room"] == "lvs-00000000000000aa"


def test_old_room_with_only_the_agent_is_not_live(h: Harness, client: FlaskClient) -> None:
    h.livekit.add_room("lvs-00000000000000bb", AGENT_ID, age_s=3600)
    status, _ = post(client, "/api/sessions", {"agent_id": AGENT_ID})
    assert status == 201


def test_takeover_closes_the_live_room_first(h: Harness, client: FlaskClient) -> None:
    _, first = post(client, "/api/sessions", {"agent_id": AGENT_ID})
    status, second = post(client, "/api/sessions", {"agent_id": AGENT_ID, "takeover": True})
    assert status == 201
    assert h.livekit.deleted == [first["room"]]
    assert first["room"] not in h.livekit.rooms and second["room"] in h.livekit.rooms


def test_concurrent_race_keeps_the_older_room(h: Harness, client: FlaskClient) -> None:
    from services.web.policy import RoomSnapshot

    h.livekit.rival_on_open = RoomSnapshot("lvs-000000000000000c", AGENT_ID, True, _now_ms() - 1000)
    status, data = post(client, "/api/sessions", {"agent_id": AGENT_ID})
    assert status == 409 and data["room"] == "lvs-000000000000000c"
    assert list(h.livekit.rooms) == ["lvs-000000000000000c"]  # ours was removed again


def test_a_racing_takeover_of_the_new_room_is_a_conflict_not_a_503(h: Harness, client: FlaskClient) -> None:
    from services.web.policy import RoomSnapshot

    # Found by the stack fuzz: two takeovers at once; the other one deleted our room before its dispatch.
    h.livekit.takeover_on_open = RoomSnapshot("lvs-000000000000000d", AGENT_ID, True, _now_ms())
    status, data = post(client, "/api/sessions", {"agent_id": AGENT_ID, "takeover": True})
    assert status == 409 and data["room"] == "lvs-000000000000000d", (status, data)


def test_a_chain_of_racing_takeovers_is_a_conflict_even_when_the_rival_is_gone_too(
    h: Harness, client: FlaskClient
) -> None:
    from services.web.livekit_gateway import LiveKitError

    # Found by the stack fuzz in CI: our room was deleted by a takeover whose own room was taken over in turn.
    def deleted_before_dispatch(room: str, letta_agent_id: str, user: str = "", admin: bool = True) -> None:
        raise LiveKitError("livekit-server refused the call: unavailable")

    h.livekit.open_session = deleted_before_dispatch  # type: ignore[method-assign]
    status, data = post(client, "/api/sessions", {"agent_id": AGENT_ID, "takeover": True})
    assert status == 409 and data["field"] == "agent_id" and "try again" in data["error"], (status, data)


def test_a_dispatch_refused_for_another_reason_is_still_a_503(h: Harness, client: FlaskClient) -> None:
    from services.web.livekit_gateway import LiveKitError
    from services.web.policy import RoomSnapshot

    def refuse(room: str, letta_agent_id: str, user: str = "", admin: bool = True) -> None:
        h.livekit.rooms[room] = RoomSnapshot(room, letta_agent_id, True, _now_ms())  # our room stays
        raise LiveKitError("livekit-server refused the call: unavailable")

    h.livekit.open_session = refuse  # type: ignore[method-assign]
    status, data = post(client, "/api/sessions", {"agent_id": AGENT_ID})
    assert status == 503, (status, data)


def _now_ms() -> int:
    import time

    return int(time.time() * 1000)


def test_unknown_agent_is_404(client: FlaskClient) -> None:
    status, data = post(client, "/api/sessions", {"agent_id": OTHER_AGENT_ID})
    assert status == 404 and data["field"] == "agent_id"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "agent_id"),
        ({"agent_id": 12}, "agent_id"),
        ({"agent_id": "agent x"}, "agent_id"),
        ({"agent_id": "../etc/passwd"}, "agent_id"),
        ({"agent_id": "a" * 81}, "agent_id"),
        ({"agent_id": AGENT_ID, "identity": "ann smith"}, "identity"),
        ({"agent_id": AGENT_ID, "identity": "x" * 65}, "identity"),
        ({"agent_id": AGENT_ID, "identity": "agent-letta-fake"}, "identity"),  # impersonating our agent
        ({"agent_id": AGENT_ID, "takeover": "yes"}, "takeover"),
        ({"agent_id": AGENT_ID, "takeover": 1}, "takeover"),
        ({"agent_id": AGENT_ID, "room": "lvs-mine"}, "room"),
        (["agent_id"], "body"),
    ],
)
def test_session_bad_input_names_the_field(client: FlaskClient, body: object, field: str) -> None:
    status, data = post(client, "/api/sessions", body)
    assert status == 400, data
    assert data["field"] == field


def test_session_rate_limit_is_429() -> None:
    h = build(sessions_per_minute=2)
    with h.app.test_client() as client:
        codes = [post(client, "/api/sessions", {"agent_id": OTHER_AGENT_ID})[0] for _ in range(3)]
        r = client.post("/api/sessions", json={"agent_id": OTHER_AGENT_ID})
    assert codes == [404, 404, 429]
    assert r.status_code == 429 and r.get_json()["retry_after"] >= 1
    assert r.headers["Retry-After"] == str(r.get_json()["retry_after"])


def test_session_livekit_down_is_503(h: Harness, client: FlaskClient) -> None:
    h.livekit.down = True
    status, data = post(client, "/api/sessions", {"agent_id": AGENT_ID})
    assert status == 503 and data["error"] == "LiveKit is not available"


def test_session_letta_down_is_503(h: Harness, client: FlaskClient) -> None:
    h.letta.down = True
    status, _ = post(client, "/api/sessions", {"agent_id": AGENT_ID})
    assert status == 503


def test_end_session(h: Harness, client: FlaskClient) -> None:
    _, data = post(client, "/api/sessions", {"agent_id": AGENT_ID})
    r = client.delete(f"/api/sessions/{data['room']}")
    assert r.status_code == 200 and r.get_json() == {"room": data["room"], "deleted": True}
    assert data["room"] not in h.livekit.rooms
    assert client.delete(f"/api/sessions/{data['room']}").status_code == 404


@pytest.mark.parametrize("room", ["lvs-short", "other-0123456789abcdef", "lvs-0123456789ABCDEF", "x" * 300])
def test_end_session_bad_room_is_400(client: FlaskClient, room: str) -> None:
    r = client.delete(f"/api/sessions/{room}")
    assert r.status_code == 400 and r.get_json()["field"] == "room"


def test_end_session_of_a_room_not_ours_is_404(h: Harness, client: FlaskClient) -> None:
    h.livekit.add_room("lvs-0123456789abcdef", AGENT_ID, age_s=1, ours=False)
    assert client.delete("/api/sessions/lvs-0123456789abcdef").status_code == 404
    assert "lvs-0123456789abcdef" in h.livekit.rooms


def test_end_session_livekit_down_is_503(h: Harness, client: FlaskClient) -> None:
    h.livekit.down = True
    assert client.delete("/api/sessions/lvs-0123456789abcdef").status_code == 503


# ------------------------------------------------------------------ errors, CORS, headers


def test_unknown_route_and_method_are_json(client: FlaskClient) -> None:
    r = client.get("/api/nothing")
    assert r.status_code == 404 and r.get_json() == {"error": "not found"}
    r = client.put("/api/agents", json={})
    assert r.status_code == 405 and r.get_json()["error"] == "method not allowed"


def test_unexpected_error_is_500_without_internals() -> None:
    h = build()

    def boom() -> str:
        raise RuntimeError("db password=hunter2 at /srv/secret/path.py")

    h.app.add_url_rule("/api/boom", "boom", boom)
    with h.app.test_client() as client:
        r = client.get("/api/boom")
    assert r.status_code == 500 and r.get_json() == {"error": "internal error"}
    assert b"hunter2" not in r.data and b"Traceback" not in r.data


def test_security_headers_and_csp(client: FlaskClient, h: Harness) -> None:
    r = client.get("/")
    csp = r.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    connect = next(d for d in csp.split("; ") if d.startswith("connect-src"))
    assert connect.split()[1:] == ["'self'", "ws://127.0.0.1:7880", "http://127.0.0.1:7880"]
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["Referrer-Policy"] == "no-referrer"
    assert "Access-Control-Allow-Origin" not in r.headers
    assert client.get("/api/agents").headers["Cache-Control"] == "no-store"


def test_cross_origin_write_is_refused(client: FlaskClient) -> None:
    r = client.post("/api/sessions", json={"agent_id": AGENT_ID}, headers={"Origin": "https://evil.example"})
    assert r.status_code == 403 and r.get_json()["field"] == "Origin"
    r = client.post("/api/sessions", json={"agent_id": AGENT_ID}, headers={"Origin": "http://localhost"})
    assert r.status_code == 201  # the test client's own host: same origin


def test_cors_allowlist() -> None:
    h = build(cors_origins=["https://app.example"])
    with h.app.test_client() as client:
        pre = client.options("/api/sessions", headers={"Origin": "https://app.example"})
        assert pre.status_code == 200
        assert pre.headers["Access-Control-Allow-Origin"] == "https://app.example"
        r = client.post("/api/sessions", json={"agent_id": AGENT_ID}, headers={"Origin": "https://app.example"})
        assert r.status_code == 201 and r.headers["Access-Control-Allow-Origin"] == "https://app.example"
        r = client.get("/api/agents", headers={"Origin": "https://other.example"})
        assert "Access-Control-Allow-Origin" not in r.headers


# ------------------------------------------------------------------ secrets


def test_no_secret_in_any_response_or_log(h: Harness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    bodies: list[str] = []
    with h.app.test_client() as client:
        calls = [
            client.get("/"),
            client.get("/healthz"),
            client.get("/readyz"),
            client.get("/metrics"),
            client.get("/api/config"),
            client.get("/api/openapi.json"),
            client.get("/api/agents"),
            client.post("/api/agents", json=GOOD_AGENT),
            client.post("/api/agents", json={"name": 1}),
            client.post("/api/sessions", json={"agent_id": AGENT_ID}),
            client.post("/api/sessions", json={"agent_id": AGENT_ID}),
            client.post("/api/sessions", json={"agent_id": AGENT_ID, "takeover": True}),
            client.post("/api/sessions", json={"agent_id": OTHER_AGENT_ID}),
            client.delete("/api/sessions/lvs-0123456789abcdef"),
        ]
        h.livekit.down = h.letta.down = True
        calls += [
            client.get("/readyz"),
            client.get("/api/agents"),
            client.post("/api/sessions", json={"agent_id": AGENT_ID}),
            client.delete("/api/sessions/lvs-0123456789abcdef"),
        ]
    for r in calls:
        bodies.append(r.get_data(as_text=True))
        bodies.append(str(dict(r.headers)))
    logs = "\n".join(f"{rec.getMessage()} {rec.__dict__}" for rec in caplog.records)
    assert len(caplog.records) > 5  # the app did log
    for secret in (LIVEKIT_SECRET, LETTA_PASSWORD):
        assert all(secret not in text for text in bodies)
        assert secret not in logs
