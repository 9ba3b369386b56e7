"""Error pages: the same calm layout, a plain sentence, and the right status.

Under ``/api/`` and ``/as2`` errors are JSON, ``{"error": {"code", "message"}}``,
with a code that names the HTTP status and never changes
(:data:`STATUS_CODES`: ``forbidden`` for 403, ``method_not_allowed`` for 405,
``internal_error`` for 500, ...; an unlisted status is ``http_<status>``). The
partner API's own codes (``invalid_request``, ``order_rejected``, ...) are
listed in :data:`extranet.api.API_ERROR_CODES`; both sets are documented in
``/api/v1/openapi.json``.
"""

from __future__ import annotations

from types import MappingProxyType

from flask import Flask, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from hub.portal import NotFound

__all__ = ["register", "MESSAGES", "STATUS_CODES", "CSRF_CODE", "code_for"]

MESSAGES = {
    400: ("Bad request", "The request could not be understood."),
    401: ("Sign-in needed", "Sign in to open this page."),
    403: ("Not allowed", "Your account may not open this page."),
    404: ("Not found", "There is nothing here, or it is not yours to see."),
    405: ("Not allowed", "This page does not accept that kind of request."),
    413: ("Too large", "The upload is larger than 2 MB."),
    415: ("Unsupported format", "The request's content type is not accepted here."),
    429: ("Too many requests", "Too many requests in a short time. Wait a moment and try again."),
    500: ("Something went wrong", "The error was logged. Please try again in a moment."),
}

# one stable code per HTTP status, for programs reading JSON errors
STATUS_CODES = MappingProxyType({
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    410: "gone",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "unprocessable_entity",
    429: "too_many_requests",
    500: "internal_error",
    501: "not_implemented",
    503: "service_unavailable",
})
CSRF_CODE = "csrf_failed"  # a form without a valid CSRF token (400)


def code_for(status: int) -> str:
    """The stable JSON error code of an HTTP status."""
    return STATUS_CODES.get(status, f"http_{status}")


def register(app: Flask) -> None:
    def render(status: int, detail: str | None = None, code: str | None = None) -> ResponseReturnValue:
        title, text = MESSAGES.get(status, ("Error", "Something went wrong."))
        if request.path.startswith(("/api/", "/as2")):
            return jsonify({"error": {"code": code or code_for(status), "message": detail or text}}), status
        return render_template("errors/error.html", code=status, title=title, text=detail or text), status

    for status in MESSAGES:
        app.register_error_handler(status, lambda exc, status=status: render(status))

    @app.errorhandler(HTTPException)
    def _other(exc: HTTPException) -> ResponseReturnValue:
        """Any other HTTP error (or a response given to abort): its own status and code."""
        if exc.response is not None:
            return exc.response
        status = exc.code or 500
        return render(status, MESSAGES.get(status, (None, exc.description))[1])

    # Another partner's record looks exactly like a missing one.
    app.register_error_handler(NotFound, lambda exc: render(404))

    @app.errorhandler(CSRFError)
    def _csrf(exc: CSRFError) -> ResponseReturnValue:
        return render(400, "The form had expired or was not sent from this site. Go back, reload the page and try "
                      "again.", code=CSRF_CODE)
