"""Template filters: money, quantities, times and state descriptions as the extranet shows them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from flask import Flask, request, url_for

from hub.states import DESCRIPTIONS, PROBLEM

__all__ = ["register_filters"]


def money(value: Decimal | None, currency: str = "") -> str:
    if value is None:
        return "–"
    text = f"{Decimal(value):,.2f}"
    return f"{text} {currency}".strip()


def quantity(value: Decimal | None) -> str:
    if value is None:
        return "–"
    return format(Decimal(value).normalize(), "f")


def when(value: dt.datetime | dt.date | None) -> str:
    if value is None:
        return "–"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return value.isoformat()


def state_class(state: str) -> str:
    if state in PROBLEM:
        return "state state-problem"
    if state in ("processed", "acknowledged", "delivered", "confirmed", "invoiced", "shipped"):
        return "state state-good"
    return "state"


def register_filters(app: Flask) -> None:
    app.add_template_filter(money)
    app.add_template_filter(quantity)
    app.add_template_filter(when)
    app.add_template_filter(state_class)
    app.jinja_env.globals["STATE_DESCRIPTIONS"] = DESCRIPTIONS

    @app.template_global()
    def url_with(**changes: Any) -> str:
        """The current URL with some query arguments changed (None removes one)."""
        args = request.args.to_dict()
        for key, value in changes.items():
            if value is None or value == "":
                args.pop(key, None)
            else:
                args[key] = value
        return url_for(request.endpoint, **(request.view_args or {}), **args)  # type: ignore[arg-type]
