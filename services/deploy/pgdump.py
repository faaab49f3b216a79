"""Back up and restore Letta's database on the native stack (scripts/backup.sh, scripts/restore.sh).

`python -m services.deploy.pgdump dump FILE` writes a pg_dump custom-format archive;
`python -m services.deploy.pgdump restore FILE --yes` replaces the database with one (the shell script asks
first). The binaries are the PostgreSQL 16 ones of the pgserver wheel; the connection is POSTGRES_* from
the settings, the password goes through the environment (never argv, never printed). The archive format is
the one `docker compose exec letta-db pg_dump -Fc` writes, so a dump moves between native and compose.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from services.shared.settings import ROOT, Settings, load_settings_or_exit
from services.stack.health import port_in_use
from services.stack.programs import pg_bin_dir
from services.stack.supervisor import Supervisor

LETTA = "letta"
BACKUPS = ROOT / "backups"


class DumpError(RuntimeError):
    """A backup or restore step failed; the message says what to do."""


def say(message: str) -> None:
    print(message, flush=True)


def _env(settings: Settings, admin: bool = False) -> dict[str, str]:
    pg = settings.postgres
    password = pg.admin_password if admin else pg.password
    return {
        **os.environ,
        "PGPASSWORD": password.get_secret_value() if password else "",
        "PGCONNECT_TIMEOUT": "10",
    }


def _conn(settings: Settings, db: str | None = None, admin: bool = False) -> list[str]:
    pg = settings.postgres
    return ["-h", pg.host, "-p", str(pg.port), "-U", pg.admin_user if admin else pg.user, "-d", db or pg.db, "-w"]


def _run(settings: Settings, command: list[str], what: str, admin: bool = False) -> str:
    result = subprocess.run(command, env=_env(settings, admin), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise DumpError(f"{what} failed: {result.stderr.strip()[-600:]}")
    return result.stdout


def _binary(settings: Settings, name: str) -> str:
    path = pg_bin_dir(settings) / name
    if not path.exists():
        raise DumpError(f"{path} is missing: the native stack is not installed ('make up' installs it)")
    return str(path)


def _require_postgres(settings: Settings) -> None:
    pg = settings.postgres
    if not port_in_use(pg.port, pg.host):
        raise DumpError(f"PostgreSQL does not answer on {pg.host}:{pg.port}: start the stack ('make up')")


def archive_tables(settings: Settings, file: Path) -> int:
    """How many tables' data an archive holds (also proves it is a readable pg_dump archive)."""
    listing = _run(settings, [_binary(settings, "pg_restore"), "--list", str(file)], f"reading {file}")
    return sum(1 for line in listing.splitlines() if " TABLE DATA " in line)


def dump(settings: Settings, file: Path) -> None:
    """Write the database to ``file`` (custom format, compressed), readable by its owner only."""
    _require_postgres(settings)
    file.parent.mkdir(parents=True, exist_ok=True)
    part = file.with_name(file.name + ".part")
    pg = settings.postgres
    say(f"    dumping database '{pg.db}' from {pg.host}:{pg.port}")
    started = time.monotonic()
    part.touch(mode=0o600)
    try:
        _run(settings, [_binary(settings, "pg_dump"), *_conn(settings), "-Fc", "-f", str(part)], "pg_dump")
        part.replace(file)
    finally:
        part.unlink(missing_ok=True)
    file.chmod(0o600)
    tables = archive_tables(settings, file)
    size_kb = file.stat().st_size / 1024
    say(f"    wrote {file} ({size_kb:.0f} KiB, {tables} tables, {time.monotonic() - started:.1f}s)")


def _psql(settings: Settings, sql: str, db: str = "postgres") -> None:
    """SQL as the admin role: Letta's own role may not create databases or extensions."""
    if settings.postgres.admin_password is None:
        raise DumpError("POSTGRES_ADMIN_PASSWORD is not set: 'make up' generates it in .stack/secrets.env")
    command = [_binary(settings, "psql"), *_conn(settings, db, admin=True), "-v", "ON_ERROR_STOP=1", "-qtAc", sql]
    _run(settings, command, f"psql ({sql.split()[0]} {sql.split()[1]})", admin=True)


def safety_dump_path(backups: Path, now: float | None = None) -> Path:
    """Where restore keeps the database it is about to replace."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now))
    return backups / f"letta-before-restore-{stamp}.dump"


def restore_list(listing: str) -> str:
    """pg_restore's table of contents without the extensions: the admin creates those (Letta's role may not,
    and may not comment on them)."""
    return "".join(line + "\n" for line in listing.splitlines() if " EXTENSION " not in line)


def _supervisor(settings: Settings) -> Supervisor | None:
    """The native stack's supervisord, when it runs."""
    sup = Supervisor(settings)
    return sup if sup.running() else None


def restore(settings: Settings, file: Path, backups: Path = BACKUPS) -> None:
    """Replace the database with ``file``: check the archive, dump the current database to ``backups``
    (nothing is dropped before that dump is written), stop Letta, recreate the database, restore, start
    Letta again and wait until it is healthy."""
    if not file.is_file():
        raise DumpError(f"FILE={file} does not exist")
    _require_postgres(settings)
    tables = archive_tables(settings, file)
    say(f"    {file} is a valid archive ({tables} tables)")
    db, owner = settings.postgres.db, settings.postgres.user
    safety = safety_dump_path(backups)
    say(f"    keeping the current database first: {safety}")
    dump(settings, safety)
    sup = _supervisor(settings)
    if sup is not None:
        say("    stopping letta")
        sup.stop(LETTA)
    say(f"    recreating database '{db}'")
    _psql(settings, f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    _psql(settings, f'CREATE DATABASE "{db}" OWNER "{owner}"')
    _psql(settings, "CREATE EXTENSION IF NOT EXISTS vector", db=db)
    say(f"    restoring {tables} tables")
    started = time.monotonic()
    listing = _run(settings, [_binary(settings, "pg_restore"), "--list", str(file)], f"reading {file}")
    with tempfile.NamedTemporaryFile("w", suffix=".list") as toc:
        toc.write(restore_list(listing))
        toc.flush()
        command = [_binary(settings, "pg_restore"), *_conn(settings), "--no-owner", "--exit-on-error"]
        _run(settings, [*command, "-L", toc.name, str(file)], "pg_restore")
    say(f"    restored in {time.monotonic() - started:.1f}s")
    if sup is not None:
        from services.stack.cli import cmd_restart

        say("    starting letta")
        if cmd_restart(settings, LETTA) != 0:
            raise DumpError("letta did not come back healthy after the restore: 'make logs s=letta'")
    else:
        say("    the stack is not running: 'make up' starts Letta on the restored database")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.deploy.pgdump", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("dump", help="write the database to FILE")
    d.add_argument("file", type=Path)
    r = sub.add_parser("restore", help="replace the database with FILE")
    r.add_argument("file", type=Path)
    r.add_argument("--yes", action="store_true", help="confirm: the current database is replaced")
    args = parser.parse_args(argv)
    settings = load_settings_or_exit()
    try:
        if args.command == "dump":
            dump(settings, args.file)
        else:
            if not args.yes:
                say("error: restore replaces the database: pass --yes (scripts/restore.sh asks first)")
                return 2
            restore(settings, args.file)
    except DumpError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
