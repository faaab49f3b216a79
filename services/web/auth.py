"""Logins: signed session cookies, the login guard on every route, /api/login, /api/logout, /api/me.

Flask's own signed session cookie (itsdangerous) carries the user name and password generation; each
request looks the user up in the store, so a removed account (or one whose password changed) is out at
once. Failed logins are limited per account and per client address in the shared store (all gunicorn
workers count together).
"""

from __future__ import annotations

import datetime as dt
import logging

from flask import Blueprint, Flask, current_app, g, jsonify, request, session
from flask.sessions import SecureCookieSessionInterface
from flask.typing import ResponseReturnValue

from services.shared.ownership import ANONYMOUS_ADMIN, Principal
from services.shared.settings import Settings
from services.web.blueprints.common import json_body, settings
from services.web.errors import ApiError
from services.web.schemas import Login, parse_body
from services.web.store import Store

bp = Blueprint("auth", __name__, url_prefix="/api")
log = logging.getLogger(__name__)

COOKIE_NAME = "lvs_session"
FAILURE_WINDOW_S = 300.0
ADDRESS_FACTOR = 4  # an address may fail for several accounts (a shared NAT), but not without end
# Reachable without a login: health, the login call itself, and the page's static shell (it holds no data).
OPEN_ENDPOINTS = frozenset(
    {"health.healthz", "health.readyz", "auth.login", "auth.me", "meta.index", "status.page", "static"}
)


class _SessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie, marked Secure whenever the page is served over HTTPS (itself or via a proxy)."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or bool(g.get("https", request.is_secure))


def configure_sessions(app: Flask, settings: Settings, secret_key: str) -> None:
    app.secret_key = secret_key
    app.session_interface = _SessionInterface()
    app.config.update(
        SESSION_COOKIE_NAME=COOKIE_NAME,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=False,  # per request: see _SessionInterface
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=settings.web.login_hours),
        SESSION_REFRESH_EACH_REQUEST=False,
    )


def store() -> Store:
    return current_app.extensions["store"]


def current_user() -> Principal:
    """The user of this request (an anonymous admin when logins are off)."""
    return g.get("user", ANONYMOUS_ADMIN)


def client_address() -> str:
    return g.get("client", request.remote_addr or "unknown")


def install_login_guard(app: Flask, settings: Settings) -> None:
    """Every route but OPEN_ENDPOINTS answers 401 without a logged-in user (when logins are on)."""
    required = settings.auth_required
    app.extensions["auth_required"] = required

    @app.before_request
    def _require_login() -> None:
        if not required:
            return
        name = session.get("user")
        user = store().user(name) if isinstance(name, str) else None
        if user is not None and session.get("generation") == user.generation:
            g.user = Principal(user.name, user.admin)
            return
        if name is not None:
            session.clear()  # the account was removed or its password changed
        if request.endpoint in OPEN_ENDPOINTS:
            return
        if request.endpoint == "health.prometheus" and client_address() in ("127.0.0.1", "::1"):
            return  # a scraper on this machine (a proxy's forwarded clients are not loopback)
        raise ApiError(401, "log in first", "login")


@bp.post("/login")
def login() -> ResponseReturnValue:
    """{name, password} → a session cookie; 400 names a malformed field, 401 a wrong one, 429 too many."""
    if not current_app.extensions["auth_required"]:
        raise ApiError(404, "logins are off on this server (WEB_AUTH)", "login")
    body = parse_body(Login, json_body())
    keys = [f"login:user:{body.name}", f"login:addr:{client_address()}"]
    limit = settings().web.login_failures
    wait = max(
        store().blocked(keys[:1], limit, FAILURE_WINDOW_S),
        store().blocked(keys[1:], limit * ADDRESS_FACTOR, FAILURE_WINDOW_S),
    )
    if wait:
        log.warning("login refused: too many failures", extra={"user": body.name, "client": client_address()})
        raise ApiError(429, "too many failed logins; try again later", "password", retry_after=wait)
    user = store().verify(body.name, body.password)
    if user is None:
        store().record(keys)
        log.warning("login failed", extra={"user": body.name, "client": client_address()})
        raise ApiError(401, "wrong name or password", "password")
    store().clear(keys[0])
    session.clear()
    session["user"] = user.name
    session["generation"] = user.generation
    session.permanent = True
    log.info("login", extra={"user": user.name, "client": client_address()})
    return jsonify({"user": user.name, "admin": user.admin})


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    who = current_user().name
    session.clear()
    if who:
        log.info("logout", extra={"user": who})
    return jsonify({"user": None})


@bp.get("/me")
def me() -> ResponseReturnValue:
    """Who is logged in; the page shows the login form on 401."""
    required = current_app.extensions["auth_required"]
    if required and "user" not in g:
        raise ApiError(401, "log in first", "login")
    who = current_user()
    return jsonify({"user": who.name or None, "admin": who.admin, "auth": required})
