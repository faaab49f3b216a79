"""PostgreSQL data folder and Letta's schema: created once, never deleted by the stack, kept private.

Every `make up` (re)applies the access rules of services/stack/pg_auth.py: the server stopped, in
single-user mode (pg_hba.conf, the admin role and its password); the server running, as the admin over
the socket (Letta's role, its password, and ownership of Letta's database). A data folder made by the old
code (trusted socket, Letta's role a superuser) is migrated this way without touching its data.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from services.shared.settings import Settings
from services.stack import pg_auth
from services.stack.programs import letta_env, pg_bin_dir, pg_run_user

LETTA_VERSION = "0.16.8"
SOCKET_DIR_MODE = 0o700


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


def data_dir(settings: Settings) -> Path:
    return settings.stack.data_dir / "postgres"


def socket_dir(settings: Settings) -> Path:
    return settings.stack.run_dir / "pg"


def admin_password(settings: Settings) -> str:
    password = settings.postgres.admin_password
    if password is None or not password.get_secret_value():
        raise SetupError("POSTGRES_ADMIN_PASSWORD is not set: 'make up' generates it in .stack/secrets.env")
    return password.get_secret_value()


def prepare_socket_dir(settings: Settings) -> None:
    """The socket folder: owned by PostgreSQL's user, mode 700 (nobody else may connect through it)."""
    sock = socket_dir(settings)
    sock.mkdir(parents=True, exist_ok=True)
    user = pg_run_user(settings)
    if user:
        grant_traversal(sock.parent, user)
        shutil.chown(sock, user)
    sock.chmod(SOCKET_DIR_MODE)


