"""PostgreSQL access rules of the native stack, as text and SQL (pure: no I/O).

Password (SCRAM-SHA-256) authentication on the socket and on loopback TCP, nothing trusted. Two roles: an
admin that owns the cluster (initdb, extensions, creating Letta's database) and Letta's own role, which
owns Letta's database and tables but is not a superuser. Passwords reach the server only as SCRAM
verifiers (salted hashes), so no statement, log line or error ever carries a clear password.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SCRAM_ITERATIONS = 4096
BOOTSTRAP_OID = 10  # initdb's first role: PostgreSQL 16 refuses to take SUPERUSER away from it
RETIRED_BOOTSTRAP = "lvs_bootstrap"  # the old data folders' superuser "letta", renamed and locked

HBA_HEADER = "# Written by the stack (services/stack/pg_auth.py) on every `make up`: edits are replaced.\n"


def pg_hba_conf() -> str:
    """pg_hba.conf: SCRAM passwords on the socket and loopback TCP, everything else refused."""
    rules = [
        ("local", "all", "all", "", "scram-sha-256"),
        ("host", "all", "all", "127.0.0.1/32", "scram-sha-256"),
        ("host", "all", "all", "::1/128", "scram-sha-256"),
        ("host", "all", "all", "0.0.0.0/0", "reject"),
        ("host", "all", "all", "::/0", "reject"),
    ]
    lines = [f"{kind:<6} {db:<4} {user:<4} {addr:<14} {method}".rstrip() for kind, db, user, addr, method in rules]
    return HBA_HEADER + "\n".join(lines) + "\n"


def scram_verifier(password: str, salt: bytes | None = None, iterations: int = SCRAM_ITERATIONS) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for ``password`` (RFC 5802/7677, as libpq builds it)."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def admin_sql(admin: str, verifier: str) -> str:
    """For single-user mode (server stopped): the admin role exists, is a superuser, has this password.

    Statements end with ';' and a blank line (``postgres --single -j``).
    """
    return (
        f"DO $$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = {_literal(admin)}) "
        f'THEN CREATE ROLE "{admin}"; END IF; END$$;\n\n'
        f'ALTER ROLE "{admin}" SUPERUSER LOGIN PASSWORD {_literal(verifier)};\n\n'
    )


def letta_role_sql(user: str, verifier: str) -> str:
    """As the admin: Letta's role exists, logs in with this password, and holds no admin attributes.

    An old data folder's role was initdb's bootstrap superuser, which PostgreSQL 16 will not demote: it
    is renamed, locked, and a fresh role of the same name takes over what it owned (letta_ownership_sql).
    """
    return (
        "DO $$BEGIN\n"
        f"  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = {_literal(user)} AND oid = {BOOTSTRAP_OID}) THEN\n"
        f'    ALTER ROLE "{user}" RENAME TO "{RETIRED_BOOTSTRAP}";\n'
        f'    ALTER ROLE "{RETIRED_BOOTSTRAP}" NOLOGIN PASSWORD NULL;\n'
        "  END IF;\n"
        f"  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = {_literal(user)}) THEN\n"
        f'    CREATE ROLE "{user}";\n'
        "  END IF;\n"
        "END$$;\n"
        f'ALTER ROLE "{user}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS '
        f"PASSWORD {_literal(verifier)};\n"
    )


def database_owner_sql(db: str, user: str) -> str:
    """As the admin, in database postgres: Letta's database is owned by Letta's role (it must exist)."""
    return f'ALTER DATABASE "{db}" OWNER TO "{user}";\n'


def letta_ownership_sql(user: str) -> str:
    """As the admin, in Letta's database: every table, sequence, view, type and function of schema public
    that is not part of an extension belongs to Letta's role (a no-op once it does)."""
    not_extension = (
        "NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = '{catalog}'::regclass "
        "AND d.objid = {oid} AND d.deptype = 'e')"
    )
    owner = f"{_literal(user)}::regrole"
    return f"""DO $$DECLARE r record; BEGIN
  FOR r IN SELECT c.oid::regclass AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relowner <> {owner}
      AND {not_extension.format(catalog="pg_class", oid="c.oid")}
  LOOP EXECUTE format('ALTER TABLE %s OWNER TO "{user}"', r.name); END LOOP;
  FOR r IN SELECT c.oid::regclass AS name, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND c.relkind IN ('S', 'v', 'm', 'f') AND c.relowner <> {owner}
      AND {not_extension.format(catalog="pg_class", oid="c.oid")}
  LOOP EXECUTE format('ALTER %s %s OWNER TO "{user}"',
      CASE r.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
      ELSE 'FOREIGN TABLE' END, r.name); END LOOP;
  FOR r IN SELECT t.oid::regtype AS name, t.typtype FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
      WHERE n.nspname = 'public' AND t.typtype IN ('e', 'd', 'r', 'c') AND t.typowner <> {owner}
      AND (t.typtype <> 'c' OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
      AND {not_extension.format(catalog="pg_type", oid="t.oid")}
  LOOP EXECUTE format('ALTER %s %s OWNER TO "{user}"',
      CASE r.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, r.name); END LOOP;
  FOR r IN SELECT p.oid::regprocedure AS name FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
      WHERE n.nspname = 'public' AND p.proowner <> {owner}
      AND {not_extension.format(catalog="pg_proc", oid="p.oid")}
  LOOP EXECUTE format('ALTER ROUTINE %s OWNER TO "{user}"', r.name); END LOOP;
END$$;
"""
