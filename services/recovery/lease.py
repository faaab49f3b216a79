"""One active recovery sidecar per cluster: a lease in the cluster's Redis.

Two sidecars (two machines, or a rolling restart) watching the same LiveKit would both act on what they see:
a room deletion or participant removal twice is harmless (the second finds it gone), but two re-dispatches
into one orphaned room start two agent jobs. So in a cluster (LIVEKIT_NODES > 1, which has Redis) a sidecar
only carries out actions while it holds the lease `lvs:recovery:leader`; the others keep observing (their
room memory stays current) and take over once the holder stops renewing it (REDIS_LEASE_TTL). With one node
there is no Redis and one sidecar: it is always active.

The Redis client is redis-py's asyncio one, without retries: an unreachable Redis makes a sidecar stand by at
its next check rather than stall its loop.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

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


@dataclass
class Lease:
    """This sidecar's view of the lease: `active()` renews it (or takes it) and says whether we hold it."""

    redis: Redis | None  # None: no Redis (one node): always active
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
            self.held = await self.redis.eval(ACQUIRE_OR_RENEW, 1, self.key, self.holder, int(self.ttl_s * 1000)) == 1
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
            await self.redis.eval(RELEASE, 1, self.key, self.holder)
        except RedisError:
            pass
        finally:
            await self.redis.aclose()

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
    return Lease(redis_client(rd.host, rd.port, password), holder_id(), rd.lease_ttl, held=False)


def redis_client(host: str, port: int, password: str | None, timeout_s: float = 2.0) -> Redis:
    """The lease's client: connects on first use, each call bounded by ``timeout_s``, no retries."""
    return Redis(
        host=host,
        port=port,
        password=password,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),
        decode_responses=True,
    )