def init_postgres(settings: Settings) -> bool:
    """Create the data folder with initdb if it is missing. True when it was created now."""
    data = data_dir(settings)
    user = pg_run_user(settings)
    if user:
        ensure_os_user(user)
        grant_traversal(pg_bin_dir(settings), user)
        data.parent.mkdir(parents=True, exist_ok=True)
        grant_traversal(data.parent, user)
    prepare_socket_dir(settings)
    if (data / "PG_VERSION").exists():
        if user:
            shutil.chown(data, user)
        return False
    print(f"    initialising PostgreSQL data in {data} (admin role '{settings.postgres.admin_user}')")
    data.mkdir(parents=True, exist_ok=True)
    data.chmod(0o700)
    if user:
        shutil.chown(data, user)
    with tempfile.NamedTemporaryFile("w", dir=socket_dir(settings), delete=False) as pwfile:
        pwfile.write(admin_password(settings))
    try:
        if user:
            shutil.chown(pwfile.name, user)
        command = [
            str(pg_bin_dir(settings) / "initdb"),
            "-D",
            str(data),
            "-U",
            settings.postgres.admin_user,
            f"--pwfile={pwfile.name}",
            "--auth-local=scram-sha-256",
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


def hba_is_current(settings: Settings) -> bool:
    """True when pg_hba.conf holds exactly the stack's rules."""
    path = data_dir(settings) / "pg_hba.conf"
    return path.exists() and path.read_text() == pg_auth.pg_hba_conf()


def write_hba(settings: Settings) -> None:
    path = data_dir(settings) / "pg_hba.conf"
    path.write_text(pg_auth.pg_hba_conf())
    path.chmod(0o600)
    user = pg_run_user(settings)
    if user:
        shutil.chown(path, user)


def secure_offline(settings: Settings) -> None:
    """With the server stopped: write pg_hba.conf and give the admin role its password (single-user mode)."""
    if not hba_is_current(settings):
        print("    writing pg_hba.conf: SCRAM passwords on the socket and loopback, nothing trusted")
    write_hba(settings)
    admin = settings.postgres.admin_user
    sql = pg_auth.admin_sql(admin, pg_auth.scram_verifier(admin_password(settings)))
    command = [str(pg_bin_dir(settings) / "postgres"), "--single", "-j", "-D", str(data_dir(settings)), "postgres"]
    result = subprocess.run(
        _as_user(pg_run_user(settings), command), input=sql, capture_output=True, text=True, check=False
    )
    errors = [line for line in (result.stdout + result.stderr).splitlines() if "ERROR:" in line or "FATAL:" in line]
    if result.returncode != 0 or errors:
        # only the ERROR/FATAL lines: the STATEMENT lines would repeat the password verifier
        raise SetupError(f"setting up the admin role '{admin}' failed: {' | '.join(errors)[-400:]}")


def admin_env(settings: Settings) -> dict[str, str]:
    """Environment for libpq tools connecting as the admin (the password never goes on argv)."""
    return {**os.environ, "PGPASSWORD": admin_password(settings), "PGCONNECT_TIMEOUT": "10"}


def psql(settings: Settings, sql: str, db: str = "postgres", variables: dict[str, str] | None = None) -> str:
    """Run SQL through the unix socket as the admin role (password authentication); ``variables`` are psql's
    (-v name=value, quoted in the SQL as :'name')."""
    command = [
        str(pg_bin_dir(settings) / "psql"),
        "-h",
        str(socket_dir(settings)),
        "-p",
        str(settings.postgres.port),
        "-U",
        settings.postgres.admin_user,
        "-d",
        db,
        "-w",
        "-v",
        "ON_ERROR_STOP=1",
        "-qtA",
        *(f"--set={name}={value}" for name, value in (variables or {}).items()),
    ]
    result = subprocess.run(command, input=sql, env=admin_env(settings), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SetupError(f"psql as '{settings.postgres.admin_user}' failed: {result.stderr.strip()[-400:]}")
    return result.stdout.strip()


def admin_can_connect(settings: Settings) -> bool:
    """True when the running server accepts the admin's current password."""
    try:
        return psql(settings, "SELECT 1") == "1"
    except SetupError:
        return False


PROVIDER_SYNC_SQL = Path(__file__).resolve().parents[2] / "config" / "letta-provider-sync.sql"


def provider_sync_variables(settings: Settings) -> dict[str, str]:
    """The psql variables of config/letta-provider-sync.sql: the configured endpoint and model."""
    llm = settings.llm
    endpoint = llm.local_base_url if llm.is_local else llm.openai_base_url
    return {"endpoint": endpoint.rstrip("/"), "model": llm.model_name}


def sync_letta_provider(settings: Settings) -> list[str]:
    """Bring Letta's record of our model provider in step with the settings, before Letta starts; what changed.

    Letta 0.16.8 keeps the base URL its provider had at its first start and never revives a model it once
    soft-deleted (config/letta-provider-sync.sql says which rows are touched: only our base provider's).
    """
    out = psql(
        settings, PROVIDER_SYNC_SQL.read_text(), db=settings.postgres.db, variables=provider_sync_variables(settings)
    )
    return [line for line in out.splitlines() if line.startswith(("provider ", "revived "))]


def ensure_database(settings: Settings) -> None:
    """Letta's role (not a superuser) owning Letta's database, with the pgvector extension."""
    pg = settings.postgres
    psql(settings, pg_auth.letta_role_sql(pg.user, pg_auth.scram_verifier(pg.password.get_secret_value())))
    if psql(settings, f"SELECT 1 FROM pg_database WHERE datname = '{pg.db}'") != "1":
        print(f"    creating database '{pg.db}' owned by '{pg.user}', with pgvector")
        psql(settings, f'CREATE DATABASE "{pg.db}" OWNER "{pg.user}"')
    psql(settings, pg_auth.database_owner_sql(pg.db, pg.user))
    psql(settings, "CREATE EXTENSION IF NOT EXISTS vector", db=pg.db)
    psql(settings, pg_auth.letta_ownership_sql(pg.user), db=pg.db)
    if psql(settings, f"SELECT rolsuper FROM pg_roles WHERE rolname = '{pg.user}'") != "f":
        raise SetupError(f"the database role '{pg.user}' is still a superuser")


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
    # alembic's driver (pg8000) takes no sslmode: the plain URI
    env = {**os.environ, **letta_env(settings), "LETTA_PG_URI": settings.postgres.uri}
    result = subprocess.run(
        [str(alembic), "upgrade", "head"], cwd=migrations, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise SetupError(f"Letta migrations failed: {result.stderr.strip()[-800:]}")
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text("ok\n")
