"""Another user of the machine cannot read the assistants' memory: not through PostgreSQL (TCP or socket),
not through Letta's API, not from the stack's files. Checked as a real unprivileged OS user."""

from __future__ import annotations

import ipaddress
import os
import pwd
import secrets as secrets_module
import socket
import subprocess
from collections.abc import Iterator

import httpx
import pytest

from services.agent.probe import human_token
from services.shared.letta import letta_headers
from services.shared.settings import Settings, is_loopback
from services.stack import database
from services.stack.private_files import private_roots
from services.stack.programs import pg_bin_dir
from services.stack.supervisor import Supervisor
from tests.helpers import eventually, log_entries, log_size, secrets_in_logs, settings_secrets, web_account

pytestmark = pytest.mark.stack
OUTSIDER = "lvs-outsider"
SYSTEM_PYTHON = "/usr/bin/python3"


@pytest.fixture(scope="module")
def outsider() -> Iterator[str]:
    """An unprivileged OS user that is not the stack's (created once, left in place for later runs)."""
    if os.geteuid() != 0:
        pytest.skip("creating a second OS user needs root")
    try:
        pwd.getpwnam(OUTSIDER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", OUTSIDER],
            check=True,
            timeout=120,
        )
    yield OUTSIDER


def as_user(user: str, *command: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {"PATH": "/usr/bin:/bin", "HOME": "/", **(env or {})}
    return subprocess.run(
        ["runuser", "-u", user, "--", "env", "-i", *(f"{k}={v}" for k, v in clean.items()), *command],
        cwd="/",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def psql_args(settings: Settings, host: str, user: str) -> list[str]:
    pg = settings.postgres
    return [str(pg_bin_dir(settings) / "psql"), "-h", host, "-p", str(pg.port), "-U", user, "-d", pg.db, "-w"]


def test_postgres_over_tcp_needs_the_password(stack: Settings, outsider: str) -> None:
    pg = stack.postgres
    for role in (pg.user, pg.admin_user):
        blank = as_user(outsider, *psql_args(stack, pg.host, role), "-c", "SELECT count(*) FROM agents")
        assert blank.returncode != 0 and "no password supplied" in blank.stderr, blank.stdout + blank.stderr
        wrong = as_user(outsider, *psql_args(stack, pg.host, role), "-c", "SELECT 1", env={"PGPASSWORD": "letta"})
        assert wrong.returncode != 0 and "password authentication failed" in wrong.stderr, wrong.stderr


def test_postgres_socket_is_closed_to_others_and_needs_a_password(stack: Settings, outsider: str) -> None:
    sock = database.socket_dir(stack)
    assert sock.stat().st_mode & 0o077 == 0, f"{sock} is mode {sock.stat().st_mode & 0o777:o}"
    other = as_user(outsider, *psql_args(stack, str(sock), stack.postgres.user), "-c", "SELECT 1")
    assert other.returncode != 0 and "Permission denied" in other.stderr, other.stdout + other.stderr
    # even a process that may enter the folder (root here) gets no trust: the old code's --auth-local=trust
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    for role in (stack.postgres.user, stack.postgres.admin_user):
        inside = subprocess.run(
            [*psql_args(stack, str(sock), role), "-c", "SELECT 1"],
            env=clean,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert inside.returncode != 0 and "no password supplied" in inside.stderr, inside.stdout + inside.stderr


def test_lettas_role_is_not_a_superuser_and_nothing_is_trusted(stack: Settings) -> None:
    pg = stack.postgres
    row = database.psql(stack, f"SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = '{pg.user}'")
    assert row == "f|f|f"
    assert database.psql(stack, f"SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{pg.db}'") == pg.user
    rules = database.psql(stack, "SELECT DISTINCT auth_method FROM pg_hba_file_rules").split()
    assert "trust" not in rules and "scram-sha-256" in rules


def letta_get(settings: Settings, user: str, path: str) -> str:
    script = (
        "import urllib.request, urllib.error\n"
        f"try: print(urllib.request.urlopen({settings.letta.base_url + path!r}, timeout=10).status)\n"
        "except urllib.error.HTTPError as e: print(e.code)\n"
    )
    return as_user(user, SYSTEM_PYTHON, "-c", script).stdout.strip()


def test_lettas_api_needs_the_password(stack: Settings, outsider: str) -> None:
    assert letta_get(stack, outsider, "/v1/agents/") == "401"
    assert letta_get(stack, outsider, "/v1/health/") == "200"  # health stays open for probes
    url = f"{stack.letta.base_url}/v1/agents/"
    assert httpx.get(url, headers={"Authorization": "Bearer wrong"}, timeout=10).status_code == 401
    assert httpx.get(url, headers=letta_headers(stack), timeout=10).status_code == 200
    chat = httpx.post(f"{stack.letta.openai_url}/chat/completions", json={"model": "x", "messages": []}, timeout=10)
    assert chat.status_code == 401  # the voice contract too


@pytest.mark.parametrize("origin", ["http://localhost:3000", "https://app.letta.com"])
def test_letta_allows_no_browser_origin(stack: Settings, origin: str) -> None:
    headers = {"Origin": origin, "Access-Control-Request-Method": "GET", **letta_headers(stack)}
    preflight = httpx.options(f"{stack.letta.base_url}/v1/agents/", headers=headers, timeout=10)
    assert "access-control-allow-origin" not in preflight.headers, dict(preflight.headers)


def test_the_stacks_files_are_unreadable_to_others(stack: Settings, outsider: str) -> None:
    roots = [str(p) for p in private_roots(stack) if p.exists()]
    found = as_user(outsider, "find", *roots, "-readable", "(", "-type", "f", "-o", "-type", "d", ")")
    readable = found.stdout.splitlines()
    assert readable == [], f"readable by {outsider}: {readable[:10]}"
    for name in ("letta.log", "postgres.log", "supervisord.log"):
        assert (stack.stack.log_dir / name).stat().st_mode & 0o077 == 0, name
    config = stack.stack.data_dir / "letta" / ".letta" / "config"  # holds the database URI with its password
    assert not config.exists() or config.stat().st_mode & 0o077 == 0


def test_no_secret_of_the_stack_is_in_any_service_log(stack: Settings) -> None:
    """Every secret the stack has (LiveKit's API secret, the Letta and both PostgreSQL passwords, the login-cookie
    key, the owner's password when set) and the credentials a client sends (a LiveKit token in a query, a password
    in a login, a signed session cookie) are in no service's log, after the services have handled such requests."""
    secrets = {name: value.encode() for name, value in settings_secrets(stack).items()}
    generated = ("LIVEKIT_API_SECRET", "LETTA_PASSWORD", "POSTGRES_PASSWORD", "POSTGRES_ADMIN_PASSWORD")
    generated += ("WEB_SECRET_KEY",)
    for name in generated:
        assert len(secrets.get(name, b"")) >= 16, f"{name} is unset or too short to search the logs for"
    token = human_token(stack, f"{stack.recovery.room_prefix}privacy-{secrets_module.token_hex(4)}", "privacy-probe")
    password, cookie = secrets_module.token_urlsafe(18), secrets_module.token_urlsafe(40)
    offset = log_size(stack, "web")
    sent = {"a LiveKit token": token.encode(), "a login password": password.encode(), "a cookie": cookie.encode()}
    with web_account(stack, "privacy") as (name, account_password):
        sent["an account password"] = account_password.encode()
        with httpx.Client(base_url=stack.web.base_url, timeout=30, cookies={"session": cookie}) as web:
            web.get("/api/config", params={"token": token})
            web.get(f"/api/sessions/x?access_token={token}")
            for pw in (password, account_password):
                web.post("/api/login", json={"name": name, "password": pw})
        # LiveKit and the recovery sidecar get the token too (a join attempt, a webhook-shaped request).
        httpx.get(f"{stack.livekit.http_url}/rtc/validate", params={"access_token": token}, timeout=30)
        httpx.post(
            f"http://127.0.0.1:{stack.recovery.port}/webhooks/livekit",
            content=b"{}",
            headers={"Authorization": token, "Content-Type": "application/webhook+json"},
            timeout=30,
        )
    needles = {**secrets, **sent}
    logins = lambda: [e for e in log_entries(stack, "web", offset) if str(e.get("path")).startswith("/api/login")]  # noqa: E731
    eventually(lambda: len(logins()) >= 2, 15, what="the web service to log both login requests")
    leaks = secrets_in_logs(stack, needles)
    assert leaks == [], f"secrets in the logs: {leaks}"


def test_every_socket_of_the_stack_listens_on_loopback_only(stack: Settings) -> None:
    """On a loopback stack nothing is reachable from other machines: no service, child or model server listens
    on another address (livekit-server bound ICE/TCP on *:7881 when its tcp_port was left out)."""
    import psutil

    if not (is_loopback(stack.livekit.bind) and is_loopback(stack.web.bind)):
        pytest.skip("this stack is configured to face the network (LIVEKIT_BIND / WEB_BIND)")
    roots = [psutil.Process(proc.pid) for proc in Supervisor(stack).info().values() if proc.pid]
    assert roots, "supervisord lists no running program"
    processes = {p.pid: p for root in roots for p in [root, *root.children(recursive=True)]}
    open_to_others = []
    for process in processes.values():
        for conn in process.net_connections(kind="inet"):
            listening = conn.status == psutil.CONN_LISTEN or (conn.type == socket.SOCK_DGRAM and not conn.raddr)
            if listening and not ipaddress.ip_address(conn.laddr.ip).is_loopback:
                open_to_others.append(f"{process.name()} (pid {process.pid}) on {conn.laddr.ip}:{conn.laddr.port}")
    assert not open_to_others, f"listening beyond loopback: {open_to_others}"
