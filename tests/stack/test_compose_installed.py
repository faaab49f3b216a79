"""compose.yaml against the installed third-party components (`make up` builds and installs them first):
the Letta release reads the variables compose sets, and the real livekit-server starts on compose's config."""

from __future__ import annotations

import os
import socket
import subprocess
import urllib.request

import pytest
import yaml

from services.shared.settings import Settings
from tests.helpers import eventually
from tests.unit.test_compose_file import COMPOSE, TEST_ENV, interpolate

pytestmark = pytest.mark.stack


def test_the_third_party_variables_exist_in_the_installed_letta(stack: Settings) -> None:
    letta = stack.stack.dir / "letta-venv" / "lib" / "python3.11" / "site-packages" / "letta"
    assert letta.exists(), "the Letta venv is not installed (make up installs it)"
    app = (letta / "server" / "rest_api" / "app.py").read_text()
    assert 'os.getenv("LETTA_SERVER_PASSWORD")' in app and 'os.getenv("LETTA_SERVER_SECURE")' in app
    settings_py = (letta / "settings.py").read_text()
    assert 'env_prefix="letta_"' in settings_py and "pg_uri:" in settings_py
    assert '"OPENAI_BASE_URL"' in settings_py


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_livekit_server_accepts_the_compose_configuration(stack: Settings) -> None:
    """The real livekit-server v1.13.5 (strict about unknown keys) starts on LIVEKIT_CONFIG/LIVEKIT_KEYS."""
    binary = stack.stack.cache / "bin" / "livekit-server"  # the stack's own cache (STACK_CACHE_DIR in CI)
    assert binary.exists(), "livekit-server is not built yet (make up builds it)"
    port = _free_port()
    env = {
        **TEST_ENV,
        "LIVEKIT_PORT": str(port),
        "LIVEKIT_RTC_TCP_PORT": str(_free_port()),
        "LIVEKIT_PUBLIC_URL": "",
    }
    livekit = interpolate(yaml.safe_load(COMPOSE.read_text()), env)["services"]["livekit"]
    entry = COMPOSE.parent / "config" / "livekit-entry.sh"
    assert livekit["entrypoint"] == ["/bin/sh", "/lvs/livekit-entry.sh"], "compose starts livekit through its entry"
    proc = subprocess.Popen(
        # the container's own start: config/livekit-entry.sh (node 0, no Redis with one node), then the binary
        ["/bin/sh", str(entry)],
        env={"PATH": os.environ["PATH"], **livekit["environment"], "LIVEKIT_SERVER_BIN": str(binary)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        answer = eventually(lambda: _get(f"http://127.0.0.1:{port}/"), timeout=20, what="livekit-server")
        assert answer == "OK"
    finally:
        proc.terminate()  # livekit drains on the first signal; it is idle, so a kill after a while is safe
        try:
            output = proc.communicate(timeout=10)[0]
        except subprocess.TimeoutExpired:
            proc.kill()
            output = proc.communicate(timeout=10)[0]
    assert "could not parse config" not in output.lower(), output[-2000:]
    assert '"portHttp":' + str(port) in output and '"bindAddresses":["127.0.0.1"]' in output, output[-2000:]


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=1) as response:
        return response.read().decode()
