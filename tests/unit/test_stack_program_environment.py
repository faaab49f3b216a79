"""Settings given in the environment of `make up` reach the programs that read them, on every `make up`."""

from __future__ import annotations

import configparser
import re
from typing import Any

import pytest

from services.shared.settings import Settings
from services.stack import supervisor as supervisor_module
from services.stack.programs import programs
from services.stack.render import supervisord_conf
from services.stack.supervisor import Supervisor

pytestmark = pytest.mark.unit
PAIR = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "LETTA_PASSWORD"):
        monkeypatch.delenv(var, raising=False)
    return Settings()


def environments(settings: Settings, environ: dict[str, str]) -> dict[str, dict[str, str]]:
    """{program: its environment= variables} of the supervisord.conf rendered under ``environ``."""
    conf = configparser.RawConfigParser()
    conf.read_string(supervisord_conf(settings, programs(settings), environ))
    out = {}
    for section in conf.sections():
        if section.startswith("program:"):
            out[section.removeprefix("program:")] = dict(PAIR.findall(conf[section].get("environment", "")))
    return out


def test_each_program_gets_the_settings_it_reads_from_the_environment(settings: Settings) -> None:
    environ = {
        "WEB_TOKEN_TTL": "301",
        "LLM_DECODE_THREADS": "2",
        "OPENAI_BASE_URL": "http://elsewhere:11434/v1",
        "EDITOR": "vi",
        "HOME": "/home/someone",
    }
    env = environments(settings, environ)
    assert env["web"]["WEB_TOKEN_TTL"] == "301"
    assert env["llm"]["LLM_DECODE_THREADS"] == "2"
    assert "WEB_TOKEN_TTL" not in env["llm"] and "LLM_DECODE_THREADS" not in env["speech"]
    # a program's own variables win: Letta talks to the local model and keeps its own home
    assert env["letta"]["OPENAI_BASE_URL"] == settings.llm.local_base_url
    assert env["letta"]["HOME"] == str(settings.stack.data_dir / "letta")
    for name, variables in env.items():
        assert "EDITOR" not in variables, f"{name} got a variable that sets no setting"
        if name != "letta":
            assert "HOME" not in variables, name


def test_a_setting_changed_in_the_environment_changes_only_the_programs_that_read_it(settings: Settings) -> None:
    before = environments(settings, {"WEB_TOKEN_TTL": "300", "STACK_CACHE_DIR": "/cache"})
    assert environments(settings, {"WEB_TOKEN_TTL": "300", "STACK_CACHE_DIR": "/cache"}) == before
    after = environments(settings, {"WEB_TOKEN_TTL": "301", "STACK_CACHE_DIR": "/cache"})
    assert {name for name in before if before[name] != after[name]} == {"web"}
    unset = environments(settings, {"STACK_CACHE_DIR": "/cache"})
    assert "WEB_TOKEN_TTL" not in unset["web"], "a setting no longer in the environment leaves the program"
    assert all(env.get("STACK_CACHE_DIR") == "/cache" for env in unset.values())


def test_supervisord_starts_without_the_settings_of_the_environment(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(supervisor_module.subprocess, "run", lambda *a, **kw: calls.append(kw))
    monkeypatch.setenv("WEB_TOKEN_TTL", "301")
    monkeypatch.setenv("llm_decode_threads", "2")  # pydantic reads either case
    monkeypatch.setenv("EDITOR", "vi")
    Supervisor(settings).launch()
    [call] = calls
    assert "WEB_TOKEN_TTL" not in call["env"] and "llm_decode_threads" not in call["env"]
    assert call["env"]["EDITOR"] == "vi" and "PATH" in call["env"]
