"""Logins and ownership against the real LiveKit and Letta (the web app with WEB_AUTH=on), and the running
web service's Host check and JSON answers from gunicorn itself."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator

import httpx
import pytest
from livekit import api

from services.shared.letta import letta_client
from services.shared.livekit import parse_room_metadata
from services.shared.settings import Settings
from tests.browser.conftest import livekit_call
from tests.stack.web_server import AuthServer, auth_web_server

pytestmark = pytest.mark.stack

OWNER = ("owner", "owner-password-stack")
BOB = ("bob", "bob-password-stack")


@pytest.fixture(scope="module")
def server(stack: Settings) -> Iterator[AuthServer]:
    with auth_web_server(stack) as srv:
        srv.store.add_user(*OWNER, admin=True)
        srv.store.add_user(*BOB)
        yield srv


def logged_in(server: AuthServer, who: tuple[str, str]) -> httpx.Client:
    client = httpx.Client(base_url=server.base_url, timeout=60)
    r = client.post("/api/login", json={"name": who[0], "password": who[1]})
    assert r.status_code == 200, r.text
    return client


def _room(settings: Settings, name: str) -> api.Room | None:
    async def call(lk: api.LiveKitAPI) -> api.Room | None:
        rooms = (await lk.room.list_rooms(api.ListRoomsRequest(names=[name]))).rooms
        return rooms[0] if rooms else None

    return livekit_call(settings, call)


def test_nothing_without_a_login(server: AuthServer) -> None:
    assert httpx.get(f"{server.base_url}/healthz").status_code == 200
    for method, path in (("GET", "/api/agents"), ("POST", "/api/sessions"), ("POST", "/api/agents")):
        r = httpx.request(method, f"{server.base_url}{path}", json={"agent_id": "agent-x"})
        assert r.status_code == 401 and r.json()["field"] == "login"


def test_a_second_user_cannot_see_or_end_the_owners_agent_or_session(stack: Settings, server: AuthServer) -> None:
    owner, bob = logged_in(server, OWNER), logged_in(server, BOB)
    made = owner.post(
        "/api/agents", json={"name": f"owner-{uuid.uuid4().hex[:8]}", "persona": "I am brief.", "human": "Owner."}
    )
    assert made.status_code == 201, made.text
    agent_id = made.json()["id"]
    room = ""
    try:
        session = owner.post("/api/sessions", json={"agent_id": agent_id})
        assert session.status_code == 201, session.text
        room = session.json()["room"]
        found = _room(stack, room)
        assert found is not None
        meta = parse_room_metadata(found.metadata)
        assert meta["user"] == "owner" and meta["letta_agent_id"] == agent_id

        listed = {a["id"] for a in bob.get("/api/agents").json()["agents"]}
        assert agent_id not in listed  # nor the default agent (the admins')
        assert agent_id in {a["id"] for a in owner.get("/api/agents").json()["agents"]}
        for takeover in (False, True):
            r = bob.post("/api/sessions", json={"agent_id": agent_id, "takeover": takeover})
            assert r.status_code == 404 and room not in r.text
        assert bob.delete(f"/api/sessions/{room}").status_code == 404
        assert _room(stack, room) is not None  # still there

        # The owner's reload: a second tab gets their own session back by taking it over.
        again = owner.post("/api/sessions", json={"agent_id": agent_id})
        assert again.status_code == 409 and again.json()["room"] == room and again.json()["yours"] is True
        taken = owner.post("/api/sessions", json={"agent_id": agent_id, "takeover": True})
        assert taken.status_code == 201, taken.text
        assert _room(stack, room) is None
        room = taken.json()["room"]
        assert owner.delete(f"/api/sessions/{room}").status_code == 200
        room = ""
    finally:
        if room:
            owner.delete(f"/api/sessions/{room}")
        letta_client(stack).agents.delete(agent_id)


def test_the_users_own_agent_is_tagged_in_letta(stack: Settings, server: AuthServer) -> None:
    bob = logged_in(server, BOB)
    made = bob.post(
        "/api/agents", json={"name": f"bob-{uuid.uuid4().hex[:8]}", "persona": "I am brief.", "human": "B."}
    )
    assert made.status_code == 201, made.text
    agent_id = made.json()["id"]
    try:
        tags = letta_client(stack).agents.retrieve(agent_id, include=["agent.tags"]).tags
        assert "lvs-owner:bob" in tags
        assert [a["id"] for a in bob.get("/api/agents").json()["agents"]] == [agent_id]
    finally:
        letta_client(stack).agents.delete(agent_id)


def _raw(settings: Settings, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", settings.web.port), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_the_running_web_service_refuses_a_rebinding_host(stack: Settings) -> None:
    r = httpx.get(f"{stack.web.base_url}/api/agents", headers={"Host": "rebind.attacker.example"})
    assert r.status_code == 421 and r.json()["field"] == "Host"


@pytest.mark.parametrize(
    ("request_bytes", "status", "field"),
    [
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 414, "path"),
        (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n", 431, "headers"),
    ],
)
def test_gunicorn_answers_oversize_requests_with_json(stack: Settings, request_bytes: bytes, status: int, field: str):
    import json

    raw = _raw(stack, request_bytes)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(f"HTTP/1.1 {status}".encode()), head[:80]
    assert b"application/json" in head and json.loads(body)["field"] == field
