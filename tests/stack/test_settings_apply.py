"""`make up` applies a changed setting: it restarts exactly the services that read it, and names the setting.

These tests edit the project's .env (restored afterwards, with a final `make up` that applies the original).
"""

from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path

import pytest

from services.shared.settings import Settings
from services.stack.supervisor import Supervisor
from tests.helpers import add_env_lines, eventually, log_entries, log_size, make_up

pytestmark = pytest.mark.lifecycle
ROOT = Path(__file__).resolve().parents[2]


def make_config(settings: Settings) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(settings.stack.dir / "venv/bin/python"), "-m", "services.stack", "config"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def get_json(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def pids(settings: Settings) -> dict[str, int]:
    return {name: proc.pid for name, proc in Supervisor(settings).info().items()}


def test_changed_settings_restart_exactly_their_services(stack: Settings, env_file: Path) -> None:
    quiet = make_up()
    assert quiet.returncode == 0, quiet.stdout[-3000:]
    before = pids(stack)
    again = make_up()
    assert again.returncode == 0, again.stdout[-3000:]
    assert "nothing restarted" in again.stdout
    assert pids(stack) == before, "an unchanged 'make up' restarted a service"

    agent_log = log_size(stack, "agent")
    moved = "127.0.0.2"  # still loopback: the page stays open without a login, on another address
    # one of them in the environment of `make up`: supervisord, started by the first `make up`, must not keep
    # giving its programs that environment's values
    add_env_lines(env_file, "AGENT_DISPATCH=automatic", f"WEB_BIND={moved}", "AGENT_TTS=espeak")
    changed = make_up(WEB_TOKEN_TTL="301")
    assert changed.returncode == 0, changed.stdout[-3000:]
    after = pids(stack)
    restarted = {name for name in before if after.get(name) != before[name]}
    workers = {name for name in before if name == "agent" or name.startswith("agent-")}
    assert restarted == workers | {"web", "recovery"}, changed.stdout[-3000:]
    for name in ("WEB_TOKEN_TTL", "AGENT_DISPATCH", "WEB_BIND", "AGENT_TTS"):
        assert name in changed.stdout, f"{name} not named as changed"
    restart_lines = [line for line in changed.stdout.splitlines() if "Restart" in line]
    assert restart_lines and not [line for line in restart_lines if "301" in line or moved in line or "espeak" in line]
    config = get_json(f"http://{moved}:{stack.web.port}/api/config")
    assert config["token_ttl"] == 301, "the web service runs the new values, on the new address"
    with pytest.raises(OSError):
        get_json(f"http://127.0.0.1:{stack.web.port}/api/config")
    eventually(
        lambda: any(
            e.get("msg") == "job process prewarmed" and e.get("tts") == "espeak"
            for e in log_entries(stack, "agent", agent_log)
        ),
        60,
        what="the restarted worker to prewarm with the espeak voice",
    )
    worker = get_json(f"http://127.0.0.1:{stack.agent.port}/worker")
    # protobuf JSON leaves out an empty name: the worker registered for automatic dispatch
    assert worker.get("agent_name", "") == "", worker


def test_an_unknown_setting_is_named_and_nothing_restarts(stack: Settings, env_file: Path) -> None:
    before = pids(stack)
    add_env_lines(env_file, "WEB_TOKEN_TL=300")
    refused = make_up()
    assert refused.returncode == 2, refused.stdout[-3000:]
    assert "unknown setting WEB_TOKEN_TL" in refused.stdout + refused.stderr
    config = make_config(stack)
    assert config.returncode == 2 and "WEB_TOKEN_TL" in config.stdout
    assert pids(stack) == before, "a refused 'make up' touched a running service"


def test_make_config_masks_every_secret_and_names_sources(stack: Settings) -> None:
    from services.stack.effective import effective_settings

    config = make_config(stack)
    assert config.returncode == 0, config.stdout + config.stderr
    rows = effective_settings(stack)
    secrets = [r for r in rows if r.secret and len(r.value) >= 6]
    assert any(r.name == "LIVEKIT_API_SECRET" for r in secrets), "the stack has a real LiveKit secret to hide"
    for row in secrets:
        assert row.value not in config.stdout, f"{row.name}'s value is printed by make config"
    lines = {line.split()[0]: line.split()[1:] for line in config.stdout.splitlines()[1:] if line.strip()}
    for row in rows:
        assert " ".join(lines[row.name]).startswith(row.source.value), f"{row.name}: source not named"
