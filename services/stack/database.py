"""PostgreSQL data folder and Letta's schema: created once, never deleted by the stack."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from services.shared.settings import Settings
from services.stack.programs import letta_env, pg_bin_dir, pg_run_user

LETTA_VERSION = "0.16.8"


class SetupError(RuntimeError):
    """A set-up step failed; the message says what to do."""


def _as_user(user: str | None, command: list[str]) -> list[str]:
    return ["runuser", "-u", user, "--", *command] if user else command


def ensure_os_user(name: str) -> None:
    """Create the unprivileged system user that runs PostgreSQL, if missing."""
    try:
        pwd.getpwnam(name)
    except KeyError:
        print(f"    creating system user '{name}' to run PostgreSQL (it refuses to run as root)")
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name], check=True)


def grant_traversal(path: Path, user: str) -> None:
    """Let ``user`` reach ``path``: add search-only (o+x) permission to ancestors that lack it."""
    probe = subprocess.run(["runuser", "-u", user, "--", "test", "-x", str(path)], check=False)
    if probe.returncode == 0:
        return
    for parent in [*reversed(path.parents), path]:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            print(f"    allowing '{user}' to traverse {parent} (o+x, no read)")
            parent.chmod(mode | 0o001)


def init_postgres(settings: Settings) -> bool:
    """Create the data folder with initdb if it is missing. True when it was created now."""
    data = settings.stack.data_dir / "postgres"
    user = pg_run_user(settings)
    sock_dir = settings.stack.run_dir / "pg"
    sock_dir.mkdir(parents=True, exist_ok=True)
    if user:
        ensure_os_user(user)
        grant_traversal(pg_bin_dir(settings), user)
        data.parent.mkdir(parents=True, exist_ok=True)
        grant_traversal(data.parent, user)
        shutil.chown(sock_dir, user)
    if (data / "PG_VERSION").exists():
        if user:
            shutil.chown(data, user)
        return False
    print(f"    initialising PostgreSQL data in {data}")
    data.mkdir(parents=True, exist_ok=True)
    data.chmod(0o700)
    if user:
        shutil.chown(data, user)
    pg = settings.postgres
    with tempfile.NamedTemporaryFile("w", dir=sock_dir, delete=False) as pwfile:
        pwfile.write(pg.password.get_secret_value())
    try:
        if user:
            shutil.chown(pwfile.name, user)
        command = [
            str(pg_bin_dir(settings) / "initdb"),
            "-D",
            str(data),
            "-U",
            pg.user,
            f"--pwfile={pwfile.name}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
        ]
        result = subprocess.run(_as_user(user, command), capture_output=True, text=True, check=False)
    finally:
        os.unlink(pwfile.name)
    if result.returncode != 0:
        shutil.rmtree(data, ignore_errors=True)
        raise SetupError(f"initdb failed: {result.stderr.strip()[-400:]}")
    return True


def psql(settings: Settings, sql: str, db: str = "postgres") -> str:
    """Run SQL through the unix socket as the database owner."""
    command = [
        str(pg_bin_dir(settings) / "psql"),
        "-h",
        str(settings.stack.run_dir / "pg"),
        "-p",
        str(settings.postgres.port),
        "-U",
        settings.postgres.user,
        "-d",
        db,
        "-v",
        "ON_ERROR_STOP=1",
        "-tAc",
        sql,
    ]
    result = subprocess.run(_as_user(pg_run_user(settings), command), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SetupError(f"psql failed: {result.stderr.strip()[-400:]}")
    return result.stdout.strip()


def revive_model_sql(settings: Settings) -> str:
    """SQL that un-deletes the configured model in Letta's provider table (see revive_served_model)."""
    llm = settings.llm
    endpoint = (llm.local_base_url if llm.is_local else llm.openai_base_url).rstrip("/").replace("'", "''")
    name = llm.model_name.replace("'", "''")
    return (
        "UPDATE provider_models SET is_deleted = false WHERE is_deleted AND model_type = 'llm' "
        f"AND name = '{name}' AND provider_id IN "
        f"(SELECT id FROM providers WHERE rtrim(base_url, '/') = '{endpoint}' AND NOT is_deleted) RETURNING handle"
    )


def revive_served_model(settings: Settings) -> list[str]:
    """Handles of the configured model that Letta had soft-deleted, un-deleted before Letta starts.

    Letta 0.16.8 soft-deletes a provider model its provider stops listing and never revives it (the next
    sync skips it as "already exists"): switching the local model away and back left `make up` with
    "Letta offers no model". Un-deleted before Letta's start, its model sync finds the row and keeps it.
    """
    if psql(settings, "SELECT to_regclass('public.provider_models') IS NOT NULL", db=settings.postgres.db) != "t":
        return []
    out = psql(settings, revive_model_sql(settings), db=settings.postgres.db)
    return [line for line in out.splitlines() if line and not line.startswith("UPDATE")]


def ensure_database(settings: Settings) -> None:
    """Letta's database with the pgvector extension."""
    db = settings.postgres.db
    if psql(settings, f"SELECT 1 FROM pg_database WHERE datname = '{db}'") != "1":
        print(f"    creating database '{db}' with pgvector")
        psql(settings, f'CREATE DATABASE "{db}"')
    psql(settings, "CREATE EXTENSION IF NOT EXISTS vector", db=db)


def migrate_letta(settings: Settings) -> None:
    """Run Letta's alembic migrations once per Letta version (stamped in the data folder)."""
    stamp = settings.stack.data_dir / "letta" / f"migrated-{LETTA_VERSION}"
    if stamp.exists():
        return
    migrations = settings.stack.dir / "letta-migrations"
    alembic = settings.stack.dir / "letta-venv" / "bin" / "alembic"
    if not (migrations / "alembic.ini").exists():
        raise SetupError("Letta's migrations are missing: run scripts/install-letta.sh (make up does)")
    print(f"    running Letta {LETTA_VERSION} database migrations")
    env = {**os.environ, **letta_env(settings)}
    result = subprocess.run(
        [str(alembic), "upgrade", "head"], cwd=migrations, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise SetupError(f"Letta migrations failed: {result.stderr.strip()[-800:]}")
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text("ok\n")
