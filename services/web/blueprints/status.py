"""The operator's status page (/status, a static shell) and its data (GET /api/status, admins only)."""

from __future__ import annotations

import dataclasses
import time
from concurrent.futures import ThreadPoolExecutor

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue

from services.web.auth import current_user
from services.web.blueprints.common import livekit, settings
from services.web.errors import ApiError
from services.web.livekit_gateway import LiveKitError
from services.web.status.model import model_info
from services.web.status.recovery import recovery_actions
from services.web.status.services import service_health
from services.web.status.sessions import session_rows
from services.web.status.workers import worker_latency

bp = Blueprint("status", __name__)


@bp.get("/status")
def page() -> ResponseReturnValue:
    """The page holds no data: it asks /api/status, which answers 401/403 to anyone but an admin."""
    return current_app.send_static_file("status.html")


@bp.get("/api/status")
def status() -> ResponseReturnValue:
    """Services, live sessions, per-stage turn latency, recovery actions of the last hour, the model."""
    if not current_user().admin:
        raise ApiError(403, "the status page is for admins", "user")
    cfg = settings()
    gateway = livekit()

    def sessions() -> dict[str, object]:
        try:
            return {"ok": True, "rows": session_rows(gateway.sessions(), cfg.agent.identity_prefix)}
        except LiveKitError:
            return {"ok": False, "error": "LiveKit is not available", "rows": []}

    with ThreadPoolExecutor(max_workers=4) as pool:
        services_f = pool.submit(service_health, cfg)
        sessions_f = pool.submit(sessions)
        workers_f = pool.submit(worker_latency, cfg)
        recovery_f = pool.submit(recovery_actions, cfg)
        body = {
            "generated_at": time.time(),
            "services": [dataclasses.asdict(s) for s in services_f.result()],
            "sessions": sessions_f.result(),
            "workers": [dataclasses.asdict(w) for w in workers_f.result()],
            "recovery": dataclasses.asdict(recovery_f.result()),
            "model": model_info(cfg),
        }
    return jsonify(body)
