"""config/letta-db-auth.sh (make up, compose mode) with a psql double that behaves like pg_hba.conf says: a
`trust` line lets any connection in, otherwise the role's password is needed. The double stands for
PostgreSQL only at psql's command line; the real server is checked by tests/compose."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from services.shared.settings import ROOT

pytestmark = pytest.mark.unit

SCRIPT = ROOT / "config" / "letta-db-auth.sh"
TRUSTED_HBA = (
    "# comment with trust\nlocal all all trust\nhost all all 127.0.0.1/32 trust\nhost all all all scram-sha-256\n"
)
SCRAM_HBA = "local all all scram-sha-256\nhost all all 127.0.0.1/32 scram-sha-256\nhost all all all scram-sha-256\n"
# psql double: logs each call; ALTER ROLE on stdin sets the role's password (the -v pw= value); a connection is
# accepted when pg_hba.conf has a trust line, else only with PGPASSWORD equal to the role's password.
FAKE_PSQL = r"""#!/usr/bin/env bash
pw=""; for a in "$@"; do case "$a" in pw=*) pw="${a#pw=}" ;; esac; done
input=""; [[ " $* " == *" -c "* ]] || input="$(cat)"
if grep -qE '^[^#]*[[:space:]]trust[[:space:]]*$' "$PGDATA/pg_hba.conf"; then ok=1
elif [[ -n "${PGPASSWORD:-}" && "$PGPASSWORD" == "$(cat "$ROLE_PW")" ]]; then ok=1
else echo "psql: error: password authentication failed" >&2; exit 2; fi
printf '%s | %s\n' "$*" "$input" >>"$PSQL_LOG"
[[ "$input" == *"ALTER ROLE"* ]] && printf '%s' "$pw" >"$ROLE_PW"
exit 0
"""


def run(tmp_path: Path, hba: str, role_password: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    bin_dir, data = tmp_path / "bin", tmp_path / "data"
    bin_dir.mkdir()
    data.mkdir()
    (bin_dir / "psql").write_text(FAKE_PSQL)
    (bin_dir / "psql").chmod(0o755)
    (data / "pg_hba.conf").write_text(hba)
    (tmp_path / "role_pw").write_text(role_password)
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "PGDATA": str(data),
        "POSTGRES_USER": "letta",
        "POSTGRES_PASSWORD": "this-env-password",
        "PGPORT": "5433",
        "PSQL_LOG": str(tmp_path / "psql.log"),
        "ROLE_PW": str(tmp_path / "role_pw"),
    }
    result = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=30, check=False)
    return result, data / "pg_hba.conf"


def test_a_trusting_volume_gets_this_envs_password_first_then_scram(tmp_path: Path) -> None:
    result, hba = run(tmp_path, TRUSTED_HBA, "another-clones-password")
    assert result.returncode == 0, result.stderr
    assert "switched from trust to scram-sha-256" in result.stdout
    lines = hba.read_text().splitlines()
    assert not [line for line in lines if not line.startswith("#") and line.endswith("trust")], lines
    assert "local all all scram-sha-256" in lines and "# comment with trust" in lines, "comments stay as they were"
    assert (tmp_path / "role_pw").read_text() == "this-env-password"
    calls = (tmp_path / "psql.log").read_text().splitlines()
    assert "ALTER ROLE" in calls[0] and "pg_reload_conf" in calls[1], "the password is set while still trusted"
    assert "this-env-password" not in result.stdout + result.stderr


def test_a_scram_volume_with_this_envs_password_is_left_alone(tmp_path: Path) -> None:
    result, hba = run(tmp_path, SCRAM_HBA, "this-env-password")
    assert result.returncode == 0, result.stderr
    assert "already asks for passwords" in result.stdout
    assert hba.read_text() == SCRAM_HBA
    assert "ALTER ROLE" not in (tmp_path / "psql.log").read_text()


def test_a_scram_volume_with_another_password_is_named_not_hidden(tmp_path: Path) -> None:
    result, _hba = run(tmp_path, SCRAM_HBA, "another-clones-password")
    assert result.returncode == 1
    assert "POSTGRES_PASSWORD is not the password of role letta" in result.stderr
    assert "another-clones-password" not in result.stderr and "this-env-password" not in result.stderr
