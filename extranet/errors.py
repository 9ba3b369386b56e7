"""Error pages: the same calm layout, a plain sentence, and the right status."""

from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError

from hub.portal import NotFound

__all__ = ["register"]

MESSAGES = {
    400: ("Bad request", "The request could not be understood."),
    403: ("Not allowed", "Your account may not open this page."),
    404: ("Not found", "There is nothing here, or it is not yours to see."),
    405: ("Not allowed", "This page does not accept that kind of request."),
    413: ("Too large", "The upload is larger than 2 MB."),
    500: ("Something went wrong", "The error was logged. Please try again in a moment."),
}


def register(app: Flask) -> None:
    def render(code: int, detail: str | None = None) -> ResponseReturnValue:
        title, text = MESSAGES.get(code, ("Error", "Something went wrong."))
        if request.path.startswith(("/api/", "/as2")):
            slug = title.lower().replace(" ", "_")
            return jsonify({"error": {"code": slug, "message": detail or text}}), code
        return render_template("errors/error.html", code=code, title=title, text=detail or text), code

    for code in MESSAGES:
        app.register_error_handler(code, lambda exc, code=code: render(code))

    # Another partner's record looks exactly like a missing one.
    app.register_error_handler(NotFound, lambda exc: render(404))

    @app.errorhandler(CSRFError)
    def _csrf(exc: CSRFError) -> ResponseReturnValue:
        return render(400, "The form had expired or was not sent from this site. Go back, reload the page and try again.")
