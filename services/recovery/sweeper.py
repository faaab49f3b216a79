"""The imperative shell: fetch a snapshot from LiveKit, ask the policy, carry out its actions."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from enum import StrEnum

import aiohttp
from livekit import api

from services.agent.room_claims import RoomClaims, claims_dir
from services.recovery import metrics
from services.recovery.lease import Lease
from services.recovery.policy import (
    Action,
    ActionKind,
    RoomMemory,
    Rule,
    decide,
    next_wakeup,
    observe,
    our_agents,
    record_dispatch,
    waiting_humans,
    within_free_slots,
)
from services.recovery.snapshot import RoomView, Snapshot, is_ours, newest_dispatch_unserved, room_view
from services.shared.livekit import NodeHealth, api_url, livekit_api
from services.shared.logging import log_context
from services.shared.settings import Settings

log = logging.getLogger("lvs.recovery")
FETCH_CONCURRENCY = 16
# The worker answers its health check a moment before it has registered with LiveKit, and a dispatch
# created before registration is never delivered: count it ready once it has been healthy this long.
WORKER_SETTLE = 1.0
MIN_PAUSE = 0.05  # seconds: the loop never spins faster than this
REGISTERED_METRIC = "lvs_agent_worker_registered"
FREE_SLOTS_METRIC = "lvs_agent_job_slots_free"
HELD_RECHECK_S = 0.5  # a re-dispatch held for want of a job slot is looked at again this soon


class Outcome(StrEnum):
    DONE = "done"
    GONE = "gone"  # the room or participant was already gone: nothing left to do
    FAILED = "failed"
    DRY_RUN = "dry_run"
    SKIPPED = "skipped"  # the room changed since the snapshot (someone joined a room about to be deleted)


@dataclass
class SweepResult:
    """What one sweep saw and did."""

    snapshot: Snapshot
    done: list[tuple[Action, Outcome]] = field(default_factory=list)
    started_at: float = 0.0
    seconds: float = 0.0
    worker_ready: bool = True
    memory: dict[str, RoomMemory] = field(default_factory=dict)
    active: bool = True  # False: another sidecar holds the lease; this one observed and did nothing


def worker_health_urls(settings: Settings) -> list[str]:
    """Readiness URLs of the agent workers (empty when the check is off): RECOVERY_AGENT_HEALTH_URL (ready =
    answers 200), or each native worker's /metrics (ready = registered with livekit-server)."""
    url = settings.recovery.agent_health_url.strip()
    if url.lower() == "off":
        return []
    if url:
        return [url]
    agent = settings.agent
    return [f"http://127.0.0.1:{agent.instance_metrics_port(i)}/metrics" for i in range(agent.workers)]


def labelled_samples(metrics_text: str, name: str) -> list[float]:
    """The values of the labelled samples of metric ``name`` in a /metrics text (unreadable or non-finite ones
    left out)."""
    values = []
    for line in metrics_text.splitlines():
        if line.startswith(f"{name}{{"):
            with contextlib.suppress(ValueError):
                values.append(float(line.rsplit(" ", 1)[-1]))
    return [v for v in values if math.isfinite(v)]


def says_registered(metrics_text: str) -> bool:
    """True when a worker's /metrics reports it registered with livekit-server."""
    return 1.0 in labelled_samples(metrics_text, REGISTERED_METRIC)


def free_job_slots(metrics_text: str) -> int | None:
    """The job slots a worker's /metrics says it has free (None: it does not say)."""
    values = labelled_samples(metrics_text, FREE_SLOTS_METRIC)
    return max(0, int(values[0])) if values else None


def slots_free(probes: list[tuple[bool, int | None]]) -> int | None:
    """Free job slots over the workers (ready, free) that are ready; None when one of them does not say or
    none is ready (the re-dispatches are then not held back)."""
    ready = [free for ok, free in probes if ok]
    if not ready or any(free is None for free in ready):
        return None
    return sum(free for free in ready if free is not None)


def _gone(error: Exception) -> bool:
    return isinstance(error, api.TwirpError) and error.code == api.TwirpErrorCode.NOT_FOUND


