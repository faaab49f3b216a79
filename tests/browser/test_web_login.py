"""Logging in through the page in real Chromium (the web app with WEB_AUTH=on), then Connect as before.

The web app runs in this process with logins on (tests/stack/web_server.py) against the running stack's
LiveKit, Letta and agent worker.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from services.shared.letta import letta_client
from services.shared.settings import Settings
from tests.browser.sessions import connect_here, delete_room, wait_agent_connected
from tests.stack.web_server import AuthServer, auth_web_server

pytestmark = [pytest.mark.browser]

OWNER = ("owner", "owner-password-browser")


@pytest.fixture(scope="module")
def server(stack: Settings) -> Iterator[AuthServer]:
    with auth_web_server(stack) as srv:
        srv.store.add_user(*OWNER, admin=True)
        yield srv


@pytest.fixture(scope="module")
def owners_agent(stack: Settings, server: AuthServer) -> Iterator[dict[str, str]]:
    with httpx.Client(base_url=server.base_url, timeout=60) as client:
        assert client.post("/api/login", json={"name": OWNER[0], "password": OWNER[1]}).status_code == 200
        body = {"name": f"login-test-{uuid.uuid4().hex[:6]}", "persona": "I answer briefly.", "human": "A test."}
        made = client.post("/api/agents", json=body)
        assert made.status_code == 201, made.text
    agent = made.json()
    yield agent
    letta_client(stack).agents.delete(agent["id"])


def test_login_then_connect_reload_and_logout(
    stack: Settings, server: AuthServer, owners_agent: dict[str, str], page: Page
) -> None:
    page.goto(server.base_url)
    expect(page.locator("#login")).to_be_visible()
    expect(page.locator("#app")).to_be_hidden()
    expect(page.locator("#status")).to_have_attribute("data-state", "login")

    page.get_by_label("Account", exact=True).fill(OWNER[0])
    page.locator("#login").get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#login-message")).to_contain_text("wrong name or password")
    expect(page.locator("#login-password")).to_have_attribute("aria-invalid", "true")

    page.locator("#login").get_by_label("Password").fill(OWNER[1])
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#app")).to_be_visible()
    expect(page.locator("#account-name")).to_have_text("Logged in as owner (admin)")
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["lvs_session"]["httpOnly"] and cookies["lvs_session"]["sameSite"] == "Strict"

    first_room = connect_here(page, stack, owners_agent["id"])
    assert first_room
    rooms = [first_room]
    try:
        # The switch list holds the user's other agents while connected (the default one, for an admin).
        expect(page.locator("#switch-agent option").first).to_be_attached()

        # A reload mid-session gets the user's own session back, without an error screen.
        page.reload()
        expect(page.locator("#app")).to_be_visible()  # still logged in
        page.locator(f'#agent-list button[data-agent-id="{owners_agent["id"]}"]').click()
        page.get_by_role("button", name="Connect", exact=True).click()
        wait_agent_connected(page, stack)
        assert page.locator("#status").get_attribute("data-state") != "error"
        rooms.append(page.locator("#session").get_attribute("data-room") or "")

        page.get_by_role("button", name="Log out").click()
        expect(page.locator("#login")).to_be_visible()
        assert httpx.get(f"{server.base_url}/api/agents").status_code == 401
        assert page.page_log.csp_violations() == []  # type: ignore[attr-defined]
    finally:
        for room in rooms:
            if room:
                delete_room(stack, room)
