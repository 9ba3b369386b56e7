"""Ids in URLs and query strings, bounded to what the database can hold.

Row ids are 32-bit integers (``INTEGER`` primary keys on PostgreSQL); a
larger number in a URL names no row, but handed to the database it is an
error (SQLite's driver raises OverflowError, PostgreSQL a numeric range
error), which would be a server error instead of "not found". So:

- the portal's routes take ids with ``<id:...>`` (:class:`IdConverter`,
  registered on a blueprint by :func:`use_id_converter`): 1 .. MAX_ID, else
  the route does not match and the answer is 404;
- every other ``<int:...>`` of the application (the ops console's) is the
  bounded :class:`BoundedInt`, installed by ``create_app``;
- :func:`id_arg` and :func:`page_arg` read ids and page numbers from a query
  string or form, ignoring anything that is not one.
"""

from __future__ import annotations

from collections.abc import Mapping

from flask import Blueprint
from werkzeug.routing import IntegerConverter

from hub.models import MAX_ID

__all__ = ["MAX_ID", "MAX_PAGE", "BoundedInt", "IdConverter", "use_id_converter", "parse_id", "id_arg", "page_arg"]

#: the largest page number a listing is asked for
MAX_PAGE = 1_000_000


class BoundedInt(IntegerConverter):
    """``<int:...>`` that matches only numbers up to :data:`MAX_ID` (unless a route sets its own max)."""

    def __init__(self, map, fixed_digits=0, min=None, max=None, signed=False):  # noqa: A002 - werkzeug's names
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=MAX_ID if max is None else max, signed=signed)


class IdConverter(IntegerConverter):
    """``<id:...>``: a row id, 1 .. MAX_ID, ASCII digits only."""

    def __init__(self, map):  # noqa: A002 - werkzeug's name
        super().__init__(map, min=1, max=MAX_ID)


def use_id_converter(bp: Blueprint) -> None:
    """Make ``<id:...>`` known to the application before ``bp``'s routes are added (call it before any route)."""
    bp.record_once(lambda state: state.app.url_map.converters.setdefault("id", IdConverter))


def parse_id(value: str | None) -> int | None:
    """``value`` as a row id: ASCII digits, 1 .. MAX_ID; None for anything else."""
    if value is None:
        return None
    value = value.strip()
    if not value.isascii() or not value.isdigit() or len(value) > 10:
        return None
    number = int(value)
    return number if 0 < number <= MAX_ID else None


def id_arg(args: Mapping[str, str], name: str) -> int | None:
    """The id in ``args[name]`` (a query string or form), or None when absent or not an id."""
    return parse_id(args.get(name))


def page_arg(args: Mapping[str, str], name: str = "page") -> int:
    """The page number in ``args[name]``: 1 .. MAX_PAGE, 1 for anything else."""
    value = (args.get(name) or "").strip()
    if not value.isascii() or not value.isdigit() or len(value) > 7:
        return 1
    number = int(value)
    return number if 1 <= number <= MAX_PAGE else 1
