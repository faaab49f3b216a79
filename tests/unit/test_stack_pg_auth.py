"""PostgreSQL's access rules (pure): no trust anywhere, passwords only as SCRAM verifiers, Letta not admin."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from services.stack import pg_auth

pytestmark = pytest.mark.unit


def test_pg_hba_has_passwords_everywhere_and_no_trust() -> None:
    rules = [line.split() for line in pg_auth.pg_hba_conf().splitlines() if line and not line.startswith("#")]
    assert rules[0] == ["local", "all", "all", "scram-sha-256"]  # the old code trusted the socket
    assert {r[-1] for r in rules} == {"scram-sha-256", "reject"}
    assert "trust" not in pg_auth.pg_hba_conf().replace("nothing trusted", "")
    allowed = {r[3] for r in rules if r[0] == "host" and r[-1] != "reject"}
    assert allowed == {"127.0.0.1/32", "::1/128"}


def test_scram_verifier_is_what_postgres_checks() -> None:
    salt = b"0123456789abcdef"
    verifier = pg_auth.scram_verifier("pencil", salt=salt)
    method, rest = verifier.split("$", 1)
    iterations_salt, keys = rest.split("$")
    iterations, salt_b64 = iterations_salt.split(":")
    stored_key, server_key = (base64.b64decode(k) for k in keys.split(":"))
    assert method == "SCRAM-SHA-256" and int(iterations) == 4096 and base64.b64decode(salt_b64) == salt
    salted = hashlib.pbkdf2_hmac("sha256", b"pencil", salt, 4096)
    assert stored_key == hashlib.sha256(hmac.new(salted, b"Client Key", hashlib.sha256).digest()).digest()
    assert server_key == hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    assert pg_auth.scram_verifier("pencil") != pg_auth.scram_verifier("pencil")  # fresh salt each time


def test_sql_carries_verifiers_never_the_password() -> None:
    password = "clear-password-123"
    verifier = pg_auth.scram_verifier(password)
    for sql in (pg_auth.admin_sql("lvs_admin", verifier), pg_auth.letta_role_sql("letta", verifier)):
        assert password not in sql and verifier in sql


def test_letta_role_is_demoted_and_the_old_bootstrap_superuser_retired() -> None:
    sql = pg_auth.letta_role_sql("letta", "SCRAM-SHA-256$x")
    assert 'ALTER ROLE "letta" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE' in sql
    # PostgreSQL 16 refuses NOSUPERUSER for initdb's role (the old data folders' "letta"): renamed and locked
    assert f"oid = {pg_auth.BOOTSTRAP_OID}" in sql
    assert f'RENAME TO "{pg_auth.RETIRED_BOOTSTRAP}"' in sql and "NOLOGIN PASSWORD NULL" in sql
    assert 'ALTER ROLE "lvs_admin" SUPERUSER LOGIN' in pg_auth.admin_sql("lvs_admin", "v")


def test_ownership_moves_tables_sequences_types_and_functions_but_not_extensions() -> None:
    sql = pg_auth.letta_ownership_sql("letta")
    for kind in ("ALTER TABLE", "SEQUENCE", "VIEW", "DOMAIN", "ALTER ROUTINE"):
        assert kind in sql
    assert sql.count("deptype = 'e'") == 4  # extension members (pgvector's) stay with the admin
    assert pg_auth.database_owner_sql("letta", "letta") == 'ALTER DATABASE "letta" OWNER TO "letta";\n'
