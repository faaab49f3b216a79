"""Security headers, the Host allowlist (DNS rebinding), same-origin CORS, and a guard against cross-site writes."""

from __future__ import annotations

from urllib.parse import urlparse

from flask import Flask, Response, request

from services.shared.settings import Settings
from services.web.errors import ApiError
from services.web.hosts import allowed_names, host_allowed, origin_allowed

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def livekit_sources(browser_url: str) -> list[str]:
    """The LiveKit origin in both forms the client uses: WebSocket for signalling, HTTP for validation."""
    parsed = urlparse(browser_url)
    secure = parsed.scheme in ("wss", "https")
    host = parsed.netloc
    return [f"{'wss' if secure else 'ws'}://{host}", f"{'https' if secure else 'http'}://{host}"]


def content_security_policy(settings: Settings) -> str:
    """Only this origin, plus the LiveKit server for connections."""
    sources = [src for url in settings.livekit.browser_urls for src in livekit_sources(url)]
    connect = " ".join(["'self'", *sources])
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "media-src 'self' blob: mediastream:",
            "worker-src 'self' blob:",
            f"connect-src {connect}",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def same_origin(origin: str, host: str) -> bool:
    """True when an Origin header names the host the request was sent to."""
    parsed = urlparse(origin)
    return bool(parsed.netloc) and parsed.netloc.lower() == host.lower()


def install_security(app: Flask, settings: Settings) -> None:
    """Register the before/after request hooks."""
    csp = content_security_policy(settings)
    allowed = {o.rstrip("/") for o in settings.web.cors_origins}
    names = allowed_names(settings)

    @app.before_request
    def _guard_cross_site() -> Response | None:
        if not host_allowed(request.host, names):
            raise ApiError(421, "unknown Host: add it to WEB_ALLOWED_HOSTS", "Host")
        origin = request.headers.get("Origin")
        if request.method == "OPTIONS" and origin and origin in allowed:
            response = app.make_default_options_response()
            return response
        if request.method in UNSAFE_METHODS:
            foreign = bool(origin) and not (same_origin(origin, request.host) and origin_allowed(origin, names))
            if foreign and origin not in allowed:
                raise ApiError(403, "cross-origin request not allowed", "Origin")
            if request.content_length and not request.is_json:
                raise ApiError(415, "send JSON (Content-Type: application/json)", "Content-Type")
        return None

    @app.after_request
    def _headers(response: Response) -> Response:
        h = response.headers
        h["Content-Security-Policy"] = csp
        h["X-Content-Type-Options"] = "nosniff"
        h["X-Frame-Options"] = "DENY"
        h["Referrer-Policy"] = "no-referrer"
        h["Cross-Origin-Opener-Policy"] = "same-origin"
        h["Permissions-Policy"] = "microphone=(self), camera=(), geolocation=()"
        if request.path.startswith("/api/"):
            h["Cache-Control"] = "no-store"
        origin = request.headers.get("Origin")
        if origin and origin in allowed:
            h["Access-Control-Allow-Origin"] = origin
            h["Access-Control-Allow-Methods"] = "GET, POST, DELETE, OPTIONS"
            h["Access-Control-Allow-Headers"] = "Content-Type"
            h["Access-Control-Max-Age"] = "600"
            h.add("Vary", "Origin")
        return response
