"""The shell pieces of compose mode agree with the settings: Letta's provider wrapper (config/letta-entry.sh)
and the profile choice (scripts/compose-lib.sh); passwords never reach Letta's log."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from services.shared.settings import ROOT, LLMSettings, Settings

pytestmark = pytest.mark.unit

ENTRY = ROOT / "config" / "letta-entry.sh"
CASES = [
    {},
    {"OPENAI_API_KEY": "sk-x"},
    {"LLM_PROVIDER": "local", "OPENAI_API_KEY": "sk-x"},
    {"LLM_PROVIDER": "openai", "OPENAI_API_KEY": "sk-x"},
    {"LLM_PROVIDER": "auto", "LLM_PORT": "9000"},
    {"DEPLOY_DOMAIN": "voice.example.com"},
    {"DEPLOY_DOMAIN": "voice.example.com", "OPENAI_API_KEY": "sk-x", "OPENAI_BASE_URL": "http://h:11434/v1"},
    {"LIVEKIT_NODES": "2"},
    {"LIVEKIT_NODES": "1", "DEPLOY_DOMAIN": "voice.example.com"},
    {"LIVEKIT_NODES": "2", "DEPLOY_DOMAIN": "voice.example.com", "OPENAI_API_KEY": "sk-x"},
    {"OPENAI_API_KEY": "sk-x", "AGENT_STT": "openai", "AGENT_TTS": "openai"},
    {"AGENT_STT": "openai", "OPENAI_API_KEY": "sk-x"},
    {"AGENT_STT": "sphinx", "AGENT_TTS": "espeak"},
]


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    return {**keep, **extra}


def run_entry(extra: dict[str, str], script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(ENTRY), "bash", "-c", script],
        env=clean_env(extra),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize("extra", CASES)
def test_letta_gets_the_model_endpoint_the_settings_resolve(extra: dict[str, str]) -> None:
    llm = {k.removeprefix("LLM_").lower(): v for k, v in extra.items() if k.startswith("LLM_")}
    llm |= {
        "OPENAI_API_KEY": extra.get("OPENAI_API_KEY"),
        "OPENAI_BASE_URL": extra.get("OPENAI_BASE_URL", "https://api.openai.com/v1"),
    }
    # the section reads no .env either (a developer's .env would move the local port)
    settings = Settings(_env_file=None, llm=LLMSettings(_env_file=None, **llm))
    result = run_entry(extra, 'echo "$OPENAI_BASE_URL|$OPENAI_API_KEY"')
    assert result.returncode == 0, result.stderr
    url, key = result.stdout.strip().split("|")
    if settings.llm.is_local:
        assert url == settings.llm.local_base_url and key == "sk-local-no-key"
    else:
        # the compose file hands Letta OPENAI_BASE_URL with the settings' default; the wrapper keeps it
        assert url == extra.get("OPENAI_BASE_URL", "") and key == extra["OPENAI_API_KEY"]


@pytest.mark.parametrize("extra", [*CASES, {"LLM_MODEL": "qwen2.5-3b"}, {"OPENAI_API_KEY": "k", "LLM_MODEL": "m"}])
def test_letta_entry_syncs_the_provider_the_settings_name(extra: dict[str, str]) -> None:
    from services.stack.database import provider_sync_variables

    llm = {k.removeprefix("LLM_").lower(): v for k, v in extra.items() if k.startswith("LLM_")}
    llm |= {
        "OPENAI_API_KEY": extra.get("OPENAI_API_KEY"),
        "OPENAI_BASE_URL": extra.get("OPENAI_BASE_URL", "https://api.openai.com/v1"),
    }
    settings = Settings(_env_file=None, llm=LLMSettings(_env_file=None, **llm))
    compose_env = {"OPENAI_BASE_URL": "https://api.openai.com/v1", **extra}  # compose.yaml's default
    result = run_entry(compose_env, 'echo "$LVS_PROVIDER_ENDPOINT|$LVS_PROVIDER_MODEL"')
    assert result.returncode == 0, result.stderr
    endpoint, model = result.stdout.strip().split("|")
    assert {"endpoint": endpoint, "model": model} == provider_sync_variables(settings)


def test_a_bad_provider_stops_letta_naming_the_setting() -> None:
    result = run_entry({"LLM_PROVIDER": "gpt"}, "echo started")
    assert result.returncode == 2 and "LLM_PROVIDER" in result.stderr and "started" not in result.stdout


def test_passwords_in_lettas_output_are_redacted() -> None:
    script = (
        'echo "▶ Using secure mode with password: Zx9-secret_token"; '
        'echo "Using database:  postgresql+pg8000://letta:d0b5ecret@127.0.0.1:5433/letta"; '
        'echo "External Postgres configuration detected via LETTA_PG_URI: '
        'postgresql://letta:d0b5ecret@h:5433/x" >&2; '
        'echo "INFO: Uvicorn running on http://127.0.0.1:8283"'
    )
    result = run_entry({}, script)
    out = result.stdout + result.stderr
    assert result.returncode == 0
    assert "Zx9-secret_token" not in out and "d0b5ecret" not in out
    assert out.count("[redacted]") == 3
    assert "Uvicorn running on http://127.0.0.1:8283" in out, "other lines pass through unchanged"


@pytest.mark.parametrize("extra", CASES)
def test_compose_profiles_follow_the_settings(extra: dict[str, str], tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in extra.items()))
    result = subprocess.run(
        ["bash", "-c", f'source "{ROOT}/scripts/compose-lib.sh"; compose_profiles'],
        env=clean_env({"ENV_FILE": str(env_file)}),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    settings = Settings(
        _env_file=None,
        llm={"provider": extra.get("LLM_PROVIDER", "auto"), "OPENAI_API_KEY": extra.get("OPENAI_API_KEY")},
        deploy={"domain": extra.get("DEPLOY_DOMAIN")},
        livekit={"nodes": extra.get("LIVEKIT_NODES", 1)},
        agent={"stt": extra.get("AGENT_STT", "offline"), "tts": extra.get("AGENT_TTS", "offline")},
    )
    wanted = (
        ("local-models", settings.llm.is_local),
        ("local-speech", settings.speech_needed),
        ("tls", bool(settings.deploy.domain)),
        ("scale", settings.livekit.cluster),
    )
    expected = [profile for profile, on in wanted if on]
    assert (result.stdout.split(",") if result.stdout else []) == expected


@pytest.mark.parametrize("nodes", ["3", "0", "two"])
def test_compose_refuses_a_node_count_it_has_no_services_for(nodes: str, tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(f"LIVEKIT_NODES={nodes}\n")
    result = subprocess.run(
        ["bash", "-c", f'source "{ROOT}/scripts/compose-lib.sh"; compose_profiles'],
        env=clean_env({"ENV_FILE": str(env_file)}),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode != 0 and f"LIVEKIT_NODES={nodes}" in result.stderr, result.stderr


FAKE_PSQL = """#!/usr/bin/env bash
printf '%s\\n' "$@" >"$PSQL_LOG.args"
[[ -n "${PSQL_FAIL:-}" ]] && { echo "psql: error: connection to $1 failed" >&2; exit 2; }
printf '%s' "${PSQL_OUT:-}"
"""


def run_entry_with_fake(
    tmp_path: Path, tool: str, fake: str, env: dict[str, str], script: str
) -> subprocess.CompletedProcess[str]:
    """The entry running ``script`` as Letta, with the shell script ``fake`` on PATH as ``tool``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / tool).write_text(fake)
    (bin_dir / tool).chmod(0o755)
    return subprocess.run(
        ["bash", str(ENTRY), "bash", "-c", script],
        env={**clean_env({}), **env, "PATH": f"{bin_dir}:{os.environ['PATH']}"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def run_entry_with_psql(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The entry with a psql on PATH that logs its arguments (and fails with PSQL_FAIL, prints PSQL_OUT)."""
    return run_entry_with_fake(tmp_path, "psql", FAKE_PSQL, {**env, "PSQL_LOG": str(tmp_path / "psql")}, "echo started")


@pytest.mark.parametrize("out", ["", "provider openai now at http://127.0.0.1:11090/v1"])
def test_letta_entry_runs_the_provider_sync_before_letta(out: str, tmp_path: Path) -> None:
    uri = "postgresql://letta:d0b5ecret@127.0.0.1:5433/letta"
    result = run_entry_with_psql(tmp_path, {"LLM_PORT": "11090", "LETTA_PG_URI": uri, "PSQL_OUT": out})
    assert result.returncode == 0 and "started" in result.stdout, result.stderr
    args = (tmp_path / "psql.args").read_text().splitlines()
    assert args[0] == uri
    assert "endpoint=http://127.0.0.1:11090/v1" in args and "model=qwen2.5-coder-0.5b" in args
    sql_file = Path(args[args.index("-f") + 1])
    assert sql_file.name == "letta-provider-sync.sql" and sql_file.is_file()
    assert ("letta-entry: provider sync: " + out in result.stdout) if out else "provider sync" not in result.stdout
    assert result.stdout.index("started") > (result.stdout.find("provider sync") if out else -1)


def test_letta_starts_when_the_provider_sync_fails_and_no_password_is_shown(tmp_path: Path) -> None:
    uri = "postgresql://letta:d0b5ecret@127.0.0.1:5433/letta"
    result = run_entry_with_psql(tmp_path, {"LETTA_PG_URI": uri, "PSQL_FAIL": "1"})
    out = result.stdout + result.stderr
    assert result.returncode == 0 and "started" in out
    assert "provider sync failed" in out and "d0b5ecret" not in out


def test_make_test_runs_compose_after_the_native_stack_is_stopped_and_ci_installs_the_engine() -> None:
    # both stacks read the same .env ports: they must never run at once
    text = (ROOT / "scripts" / "test.sh").read_text()
    native = text.index('-m pytest -m "not unit and not compose"')
    stopped = text.index("\nstop_stack\n", native)
    compose = text.index('bash "$ROOT/scripts/test-compose.sh"', stopped)
    assert native < stopped < compose
    assert "--with-docker" in (ROOT / ".ci" / "run").read_text()
    faults = (ROOT / "scripts" / "test-compose.sh").read_text()
    assert faults.index("-m compose") < faults.index("make --no-print-directory down MODE=compose")


FAKE_DOCKER = """#!/usr/bin/env bash
if [[ "$*" == *" ps --all --format "* ]]; then
  printf 'letta-voice-stack-letta-1\\trunning\\tunhealthy\\nletta-voice-stack-web-1\\trunning\\thealthy\\n'
  printf 'letta-voice-stack-agent-1\\texited\\t\\n'
elif [[ "$1" == logs ]]; then
  echo "last line of ${@: -1}"
fi
"""


def test_a_container_never_healthy_is_named_with_its_log_tail(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(FAKE_DOCKER)
    (bin_dir / "docker").chmod(0o755)
    result = subprocess.run(
        ["bash", "-c", f'source "{ROOT}/scripts/compose-lib.sh"; unhealthy_report; echo "rc=$?"'],
        env=clean_env({"PATH": f"{bin_dir}:{os.environ['PATH']}", "ENV_FILE": str(tmp_path / ".env")}),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert "rc=0" in result.stdout, result.stderr
    assert "letta-voice-stack-letta-1\x1b[0m is running (unhealthy)" in result.stderr
    assert "last line of letta-voice-stack-letta-1" in result.stderr
    assert "letta-voice-stack-agent-1\x1b[0m is exited" in result.stderr
    assert "web-1" not in result.stderr, "a healthy container is not reported"


FAKE_REDIS = """#!/usr/bin/env bash
printf '%s\\n' "$@" >"$REDIS_LOG"
[[ -z "${REDIS_FAIL:-}" ]]
"""


def run_entry_with_redis(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The entry with a redis-server on PATH that logs its arguments (and fails with REDIS_FAIL)."""
    show = 'echo "redis at ${LETTA_REDIS_HOST:-none}:${LETTA_REDIS_PORT:-none}"'
    return run_entry_with_fake(
        tmp_path, "redis-server", FAKE_REDIS, {**env, "REDIS_LOG": str(tmp_path / "redis.args")}, show
    )


def test_lettas_redis_listens_on_loopback_only(tmp_path: Path) -> None:
    result = run_entry_with_redis(tmp_path, {"LVS_LETTA_REDIS": "loopback"})
    assert result.returncode == 0 and "redis at 127.0.0.1:6389" in result.stdout, result.stdout + result.stderr
    args = (tmp_path / "redis.args").read_text().split()
    assert args[args.index("--bind") + 1] == "127.0.0.1" and args[args.index("--port") + 1] == "6389"
    assert "--daemonize" in args and args[args.index("--protected-mode") + 1] == "yes"


def test_lettas_redis_is_left_to_letta_without_the_compose_setting_or_with_its_own_host(tmp_path: Path) -> None:
    plain = run_entry_with_redis(tmp_path, {})
    assert "redis at none:none" in plain.stdout and not (tmp_path / "redis.args").exists()
    (tmp_path / "bin").rename(tmp_path / "bin-1")
    own = run_entry_with_redis(tmp_path, {"LVS_LETTA_REDIS": "loopback", "LETTA_REDIS_HOST": "10.0.0.5"})
    assert "redis at 10.0.0.5:none" in own.stdout and not (tmp_path / "redis.args").exists()


def test_letta_stops_when_its_loopback_redis_does_not_start(tmp_path: Path) -> None:
    result = run_entry_with_redis(tmp_path, {"LVS_LETTA_REDIS": "loopback", "REDIS_FAIL": "1"})
    assert result.returncode == 1 and "redis at" not in result.stdout
    assert "redis-server did not start on 127.0.0.1:6389" in result.stdout + result.stderr
