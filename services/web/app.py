"""Flask app factory of the web service (run under gunicorn, see gunicorn_conf.py)."""

from __future__ import annotations

import logging
import time

from flask import Flask, Response, g, request
from werkzeug.middleware.proxy_fix import ProxyFix

from services.shared.logging import configure_logging
from services.shared.settings import Settings, get_settings
from services.web import metrics
from services.web.blueprints import agents, health, meta, sessions
from services.web.errors import register_error_handlers
from services.web.letta_gateway import LettaGateway
from services.web.livekit_gateway import LiveKitGateway
from services.web.policy import RateLimiter
from services.web.security import install_security

MAX_BODY_BYTES = 16 * 1024
access_log = logging.getLogger("services.web.access")


def create_app(
    settings: Settings | None = None,
    livekit: LiveKitGateway | None = None,
    letta: LettaGateway | None = None,
    configure_logs: bool = True,
) -> Flask:
    """The web app. Tests pass their own settings and gateways; gunicorn calls it with none."""
    settings = settings or get_settings()
    if configure_logs:
        configure_logging("web")
        logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per upstream call is noise
    app = Flask(__name__, static_folder="static", static_url_path="/static")
    app.config.update(MAX_CONTENT_LENGTH=MAX_BODY_BYTES, JSON_SORT_KEYS=False)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["lvs_settings"] = settings
    app.extensions["livekit"] = livekit or LiveKitGateway(settings)
    app.extensions["letta"] = letta or LettaGateway(settings)
    app.extensions["rate_limiter"] = RateLimiter(settings.web.sessions_per_minute)
    if settings.web.trusted_proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.web.trusted_proxies)  # type: ignore[method-assign]

    for bp in (health.bp, meta.bp, agents.bp, sessions.bp):
        app.register_blueprint(bp)
    register_error_handlers(app)
    install_security(app, settings)
    _install_request_log(app)
    return app


def _install_request_log(app: Flask) -> None:
    """One JSON log line and one metric sample per request (path without query: no tokens in logs)."""

    @app.before_request
    def _start() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def _done(response: Response) -> Response:
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        route = request.url_rule.rule if request.url_rule else "unmatched"
        metrics.REQUESTS.labels(route, request.method, str(response.status_code)).inc()
        metrics.LATENCY.labels(route).observe(elapsed)
        if route not in ("/healthz", "/metrics"):
            access_log.info(
                "request",
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "ms": round(elapsed * 1000, 1),
                    "client": request.remote_addr,
                    **(
                        {"room": request.view_args["room"]} if request.view_args and "room" in request.view_args else {}
                    ),
                },
            )
        return response
