"""Logins, ownership, Host allowlist, shared limits and proxies of the web API (issue 11), via the test client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient

from services.shared.settings import DeploySettings
from services.web.store import Store
from tests.unit.test_web_fakes import AGENT_ID, Harness, build, second_worker

pytestmark = pytest.mark.unit

OWNER, BOB, CAROL = ("owner", "owner-password-1"), ("bob", "bob-password-12"), ("carol", "carol-password-1")


def store_of(h: Harness) -> Store:
    return h.app.extensions["store"]


@pytest.fixture
def h() -> Harness:
    harness = build(auth="on", sessions_per_minute=100)
    store_of(harness).add_user(*OWNER, admin=True)
    store_of(harness).add_user(*BOB)
    store_of(harness).add_user(*CAROL)
    return harness


@pytest.fixture
def client(h: Harness) -> Iterator[FlaskClient]:
    with h.app.test_client() as c:
        yield c


def login(client: FlaskClient, who: tuple[str, str]) -> None:
    r = client.post("/api/login", json={"name": who[0], "password": who[1]})
    assert r.status_code == 200, r.get_json()


def client_as(h: Harness, who: tuple[str, str]) -> FlaskClient:
    c = h.app.test_client()
    login(c, who)
    return c


# ------------------------------------------------------------------ login required


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/agents"),
        ("POST", "/api/agents"),
        ("POST", "/api/sessions"),
        ("DELETE", "/api/sessions/lvs-0123456789abcdef"),
        ("GET", "/api/config"),
        ("GET", "/api/openapi.json"),
    ],
)
def test_every_api_route_needs_a_login(client: FlaskClient, method: str, path: str) -> None:
    r = client.open(path, method=method, json={"agent_id": AGENT_ID})
    assert r.status_code == 401 and r.get_json() == {"error": "log in first", "field": "login"}


def test_health_and_the_page_shell_are_open(client: FlaskClient) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    assert client.get("/").status_code == 200  # the page itself holds no data: it shows the login form
    assert client.get("/api/me").status_code == 401


def test_metrics_only_for_loopback_scrapers_without_a_login(h: Harness) -> None:
    with h.app.test_client() as c:
        assert c.get("/metrics").status_code == 200
        assert c.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 401


@pytest.mark.parametrize(
    ("bind", "domain", "auth", "required"),
    [
        ("127.0.0.1", None, "auto", False),
        ("0.0.0.0", None, "auto", True),
        ("127.0.0.1", "voice.example.com", "auto", True),
        ("127.0.0.1", None, "on", True),
        ("0.0.0.0", None, "off", False),
    ],
)
def test_logins_are_on_whenever_the_page_is_exposed(bind: str, domain: str | None, auth: str, required: bool) -> None:
    from tests.unit.test_web_fakes import make_settings

    settings = make_settings(deploy=DeploySettings(domain=domain), bind=bind, auth=auth)
    assert settings.auth_required is required


def test_login_me_and_logout(client: FlaskClient) -> None:
    login(client, BOB)
    assert client.get("/api/me").get_json() == {"user": "bob", "admin": False, "auth": True}
    assert client.get("/api/agents").status_code == 200
    assert client.post("/api/logout", json={}).status_code == 200
    assert client.get("/api/agents").status_code == 401


def test_cookie_is_signed_httponly_strict_and_expires(h: Harness) -> None:
    c = h.app.test_client()
    r = c.post("/api/login", json={"name": BOB[0], "password": BOB[1]})
    cookie = r.headers["Set-Cookie"]
    assert cookie.startswith("lvs_session=") and "bob" not in cookie.split(";")[0].split(".")[-1]
    flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite", "expires"} <= flags and "samesite=strict" in cookie.lower()
    assert "secure" not in flags  # plain http on loopback
    forged = h.app.test_client()
    forged.set_cookie("lvs_session", cookie.split(";")[0].split("=", 1)[1][:-2] + "xx")
    assert forged.get("/api/agents").status_code == 401


def test_cookie_is_secure_behind_an_https_proxy() -> None:
    h = build(auth="on", trusted_proxies=["127.0.0.1"])
    store_of(h).add_user(*BOB)
    headers = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
    r = h.app.test_client().post("/api/login", json={"name": BOB[0], "password": BOB[1]}, headers=headers)
    assert "secure" in r.headers["Set-Cookie"].lower()


def test_a_removed_account_is_out_at_once(h: Harness, client: FlaskClient) -> None:
    login(client, BOB)
    store_of(h).remove_user("bob")
    assert client.get("/api/agents").status_code == 401


def test_a_new_password_ends_older_logins(h: Harness) -> None:
    old, other = client_as(h, BOB), client_as(h, CAROL)
    store_of(h).set_password("bob", "bob-new-password-1")
    assert old.get("/api/agents").status_code == 401
    assert other.get("/api/agents").status_code == 200
    login(old, ("bob", "bob-new-password-1"))
    assert old.get("/api/agents").status_code == 200


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"password": "x"}, 400, "name"),
        ({"name": "bob"}, 400, "password"),
        ({"name": "Bob Smith", "password": "x"}, 400, "name"),
        ({"name": "bob", "password": 12}, 400, "password"),
        ({"name": "bob", "password": ""}, 400, "password"),
        ({"name": "bob", "password": "x" * 2000}, 400, "password"),
        ({"name": "bob", "password": "wrong-password"}, 401, "password"),
        ({"name": "nobody", "password": "wrong-password"}, 401, "password"),
        ({"name": "bob", "password": "x", "admin": True}, 400, "admin"),
        (["bob"], 400, "body"),
    ],
)
def test_bad_login_input_names_the_field(client: FlaskClient, body: object, status: int, field: str) -> None:
    r = client.post("/api/login", json=body)
    assert r.status_code == status and r.get_json()["field"] == field


def test_login_with_a_malformed_body_is_400(client: FlaskClient) -> None:
    r = client.post("/api/login", data="{", content_type="application/json")
    assert r.status_code == 400 and r.get_json()["field"] == "body"


def test_failed_logins_are_limited_per_account(h: Harness, client: FlaskClient) -> None:
    for _ in range(h.settings.web.login_failures):
        assert client.post("/api/login", json={"name": "bob", "password": "wrong-password"}).status_code == 401
    r = client.post("/api/login", json={"name": BOB[0], "password": BOB[1]})  # even the right one, for a while
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    login(client, CAROL)  # another account is not locked by bob's failures


def test_failed_logins_are_limited_per_address_across_accounts_and_workers(h: Harness) -> None:
    # A second app on the same store stands for a second gunicorn worker.
    other = second_worker(h)
    apps = [h.app.test_client(), other.test_client()]
    limit = h.settings.web.login_failures * 4
    for i in range(limit):
        r = apps[i % 2].post("/api/login", json={"name": f"guess{i}", "password": "wrong-password"})
        assert r.status_code == 401
    r = apps[0].post("/api/login", json={"name": CAROL[0], "password": CAROL[1]})
    assert r.status_code == 429
    r = apps[1].post(
        "/api/login", json={"name": CAROL[0], "password": CAROL[1]}, environ_base={"REMOTE_ADDR": "192.0.2.7"}
    )
    assert r.status_code == 200  # another address is not locked out


def test_logins_off_the_login_route_says_so() -> None:
    h = build()
    r = h.app.test_client().post("/api/login", json={"name": "bob", "password": "pw"})
    assert r.status_code == 404 and r.get_json()["field"] == "login"


# ------------------------------------------------------------------ ownership


def test_agents_are_listed_and_created_per_owner(h: Harness) -> None:
    bob, carol, owner = client_as(h, BOB), client_as(h, CAROL), client_as(h, OWNER)
    r = bob.post("/api/agents", json={"name": "bobs", "persona": "I help.", "human": "Bob."})
    assert r.status_code == 201
    bobs = r.get_json()["id"]
    assert h.letta.agents[bobs].owner == "bob"
    assert [a["id"] for a in bob.get("/api/agents").get_json()["agents"]] == [bobs]
    assert carol.get("/api/agents").get_json()["agents"] == []  # not bob's, nor the default (admins') agent
    assert {a["id"] for a in owner.get("/api/agents").get_json()["agents"]} == {AGENT_ID, bobs}
    assert "owner" not in bob.get("/api/agents").get_json()["agents"][0]


def test_a_user_cannot_start_a_session_with_someone_elses_agent(h: Harness) -> None:
    r = client_as(h, CAROL).post("/api/sessions", json={"agent_id": AGENT_ID})
    assert r.status_code == 404 and r.get_json()["field"] == "agent_id"  # as if it did not exist


def test_room_metadata_names_the_user(h: Harness) -> None:
    data = client_as(h, OWNER).post("/api/sessions", json={"agent_id": AGENT_ID}).get_json()
    assert h.livekit.rooms[data["room"]].user == "owner"


def test_409_never_names_another_users_room_and_takeover_is_refused(h: Harness) -> None:
    bob = client_as(h, BOB)
    bobs = bob.post("/api/agents", json={"name": "bobs", "persona": "I help.", "human": "Bob."}).get_json()["id"]
    admin_room = client_as(h, OWNER).post("/api/sessions", json={"agent_id": bobs}).get_json()["room"]
    for takeover in (False, True):
        r = bob.post("/api/sessions", json={"agent_id": bobs, "takeover": takeover})
        assert r.status_code == 409
        assert admin_room not in r.get_data(as_text=True) and r.get_json()["yours"] is False
    assert admin_room in h.livekit.rooms
    assert bob.delete(f"/api/sessions/{admin_room}").status_code == 404  # nor end it
    assert admin_room in h.livekit.rooms


def test_same_user_gets_their_own_session_back(h: Harness) -> None:
    first_tab, second_tab = client_as(h, OWNER), client_as(h, OWNER)
    first = first_tab.post("/api/sessions", json={"agent_id": AGENT_ID}).get_json()
    r = second_tab.post("/api/sessions", json={"agent_id": AGENT_ID})
    assert r.status_code == 409 and r.get_json()["room"] == first["room"] and r.get_json()["yours"] is True
    r = second_tab.post("/api/sessions", json={"agent_id": AGENT_ID, "takeover": True})
    assert r.status_code == 201 and first["room"] not in h.livekit.rooms


def test_admin_may_end_and_take_over_any_session(h: Harness) -> None:
    bob = client_as(h, BOB)
    bobs = bob.post("/api/agents", json={"name": "bobs", "persona": "I help.", "human": "Bob."}).get_json()["id"]
    room = bob.post("/api/sessions", json={"agent_id": bobs}).get_json()["room"]
    assert client_as(h, OWNER).delete(f"/api/sessions/{room}").status_code == 200


def test_a_minted_but_unjoined_session_is_closed_by_a_newer_one() -> None:
    h = build(sessions_per_minute=100)
    h.livekit.add_room("lvs-00000000000000dd", AGENT_ID, age_s=h.settings.web.session_grace + 5)
    r = h.app.test_client().post("/api/sessions", json={"agent_id": AGENT_ID})
    assert r.status_code == 201
    assert "lvs-00000000000000dd" in h.livekit.deleted  # its token can no longer open a second session


# ------------------------------------------------------------------ shared limits, proxies


def test_session_limit_is_shared_by_workers_and_counted_per_user() -> None:
    h = build(auth="on", sessions_per_minute=2)
    store_of(h).add_user(*BOB)
    other = second_worker(h)
    first, second = h.app.test_client(), other.test_client()
    login(first, BOB)
    login(second, BOB)
    body = {"agent_id": "agent-unknown"}
    assert first.post("/api/sessions", json=body).status_code == 404
    assert second.post("/api/sessions", json=body, environ_base={"REMOTE_ADDR": "192.0.2.1"}).status_code == 404
    r = first.post("/api/sessions", json=body, environ_base={"REMOTE_ADDR": "192.0.2.2"})
    assert r.status_code == 429  # bob's third request, from a third address, through the other worker


def test_agent_creation_is_rate_limited() -> None:
    h = build(agents_per_hour=2)
    c = h.app.test_client()
    body = {"name": "a", "persona": "I help.", "human": "Ann."}
    assert [c.post("/api/agents", json=body).status_code for _ in range(3)] == [201, 201, 429]


def test_forwarded_for_is_ignored_without_configured_proxies() -> None:
    h = build(sessions_per_minute=1)
    c = h.app.test_client()
    body = {"agent_id": "agent-unknown"}
    assert c.post("/api/sessions", json=body, headers={"X-Forwarded-For": "198.51.100.1"}).status_code == 404
    assert c.post("/api/sessions", json=body, headers={"X-Forwarded-For": "198.51.100.2"}).status_code == 429


def test_forwarded_for_counts_only_from_a_configured_proxy() -> None:
    h = build(sessions_per_minute=1, trusted_proxies=["127.0.0.1"])
    c = h.app.test_client()
    body = {"agent_id": "agent-unknown"}
    assert c.post("/api/sessions", json=body, headers={"X-Forwarded-For": "198.51.100.1"}).status_code == 404
    assert c.post("/api/sessions", json=body, headers={"X-Forwarded-For": "198.51.100.2"}).status_code == 404
    spoofed = {"X-Forwarded-For": "198.51.100.3"}
    outside = {"REMOTE_ADDR": "203.0.113.5"}  # not a proxy: its header is not believed
    assert c.post("/api/sessions", json=body, headers=spoofed, environ_base=outside).status_code == 404
    assert c.post("/api/sessions", json=body, headers=spoofed, environ_base=outside).status_code == 429


@pytest.mark.parametrize(
    ("peer", "header", "client"),
    [
        ("127.0.0.1", None, "127.0.0.1"),
        ("127.0.0.1", "198.51.100.1", "198.51.100.1"),
        ("127.0.0.1", "198.51.100.9, 10.0.0.2, 198.51.100.1", "198.51.100.1"),
        ("127.0.0.1", "198.51.100.9, 10.0.0.2", "198.51.100.9"),  # 10.0.0.2 is a proxy too
        ("203.0.113.5", "198.51.100.1", "203.0.113.5"),
        ("127.0.0.1", "not-an-ip", "127.0.0.1"),
    ],
)
def test_client_address(peer: str, header: str | None, client: str) -> None:
    from services.web.clients import client_address, parse_networks

    assert client_address(peer, header, parse_networks(["127.0.0.1", "10.0.0.0/8"])) == client


def test_trusted_proxies_setting_is_a_list_of_networks() -> None:
    from pydantic import ValidationError

    from services.shared.settings import WebSettings

    assert WebSettings(trusted_proxies="127.0.0.1, 10.0.0.0/8").trusted_proxies == ["127.0.0.1", "10.0.0.0/8"]
    with pytest.raises(ValidationError, match="not an IP address"):
        WebSettings(trusted_proxies="1")
    with pytest.raises(ValidationError, match="not an IP address"):
        WebSettings(trusted_proxies="caddy")


# ------------------------------------------------------------------ Host and Origin


@pytest.mark.parametrize(
    ("host", "ok"),
    [
        ("localhost", True),
        ("localhost:9080", True),
        ("127.0.0.1:8080", True),
        ("[::1]:8080", True),
        ("192.0.2.10", True),
        ("voice.example.com", True),
        ("VOICE.example.com.:443", True),
        ("extra.example.org", True),
        ("evil.example", False),
        ("127.0.0.1.evil.example", False),
        ("", False),
    ],
)
def test_host_allowlist(host: str, ok: bool) -> None:
    h = build(allowed_hosts="extra.example.org", deploy=DeploySettings(domain="voice.example.com"))
    r = h.app.test_client().get("/healthz", headers={"Host": host})
    assert (r.status_code == 200) is ok
    if not ok:
        assert r.status_code == 421 and r.get_json()["field"] == "Host"


def test_rebinding_write_is_refused_by_host_then_origin() -> None:
    h = build()
    c = h.app.test_client()
    headers = {"Host": "rebind.evil.example:8080", "Origin": "http://rebind.evil.example:8080"}
    assert c.post("/api/sessions", json={"agent_id": AGENT_ID}, headers=headers).status_code == 421
    assert h.livekit.rooms == {}


def test_origin_uses_the_same_allowlist() -> None:
    from services.web.hosts import origin_allowed

    names = frozenset({"voice.example.com"})
    assert origin_allowed("https://voice.example.com", names)
    assert origin_allowed("http://127.0.0.1:9080", names)
    assert not origin_allowed("https://evil.example", names)
    assert not origin_allowed("null", names)


# ------------------------------------------------------------------ metrics, oversize answers


def test_unknown_methods_share_one_metric_label() -> None:
    h = build()
    c = h.app.test_client()
    for method in ("FOO", "BAR", "PROPFIND"):
        c.open("/healthz", method=method)
    text = c.get("/metrics").get_data(as_text=True)
    assert 'method="FOO"' not in text and 'method="PROPFIND"' not in text
    assert 'method="other"' in text


def test_oversize_body_is_json() -> None:
    h = build()
    r = h.app.test_client().post("/api/agents", data="x" * 20000, content_type="application/json")
    assert r.status_code == 413 and r.get_json() == {"error": "request body too large", "field": "body"}


@pytest.mark.parametrize(("status", "reason", "field"), [(414, "URI Too Long", "path"), (431, "Too Large", "headers")])
def test_gunicorn_errors_are_json(status: int, reason: str, field: str) -> None:
    import json

    from services.web.gunicorn_errors import error_response

    raw = error_response(status, reason).decode()
    head, body = raw.split("\r\n\r\n", 1)
    assert head.startswith(f"HTTP/1.1 {status} ") and "Content-Type: application/json" in head
    assert json.loads(body)["field"] == field


def test_grace_period_must_fit_in_the_token_life() -> None:
    from pydantic import ValidationError

    from services.shared.settings import WebSettings

    with pytest.raises(ValidationError, match="WEB_SESSION_GRACE"):
        WebSettings(token_ttl=60, session_grace=120)
