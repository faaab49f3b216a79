"""The voice-agent page in real Chromium against the native stack (LiveKit, our worker, Letta).

Both orders of arrival reach "agent connected": the agent joining after the page (seen through
ParticipantConnected) and the agent already in the room (seen in room.remoteParticipants after connect()).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from livekit import api
from playwright.sync_api import Page, expect

from services.shared.livekit import room_metadata
from services.shared.settings import Settings
from services.web.policy import new_room_name
from services.web.tokens import mint_token
from tests.browser.conftest import ARTIFACTS, join_link, livekit_call
from tests.browser.sessions import (
    JOIN_S,
    REPLY_S,
    agent_in_room,
    connect_to,
    delete_room,
    participants,
    redispatch,
    room_exists,
    room_of_the_test,
    wait_agent_connected,
    worker_has_room,
)
from tests.helpers import eventually, log_tail

pytestmark = [pytest.mark.browser]


def _disconnect_ends_session(page: Page, settings: Settings, room: str) -> None:
    page.get_by_role("button", name="Disconnect", exact=True).click()
    expect(page.locator("#status")).to_have_attribute("data-state", "idle")
    eventually(lambda: not room_exists(settings, room), 15, what=f"room {room} to be deleted")


def test_page_lists_agents_search_notice_keyboard_and_phone_width(
    stack: Settings, page: Page, letta_agent: dict[str, str]
) -> None:
    page.goto(stack.web.base_url)
    item = page.locator(f'#agent-list button[data-agent-id="{letta_agent["id"]}"]')
    expect(item).to_be_visible()
    # Search filters the list.
    page.get_by_label("Search agents").fill("browser-test")
    expect(page.locator("#agent-list button")).not_to_have_count(0)
    for name in page.locator("#agent-list .agent-name").all_inner_texts():
        assert "browser-test" in name
    page.get_by_label("Search agents").fill("no-such-agent-zzz")
    expect(page.locator("#agent-list button")).to_have_count(0)
    page.get_by_label("Search agents").fill("")
    # Keyboard: focus the agent and press Enter to select it; Connect becomes usable.
    item.focus()
    page.keyboard.press("Enter")
    expect(item).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_role("button", name="Connect", exact=True)).to_be_enabled()
    # The offline-model notice follows the configuration.
    offline = stack.llm.is_local and stack.llm.gguf_path is None
    expect(page.locator("#offline-notice")).to_be_visible() if offline else expect(
        page.locator("#offline-notice")
    ).to_be_hidden()
    # Readable at phone width: nothing wider than the screen.
    page.set_viewport_size({"width": 360, "height": 740})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    assert page.page_log.csp_violations() == []  # type: ignore[attr-defined]


def test_create_agent_form_shows_the_bad_field(stack: Settings, page: Page) -> None:
    page.goto(stack.web.base_url)
    page.locator("#create summary").click()
    page.get_by_label("Name").fill("bad/name")
    page.get_by_role("button", name="Create", exact=True).click()
    expect(page.locator("#create-message")).to_contain_text("name")
    expect(page.get_by_label("Name")).to_have_attribute("aria-invalid", "true")


def test_agent_joins_after_the_page(stack: Settings, page: Page, letta_agent: dict[str, str]) -> None:
    """The room exists without an agent; the page connects and waits; only then is the agent dispatched."""
    room = new_room_name(stack.recovery.room_prefix)
    token, _ = mint_token(stack, room, "browser-after")

    async def create(lk: api.LiveKitAPI) -> None:
        await lk.room.create_room(api.CreateRoomRequest(name=room, metadata=room_metadata(letta_agent["id"])))

    livekit_call(stack, create)
    try:
        session = {"url": stack.livekit.browser_url, "token": token, "room": room, "agent_id": letta_agent["id"]}
        page.goto(join_link(stack.web.base_url, session))
        page.get_by_role("button", name="Connect", exact=True).click()
        expect(page.locator("#session")).to_have_attribute("data-agent", "waiting")
        expect(page.locator("#status")).to_have_attribute("data-state", "waiting")
        assert not agent_in_room(stack, room)

        async def dispatch(lk: api.LiveKitAPI) -> None:
            await lk.agent_dispatch.create_dispatch(
                api.CreateAgentDispatchRequest(
                    agent_name=stack.agent.name, room=room, metadata=f'{{"letta_agent_id": "{letta_agent["id"]}"}}'
                )
            )

        eventually(lambda: worker_has_room(stack), JOIN_S, interval=1, what="the agent worker to have room")
        livekit_call(stack, dispatch)
        wait_agent_connected(page, stack)
        assert page.evaluate("window.lvs.timings.detectedBy") == "event"
        # The agent leaving is shown (the recovery sidecar may send a new one a few seconds later).
        agent = next(p for p in participants(stack, room) if p.kind == api.ParticipantInfo.Kind.AGENT)

        async def remove(lk: api.LiveKitAPI) -> None:
            await lk.room.remove_participant(api.RoomParticipantIdentity(room=room, identity=agent.identity))

        livekit_call(stack, remove)
        expect(page.locator("#session")).to_have_attribute("data-agent", "left")
        _disconnect_ends_session(page, stack, room)
    finally:
        delete_room(stack, room)


def test_agent_already_in_the_room_before_the_page(stack: Settings, page: Page, letta_agent: dict[str, str]) -> None:
    """The session (room + dispatch) comes from the web API; the page connects only once the agent is in."""
    eventually(lambda: worker_has_room(stack), JOIN_S, interval=1, what="the agent worker to be under its load limit")
    response = httpx.post(
        f"{stack.web.base_url}/api/sessions",
        json={"agent_id": letta_agent["id"], "identity": "browser-before", "takeover": True},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    session: dict[str, Any] = response.json()
    room = session["room"]
    try:
        try:
            eventually(lambda: agent_in_room(stack, room), JOIN_S / 2, what="the agent to join the empty room")
        except AssertionError:
            # The sidecar re-dispatches only when a person waits; here nobody is in the room yet.
            print("dispatch was dropped (worker busy?); dispatching again\n", log_tail(stack, "livekit", 10))
            redispatch(stack, room, letta_agent["id"])
            eventually(lambda: agent_in_room(stack, room), JOIN_S, what="the agent to join the empty room")
        page.goto(join_link(stack.web.base_url, session))
        assert "#join" not in page.url  # the token does not stay in the address bar
        page.get_by_role("button", name="Connect", exact=True).click()
        wait_agent_connected(page, stack)
        assert page.evaluate("window.lvs.timings.detectedBy") == "list"
        _disconnect_ends_session(page, stack, room)
    finally:
        delete_room(stack, room)


def test_conversation_through_the_page(stack: Settings, page: Page, letta_agent: dict[str, str]) -> None:
    """Pick the agent, Connect, get the agent's words in the transcript, type a message, get a reply."""
    with room_of_the_test(stack) as session_room:
        room = session_room.name = connect_to(page, stack, letta_agent["id"])
        assert room and room.startswith(stack.recovery.room_prefix)
        timings = page.evaluate("window.lvs.timings")
        print(f"click Connect -> agent connected: {timings['agentConnected'] - timings['connectClick']:.0f} ms")
        expect(page.get_by_role("button", name="Mute microphone", exact=True)).to_be_enabled()
        # The level meter moved while the spoken WAV played into the fake microphone.
        eventually(lambda: page.evaluate("window.lvs.meterPeak") > 0.01, 15, what="the mic level meter to move")
        agent_lines = page.locator("#transcript li[data-who=agent]")
        if stack.agent.greeting:
            expect(agent_lines.first).to_be_visible(timeout=REPLY_S * 1000)
        before = agent_lines.count()
        page.get_by_label("Type a message").fill("Hello! Please say something short.")
        page.get_by_label("Type a message").press("Enter")
        expect(page.locator("#transcript li[data-who=user]").last).to_contain_text("Please say something short")
        eventually(lambda: agent_lines.count() > before, REPLY_S, interval=0.5, what="an agent reply line")
        expect(agent_lines.last.locator(".words")).not_to_be_empty()
        # Mute toggles and is announced through aria-pressed.
        page.get_by_role("button", name="Mute microphone", exact=True).click()
        expect(page.locator("#mute")).to_have_attribute("aria-pressed", "true")
        page.get_by_role("button", name="Unmute microphone", exact=True).click()
        expect(page.locator("#mute")).to_have_attribute("aria-pressed", "false")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "web-connected-session.png"), full_page=True)
        assert page.page_log.csp_violations() == []  # type: ignore[attr-defined]
        _disconnect_ends_session(page, stack, room)


