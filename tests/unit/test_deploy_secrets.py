"""Secrets for a deployment (services/deploy/secrets.py): strong, created once, kept, never printed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from services.deploy import secrets as s
from services.shared.settings import MIN_SECRET_BYTES, ROOT, DeploySettings, Settings

pytestmark = pytest.mark.unit

SECRETS = (
    "LIVEKIT_API_SECRET",
    "LETTA_PASSWORD",
    "POSTGRES_PASSWORD",
    "WEB_SECRET_KEY",
    "REDIS_PASSWORD",
    "SPEECH_API_KEY",
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A=1\nB=two words\n", {"A": "1", "B": "two words"}),
        ("# A=1\n  \nexport B=2\n", {"B": "2"}),
        ("A='x y'\nB=\"z\"\nC=v # note\n", {"A": "x y", "B": "z", "C": "v"}),
        ("A=1\nA=2\n", {"A": "2"}),
        ("not a line\n=x\n", {}),
    ],
)
def test_parse_env(text: str, expected: dict[str, str]) -> None:
    assert s.parse_env(text) == expected


@pytest.mark.parametrize(
    ("current", "generated"),
    [
        ({}, {"LIVEKIT_API_KEY", *SECRETS}),
        (
            {"LIVEKIT_API_KEY": "devkey", "LIVEKIT_API_SECRET": "secret", "POSTGRES_PASSWORD": "letta"},
            {"LIVEKIT_API_KEY", *SECRETS},
        ),
        (
            {
                "LIVEKIT_API_KEY": "APIx",
                "LIVEKIT_API_SECRET": "k" * 40,
                "LETTA_PASSWORD": "p" * 20,
                "POSTGRES_PASSWORD": "d" * 20,
                "WEB_SECRET_KEY": "w" * 40,
                "REDIS_PASSWORD": "r" * 64,
                "SPEECH_API_KEY": "s" * 40,
            },
            set(),
        ),
        (
            {"LIVEKIT_API_KEY": "APIx", "LIVEKIT_API_SECRET": "", "LETTA_PASSWORD": "p" * 20},
            {"LIVEKIT_API_SECRET", "POSTGRES_PASSWORD", "WEB_SECRET_KEY", "REDIS_PASSWORD", "SPEECH_API_KEY"},
        ),
    ],
)
def test_plan_generates_only_missing_or_development_defaults(current: dict[str, str], generated: set[str]) -> None:
    assert set(s.plan_secrets(current)) == generated


@pytest.mark.parametrize("name", SECRETS)
def test_a_weak_secret_someone_set_is_refused_by_name_not_replaced(name: str) -> None:
    with pytest.raises(s.WeakSecret, match=name):
        s.plan_secrets({name: "short1"})


def test_generated_secrets_are_strong_and_pass_the_settings_validator() -> None:
    made = s.plan_secrets({})
    assert len(made["LIVEKIT_API_SECRET"].encode()) >= MIN_SECRET_BYTES
    assert all(len(made[n].encode()) >= 32 for n in SECRETS)
    assert made["POSTGRES_PASSWORD"].isalnum(), "goes into a postgresql:// URI unescaped"
    assert len({tuple(s.plan_secrets({}).values()) for _ in range(5)}) == 5, "fresh values every time"
    settings = Settings(
        _env_file=None,
        livekit={
            "api_key": made["LIVEKIT_API_KEY"],
            "api_secret": made["LIVEKIT_API_SECRET"],
            "bind": "0.0.0.0",
        },
    )
    assert settings.livekit.api_secret.get_secret_value() == made["LIVEKIT_API_SECRET"]


def test_apply_updates_replaces_active_lines_keeps_comments_and_appends_the_rest() -> None:
    text = "# my settings\nOPENAI_API_KEY=sk-1\n# LIVEKIT_API_SECRET=old\nLIVEKIT_API_SECRET=secret\n"
    out = s.apply_updates(text, {"LIVEKIT_API_SECRET": "N" * 40, "LETTA_PASSWORD": "P" * 30}, "generated")
    assert out.splitlines() == [
        "# my settings",
        "OPENAI_API_KEY=sk-1",
        "# LIVEKIT_API_SECRET=old",
        f"LIVEKIT_API_SECRET={'N' * 40}",
        "",
        "# generated",
        f"LETTA_PASSWORD={'P' * 30}",
    ]
    assert s.parse_env(s.apply_updates("", {"A": "has space"}, "n")) == {"A": "has space"}


@pytest.mark.parametrize(
    ("domain", "ok"),
    [
        ("voice.example.com", True),
        ("Voice.Example.COM.", True),
        ("a-b.c.io", True),
        ("localhost", False),
        ("https://voice.example.com", False),
        ("voice.example.com:443", False),
        ("-bad.example.com", False),
        ("bad_.example.com", False),
        ("a..b", False),
    ],
)
def test_domain_rule_is_the_settings_rule(domain: str, ok: bool) -> None:
    assert s.valid_domain(domain) is ok
    if ok:
        assert DeploySettings(domain=domain).domain == s.domain_settings(domain)["DEPLOY_DOMAIN"]
    else:
        with pytest.raises(ValidationError, match="DNS name"):
            DeploySettings(domain=domain)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.deploy.secrets", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_cli_creates_once_keeps_them_and_never_prints_them(tmp_path: Path) -> None:
    env = tmp_path / "deploy.env"
    seed = tmp_path / "seed.env"
    seed.write_text("OPENAI_API_KEY=sk-mine\nLIVEKIT_API_SECRET=secret\n")
    first = run_cli("--env-file", str(env), "--seed", str(seed), "--domain", "voice.example.com")
    assert first.returncode == 0, first.stderr
    values = s.parse_env(env.read_text())
    assert values["OPENAI_API_KEY"] == "sk-mine" and values["LIVEKIT_PUBLIC_URL"] == "wss://voice.example.com"
    assert env.stat().st_mode & 0o777 == 0o600
    second = run_cli("--env-file", str(env), "--seed", str(seed), "--domain", "voice.example.com")
    assert second.returncode == 0 and "kept" in second.stdout
    assert s.parse_env(env.read_text()) == values, "a second run changed the file"
    for name in ("LIVEKIT_API_KEY", *SECRETS):
        for out in (first, second):
            assert values[name] not in out.stdout + out.stderr, f"{name} was printed"
    assert run_cli("--env-file", str(env), "--check").returncode == 0


def test_cli_refuses_secrets_on_the_command_line_and_bad_domains(tmp_path: Path) -> None:
    env = tmp_path / "x.env"
    refused = run_cli("--env-file", str(env), "--set", "LETTA_PASSWORD=abc")
    assert refused.returncode == 2 and "LETTA_PASSWORD" in refused.stderr
    bad = run_cli("--env-file", str(env), "--domain", "https://x.example.com")
    assert bad.returncode == 2 and "DOMAIN" in bad.stderr
    assert not env.exists()
    env.write_text("LIVEKIT_API_SECRET=tooshort\n")
    weak = run_cli("--env-file", str(env))
    assert weak.returncode == 2 and "LIVEKIT_API_SECRET" in weak.stderr and "tooshort" not in weak.stderr
    assert run_cli("--env-file", str(tmp_path / "none.env"), "--check").returncode == 1
