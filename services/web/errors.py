"""Every error leaves the service as JSON {"error": ..., "field": ...}, never with internals."""

from __future__ import annotations

import logging

from flask import Flask, jsonify
from flask.typing import ResponseReturnValue
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)
# (message, field) of the "too large" answers; gunicorn's own are in services/web/gunicorn_errors.py.
TOO_LARGE = {
    413: ("request body too large", "body"),
    414: ("request line too long", "path"),
    431: ("request headers too large", "headers"),
}


class ApiError(Exception):
    """An error the client should see: HTTP status, message, and the request field at fault."""

    def __init__(self, status: int, error: str, field: str | None = None, **extra: object) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.field = field
        self.extra = extra

    def body(self) -> dict[str, object]:
        body: dict[str, object] = {"error": self.error}
        if self.field is not None:
            body["field"] = self.field
        return body | self.extra


def validation_error(exc: ValidationError) -> ApiError:
    """The first pydantic error as a 400 naming the field (dotted path; "body" for the whole body)."""
    first = exc.errors(include_url=False, include_input=False)[0]
    field = ".".join(str(part) for part in first["loc"]) or "body"
    if first["type"] == "extra_forbidden":
        return ApiError(400, f"unknown field '{field}'", field)
    if first["type"] == "missing":
        return ApiError(400, f"'{field}' is required", field)
    if first["type"] == "string_pattern_mismatch":
        return ApiError(400, f"invalid '{field}': contains characters that are not allowed or is blank", field)
    return ApiError(400, f"invalid '{field}': {first['msg']}", field)


def register_error_handlers(app: Flask) -> None:
    """Turn ApiError, HTTP errors and anything unexpected into JSON responses."""

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> ResponseReturnValue:
        response = jsonify(exc.body())
        if "retry_after" in exc.extra:
            response.headers["Retry-After"] = str(exc.extra["retry_after"])
        return response, exc.status

    @app.errorhandler(ValidationError)
    def _validation(exc: ValidationError) -> ResponseReturnValue:
        err = validation_error(exc)
        return jsonify(err.body()), err.status

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> ResponseReturnValue:
        status = exc.code or 500
        message, field = TOO_LARGE.get(status, ((exc.name or "error").lower(), None))
        body: dict[str, object] = {"error": message}
        if field is not None:
            body["field"] = field
        response = jsonify(body)
        if status == 405 and exc.valid_methods:  # type: ignore[attr-defined]
            response.headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
        return response, status

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> ResponseReturnValue:
        log.exception("unhandled error")
        return jsonify({"error": "internal error"}), 500
