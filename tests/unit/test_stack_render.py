"""Rendered configs: livekit.yaml and supervisord.conf agree with the settings."""

from __future__ import annotations

import configparser
import subprocess
from pathlib import Path

import pytest
import yaml

from services.shared.settings import Settings
from services.stack import programs as programs_module
from services.stack.programs import LOCAL_LLM_KEY, letta_env, programs
from services.stack.render import livekit_yaml, supervisord_conf

pytestmark = pytest.mark.unit


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "LETTA_PASSWORD"):
        monkeypatch.delenv(var, raising=False)
    return Settings()


def test_livekit_config_has_ports_keys_and_webhook(settings: Settings) -> None:
    conf = yaml.safe_load(livekit_yaml(settings))
    assert conf["port"] == settings.livekit.port
    assert conf["rtc"]["udp_port"] == settings.livekit.rtc_udp_port
    assert conf["keys"] == {settings.livekit.api_key: settings.livekit.api_secret.get_secret_value()}
    assert conf["webhook"]["urls"] == [f"http://127.0.0.1:{settings.recovery.port}/webhooks/livekit"]
    assert conf["webhook"]["api_key"] == settings.livekit.api_key
    assert conf["room"]["auto_create"] is False


def test_supervisord_has_every_program_not_autostarted(settings: Settings) -> None:
    progs = programs(settings)
    conf = configparser.RawConfigParser()
    conf.read_string(supervisord_conf(settings, progs))
    names = {s.removeprefix("program:") for s in conf.sections() if s.startswith("program:")}
    assert names == {"livekit", "postgres", "letta", "llm", "embeddings", "speech", "agent", "web", "recovery"}
    for name in names:
        section = conf[f"program:{name}"]
        assert section["autostart"] == "false"  # the runner starts them in order, waiting on health
        assert section["autorestart"] == "true"
        assert section["killasgroup"] == "true"  # a program that outlives stopwaitsecs goes with its children
        # SIGTERM reaches an agent worker alone: it drains its job processes (they would die mid-turn)
        assert section["stopasgroup"] == ("false" if name == "agent" else "true")
        assert section["stdout_logfile"].endswith(f"/logs/{name}.log")


def test_postgres_runs_unprivileged_when_root(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(programs_module.os, "geteuid", lambda: 0)
    pg = next(p for p in programs(settings) if p.name == "postgres")
    assert pg.user == settings.stack.pg_user
    monkeypatch.setattr(programs_module.os, "geteuid", lambda: 1000)
    assert next(p for p in programs(settings) if p.name == "postgres").user is None


def test_cloud_llm_drops_local_model_services(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-cloud")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://ollama.internal:11434/v1")
    settings = Settings()
    assert {"llm", "embeddings"}.isdisjoint(p.name for p in programs(settings))
    env = letta_env(settings)
    assert env["OPENAI_BASE_URL"] == "http://ollama.internal:11434/v1"
    assert env["OPENAI_API_KEY"] == "sk-cloud"


def test_local_llm_points_letta_at_llama_cpp(settings: Settings) -> None:
    env = letta_env(settings)
    assert env["OPENAI_BASE_URL"] == f"http://127.0.0.1:{settings.llm.port}/v1"
    assert env["OPENAI_API_KEY"] == LOCAL_LLM_KEY
    assert env["LETTA_PG_URI"].endswith(f":{settings.postgres.port}/{settings.postgres.db}?sslmode=disable")


def test_letta_keeps_its_database_connections_in_a_pool(settings: Settings) -> None:
    from urllib.parse import urlparse

    env = letta_env(settings)
    # Letta's default opens a connection (a SCRAM login hashed in Python) for every database session
    assert env["LETTA_DISABLE_SQLALCHEMY_POOLING"] == "false"
    assert int(env["LETTA_PG_POOL_SIZE"]) >= 1 and int(env["LETTA_PG_MAX_OVERFLOW"]) >= 0
    uri = urlparse(env["LETTA_PG_URI"])
    # pooled, Letta asks for SSL unless the URI names a mode; the native PostgreSQL has none
    assert uri.query == "sslmode=disable" and uri.password == settings.postgres.password.get_secret_value()


def test_letta_migrations_get_the_uri_without_sslmode(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from services.stack import database

    monkeypatch.setenv("STACK_DIR", str(tmp_path))
    settings = Settings()
    (tmp_path / "letta-migrations").mkdir()
    (tmp_path / "letta-migrations" / "alembic.ini").write_text("")
    seen: dict[str, str] = {}

    def run(cmd: list[str], env: dict[str, str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        seen.update(env)
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(database.subprocess, "run", run)
    database.migrate_letta(settings)
    assert seen["LETTA_PG_URI"] == settings.postgres.uri  # alembic's pg8000 driver takes no sslmode


def test_letta_always_runs_in_secure_mode_through_the_launcher(settings: Settings) -> None:
    env = letta_env(settings)
    assert env["LETTA_SERVER_SECURE"] == "true"  # the old code ran Letta without a password
    letta = next(p for p in programs(settings) if p.name == "letta")
    assert letta.command[1].endswith("services/stack/letta_launch.py")


@pytest.mark.parametrize("bind", ["127.0.0.1", "localhost", "::1"])
def test_media_ports_stay_on_loopback(monkeypatch: pytest.MonkeyPatch, bind: str) -> None:
    monkeypatch.setenv("LIVEKIT_BIND", bind)
    settings = Settings()
    rtc = yaml.safe_load(livekit_yaml(settings))["rtc"]
    assert rtc["tcp_port"] == 0  # livekit-server binds ICE/TCP (default 7881) on every interface: off on loopback
    assert rtc["ips"] == {"includes": ["127.0.0.1/32"]} and rtc["enable_loopback_candidate"] is True
    assert "livekit-rtc-tcp" not in settings.ports()
    livekit = next(p for p in programs(settings) if p.name == "livekit")
    assert [setting for setting, _ in livekit.ports] == ["LIVEKIT_PORT"]


def test_media_ports_follow_a_specific_bind(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIVEKIT_BIND", "10.1.2.3")
    monkeypatch.setenv("LIVEKIT_API_SECRET", "s" * 40)
    settings = Settings()
    rtc = yaml.safe_load(livekit_yaml(settings))["rtc"]
    assert rtc["tcp_port"] == settings.livekit.rtc_tcp_port
    assert rtc["ips"] == {"includes": ["10.1.2.3/32"]}
    monkeypatch.setenv("LIVEKIT_BIND", "0.0.0.0")
    assert "ips" not in yaml.safe_load(livekit_yaml(Settings()))["rtc"]


def test_programs_and_supervisord_create_private_files(settings: Settings) -> None:
    conf = configparser.RawConfigParser()
    conf.read_string(supervisord_conf(settings, programs(settings)))
    assert conf["supervisord"]["umask"] == "077"
    assert all(conf[s]["umask"] == "077" for s in conf.sections() if s.startswith("program:"))


def test_letta_password_turns_on_secure_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LETTA_PASSWORD", "pw-123")
    env = letta_env(Settings())
    assert env["LETTA_SERVER_SECURE"] == "true"
    assert env["LETTA_SERVER_PASSWORD"] == "pw-123"


def test_env_values_with_quotes_and_percent_survive_supervisord(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LETTA_PASSWORD", 'p%w"x')
    settings = Settings()
    conf = configparser.RawConfigParser()
    conf.read_string(supervisord_conf(settings, programs(settings)))
    assert 'LETTA_SERVER_PASSWORD="p%%w\\"x"' in conf["program:letta"]["environment"]