def test_second_session_offers_takeover(stack: Settings, page: Page, letta_agent: dict[str, str]) -> None:
    """Another tab holds the agent's session: Connect says so (409) and "Take over" replaces it."""
    eventually(lambda: worker_has_room(stack), JOIN_S, interval=1, what="the agent worker to have room")
    other = httpx.post(
        f"{stack.web.base_url}/api/sessions", json={"agent_id": letta_agent["id"], "takeover": True}, timeout=30
    )
    assert other.status_code == 201, other.text
    old_room = other.json()["room"]
    room = None
    try:
        page.goto(stack.web.base_url)
        page.locator(f'#agent-list button[data-agent-id="{letta_agent["id"]}"]').click()
        page.get_by_role("button", name="Connect", exact=True).click()
        expect(page.locator("#status")).to_have_attribute("data-state", "error")
        expect(page.locator("#status")).to_contain_text("already in a session")
        page.get_by_role("button", name="Take over that session", exact=True).click()
        wait_agent_connected(page, stack)
        room = page.locator("#session").get_attribute("data-room")
        assert room and room != old_room
        assert not room_exists(stack, old_room)
        _disconnect_ends_session(page, stack, room)
    finally:
        delete_room(stack, old_room)
        if room:
            delete_room(stack, room)


def test_switch_agent_during_a_session(stack: Settings, page: Page, letta_agent: dict[str, str]) -> None:
    """The switch control sends {"letta_agent_id"} on lvs.switch-agent; the agent confirms via its attribute."""
    agents = httpx.get(f"{stack.web.base_url}/api/agents", timeout=30).json()["agents"]
    target = next((a for a in agents if a["id"] != letta_agent["id"]), None)
    if target is None:
        pytest.skip("needs a second Letta agent")
    room = connect_to(page, stack, letta_agent["id"])
    assert room
    try:
        page.get_by_label("Switch to agent").select_option(target["id"])
        page.get_by_role("button", name="Switch", exact=True).click()
        expect(page.locator("#transcript li.system").last).to_contain_text(
            f"Now talking to {target['name']}", timeout=JOIN_S * 1000
        )

        def agent_attribute() -> str:
            agent = next(p for p in participants(stack, room) if p.kind == api.ParticipantInfo.Kind.AGENT)
            return agent.attributes.get("lvs.letta_agent_id", "")

        assert agent_attribute() == target["id"]
        _disconnect_ends_session(page, stack, room)
    finally:
        delete_room(stack, room)
