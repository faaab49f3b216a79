"""Job request handling: the thin I/O around `policy.decide_request` (runs in the worker process)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from livekit import api
from livekit.protocol import models

from services.agent import metrics
from services.agent.policy import (
    Decision,
    ParticipantView,
    PState,
    RequestContext,
    agent_identity,
    decide_request,
    free_job_slots,
)
from services.agent.room_claims import CLAIM_TTL_S, RoomClaims, claims_dir
from services.agent.server import program_name, worker_api_url
from services.shared.livekit import (
    HEARTBEAT_ATTRIBUTE,
    LETTA_AGENT_ATTRIBUTE,
    WORKER_ATTRIBUTE,
    livekit_api,
    parse_heartbeat,
)
from services.shared.logging import log_context
from services.shared.settings import Settings

if TYPE_CHECKING:
    from livekit.agents import AgentServer, JobRequest

log = logging.getLogger("lvs.agent.requests")

LIST_TIMEOUT_S = 3.0
PRUNE_EVERY_S = 600.0
WATCH_EVERY_S = 0.2

_STATES = {
    models.ParticipantInfo.JOINING: PState.JOINING,
    models.ParticipantInfo.JOINED: PState.JOINED,
    models.ParticipantInfo.ACTIVE: PState.ACTIVE,
    models.ParticipantInfo.DISCONNECTED: PState.DISCONNECTED,
}


def participant_view(info: models.ParticipantInfo) -> ParticipantView:
    """The policy's view of a server-API participant."""
    return ParticipantView(
        identity=info.identity,
        is_agent=info.kind == models.ParticipantInfo.AGENT,
        state=_STATES.get(info.state, PState.ACTIVE),
        joined_at=(info.joined_at_ms / 1000.0) if info.joined_at_ms else float(info.joined_at),
        publishing_audio=any(t.type == models.TrackType.AUDIO for t in info.tracks),
        heartbeat_at=parse_heartbeat(info.attributes),
    )


@dataclass
class _Claim:
    job_id: str
    at: float
    launched: bool = False


