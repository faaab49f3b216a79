"""`make config` and `make up`'s change detection: sources, masking, unknown lines, which program restarts."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.shared.settings import SECTIONS, Settings
from services.stack.applied import AppliedStore, changed_names, fingerprint, pending_changes
from services.stack.effective import MASK, Source, effective_settings, env_file_problems, format_table

pytestmark = pytest.mark.unit


@pytest.fixture
def files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[Path, Path]:
    """A .env and a secrets file of the test's own; the settings read exactly these."""
    env, secrets = tmp_path / ".env", tmp_path / "secrets.env"
    env.write_text("")
    secrets.write_text("")
    for section in SECTIONS.values():
        monkeypatch.setitem(section.model_config, "env_file", (secrets, env))
    monkeypatch.setitem(Settings.model_config, "env_file", env)
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "DEEPGRAM_API_KEY", "WEB_PORT", "AGENT_GREETING"):
        monkeypatch.delenv(var, raising=False)
    return env, secrets


def rows_for(env: Path, secrets: Path, environ: dict[str, str] | None = None) -> dict[str, object]:
    rows = effective_settings(Settings(), env_file=env, secrets_file=secrets, environ=environ or {})
    return {r.name: r for r in rows}


def test_each_value_names_the_source_that_won(files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    env, secrets = files
    secrets.write_text("LIVEKIT_API_SECRET=" + "s" * 40 + "\nAGENT_GREETING=from secrets\n")
    env.write_text("AGENT_GREETING=from dotenv\nWEB_WORKERS=3\n")
    monkeypatch.setenv("WEB_PORT", "9999")
    rows = rows_for(env, secrets, {"WEB_PORT": "9999"})
    assert (rows["WEB_PORT"].source, rows["WEB_PORT"].value) == (Source.ENVIRONMENT, "9999")
    assert (rows["AGENT_GREETING"].source, rows["AGENT_GREETING"].value) == (Source.ENV_FILE, "from dotenv")
    assert (rows["WEB_WORKERS"].source, rows["WEB_WORKERS"].value) == (Source.ENV_FILE, "3")
    assert rows["LIVEKIT_API_SECRET"].source is Source.SECRETS
    assert rows["RECOVERY_PORT"].source is Source.DEFAULT


def test_secrets_are_masked_in_the_table(files: tuple[Path, Path]) -> None:
    env, secrets = files
    secret = "x7" * 20
    env.write_text(f"LIVEKIT_API_SECRET={secret}\nPOSTGRES_PASSWORD=pg-{secret}\nOPENAI_API_KEY=sk-{secret}\n")
    rows = effective_settings(Settings(), env_file=env, secrets_file=secrets, environ={})
    table = format_table(rows)
    assert secret not in table
    by_name = {r.name: r for r in rows}
    for name in ("LIVEKIT_API_SECRET", "POSTGRES_PASSWORD", "OPENAI_API_KEY"):
        assert by_name[name].secret and by_name[name].shown == MASK
        assert f"{name}" in table and MASK in table


def test_unknown_and_malformed_lines_are_named(files: tuple[Path, Path]) -> None:
    env, _ = files
    env.write_text("# a comment\nWEB_PORT=8080\nWEB_PROT=8081\nthis is not an assignment\nWEB_IMAGE=x\n")
    problems = env_file_problems(Settings(), env)
    assert problems == [".env line 3: unknown setting WEB_PROT", ".env line 4: not a NAME=value line"]


def test_a_moved_setting_names_its_new_name(files: tuple[Path, Path]) -> None:
    env, _ = files
    env.write_text("AGENT_WHISPER_MODEL=base\nSPEECH_WHISPER_MODEL=base\n")
    problems = env_file_problems(Settings(), env)
    assert problems == [".env line 1: AGENT_WHISPER_MODEL is now SPEECH_WHISPER_MODEL: rename it"]


def test_a_setting_restarts_only_the_programs_that_read_it(files: tuple[Path, Path], tmp_path: Path) -> None:
    env, secrets = files
    store = AppliedStore(tmp_path / "run")
    names = ["postgres", "livekit", "letta", "agent", "web", "recovery"]
    before = effective_settings(Settings(), env_file=env, secrets_file=secrets, environ={})
    for name in names:
        store.save(name, fingerprint(name, before))
    assert pending_changes(store, names, before, set(names)) == [], "unchanged settings restart nothing"

    env.write_text("WEB_BIND=127.0.0.2\n")
    after = effective_settings(Settings(), env_file=env, secrets_file=secrets, environ={})
    changes = pending_changes(store, names, after, set(names))
    assert [(c.program, c.settings) for c in changes] == [("web", ["WEB_BIND"])]

    env.write_text("AGENT_DISPATCH=automatic\n")
    after = effective_settings(Settings(), env_file=env, secrets_file=secrets, environ={})
    assert {c.program for c in pending_changes(store, names, after, set(names))} == {"agent", "web", "recovery"}
    assert {c.program for c in pending_changes(store, names, after, {"web"})} == {"web"}, "only running ones"

    # a sidecar tweak restarts the sidecar (and the web service, whose status page reads it), never
    # livekit-server (every call) or the workers (every session); the settings they do read still restart them
    env.write_text("RECOVERY_FAILED_DISPATCH_AFTER=5\n")
    after = effective_settings(Settings(), env_file=env, secrets_file=secrets, environ={})
    assert {c.program for c in pending_changes(store, names, after, set(names))} == {"recovery", "web"}
    env.write_text("RECOVERY_PORT=8182\n")
    after = effective_settings(Settings(), env_file=env, secrets_file=secrets, environ={})
    assert {c.program for c in pending_changes(store, names, after, set(names))} == {"livekit", "recovery", "web"}
    env.write_text("RECOVERY_ROOM_PREFIX=mine-\n")
    after = effective_settings(Settings(), env_file=env, secrets_file=secrets, environ={})
    assert {c.program for c in pending_changes(store, names, after, set(names))} == {"agent", "recovery", "web"}


def test_fingerprints_hold_no_secret_values(files: tuple[Path, Path], tmp_path: Path) -> None:
    env, secrets = files
    secret = "q9" * 20
    env.write_text(f"LIVEKIT_API_SECRET={secret}\n")
    store = AppliedStore(tmp_path / "run")
    store.save("web", fingerprint("web", effective_settings(Settings(), env_file=env, secrets_file=secrets)))
    path = tmp_path / "run" / "applied" / "web.json"
    assert secret not in path.read_text()
    assert path.stat().st_mode & 0o077 == 0, "the record is private"


def test_changed_names_counts_added_and_removed_settings() -> None:
    assert changed_names({"A": "1", "B": "2"}, {"B": "3", "C": "4"}) == ["A", "B", "C"]
    assert changed_names({"A": "1"}, {"A": "1"}) == []
