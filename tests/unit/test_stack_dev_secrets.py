"""The native stack's generated LiveKit secret: strong, private, stable, and overridable."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from services.deploy.secrets import parse_env
from services.shared.settings import MIN_SECRET_BYTES, LiveKitSettings
from services.stack.dev_secrets import GENERATED, SECRET_NAME, ensure_dev_secrets

pytestmark = pytest.mark.unit


def test_first_run_writes_a_strong_private_secret_and_later_runs_keep_it(tmp_path: Path) -> None:
    path = tmp_path / ".stack" / "secrets.env"
    assert ensure_dev_secrets(path) is True
    first = parse_env(path.read_text())[SECRET_NAME]
    assert len(first.encode()) >= MIN_SECRET_BYTES
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ensure_dev_secrets(path) is False
    assert parse_env(path.read_text())[SECRET_NAME] == first


def test_a_short_value_is_replaced_and_other_lines_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "secrets.env"
    path.write_text("# mine\nOTHER=1\nLIVEKIT_API_SECRET=secret\n")
    assert ensure_dev_secrets(path) is True
    values = parse_env(path.read_text())
    assert values["OTHER"] == "1" and len(values[SECRET_NAME]) >= MIN_SECRET_BYTES
    assert "# mine" in path.read_text()


def test_settings_read_the_file_and_dotenv_overrides_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SECRET_NAME, raising=False)
    generated, dotenv = tmp_path / "secrets.env", tmp_path / ".env"
    ensure_dev_secrets(generated)
    value = parse_env(generated.read_text())[SECRET_NAME]
    assert LiveKitSettings(_env_file=(generated,)).api_secret.get_secret_value() == value
    dotenv.write_text("LIVEKIT_API_SECRET=" + "o" * 40 + "\n")
    assert LiveKitSettings(_env_file=(generated, dotenv)).api_secret.get_secret_value() == "o" * 40


def test_the_login_cookie_key_is_generated_too_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "secrets.env"
    path.write_text(f"LIVEKIT_API_SECRET={'k' * 40}\n")  # a stack made before logins existed
    assert ensure_dev_secrets(path) is True
    values = parse_env(path.read_text())
    assert values["LIVEKIT_API_SECRET"] == "k" * 40 and len(values["WEB_SECRET_KEY"]) >= MIN_SECRET_BYTES
    assert ensure_dev_secrets(path) is False


def test_letta_and_both_postgres_roles_get_their_own_strong_passwords(tmp_path: Path) -> None:
    path = tmp_path / "secrets.env"
    ensure_dev_secrets(path)
    values = parse_env(path.read_text())
    names = ("LETTA_PASSWORD", "POSTGRES_PASSWORD", "POSTGRES_ADMIN_PASSWORD")
    assert set(names) <= set(GENERATED) and all(len(values[n]) >= MIN_SECRET_BYTES for n in names)
    assert len({values[n] for n in names}) == 3
    assert values["POSTGRES_PASSWORD"].isalnum()  # it goes into a postgresql:// URI unescaped
