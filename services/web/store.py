"""The web service's private SQLite database: user accounts and the rate-limit counters.

One file under STACK_DIR/data/web/ (folder 0700, file 0600), shared by every gunicorn worker: a limit
counted here holds across processes. Passwords are stored as argon2id hashes only.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from services.shared.settings import Settings

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    admin INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS hits (
    key TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS hits_key_at ON hits (key, at);
"""


def store_dir(settings: Settings) -> Path:
    return settings.stack.data_dir / "web"


def private_dir(path: Path) -> Path:
    """Create ``path`` (mode 0700) if missing; an existing folder keeps its mode."""
    if not path.exists():
        path.mkdir(parents=True, mode=0o700)
        path.chmod(0o700)
    return path


@dataclass(frozen=True)
class User:
    name: str
    admin: bool
    generation: str = ""  # changes with every new password: a login cookie carries it, so passwd ends old logins


def _generation(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


class UserExists(ValueError):
    """An account with that name exists already."""


class Store:
    """Users and rate-limit hits in one SQLite file (WAL, so workers read while one writes)."""

    def __init__(
        self, path: Path, clock: Callable[[], float] = time.time, hasher: PasswordHasher | None = None
    ) -> None:
        self.path = path
        self.clock = clock
        self.hasher = hasher or PasswordHasher()  # argon2id, the library's recommended parameters
        # Verified against when the account does not exist: a wrong name costs as long as a wrong password.
        self._dummy_hash = self.hasher.hash("not a password of anyone")
        self._local = threading.local()
        private_dir(path.parent)
        if not path.exists():
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        self._db().executescript(SCHEMA)

    @classmethod
    def for_settings(cls, settings: Settings) -> Store:
        return cls(store_dir(settings) / "web.db")

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            old = os.umask(0o077)  # the -wal and -shm files SQLite creates next to it
            try:
                db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
                db.execute("PRAGMA journal_mode=WAL")
            finally:
                os.umask(old)
            self._local.db = db
        return db

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken before reading (BEGIN IMMEDIATE): check-then-insert is atomic."""
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    # -- users -------------------------------------------------------------------------------------

    def add_user(self, name: str, password: str, admin: bool = False) -> User:
        hashed = self.hasher.hash(password)
        with self._tx() as db:
            if db.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
                raise UserExists(name)
            db.execute(
                "INSERT INTO users (name, password_hash, admin, created) VALUES (?, ?, ?, ?)",
                (name, hashed, int(admin), self.clock()),
            )
        return User(name, admin)

    def set_password(self, name: str, password: str) -> bool:
        hashed = self.hasher.hash(password)
        with self._tx() as db:
            return db.execute("UPDATE users SET password_hash = ? WHERE name = ?", (hashed, name)).rowcount == 1

    def remove_user(self, name: str) -> bool:
        with self._tx() as db:
            return db.execute("DELETE FROM users WHERE name = ?", (name,)).rowcount == 1

    def user(self, name: str) -> User | None:
        row = self._db().execute("SELECT name, admin, password_hash FROM users WHERE name = ?", (name,)).fetchone()
        return User(row[0], bool(row[1]), _generation(row[2])) if row else None

    def users(self) -> list[User]:
        rows = self._db().execute("SELECT name, admin FROM users ORDER BY name").fetchall()
        return [User(name, bool(admin)) for name, admin in rows]

    def verify(self, name: str, password: str) -> User | None:
        """The user when the password is right; None otherwise (same work either way)."""
        row = self._db().execute("SELECT password_hash, admin FROM users WHERE name = ?", (name,)).fetchone()
        try:
            self.hasher.verify(row[0] if row else self._dummy_hash, password)
        except (VerificationError, InvalidHashError):
            return None
        if row is None:
            return None
        if self.hasher.check_needs_rehash(row[0]):
            self.set_password(name, password)
            return self.user(name)
        return User(name, bool(row[1]), _generation(row[0]))

    # -- rate limits -------------------------------------------------------------------------------

    def hit(self, keys: list[str], limit: int, window_s: float) -> tuple[bool, int]:
        """Count one event for every key unless one of them is at ``limit`` within the window.

        Returns (allowed, seconds until it would be allowed). All workers share the count.
        """
        now = self.clock()
        with self._tx() as db:
            db.execute("DELETE FROM hits WHERE at <= ?", (now - max(window_s, 3600.0),))
            for key in keys:
                count, oldest = db.execute(
                    "SELECT COUNT(*), MIN(at) FROM hits WHERE key = ? AND at > ?", (key, now - window_s)
                ).fetchone()
                if count >= limit:
                    return False, max(1, int(oldest + window_s - now) + 1)
            db.executemany("INSERT INTO hits (key, at) VALUES (?, ?)", [(key, now) for key in keys])
        return True, 0

    def record(self, keys: list[str]) -> None:
        """Count one event for every key, whatever the counts (failed logins)."""
        now = self.clock()
        with self._tx() as db:
            db.executemany("INSERT INTO hits (key, at) VALUES (?, ?)", [(key, now) for key in keys])

    def blocked(self, keys: list[str], limit: int, window_s: float) -> int:
        """Seconds until none of ``keys`` is at ``limit`` (0: not blocked), without counting."""
        now = self.clock()
        worst = 0
        for key in keys:
            count, oldest = (
                self._db()
                .execute("SELECT COUNT(*), MIN(at) FROM hits WHERE key = ? AND at > ?", (key, now - window_s))
                .fetchone()
            )
            if count >= limit:
                worst = max(worst, int(oldest + window_s - now) + 1)
        return worst

    def clear(self, key: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM hits WHERE key = ?", (key,))


@contextmanager
def throwaway_account(settings: Settings, prefix: str = "test", admin: bool = False) -> Iterator[tuple[str, str]]:
    """A temporary web account (name, password) in the stack's own store, removed afterwards (smoke, tests)."""
    store = Store.for_settings(settings)
    name, password = f"{prefix}-{secrets.token_hex(4)}", secrets.token_urlsafe(16)
    store.add_user(name, password, admin=admin)
    try:
        yield name, password
    finally:
        store.remove_user(name)