class Sweeper:
    """Sweeps rooms; keeps the memory between sweeps. One sweep at a time (a lock)."""

    def __init__(
        self,
        settings: Settings,
        lkapi: api.LiveKitAPI,
        *,
        dry_run: bool = False,
        clock: Callable[[], float] = time.time,
        lease: Lease | None = None,
        api_at: str | None = None,
    ) -> None:
        self.settings = settings
        self.lkapi = lkapi
        self.dry_run = dry_run
        self.clock = clock
        self.memory: dict[str, RoomMemory] = {}
        self.claims = RoomClaims(claims_dir(settings))  # the native workers' room claims (compose: not shared)
        self.lock = asyncio.Lock()
        self.worker_ready = True
        self.free_slots: int | None = None  # over the ready workers, from their /metrics (None: unknown)
        self.held = 0  # re-dispatches held back at the last sweep (no free slot)
        self.healthy_since: float | None = None
        self.last_sweep_at: float | None = None
        self.last_error: str | None = None
        self.recent: deque[tuple[float, Action, Outcome]] = deque(maxlen=200)
        # Several sidecars on one cluster: only the lease holder acts (services/recovery/lease.py).
        self.lease = lease or Lease(None, "local", 0.0)
        self.api_at = api_at or settings.livekit.http_url  # the node lkapi calls
        self.owned_clients: list[api.LiveKitAPI] = []  # made by fail_over: closed by close()
        self._http: aiohttp.ClientSession | None = None  # the workers' health checks, one session: close()

    def ours(self, room: RoomView) -> bool:
        rs = self.settings.recovery
        return is_ours(room.name, room.metadata, rs.room_prefix, rs.ownership)

    async def fetch(self, names: Iterable[str] | None = None, *, every_room: bool = False) -> Snapshot:
        """Rooms (all, or those named) with participants listed for ours (every room if asked)."""
        listed = await self.lkapi.room.list_rooms(api.ListRoomsRequest(names=list(names or [])))
        gate = asyncio.Semaphore(FETCH_CONCURRENCY)
        prefix = self.settings.agent.identity_prefix

        async def one(room: api.Room) -> RoomView | None:
            bare = room_view(room, [], prefix)
            if not (every_room or self.ours(bare)):
                return bare
            # Always list: ListRooms' num_participants lags (0 was seen for a room with two participants).
            async with gate:
                try:
                    res = await self.lkapi.room.list_participants(api.ListParticipantsRequest(room=room.name))
                except Exception as error:  # leave this room out of this sweep rather than act on a guess
                    if not _gone(error):
                        with log_context(room=room.name):
                            log.warning("cannot list participants", extra={"error": repr(error)})
                    return None
            return await self.with_dispatch_state(self.with_claim(room_view(room, res.participants, prefix)))

        views = await asyncio.gather(*(one(r) for r in listed.rooms))
        return Snapshot(rooms=tuple(v for v in views if v is not None))

    def awaits_agent(self, view: RoomView) -> bool:
        """A human waits in the room and no agent of ours is there."""
        return bool(waiting_humans(view)) and not our_agents(view, self.clock())

    def with_claim(self, view: RoomView) -> RoomView:
        """A room where a human waits for a first agent, with whether a worker of this machine is starting a
        job for it (the workers' room claims, when this sidecar shares their folder)."""
        if not self.claims.folder.is_dir() or not self.awaits_agent(view):
            return view
        try:
            return replace(view, job_starting=self.claims.holder(view.name) is not None)
        except OSError:
            return view

    async def with_dispatch_state(self, view: RoomView) -> RoomView:
        """A room we re-dispatched into and where a human still waits, with whether that dispatch reached no
        worker (policy.last_try_missed); one API call per such room, none for the others."""
        mem = self.memory.get(view.name)
        if mem is None or mem.tries == 0 or not self.awaits_agent(view):
            return view
        try:
            dispatches = await self.lkapi.agent_dispatch.list_dispatch(view.name)
        except Exception as error:  # unknown: the tries count as before
            log.warning("cannot list dispatches", extra={"room": view.name, "error": repr(error)})
            return view
        return replace(view, dispatch_unserved=newest_dispatch_unserved(dispatches, self.settings.agent.name))

    async def check_worker(self) -> bool:
        """True when a worker has answered its health check for WORKER_SETTLE s (or the check is off)."""
        urls = worker_health_urls(self.settings)
        probes = list(await asyncio.gather(*(self._probe(url) for url in urls)))
        healthy = not urls or any(ok for ok, _ in probes)
        self.free_slots = slots_free(probes)
        now = self.clock()
        if not healthy:
            self.healthy_since = None
        elif self.healthy_since is None:
            # at start-up a worker already up counts as ready; one coming back must settle first
            self.healthy_since = now - WORKER_SETTLE if self.last_sweep_at is None else now
        # a registered worker is ready at once; one that only answers its health port must settle first
        settle = 0.0 if all(url.endswith("/metrics") for url in urls) else WORKER_SETTLE
        ready = not urls or (healthy and now - (self.healthy_since or now) >= settle)
        metrics.WORKER_READY.set(1 if ready else 0)
        self.worker_ready = ready
        return ready

    def _health_http(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            # a fresh connection per check: a kept-alive one to a worker that restarted fails once, a false alarm
            self._http = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=2), connector=aiohttp.TCPConnector(force_close=True)
            )
        return self._http

    async def _probe(self, url: str) -> tuple[bool, int | None]:
        """(ready, free job slots) of a worker: ready when its /metrics says registered, or (any other URL) it
        answers 200; the free slots as its /metrics reports them (None: not said)."""
        try:
            async with self._health_http().get(url) as resp:
                if resp.status != 200:
                    return False, None
                if not url.endswith("/metrics"):
                    return True, None
                text = await resp.text()
                return says_registered(text), free_job_slots(text)
        except (aiohttp.ClientError, TimeoutError, OSError):
            return False, None

    def rooms_with_agents(self) -> list[str]:
        """Rooms whose last sweep saw a live agent of ours (the heartbeat watch re-checks these often)."""
        return sorted(name for name, mem in self.memory.items() if mem.had_agent)

    async def sweep(self, names: Iterable[str] | None = None) -> SweepResult:
        """One sweep: all rooms, or only those named (a targeted sweep keeps the others' memory)."""
        names = list(names or [])
        kind = "targeted" if names else "full"
        async with self.lock:
            try:
                active = await self.lease.active()
                ready = await self.check_worker()
                started = self.clock()
                snapshot = await self.fetch(names)
                now = self.clock()
                ours = Snapshot(tuple(r for r in snapshot.rooms if self.ours(r)))
                dead_after = self.settings.agent.dead_after
                self.memory = observe(self.memory, ours, now, partial=bool(names), dead_after=dead_after)
                for gone in set(names) - {r.name for r in ours.rooms}:
                    self.memory.pop(gone, None)
                result = SweepResult(snapshot, started_at=started, worker_ready=ready, active=active)
                actions = decide(
                    ours, now, self.settings.recovery, self.memory, worker_ready=ready, dead_after=dead_after
                )
                actions, held = within_free_slots(actions, self.memory, self.free_slots)
                self._note_held(held)
                for action in actions if active else []:
                    result.done.append((action, await self.execute(action)))
            except Exception as error:
                metrics.SWEEPS.labels(kind, "failed").inc()
                self.last_error = f"{type(error).__name__}: {error}"
                raise
            result.seconds = self.clock() - started
            result.memory = dict(self.memory)
            metrics.SWEEPS.labels(kind, "ok").inc()
            if not names:
                metrics.SWEEP_SECONDS.observe(result.seconds)
                metrics.ROOMS.labels("yes").set(len(ours.rooms))
                metrics.ROOMS.labels("no").set(len(snapshot.rooms) - len(ours.rooms))
            self.last_sweep_at = self.clock()
            self.last_error = None
            return result

    def _note_held(self, held: int) -> None:
        """Count (and log, when it changes) the re-dispatches held back for want of a free job slot."""
        if held != self.held:
            message = "re-dispatches held: no free job slot" if held else "no re-dispatch held any more"
            log.info(message, extra={"held": held, "free_slots": self.free_slots})
        self.held = held
        metrics.DISPATCHES_HELD.set(held)

    async def execute(self, action: Action) -> Outcome:
        """Carry out one action; log and count it. Never raises: a failure is retried next sweep."""
        outcome = Outcome.DRY_RUN
        error: str | None = None
        if not self.dry_run:
            try:
                if await self._still_due(action):
                    await self._call(action)
                    outcome = Outcome.DONE
                else:
                    outcome = Outcome.SKIPPED
            except Exception as exc:
                outcome = Outcome.GONE if _gone(exc) else Outcome.FAILED
                error = f"{type(exc).__name__}: {exc}"
        if action.kind is ActionKind.DISPATCH and outcome is Outcome.DONE:
            self.memory = record_dispatch(self.memory, action.room, self.clock())
        metrics.ACTIONS.labels(action.rule.value, outcome.value).inc()
        self.recent.append((self.clock(), action, outcome))
        with log_context(room=action.room, identity=action.identity):
            log.log(
                logging.WARNING if outcome is Outcome.FAILED else logging.INFO,
                "recovery action %s %s",
                action.kind.value,
                outcome.value,
                extra={
                    "action": action.kind.value,
                    "rule": action.rule.value,
                    "outcome": outcome.value,
                    "reason": action.reason,
                    "letta_agent_id": action.letta_agent_id,
                    "error": error,
                },
            )
        return outcome

    async def _still_due(self, action: Action) -> bool:
        """Re-check a room deletion against the room as it is now (a human may have just joined)."""
        if action.kind is not ActionKind.DELETE_ROOM:
            return True
        res = await self.lkapi.room.list_participants(api.ListParticipantsRequest(room=action.room))
        views = room_view(api.Room(name=action.room), res.participants, self.settings.agent.identity_prefix)
        present = [p for p in views.participants if p.is_present]
        return not present if action.rule is Rule.EMPTY_ROOM else all(p.is_agent for p in present)

    async def _call(self, action: Action) -> None:
        match action.kind:
            case ActionKind.DELETE_ROOM:
                await self.lkapi.room.delete_room(api.DeleteRoomRequest(room=action.room))
            case ActionKind.REMOVE_PARTICIPANT:
                await self.lkapi.room.remove_participant(
                    api.RoomParticipantIdentity(room=action.room, identity=action.identity or "")
                )
            case ActionKind.DISPATCH:
                await self.lkapi.agent_dispatch.create_dispatch(
                    api.CreateAgentDispatchRequest(
                        agent_name=self.settings.agent.name,
                        room=action.room,
                        metadata=json.dumps({"letta_agent_id": action.letta_agent_id}),
                    )
                )

    async def fail_over(self) -> bool:
        """In a native cluster whose node stopped answering: move the server API to the first node that answers
        (any node lists every room of the cluster). True when it moved."""
        if not self.settings.livekit.cluster:
            return False
        url = await asyncio.to_thread(api_url, self.settings, NodeHealth(check_every=0.0).answers)
        if url == self.api_at:
            return False
        client = livekit_api(self.settings, url)
        async with self.lock:
            self.lkapi, self.api_at = client, url
        self.owned_clients.append(client)
        log.warning("livekit node unreachable: server API moved", extra={"url": url})
        return True

    async def close(self) -> None:
        for client in self.owned_clients:
            await client.aclose()
        self.owned_clients.clear()
        if self._http is not None:
            await self._http.close()
            self._http = None

    def pause(self) -> float:
        """Seconds until the next sweep: the interval, or less when a re-dispatch falls due sooner."""
        interval = self.settings.recovery.sweep_interval
        now = self.clock()
        due = next_wakeup(self.memory, self.settings.recovery, now) if self.worker_ready else None
        if self.held:  # a slot may free any moment: the held rooms are looked at again soon
            recheck = now + HELD_RECHECK_S
            due = recheck if due is None else min(due, recheck)
        return interval if due is None else max(MIN_PAUSE, min(interval, due - now + MIN_PAUSE))

    async def run_forever(self, stop: asyncio.Event, wake: asyncio.Event | None = None) -> None:
        """Sweep every interval (or sooner when `wake` is set) until `stop`; errors are logged, not raised."""
        wake = wake or asyncio.Event()
        while not stop.is_set():
            try:
                await self.sweep()
            except (aiohttp.ClientError, TimeoutError, OSError) as error:
                log.warning("sweep failed: livekit-server unreachable; retrying", extra={"error": repr(error)})
                await self.fail_over()
            except Exception:
                log.exception("sweep failed; retrying at the next interval")
            wake.clear()
            waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
            await asyncio.wait(waiters, timeout=self.pause(), return_when=asyncio.FIRST_COMPLETED)
            for w in waiters:
                w.cancel()
