"""One active recovery sidecar per cluster: a lease in the cluster's Redis.

Two sidecars (two machines, or a rolling restart) watching the same LiveKit would both act on what they see:
a room deletion or participant removal twice is harmless (the second finds it gone), but two re-dispatches
into one orphaned room start two agent jobs. So in a cluster (LIVEKIT_NODES > 1, which has Redis) a sidecar
only carries out actions while it holds the lease `lvs:recovery:leader`; the others keep observing (their
room memory stays current) and take over once the holder stops renewing it (REDIS_LEASE_TTL). With one node
there is no Redis and one sidecar: it is always active.

The Redis client is the few RESP commands the lease needs (AUTH, EVAL), over one asyncio connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from dataclasses import dataclass

from services.shared.settings import Settings

log = logging.getLogger("lvs.recovery")
LEASE_KEY = "lvs:recovery:leader"
# Take the lease when free, renew it when ours; 1 = we hold it now, 0 = another sidecar does.
ACQUIRE_OR_RENEW = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if not holder then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0
"""
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisError(Exception):
    """Redis answered with an error, or could not be reached."""


def encode_command(*args: str | int) -> bytes:
    """One RESP command (an array of bulk strings)."""
    out = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


async def read_reply(reader: asyncio.StreamReader) -> object:
    """One RESP reply: simple string, error (raised), integer, bulk string (None when nil) or array."""
    line = (await reader.readuntil(b"\r\n"))[:-2]
    kind, rest = line[:1], line[1:].decode()
    match kind:
        case b"+":
            return rest
        case b"-":
            raise RedisError(rest)
        case b":":
            return int(rest)
        case b"$":
            size = int(rest)
            if size < 0:
                return None
            return (await reader.readexactly(size + 2))[:-2].decode()
        case b"*":
            count = int(rest)
            return None if count < 0 else [await read_reply(reader) for _ in range(count)]
    raise RedisError(f"unexpected reply {line[:40]!r}")


class RedisConnection:
    """A single connection, opened on first use and again after an error; one command at a time."""

    def __init__(self, host: str, port: int, password: str | None, timeout: float = 2.0) -> None:
        self.host, self.port, self.password, self.timeout = host, port, password, timeout
        self._conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._lock = asyncio.Lock()

    async def command(self, *args: str | int) -> object:
        async with self._lock:
            try:
                return await asyncio.wait_for(self._command(*args), self.timeout)
            except RedisError:
                raise
            except (OSError, TimeoutError, asyncio.IncompleteReadError) as error:
                await self.close()
                raise RedisError(f"{type(error).__name__}: {error}") from error

    async def _command(self, *args: str | int) -> object:
        if self._conn is None:
            reader, writer = await asyncio.open_connection(self.host, self.port)
            self._conn = (reader, writer)
            if self.password:
                writer.write(encode_command("AUTH", self.password))
                await writer.drain()
                await read_reply(reader)
        reader, writer = self._conn
        writer.write(encode_command(*args))
        await writer.drain()
        return await read_reply(reader)

    async def close(self) -> None:
        if self._conn is not None:
            _, writer = self._conn
            self._conn = None
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


@dataclass
class Lease:
    """This sidecar's view of the lease: `active()` renews it (or takes it) and says whether we hold it."""

    redis: RedisConnection | None  # None: no Redis (one node): always active
    holder: str
    ttl_s: float
    key: str = LEASE_KEY
    held: bool = True
    checked_at: float = 0.0

    async def active(self) -> bool:
        if self.redis is None:
            return True
        was = self.held
        try:
            self.held = (
                await self.redis.command("EVAL", ACQUIRE_OR_RENEW, 1, self.key, self.holder, int(self.ttl_s * 1000))
                == 1
            )
        except RedisError as error:
            # Unsure whether another sidecar holds it: act on nothing (LiveKit needs Redis too, so little can).
            self.held = False
            log.warning("recovery lease: Redis unreachable; standing by", extra={"error": str(error)})
        self.checked_at = time.monotonic()
        if self.held != was:
            log.info(
                "recovery lease %s",
                "taken: active" if self.held else "held elsewhere: standby",
                extra={"holder": self.holder},
            )
        return self.held

    async def release(self) -> None:
        if self.redis is None:
            return
        try:
            await self.redis.command("EVAL", RELEASE, 1, self.key, self.holder)
        except RedisError:
            pass
        finally:
            await self.redis.close()

    @property
    def role(self) -> str:
        return "active" if self.held else "standby"


def holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def lease_for(settings: Settings) -> Lease:
    """The lease of this sidecar: in Redis for a cluster, none (always active) for one node."""
    rd = settings.redis
    if not settings.livekit.cluster:
        return Lease(None, holder_id(), rd.lease_ttl)
    password = rd.password.get_secret_value() if rd.password else None
    return Lease(RedisConnection(rd.host, rd.port, password), holder_id(), rd.lease_ttl, held=False)