class RequestHandler:
    """`on_request` of the AgentServer: one decision per request, claims held in this process."""

    def __init__(self, settings: Settings, server: AgentServer) -> None:
        self._settings = settings
        self._server = server
        self._claims: dict[str, _Claim] = {}
        self._room_claims = RoomClaims(claims_dir(settings))  # shared with the other workers
        with contextlib.suppress(OSError):  # there from the start: the sidecar reads it too (recovery/sweeper.py)
            self._room_claims.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._pruned_at = 0.0
        self._lkapi: api.LiveKitAPI | None = None
        self._watcher: asyncio.Task[None] | None = None

    async def _watch_launches(self) -> None:
        """Mark claims whose job is running, often: a job that starts and ends between two requests would
        otherwise keep its claim (and a job slot) for CLAIM_TTL_S; one seen running frees it as it ends."""
        while True:
            self._busy_rooms(time.time())
            await asyncio.sleep(WATCH_EVERY_S)

    def _busy_rooms(self, now: float) -> set[str]:
        """Rooms with a running job of this worker, or a claim still waiting for its job to start."""
        running = {(j.job.room.name, j.job.id) for j in self._server.active_jobs}
        running_ids = {job_id for _, job_id in running}
        for room, claim in list(self._claims.items()):
            if claim.job_id in running_ids:
                claim.launched = True
            elif claim.launched or now - claim.at > CLAIM_TTL_S:
                del self._claims[room]
        busy = {room for room, _ in running} | set(self._claims)
        free = free_job_slots(len(busy), self._settings.agent.max_jobs)
        metrics.JOB_SLOTS_FREE.labels(worker=program_name(self._settings.agent.instance)).set(free)
        return busy

    def _context(self, room: str, now: float) -> RequestContext:
        busy = self._busy_rooms(now)
        return RequestContext(
            room=room,
            identity_prefix=self._settings.agent.identity_prefix,
            now=now,
            busy_here=room in busy,
            local_jobs=len(busy),
            max_jobs=self._settings.agent.max_jobs,
            dead_after=self._settings.agent.dead_after,
        )

    async def _snapshot(self, room: str) -> list[ParticipantView] | None:
        if self._lkapi is None:
            self._lkapi = livekit_api(self._settings, worker_api_url(self._settings))
        try:
            resp = await asyncio.wait_for(
                self._lkapi.room.list_participants(api.ListParticipantsRequest(room=room)), LIST_TIMEOUT_S
            )
        except Exception as exc:  # the claim and the stable identity still keep one agent per room
            log.warning("cannot list participants, deciding without them", extra={"error": repr(exc)})
            return None
        return [participant_view(p) for p in resp.participants]

    async def _remove(self, room: str, identities: tuple[str, ...]) -> None:
        assert self._lkapi is not None
        for identity in identities:
            try:
                await self._lkapi.room.remove_participant(api.RoomParticipantIdentity(room=room, identity=identity))
                log.info("removed stale agent participant", extra={"participant": identity})
            except Exception as exc:
                log.warning("cannot remove stale agent", extra={"participant": identity, "error": repr(exc)})

    async def __call__(self, req: JobRequest) -> None:
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.create_task(self._watch_launches())
        room = req.room.name
        with log_context(room=room, job=req.id):
            early = decide_request(None, self._context(room, time.time()))
            if not early.accept:
                await self._answer(req, early)
                return
            snapshot = await self._snapshot(room)
            # No await between deciding and claiming: concurrent requests see the claim.
            now = time.time()
            decision = decide_request(snapshot, self._context(room, now))
            if decision.accept:
                decision = self._claim_across_workers(room, req.id, now, decision)
            if decision.accept:
                self._claims[room] = _Claim(req.id, now)
            await self._answer(req, decision)

    def _claim_across_workers(self, room: str, job_id: str, now: float, decision: Decision) -> Decision:
        """Take the room's shared claim: a job of another worker starting in the room wins over this one."""
        try:
            holder = self._room_claims.claim(room, job_id)
            if now - self._pruned_at > PRUNE_EVERY_S:
                self._pruned_at = now
                self._room_claims.prune(now)
        except OSError as exc:  # the claim folder is gone or full: the participant check still stands
            log.warning("cannot claim the room across workers", extra={"error": repr(exc)})
            return decision
        if holder is None:
            return decision
        return Decision(False, f"job {holder.job_id} of another worker is starting in the room", remove=decision.remove)

    async def _answer(self, req: JobRequest, decision: Decision) -> None:
        room = req.room.name
        if decision.remove:
            await self._remove(room, decision.remove)
        if not decision.accept:
            metrics.REJECTS.labels(reason="capacity" if not decision.terminate else "duplicate").inc()
            log.info("rejecting job", extra={"reason": decision.reason})
            await req.reject(terminate=decision.terminate)
            return
        from services.agent.policy import MetadataError, parse_dispatch_metadata

        try:
            letta_agent_id = parse_dispatch_metadata(req.job.metadata, req.room.metadata)
        except MetadataError:
            letta_agent_id = ""  # the job joins and says it cannot find the assistant
        prefix = self._settings.agent.identity_prefix
        log.info("accepting job", extra={"reason": decision.reason, "letta_agent_id": letta_agent_id})
        try:
            await req.accept(
                name="Letta assistant",
                identity=agent_identity(prefix, room),
                attributes={
                    LETTA_AGENT_ATTRIBUTE: letta_agent_id,
                    HEARTBEAT_ATTRIBUTE: f"{time.time():.2f}",
                    WORKER_ATTRIBUTE: program_name(self._settings.agent.instance),
                },
            )
        except Exception:
            self._claims.pop(room, None)
            with contextlib.suppress(OSError):
                self._room_claims.release(room, req.id)
            raise
