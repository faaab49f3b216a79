"""compose.yaml checked without a Docker engine: schema, health, restarts, pins, variables, ports, commands.

The stack in containers must be the native stack: same settings names, same ports, same commands. These
tests read compose.yaml against the Compose Specification schema (tests/data/compose-spec.json), against
the settings model, and against the native stack's programs and LiveKit configuration.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import yaml

from services.shared.settings import ROOT, SECTIONS, Settings, env_name
from services.stack.programs import programs
from services.stack.render import livekit_config

pytestmark = pytest.mark.unit

COMPOSE = ROOT / "compose.yaml"
SCHEMA = ROOT / "tests" / "data" / "compose-spec.json"
OURS = {"agent", "web", "recovery", "speech", "llm", "embeddings"}  # services run from our image
INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}")

# Variables a third-party image reads itself (not settings of ours), per image, with where it is documented.
THIRD_PARTY_ENV: dict[str, set[str]] = {
    # livekit-server: --keys and --config-body (cmd/server/main.go of v1.13.5)
    # and its generated config overrides (pkg/config/config.go GenerateCLIFlags: LIVEKIT_<KEY PATH>), passed on
    # by config/livekit-entry.sh only when LIVEKIT_NODES > 1
    "livekit/livekit-server": {"LIVEKIT_KEYS", "LIVEKIT_CONFIG", "LIVEKIT_REDIS_ADDRESS", "LIVEKIT_REDIS_PASSWORD"},
    # redis-cli reads the password from REDISCLI_AUTH (the health check); the server gets it on stdin
    "redis": {"REDISCLI_AUTH"},
    # the official postgres image's entrypoint; PGPORT and PGPASSWORD are libpq's
    "pgvector/pgvector": {
        "POSTGRES_USER",
        "POSTGRES_PASSWORD",
        "POSTGRES_DB",
        "POSTGRES_INITDB_ARGS",
        "PGPORT",
        "PGPASSWORD",
    },
    # letta/server/startup.sh (HOST, PORT, SECURE), letta.settings (LETTA_PG_URI, OPENAI_*, telemetry),
    # letta/server/rest_api/app.py (LETTA_SERVER_SECURE, LETTA_SERVER_PASSWORD)
    "letta/letta": {
        "HOST",
        "PORT",
        "SECURE",
        "LETTA_PG_URI",
        "LETTA_SERVER_SECURE",
        "LETTA_SERVER_PASSWORD",
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "LETTA_TELEMETRY_ENABLE_DATADOG",
        # letta.settings (redis_port) and config/letta-entry.sh (its Redis on loopback, not startup.sh's)
        "LETTA_REDIS_PORT",
        "LVS_LETTA_REDIS",
    },
    "caddy": set(),
}
# Settings whose container default differs from the native one on purpose.
CONTAINER_DEFAULTS = {
    "WEB_TRUSTED_PROXIES": "127.0.0.1,::1",  # Caddy (tls profile, host network) is the one proxy in front of web
    "WEB_AUTH": "on",  # containers serve other machines
}


def default_settings() -> Settings:
    """The settings as shipped: no .env, no environment (a developer's .env must not change the check)."""
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k in settings_env_names()}
    try:
        sections = {name: field.annotation(_env_file=None) for name, field in Settings.model_fields.items()}
        return Settings(_env_file=None, **sections)
    finally:
        os.environ.update(saved)


def settings_env_names() -> set[str]:
    return {env_name(section, name) for section in SECTIONS.values() for name in section.model_fields}


def settings_defaults() -> dict[str, str]:
    """Environment name -> default, as text, of every settings field with a plain default."""
    out: dict[str, str] = {}
    for section in SECTIONS.values():
        for name, field in section.model_fields.items():
            value = field.get_default(call_default_factory=True)
            if value is not None and not isinstance(value, (list, dict)):
                out[env_name(section, name)] = str(getattr(value, "value", value))
    return out


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR:+alt} over a document."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3)
        present = env.get(name)
        if op in (":-", "-"):
            empty = present is None or (op == ":-" and present == "")
            return arg if empty else present or ""
        if op in (":?", "?") and not present:
            raise KeyError(f"{name}: {arg}")
        if op in (":+", "+"):
            return arg if present or (op == "+" and present is not None) else ""
        return present or ""

    return INTERPOLATION.sub(one, value).replace("$$", "$")


