"""A data folder made by the old code (trusted socket, Letta's role initdb's superuser) is locked down by
`make up`'s PostgreSQL steps without losing a row: a throw-away cluster on its own port and folder."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import SecretStr

from services.shared.settings import PostgresSettings, Settings, StackSettings, get_settings
from services.stack import database, pg_auth
from services.stack.health import port_in_use, wait_for
from services.stack.programs import pg_bin_dir, pg_run_user, programs

pytestmark = pytest.mark.stack


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Cluster:
    settings: Settings
    start: Callable[[], None]
    stop: Callable[[], None]


@pytest.fixture
def old_cluster(tmp_path: Path) -> Iterator[Cluster]:
    """An old-code cluster: initdb -U letta --auth-local=trust, a table of Letta's with a row in it."""
    real = get_settings()
    (tmp_path / "venv").symlink_to(real.stack.dir / "venv")  # the pgserver binaries
    settings = Settings(
        stack=StackSettings(dir=tmp_path, pg_user=real.stack.pg_user),
        postgres=PostgresSettings(port=free_port(), password=SecretStr("n" * 40), admin_password=SecretStr("a" * 40)),
    )
    database.init_postgres(settings)  # same binaries and flags as the old code but for auth: made old below
    data = database.data_dir(settings)
    (data / "pg_hba.conf").write_text("local all all trust\nhost all all 127.0.0.1/32 trust\n")
    postgres = next(p for p in programs(settings) if p.name == "postgres")
    user = pg_run_user(settings)
    run_as = ["runuser", "-u", user, "--"] if user else []
    server: list[subprocess.Popen[bytes]] = []

    def start() -> None:
        server.append(
            subprocess.Popen([*run_as, *postgres.command], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        )
        assert wait_for(lambda: port_in_use(settings.postgres.port), 30), "postgres did not start"

    def stop() -> None:
        if server:
            server.pop().terminate()
        assert wait_for(lambda: not port_in_use(settings.postgres.port), 30), "postgres did not stop"

    # initdb made "lvs_admin" the bootstrap superuser: rename it "letta" as the old code had it, drop the password
    start()
    psql = [
        str(pg_bin_dir(settings) / "psql"),
        "-h",
        str(database.socket_dir(settings)),
        "-p",
        str(settings.postgres.port),
    ]
    sql = "CREATE ROLE tmp SUPERUSER LOGIN; "
    subprocess.run(
        [*run_as, *psql, "-U", "lvs_admin", "-d", "postgres", "-c", sql], check=True, capture_output=True, timeout=600
    )
    for statement in ("ALTER ROLE lvs_admin RENAME TO letta", "CREATE DATABASE letta OWNER letta"):
        subprocess.run(
            [*run_as, *psql, "-U", "tmp", "-d", "postgres", "-c", statement],
            check=True,
            capture_output=True,
            timeout=600,
        )
    subprocess.run(
        [*run_as, *psql, "-U", "letta", "-d", "postgres", "-c", "DROP ROLE tmp"],
        check=True,
        capture_output=True,
        timeout=600,
    )
    subprocess.run(
        [
            *run_as,
            *psql,
            "-U",
            "letta",
            "-d",
            "letta",
            "-c",
            "CREATE EXTENSION vector; CREATE TABLE agents (id text PRIMARY KEY, v vector(3));"
            "INSERT INTO agents VALUES ('agent-old', '[1,2,3]')",
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )
    stop()
    yield Cluster(settings, start, stop)
    if server:
        stop()


def test_old_trust_cluster_is_migrated_without_losing_data(old_cluster: Cluster) -> None:
    settings = old_cluster.settings
    database.secure_offline(settings)  # make up: server stopped
    old_cluster.start()
    try:
        database.ensure_database(settings)  # make up: server running, before Letta starts
        database.ensure_database(settings)  # and again: idempotent
        pg = settings.postgres
        assert database.psql(settings, "SELECT rolsuper FROM pg_roles WHERE rolname = 'letta'") == "f"
        assert database.psql(settings, f"SELECT rolname FROM pg_roles WHERE oid = {pg_auth.BOOTSTRAP_OID}") == (
            pg_auth.RETIRED_BOOTSTRAP
        )
        owner = "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = 'agents'"
        assert database.psql(settings, owner, db="letta") == "letta"
        # Letta's role logs in over TCP with its new password and reads (and writes) its old data
        env = {**os.environ, "PGPASSWORD": pg.password.get_secret_value()}
        tcp = [
            str(pg_bin_dir(settings) / "psql"),
            "-h",
            pg.host,
            "-p",
            str(pg.port),
            "-U",
            "letta",
            "-d",
            "letta",
            "-w",
        ]
        read = subprocess.run(
            [*tcp, "-tAc", "INSERT INTO agents VALUES ('agent-new', '[0,0,1]'); SELECT count(*) FROM agents"],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert read.stdout.strip().endswith("2"), read.stderr
        for password in ("", "letta"):  # no trust, and the old password is gone
            env["PGPASSWORD"] = password
            assert subprocess.run([*tcp, "-c", "SELECT 1"], env=env, capture_output=True, timeout=600).returncode != 0
    finally:
        old_cluster.stop()
