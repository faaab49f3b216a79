"""The long-running sidecar: sweep loop, worker watch and HTTP (/healthz, /metrics, /webhooks/livekit)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections import Counter
from typing import Any

from aiohttp import web
from livekit import api
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.recovery import metrics
from services.recovery.actions import actions_handler
from services.recovery.lease import lease_for
from services.recovery.replay import ReplayGuard
from services.recovery.sweep_queue import HEARTBEAT, SweepQueue, run_targeted
from services.recovery.sweeper import Sweeper
from services.recovery.webhook import trigger_for
from services.shared.livekit import api_url, livekit_api
from services.shared.logging import configure_logging
from services.shared.settings import Settings

log = logging.getLogger("lvs.recovery")
SWEEPER = web.AppKey("sweeper", Sweeper)
RECEIVER = web.AppKey("receiver", api.WebhookReceiver)
REPLAYS = web.AppKey("replays", ReplayGuard)
TARGETED = web.AppKey("targeted", SweepQueue)  # webhooks' sweeps, coalesced (services/recovery/sweep_queue.py)
WORKER_POLL = 0.5  # seconds between worker health checks
SETTLE = 0.25  # extra seconds before the delayed targeted sweep


def health_body(sweeper: Sweeper) -> dict[str, Any]:
    """The /healthz body: state and counts only, never a room name or an identity (it is unauthenticated;
    `python -m services.recovery rooms` shows the details to the operator)."""
    recent = list(sweeper.recent)
    return {
        "status": "ok" if sweeper.last_error is None else "degraded",
        "service": "recovery",
        "last_sweep_at": sweeper.last_sweep_at,
        "last_error": sweeper.last_error.split(":", 1)[0] if sweeper.last_error else None,  # the type only
        "worker_ready": sweeper.worker_ready,
        "role": sweeper.lease.role,  # active, or standby while another sidecar of the cluster holds the lease
        "rooms_tracked": len(sweeper.memory),
        "recent_actions": len(recent),
        "recent_actions_by_rule": dict(Counter(action.rule.value for _, action, _ in recent)),
        "recent_outcomes": dict(Counter(outcome.value for _, _, outcome in recent)),
    }


async def healthz(request: web.Request) -> web.Response:
    return web.json_response(health_body(request.app[SWEEPER]))


async def metrics_view(_: web.Request) -> web.Response:
    return web.Response(body=generate_latest(metrics.REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def livekit_webhook(request: web.Request) -> web.Response:
    """Verify a LiveKit webhook and sweep its room now (and again once the orphan wait has passed)."""
    auth = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not auth:
        metrics.WEBHOOKS.labels("unknown", "unauthorized").inc()
        return web.json_response({"error": "missing Authorization header", "field": "Authorization"}, status=401)
    body = await request.text()
    try:
        event = request.app[RECEIVER].receive(body, auth)
    except Exception as error:
        metrics.WEBHOOKS.labels("unknown", "unauthorized").inc()
        log.warning("webhook rejected", extra={"error": type(error).__name__})
        return web.json_response({"error": "invalid webhook signature or body", "field": "Authorization"}, status=401)
    if request.app[REPLAYS].seen_before(event.id):
        metrics.WEBHOOKS.labels(event.event or "unknown", "duplicate").inc()
        log.info("webhook replay ignored", extra={"webhook_event": event.event})
        return web.json_response({"ok": True, "event": event.event, "sweep": None, "duplicate": True})
    sweeper = request.app[SWEEPER]
    trigger = trigger_for(event, sweeper.settings)
    metrics.WEBHOOKS.labels(event.event or "unknown", "sweep" if trigger else "ignored").inc()
    if trigger:
        queue = request.app[TARGETED]
        queue.ask(trigger.room, trigger.reason)
        queue.ask(trigger.room, trigger.reason, delay=sweeper.settings.recovery.orphan_after + SETTLE)
    return web.json_response({"ok": True, "event": event.event, "sweep": trigger.room if trigger else None})


def create_app(settings: Settings, sweeper: Sweeper) -> web.Application:
    """The HTTP app (no loop tasks: `serve` starts those)."""
    app = web.Application(client_max_size=1024 * 1024)
    secret = settings.livekit.api_secret.get_secret_value()
    app[SWEEPER] = sweeper
    app[RECEIVER] = api.WebhookReceiver(api.TokenVerifier(settings.livekit.api_key, secret))
    app[TARGETED] = SweepQueue()
    app[REPLAYS] = ReplayGuard()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_view)
    app.router.add_get("/actions", actions_handler(sweeper, api.TokenVerifier(settings.livekit.api_key, secret)))
    app.router.add_post("/webhooks/livekit", livekit_webhook)
    return app


async def watch_worker(sweeper: Sweeper, stop: asyncio.Event, wake: asyncio.Event) -> None:
    """Poll the worker's health; when it comes back, wake the loop so orphaned rooms heal at once."""
    was_ready = True
    while not stop.is_set():
        ready = await sweeper.check_worker()
        if ready != was_ready:
            log.info("agent worker %s", "ready" if ready else "not ready", extra={"worker_ready": ready})
            if ready:
                wake.set()
        was_ready = ready
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), WORKER_POLL)


async def watch_heartbeats(sweeper: Sweeper, queue: SweepQueue, stop: asyncio.Event) -> None:
    """Every heartbeat interval, ask the targeted queue to sweep the rooms that have our agent: a dead agent (its
    worker was killed) is found within AGENT_DEAD_AFTER + one interval and replaced at once, not at the next full
    sweep. These asks share the webhooks' sweeps (one ListRooms for all the rooms due at a moment)."""
    interval = sweeper.settings.agent.heartbeat_interval
    while not stop.is_set():
        for room in sweeper.rooms_with_agents():
            queue.ask(room, HEARTBEAT)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)


async def serve(settings: Settings) -> None:
    """Run until SIGTERM/SIGINT."""
    configure_logging("recovery")
    logging.captureWarnings(True)  # e.g. PyJWT's short-secret warning, as JSON like every other line
    rs = settings.recovery
    # In a native cluster: the first node that answers (the sweeper moves on if it stops answering).
    first = api_url(settings)
    async with livekit_api(settings, first) as lkapi:
        sweeper = Sweeper(settings, lkapi, lease=lease_for(settings), api_at=first)
        app = create_app(settings, sweeper)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, rs.bind, rs.port).start()
        except OSError as error:
            await runner.cleanup()
            raise SystemExit(
                f"error: cannot listen on {rs.bind}:{rs.port} (RECOVERY_BIND, RECOVERY_PORT): {error}"
            ) from None
        log.info("recovery listening", extra={"bind": rs.bind, "port": rs.port, "interval": rs.sweep_interval})
        stop, wake = asyncio.Event(), asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        tasks = [
            asyncio.create_task(sweeper.run_forever(stop, wake)),
            asyncio.create_task(watch_worker(sweeper, stop, wake)),
            asyncio.create_task(watch_heartbeats(sweeper, app[TARGETED], stop)),
            asyncio.create_task(run_targeted(app[TARGETED], sweeper.sweep, stop)),
        ]
        await stop.wait()
        log.info("recovery stopping")
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await sweeper.lease.release()  # a standby sidecar takes over at its next sweep, not after the TTL
        await sweeper.close()
        await runner.cleanup()