def variables(text: str) -> list[tuple[str, str | None]]:
    """Every ${VAR...} in the raw text: (name, default when given with :- or -)."""
    return [(m.group(1), m.group(3) if m.group(2) in (":-", "-") else None) for m in INTERPOLATION.finditer(text)]


TEST_ENV = {
    "LIVEKIT_API_KEY": "APItest",
    "LIVEKIT_API_SECRET": "x" * 48,
    "LETTA_PASSWORD": "p" * 24,
    "POSTGRES_PASSWORD": "d" * 24,
    "REDIS_PASSWORD": "r" * 64,
    "SPEECH_API_KEY": "s" * 40,
    "DEPLOY_DOMAIN": "voice.example.com",
    "LIVEKIT_PUBLIC_URL": "wss://voice.example.com",
}


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def doc(raw: dict[str, Any]) -> dict[str, Any]:
    return interpolate(raw, TEST_ENV)


def image_name(service: dict[str, Any]) -> str:
    return service["image"].rsplit(":", 1)[0]


def test_compose_file_matches_the_compose_specification_schema(raw: dict[str, Any], doc: dict[str, Any]) -> None:
    validator = jsonschema_rs.validator_for(json.loads(SCHEMA.read_text()))
    for label, document in (("as written", raw), ("interpolated", doc)):
        errors = [str(e) for e in validator.iter_errors(document)]
        assert not errors, f"compose.yaml {label}: {errors[:3]}"


@pytest.mark.parametrize(
    ("service", "key", "value"),
    [("web", "restart_policy", "always"), ("letta", "network_mode", 5), ("livekit", "ports", "7880")],
)
def test_the_schema_check_can_fail(doc: dict[str, Any], service: str, key: str, value: object) -> None:
    validator = jsonschema_rs.validator_for(json.loads(SCHEMA.read_text()))
    broken = json.loads(json.dumps(doc))
    broken["services"][service][key] = value
    assert list(validator.iter_errors(broken)), f"{service}.{key}={value!r} passed the schema"


