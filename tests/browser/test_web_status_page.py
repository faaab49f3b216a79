"""The operator's status page and the conversation view, in real Chromium against the native stack.

- An admin's /status lists a live session made by a second browser context (another, non-admin user), who
  is told the page is for admins.
- The page shows the conversation: the agent-state indicator walks through listening, thinking and
  speaking (a screenshot of each under tests/artifacts/), and the agent's voice visualiser moves while it
  speaks. At phone width the Connect button is on screen without scrolling, and it works from the keyboard.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from services.shared.letta import letta_client
from services.shared.settings import Settings
from tests.browser.conftest import ARTIFACTS, PageLog
from tests.browser.sessions import JOIN_S, REPLY_S, connect_here, delete_room, wait_agent_connected, worker_has_room
from tests.helpers import eventually
from tests.stack.web_server import AuthServer, auth_web_server

pytestmark = [pytest.mark.browser]
# Records every state the page shows, with its words, from now on (window.lvsSeenStates).
RECORD_STATES = """() => {
  const el = document.getElementById("agent-state");
  const text = document.getElementById("agent-state-text");
  window.lvsSeenStates = [];
  new MutationObserver(() => window.lvsSeenStates.push([el.dataset.state, text.textContent])).observe(el, {
    attributes: true,
    attributeFilter: ["data-state"],
  });
}"""

ADMIN = ("admin", "admin-password-status")
ANN = ("ann", "ann-password-status")
PHONE = {"width": 375, "height": 667}


@pytest.fixture(scope="module")
def server(stack: Settings) -> Iterator[AuthServer]:
    with auth_web_server(stack) as srv:
        srv.store.add_user(*ADMIN, admin=True)
        srv.store.add_user(*ANN)
        yield srv


@pytest.fixture(scope="module")
def anns_agent(stack: Settings, server: AuthServer) -> Iterator[dict[str, str]]:
    with httpx.Client(base_url=server.base_url, timeout=60) as client:
        assert client.post("/api/login", json={"name": ANN[0], "password": ANN[1]}).status_code == 200
        body = {"name": f"status-test-{uuid.uuid4().hex[:6]}", "persona": "I answer briefly.", "human": "A test."}
        made = client.post("/api/agents", json=body)
        assert made.status_code == 201, made.text
    agent = made.json()
    yield agent
    letta_client(stack).agents.delete(agent["id"])


def _painted_height(page: Page, canvas_id: str) -> float:
    """The share of a canvas's rows with any painted pixel: a flat meter line paints a few, bars many."""
    return float(
        page.evaluate(
            """id => {
              const canvas = document.getElementById(id);
              const { data } = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
              let rows = 0;
              for (let y = 0; y < canvas.height; y += 1) {
                for (let x = 0; x < canvas.width; x += 1) {
                  if (data[(y * canvas.width + x) * 4 + 3] > 0) { rows += 1; break; }
                }
              }
              return rows / canvas.height;
            }""",
            canvas_id,
        )
    )


def _login(page: Page, base_url: str, who: tuple[str, str]) -> None:
    page.goto(base_url)
    page.get_by_label("Account", exact=True).fill(who[0])
    page.locator("#login").get_by_label("Password").fill(who[1])
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#app")).to_be_visible()


def _status_rows(page: Page) -> list[dict[str, str]]:
    return page.evaluate(
        """() => [...document.querySelectorAll('#sessions tbody tr')].map((tr) => {
             const c = [...tr.children].map((td) => td.textContent);
             return {room: c[0], user: c[1], agent: c[4], worker: c[5]};
           })"""
    )


