"""The `tls` profile for real: Caddy with `tls internal` serves the page over HTTPS, and real Chromium, trusting
Caddy's CA (an NSS database of its own, nothing of the machine's trust store), logs in, presses Connect and
reaches "agent connected" with LiveKit's signalling through Caddy (wss://DEPLOY_DOMAIN/rtc).

scripts/test-compose.sh runs it with DEPLOY_DOMAIN, DEPLOY_TLS=internal and LIVEKIT_PUBLIC_URL=wss://DOMAIN in
`.env` (restored afterwards); Chromium resolves DEPLOY_DOMAIN to this machine (--host-resolver-rules).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect, sync_playwright

from services.agent.probe import default_agent_id
from services.shared.settings import Settings, get_settings
from tests.compose.helpers import container, docker, explain, require_healthy, web_account
from tests.helpers import eventually

pytestmark = pytest.mark.compose

CHROMIUM = "/usr/bin/chromium"
ROOT_CA = "/data/caddy/pki/authorities/local/root.crt"  # Caddy's internal CA, in the caddy-data volume
JOIN_S = 90.0


@pytest.fixture(scope="module")
def settings() -> Settings:
    s = get_settings()
    if not s.deploy.domain or docker("inspect", container("caddy")).returncode != 0:
        pytest.skip("the tls profile is not running (scripts/test-compose.sh starts it with DEPLOY_DOMAIN set)")
    assert s.deploy.tls.value == "internal", "this test needs DEPLOY_TLS=internal (no ACME server is reachable)"
    require_healthy("caddy", "web", "livekit", "agent")
    return s


@pytest.fixture(scope="module")
def trusting_home(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A HOME whose NSS database (what Chromium on Linux trusts) holds Caddy's root certificate."""
    home = tmp_path_factory.mktemp("chromium-home")
    ca = home / "caddy-root.crt"

    def root_ca() -> str:
        out = docker("exec", container("caddy"), "cat", ROOT_CA)
        return out.stdout if out.returncode == 0 and "BEGIN CERTIFICATE" in out.stdout else ""

    try:
        ca.write_text(eventually(root_ca, 60, interval=1.0, what=f"Caddy's root certificate at {ROOT_CA}"))
    except AssertionError as error:
        raise explain(error, "caddy") from None
    nssdb = home / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    for args in (
        ["-N", "--empty-password"],
        ["-A", "-t", "C,,", "-n", "lvs-test-caddy-local", "-i", str(ca)],
    ):
        subprocess.run(["certutil", "-d", f"sql:{nssdb}", *args], check=True, capture_output=True, timeout=60)
    return home


@pytest.fixture(scope="module")
def browser(settings: Settings, trusting_home: Path) -> Iterator[Browser]:
    with sync_playwright() as pw:
        launched = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            env={"HOME": str(trusting_home), "PATH": "/usr/bin:/bin"},
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                f"--host-resolver-rules=MAP {settings.deploy.domain} 127.0.0.1",
            ],
        )
        yield launched
        launched.close()


def test_page_over_https_and_livekit_through_caddy_reach_agent_connected(settings: Settings, browser: Browser) -> None:
    """tls profile: Chromium over HTTPS (Caddy, tls internal) and wss to LiveKit reaches "agent connected\""""
    domain = settings.deploy.domain
    assert settings.livekit.browser_url == f"wss://{domain}", "the page must get LiveKit through Caddy"
    agent_id = default_agent_id(settings)
    context = browser.new_context()  # no ignore_https_errors: the certificate must verify against the CA
    page = context.new_page()
    page.set_default_timeout(30_000)
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    try:
        with web_account() as (name, password):
            started = time.monotonic()
            response = page.goto(f"https://{domain}/")
            status = response.status if response is not None else None
            assert response is not None and response.ok, f"GET https://{domain}/ answered {status}"
            security = response.security_details() or {}
            assert "Caddy Local Authority" in str(security.get("issuer", "")), security
            assert response.headers.get("strict-transport-security"), "no HSTS header from Caddy"
            page.get_by_label("Account", exact=True).fill(name)
            page.locator("#login").get_by_label("Password").fill(password)
            page.get_by_role("button", name="Log in").click()
            expect(page.locator("#app")).to_be_visible()
            page.locator(f'#agent-list button[data-agent-id="{agent_id}"]').click()
            clicked = time.monotonic()
            page.get_by_role("button", name="Connect", exact=True).click()
            expect(page.locator("#session")).to_have_attribute("data-agent", "connected", timeout=JOIN_S * 1000)
            connected = time.monotonic()
            assert any(url.startswith(f"wss://{domain}/rtc") for url in sockets), sockets
            room = page.locator("#session").get_attribute("data-room")
            page.get_by_role("button", name="Disconnect", exact=True).click()
            expect(page.locator("#status")).to_have_attribute("data-state", "idle")
    except AssertionError as error:
        raise explain(error, "caddy", "web", "livekit", "agent") from None
    finally:
        context.close()
    print(
        f"compose figure: tls profile: https://{domain}/ (tls internal) loaded and logged in"
        f" {clicked - started:.1f} s; Connect -> agent connected over wss through Caddy {connected - clicked:.1f} s"
        f" (room {room})",
        flush=True,
    )