def test_docker_compose_accepts_the_file_with_every_profile(tmp_path: Path) -> None:
    """Docker Compose's own loader (v2.40.3, no engine needed): interpolation, references, profiles."""
    binary = subprocess.run(
        ["bash", str(ROOT / "scripts" / "install-compose-cli.sh")],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert binary.returncode == 0, binary.stderr
    env_file = tmp_path / "test.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in TEST_ENV.items()))
    for profiles in ([], ["local-models"], ["tls"], ["scale"], ["local-models", "tls", "scale"]):
        args = [arg for p in profiles for arg in ("--profile", p)]
        result = subprocess.run(
            [
                binary.stdout.strip(),
                "--env-file",
                str(env_file),
                "-f",
                str(COMPOSE),
                *args,
                "config",
                "--quiet",
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        assert result.returncode == 0, f"profiles {profiles}: {result.stderr}"


def test_every_service_has_a_healthcheck_restart_policy_log_rotation_and_limits(doc: dict[str, Any]) -> None:
    for name, service in doc["services"].items():
        check = service.get("healthcheck", {})
        assert check.get("test") and not check.get("disable"), f"{name}: no healthcheck"
        assert service.get("restart") in ("always", "unless-stopped"), f"{name}: restart policy"
        logging = service.get("logging", {})
        assert logging.get("driver") == "json-file" and logging["options"].get("max-size"), f"{name}: logs"
        limits = service.get("deploy", {}).get("resources", {}).get("limits", {})
        assert limits.get("memory") and limits.get("cpus"), f"{name}: resource limits"


def test_every_image_is_pinned_by_tag(doc: dict[str, Any]) -> None:
    for name, service in doc["services"].items():
        image = service["image"]
        assert ":" in image.rsplit("/", 1)[-1], f"{name}: {image} has no tag"
        tag = image.rsplit(":", 1)[1]
        assert tag != "latest" and re.search(r"\d", tag), f"{name}: {image} is not pinned to a version"
    assert doc["services"]["livekit"]["image"] == "livekit/livekit-server:v1.13.5"
    assert doc["services"]["letta"]["image"] == "letta/letta:0.16.8"
    project = __import__("tomllib").loads((ROOT / "pyproject.toml").read_text())["project"]
    for name in OURS:
        assert doc["services"][name]["image"] == f"letta-voice-stack:{project['version']}"
    builders = [name for name, service in doc["services"].items() if "build" in service]
    assert builders == ["web"], "our image is built once; the other services never pull it"
    assert all(doc["services"][name]["pull_policy"] == "never" for name in OURS - {"web"})


def test_every_variable_a_container_reads_is_a_setting_or_the_images_own(doc: dict[str, Any]) -> None:
    ours = settings_env_names()
    for name, service in doc["services"].items():
        env = set(service.get("environment", {}))
        if name in OURS:
            assert env <= ours, f"{name}: not settings: {sorted(env - ours)}"
            continue
        allowed = THIRD_PARTY_ENV[image_name(service)] | ours
        assert env <= allowed, f"{name}: unknown variables {sorted(env - allowed)}"


def test_every_interpolated_variable_is_a_setting_with_the_same_default(raw: dict[str, Any]) -> None:
    names, defaults = settings_env_names(), settings_defaults()
    text = COMPOSE.read_text()
    for var, default in variables(text):
        assert var in names, f"${{{var}}} is not a settings name (services/shared/settings.py)"
        if default and var in defaults and var not in CONTAINER_DEFAULTS:
            assert default == defaults[var], f"${{{var}:-{default}}} but the settings default is {defaults[var]}"


def test_ours_run_the_native_commands(doc: dict[str, Any]) -> None:
    native = {p.name: p.command for p in programs(default_settings())}

    def normalise(command: list[str]) -> list[str]:
        first = Path(command[0]).name
        rest = [str(Path(a).relative_to(ROOT)) if a.startswith(str(ROOT)) else a for a in command[1:]]
        return [first, *rest]

    for name in OURS:
        assert normalise(native[name]) == doc["services"][name]["command"], name


def test_ports_and_livekit_config_agree_with_the_native_stack(doc: dict[str, Any]) -> None:
    settings = default_settings()
    native = livekit_config(settings)
    config = yaml.safe_load(doc["services"]["livekit"]["environment"]["LIVEKIT_CONFIG"])
    assert config["port"] == native["port"] == settings.livekit.port
    # compose serves a VM (ICE/TCP open); natively on loopback it is off (tests/unit/test_stack_render.py)
    assert config["rtc"]["tcp_port"] == settings.livekit.rtc_tcp_port
    assert config["room"] == native["room"]
    assert config["webhook"]["urls"] == native["webhook"]["urls"]
    assert config["webhook"]["api_key"] == TEST_ENV["LIVEKIT_API_KEY"]
    assert (config["rtc"]["port_range_start"], config["rtc"]["port_range_end"]) == (50000, 60000)
    assert config["rtc"]["use_external_ip"] is True  # a VM: browsers come from outside
    local = interpolate(yaml.safe_load(COMPOSE.read_text()), {**TEST_ENV, "LIVEKIT_PUBLIC_URL": ""})
    local_config = yaml.safe_load(local["services"]["livekit"]["environment"]["LIVEKIT_CONFIG"])
    assert not local_config["rtc"]["use_external_ip"], "on one machine the local addresses are the right ones"
    assert config["turn"] == {"enabled": True, "udp_port": 3478, "domain": TEST_ENV["DEPLOY_DOMAIN"]}
    keys = yaml.safe_load(doc["services"]["livekit"]["environment"]["LIVEKIT_KEYS"])
    assert keys == {TEST_ENV["LIVEKIT_API_KEY"]: TEST_ENV["LIVEKIT_API_SECRET"]}
    # PostgreSQL and Letta listen where the native ones do, on loopback only
    db = doc["services"]["letta-db"]
    assert db["command"][-1] == f"port={settings.postgres.port}" and "listen_addresses=127.0.0.1" in db["command"]
    letta = doc["services"]["letta"]["environment"]
    assert (letta["HOST"], letta["PORT"]) == ("127.0.0.1", str(settings.letta.port))
    assert letta["LETTA_PG_URI"].endswith(f"@127.0.0.1:{settings.postgres.port}/{settings.postgres.db}")
    for name, service in doc["services"].items():
        assert service.get("network_mode") == "host" and "ports" not in service, name
    assert doc["services"]["embeddings"]["command"][4] == str(settings.embeddings.port)


def test_letta_keeps_its_memory_in_a_named_volume_and_has_its_password_on(doc: dict[str, Any]) -> None:
    assert "letta-db:/var/lib/postgresql/data" in doc["services"]["letta-db"]["volumes"]
    assert "letta-db" in doc["volumes"]
    assert doc.get("name") == "letta-voice-stack"  # volumes do not depend on the folder's name
    letta = doc["services"]["letta"]["environment"]
    assert letta["SECURE"] == "true" and letta["LETTA_SERVER_PASSWORD"] == TEST_ENV["LETTA_PASSWORD"]
    with pytest.raises(KeyError, match="POSTGRES_PASSWORD"):
        interpolate(yaml.safe_load(COMPOSE.read_text()), {**TEST_ENV, "POSTGRES_PASSWORD": ""})


def test_profiles_hold_the_optional_services(doc: dict[str, Any]) -> None:
    profiles = {name: service.get("profiles", []) for name, service in doc["services"].items()}
    assert profiles["llm"] == profiles["embeddings"] == ["local-models"]
    assert profiles["caddy"] == ["tls"]
    assert profiles["redis"] == profiles["livekit-2"] == ["scale"]
    assert profiles["speech"] == ["local-speech"]
    optional = ("llm", "embeddings", "caddy", "redis", "livekit-2", "speech")
    assert all(not p for n, p in profiles.items() if n not in optional)


def test_caddy_proxies_the_page_and_livekit_signalling_on_the_settings_ports() -> None:
    defaults = settings_defaults()
    caddyfile = (ROOT / "config" / "Caddyfile").read_text()
    assert "{$DEPLOY_DOMAIN} {" in caddyfile
    assert f"reverse_proxy 127.0.0.1:{{$WEB_PORT:{defaults['WEB_PORT']}}}" in caddyfile
    assert f"reverse_proxy 127.0.0.1:{{$LIVEKIT_PORT:{defaults['LIVEKIT_PORT']}}}" in caddyfile
    assert "@livekit path /rtc /rtc/*" in caddyfile
    for var in re.findall(r"\{\$([A-Z_]+)", caddyfile):
        assert var in settings_env_names(), var
    assert shlex.split("log")[0] not in {line.strip() for line in caddyfile.splitlines()}, "no access log"


def test_caddy_never_serves_metrics_to_the_internet() -> None:
    caddyfile = (ROOT / "config" / "Caddyfile").read_text()
    metrics_at = caddyfile.index("@metrics path /metrics /metrics/*")
    assert metrics_at < caddyfile.index("reverse_proxy 127.0.0.1:{$WEB_PORT"), "matched before the page's proxy"
    assert "respond 404" in caddyfile[metrics_at : caddyfile.index("reverse_proxy 127.0.0.1:{$WEB_PORT")]


def test_caddy_certificate_follows_deploy_tls() -> None:
    # acme (Let's Encrypt) by default; internal (Caddy's own CA) for a VM without public DNS and for tests
    caddyfile = (ROOT / "config" / "Caddyfile").read_text()
    assert f"import tls-{{$DEPLOY_TLS:{settings_defaults()['DEPLOY_TLS']}}}" in caddyfile
    internal = caddyfile[caddyfile.index("(tls-internal) {") : caddyfile.index("{$DEPLOY_DOMAIN} {")]
    assert "tls internal" in internal and "(tls-acme) {" in caddyfile


def test_livekit_runs_as_an_unprivileged_user(doc: dict[str, Any]) -> None:
    user = str(doc["services"]["livekit"].get("user", ""))
    assert user and user.split(":")[0] not in ("0", "root"), "livekit-server needs no root (host network, high ports)"


def test_letta_db_never_trusts_a_local_connection(doc: dict[str, Any]) -> None:
    """Host networking makes the container's 127.0.0.1 the VM's: initdb's default trust would let any local user in."""
    db = doc["services"]["letta-db"]
    args = db["environment"]["POSTGRES_INITDB_ARGS"].split()
    assert "--auth-local=scram-sha-256" in args and "--auth-host=scram-sha-256" in args
    assert db["environment"]["PGPASSWORD"] == db["environment"]["POSTGRES_PASSWORD"], "backup/restore authenticate"
    assert "./config/letta-db-auth.sh:/lvs/letta-db-auth.sh:ro" in db["volumes"]


def test_down_status_and_logs_reach_every_profile(raw: dict[str, Any]) -> None:
    """scripts/compose-lib.sh ALL_PROFILES: a profile missing there leaves its containers running after
    `make down` (the speech service's did)."""
    profiles = {p for service in raw["services"].values() for p in service.get("profiles", [])}
    line = next(ln for ln in (ROOT / "scripts" / "compose-lib.sh").read_text().splitlines() if "ALL_PROFILES=" in ln)
    listed = set(re.search(r'ALL_PROFILES="([^"]*)"', line).group(1).split(","))  # type: ignore[union-attr]
    assert listed == profiles
