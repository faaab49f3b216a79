"""Flask app factory of the web service (run under gunicorn, see gunicorn_conf.py)."""

from __future__ import annotations

import logging
import time

from flask import Flask, Response, g, request

from services.shared.logging import configure_logging
from services.shared.settings import Settings, get_settings
from services.web import auth, metrics
from services.web.blueprints import agents, health, meta, sessions, status
from services.web.clients import client_address, parse_networks
from services.web.errors import register_error_handlers
from services.web.letta_gateway import LettaGateway
from services.web.livekit_gateway import LiveKitGateway
from services.web.secret_key import secret_key
from services.web.security import install_security
from services.web.store import Store

MAX_BODY_BYTES = 16 * 1024
access_log = logging.getLogger("services.web.access")


def create_app(
    settings: Settings | None = None,
    livekit: LiveKitGateway | None = None,
    letta: LettaGateway | None = None,
    configure_logs: bool = True,
    store: Store | None = None,
) -> Flask:
    """The web app. Tests pass their own settings, gateways and store; gunicorn calls it with none."""
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
    app.extensions["store"] = store or Store.for_settings(settings)
    auth.configure_sessions(app, settings, secret_key(settings))

    _install_request_log(app)  # first: its timer and client address are there for every later hook
    _install_client_address(app, settings)
    install_security(app, settings)
    auth.install_login_guard(app, settings)
    for bp in (health.bp, meta.bp, auth.bp, agents.bp, sessions.bp, status.bp):
        app.register_blueprint(bp)
    register_error_handlers(app)
    return app


def _install_client_address(app: Flask, settings: Settings) -> None:
    """The client's address and scheme, from X-Forwarded-* only when the peer is a configured proxy."""
    proxies = parse_networks(settings.web.trusted_proxies)

    @app.before_request
    def _client() -> None:
        g.client = client_address(request.remote_addr, request.headers.get("X-Forwarded-For"), proxies)
        via_proxy = g.client != (request.remote_addr or "unknown")
        proto = request.headers.get("X-Forwarded-Proto", "").strip().lower()
        g.https = request.is_secure or (via_proxy and proto == "https")


def _install_request_log(app: Flask) -> None:
    """One JSON log line and one metric sample per request (path without query: no tokens in logs)."""

    @app.before_request
    def _start() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def _done(response: Response) -> Response:
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        route = metrics.route_label(request.url_rule.rule if request.url_rule else None)
        method, status = metrics.method_label(request.method), metrics.status_label(response.status_code)
        metrics.REQUESTS.labels(route, method, status).inc()
        metrics.LATENCY.labels(route).observe(elapsed)
        if route not in ("/healthz", "/metrics"):
            access_log.info(
                "request",
                extra={
                    "method": method,
                    "path": request.path[:200],
                    "status": response.status_code,
                    "ms": round(elapsed * 1000, 1),
                    "client": g.get("client", request.remote_addr),
                    **({"user": g.user.name} if "user" in g else {}),
                    **(
                        {"room": request.view_args["room"]} if request.view_args and "room" in request.view_args else {}
                    ),
                },
            )
        return response