def test_status_page_lists_the_session_of_another_browser(
    stack: Settings, server: AuthServer, anns_agent: dict[str, str], browser: Browser, page: Page
) -> None:
    _login(page, server.base_url, ADMIN)
    page.goto(f"{server.base_url}/status")
    expect(page.locator("#panels")).to_be_visible()
    expect(page.locator("#services tbody tr")).not_to_have_count(0)
    expect(page.locator("#sessions-message")).to_be_visible()

    other = browser.new_context(viewport={"width": 1100, "height": 900})
    ann = other.new_page()
    ann.set_default_timeout(15_000)
    ann_log = PageLog(ann)
    room = ""
    try:
        # A non-admin is told the page is not for them, and the API says 403.
        _login(ann, server.base_url, ANN)
        ann.goto(f"{server.base_url}/status")
        expect(ann.locator("#denied")).to_contain_text("for admins")
        expect(ann.locator("#panels")).to_be_hidden()
        ann.goto(server.base_url)
        room = connect_here(ann, stack, anns_agent["id"]) or ""
        assert room

        # The admin's page refreshes by itself and lists Ann's session: room, user, agent state, worker.
        def listed() -> dict[str, str] | None:
            return next((r for r in _status_rows(page) if r["room"] == room and r["worker"] != "-"), None)

        row = eventually(listed, 30, interval=0.5, what="the status page to list the other browser's session")
        assert row["user"] == ANN[0]
        assert row["worker"].startswith("agent")
        assert row["agent"] != "no agent"
        expect(page.locator("#sessions tbody")).to_contain_text(anns_agent["id"])
        # The worker's metrics moved while the page was open (the greeting's TTS, Ann's spoken WAV): the
        # latest turns' own latency is shown next to the since-start figures.
        latest = page.locator("#latency tbody tr td:nth-child(4)")
        eventually(
            lambda: any(t != "-" for t in latest.all_inner_texts()), 60, interval=0.5, what="a latest-turn latency"
        )
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "status-page.png"), full_page=True)
        assert page.page_log.csp_violations() == [] and ann_log.csp_violations() == []  # type: ignore[attr-defined]
    finally:
        other.close()
        if room:
            delete_room(stack, room)


def test_the_conversation_is_shown_state_by_state(stack: Settings, page: Page, letta_agent: dict[str, str]) -> None:
    page.set_viewport_size(PHONE)
    page.goto(stack.web.base_url)
    item = page.locator(f'#agent-list button[data-agent-id="{letta_agent["id"]}"]')
    expect(item).to_be_visible()
    connect = page.get_by_role("button", name="Connect", exact=True)
    # At phone width, Connect is on screen without scrolling, and nothing is wider than the screen.
    box = connect.bounding_box()
    assert box is not None and box["y"] + box["height"] <= PHONE["height"], box
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    expect(page.locator("#agent-state")).to_have_attribute("data-state", "off")

    # Keyboard only: select the agent with Enter, then Connect with Enter.
    item.focus()
    page.keyboard.press("Enter")
    expect(item).to_have_attribute("aria-pressed", "true")
    eventually(lambda: worker_has_room(stack), JOIN_S, interval=1, what="the agent worker to have room")
    connect.focus()
    page.keyboard.press("Enter")
    wait_agent_connected(page, stack)
    room = page.locator("#session").get_attribute("data-room") or ""
    state = page.locator("#agent-state")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        expect(state).to_have_attribute("data-state", "listening", timeout=REPLY_S * 1000)
        page.screenshot(path=str(ARTIFACTS / "agent-state-listening.png"))
        assert page.evaluate("window.lvs.visual.mic !== null"), "the microphone has a visualiser"

        before = page.evaluate("window.lvs.visual.agentFrames")
        # "Thinking" can last less than Playwright's polling interval (up to 1 s): every change the page makes
        # to the state is recorded as it happens, with the words it shows, and the order is checked after.
        page.evaluate(RECORD_STATES)
        page.get_by_label("Type a message").fill("What is the capital of France?")
        page.get_by_label("Type a message").press("Enter")
        eventually(
            lambda: "speaking" in [s for s, _ in page.evaluate("window.lvsSeenStates")],
            REPLY_S,
            interval=0.1,
            what="the agent to think, then speak its answer",
        )
        seen = page.evaluate("window.lvsSeenStates")
        states = [s for s, _ in seen]
        assert "thinking" in states and states.index("thinking") < states.index("speaking"), seen
        assert seen[states.index("thinking")][1] == "Thinking…", seen
        # While it speaks, the agent's visualiser draws moving bars (frames with energy, from its track).
        eventually(
            lambda: page.evaluate("window.lvs.visual.agentFrames") > before + 5,
            30,
            interval=0.1,
            what="the agent voice visualiser to move while the agent speaks",
        )
        # The canvas itself shows it: bars taller than the flat line while the voice plays (the levels are read
        # every frame, the bars drawn at most 30 times a second), and only the flat line once the agent is quiet.
        eventually(lambda: _painted_height(page, "agent-viz") > 0.2, 30, interval=0.05, what="the agent's bars")
        page.screenshot(path=str(ARTIFACTS / "agent-state-speaking.png"))
        assert page.evaluate("window.lvs.visual.agentPeak") > 0.05
        expect(state).to_have_attribute("data-state", "listening", timeout=REPLY_S * 1000)
        eventually(lambda: _painted_height(page, "agent-viz") < 0.1, 10, interval=0.1, what="a flat agent meter")
        assert page.page_log.csp_violations() == []  # type: ignore[attr-defined]
    finally:
        if room:
            delete_room(stack, room)
