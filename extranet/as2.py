"""The AS2 HTTP endpoint: ``POST /as2`` (blueprint ``bp``).

The view is thin: :func:`adapters.as2.parse_message` does the protocol, and
the hub object at ``current_app.extensions["kontor_as2"]`` does everything
that touches the database. That object implements :class:`As2Hub`:

``lookup(as2_from, as2_to) -> As2Partner | None``
    The partner profile (with our ``local`` settings) for this AS2-From /
    AS2-To pair, or None when we have no such relationship.
``store(partner_as2_id, filename, payload, receipt: dict) -> None``
    Store the received payload as a new inbound message and COMMIT. Raise on
    any failure. ``receipt`` holds ``message_id``, ``as2_from``, ``as2_to``,
    ``filename``, ``content_type``, ``mic`` ("base64, sha-256"), ``signed``,
    ``encrypted`` (algorithm or None), ``compressed``, ``mdn`` (sync, async,
    none), ``mdn_url``, ``mdn_signed``, and ``mdn_headers`` / ``mdn_body``
    (the MDN about to be sent; storing it in the same transaction makes a
    later duplicate answerable even if ``remember_mdn`` never ran). The
    Message-ID should be unique per partner: if ``store`` raises because it is
    already stored, the view answers with the MDN ``seen()`` returns.
``seen(message_id, as2_from) -> (headers: dict, body: bytes) | None``
    The MDN we sent for a message already stored under this Message-ID
    from this AS2-From partner (not another partner's: Message-IDs are
    unique per partner).
``remember_mdn(message_id, headers, body) -> None``
    Keep the MDN sent for a stored message (may be a no-op when ``store``
    kept ``mdn_headers``/``mdn_body``).
``send_async_mdn(url, headers, body) -> None``
    Queue an async MDN for delivery (e.g. with :func:`adapters.as2.send`
    and retries); must not block the request for long. Called only for a
    known partner and an http(s) URL allowed by the partner's ``mdn_hosts``
    (:func:`adapters.as2.async_mdn_refusal`); any other request for an
    asynchronous MDN (anyone can post here) is answered synchronously.
``refuse(request_headers: list[(name, value)], body: Region, error: As2Error, mdn_headers, mdn_body) -> None``  (optional)
    A message was refused (bad signature, cannot decrypt, expired
    certificate, unknown partner, ...): keep the request, the error and the
    error MDN about to be answered where operations see them, and COMMIT.
    ``body`` is the spooled request body (:class:`adapters.as2_spool.Region`:
    ``len(body)``, ``body.head(n)``, ``body.read()``), valid during the call.
    It must not make the Message-ID known to ``seen()``: a corrected resend
    under the same Message-ID is processed. A failure here is logged and the
    MDN is answered anyway.
``receive_mdn(headers, body) -> None``  (optional)
    An async MDN for one of OUR messages arrived at this endpoint
    (:func:`adapters.as2.is_mdn`). Find the outbound message by
    :func:`adapters.as2.peek_mdn` (its Original-Message-ID), then check it with
    :func:`adapters.as2.parse_mdn` (partner, our Message-ID and MIC), record
    the result and commit; raise LookupError when no such message exists. The
    view answers 200, 404 for LookupError, 400 for
    :class:`adapters.as2.MdnError`, and 501 when the hub has no ``receive_mdn``.

Order of events: a duplicate Message-ID gets its original MDN again and is
not stored twice. Otherwise parse; a refused message (bad signature, cannot
decrypt, unknown partner, ...) gets an error MDN and nothing is received nor
remembered (the hub's ``refuse`` keeps it for operations only), so a
corrected resend with the same Message-ID is processed. An
accepted message is stored (committed) and only AFTER ``store()`` returns is
the MDN answered (sync) or queued (async). If ``store()`` fails the answer is
HTTP 503 without an MDN, so the partner retries the same message.

The application must exempt this blueprint from CSRF protection
(``csrf.exempt(bp)``). Request bodies may be larger than the app's
``MAX_CONTENT_LENGTH``: this blueprint allows ``KONTOR_AS2_MAX_BYTES``
(default 512 MiB) per request (413 beyond). Bodies are read from the request
stream into a spooled temporary file: in memory up to 8 MiB, beyond that on
disk in ``KONTOR_AS2_SPOOL_DIR``, else the hub's ``spool_dir`` attribute when
it has one, else the system's temporary directory; spools are removed when
the request ends.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, Protocol

from flask import Blueprint, Response, current_app, request

from adapters.as2 import As2Error, As2Partner, MdnError, async_mdn_refusal, build_mdn, is_mdn, parse_message
from adapters.as2_mime import Headers, content_type, split_entity
from adapters.as2_spool import BodyTooLarge, Region, Spool

__all__ = ["bp", "As2Hub"]

log = logging.getLogger(__name__)

bp = Blueprint("as2", __name__)


class As2Hub(Protocol):
    """What ``current_app.extensions["kontor_as2"]`` provides (see the module docstring)."""

    def lookup(self, as2_from: str, as2_to: str) -> As2Partner | None: ...

    def store(self, partner_as2_id: str, filename: str | None, payload: bytes, receipt: dict[str, Any]) -> None: ...

    def seen(self, message_id: str, as2_from: str) -> tuple[dict[str, str], bytes] | None: ...

    def remember_mdn(self, message_id: str, headers: dict[str, str], body: bytes) -> None: ...

    def send_async_mdn(self, url: str, headers: dict[str, str], body: bytes) -> None: ...


def _hub() -> As2Hub:
    hub: As2Hub = current_app.extensions["kontor_as2"]
    return hub


@bp.before_request
def _allow_large_messages() -> None:
    """AS2 bodies may exceed the app's form-sized MAX_CONTENT_LENGTH (per-request limits need Flask >= 3.1)."""
    try:
        request.max_content_length = current_app.config.get("KONTOR_AS2_MAX_BYTES", 512 * 1024 * 1024)
    except AttributeError:  # Flask 3.0: the app-wide limit applies
        pass


def _answer(mode: str, url: str | None, headers: dict[str, str], body: bytes) -> Response:
    """The HTTP answer: the MDN itself (sync), empty after queueing it (async), or empty (none).
    Call :func:`_mdn_mode` first: an async URL that is not allowed is answered synchronously."""
    if mode == "sync":
        return Response(body, status=200, headers=headers)
    if mode == "async" and url:
        _hub().send_async_mdn(url, headers, body)
    return Response(b"", status=200, mimetype="text/plain")


def _mdn_mode(mode: str, url: str | None, partner: As2Partner | None, message_id: str | None) -> tuple[str, str | None]:
    """``mode, url`` as requested, except that an asynchronous MDN we must not post
    (:func:`adapters.as2.async_mdn_refusal`: an unknown sender, a URL that is not
    http(s) or not one of the partner's ``mdn_hosts``) is answered synchronously."""
    if mode != "async" or not url:
        return mode, url
    problem = async_mdn_refusal(url, partner)
    if problem is None:
        return mode, url
    log.warning("AS2 %s: no asynchronous MDN posted (%s); the MDN is answered synchronously",
                message_id or "(no Message-ID)", problem)
    return "sync", None


def _partner(hub: As2Hub, as2_from: str, headers: Headers) -> As2Partner | None:
    """The known partner behind a request's AS2-From/AS2-To, or None (also when its profile is broken)."""
    as2_to = (headers.get("AS2-To") or "").strip().strip('"')
    try:
        return hub.lookup(as2_from, as2_to)
    except ValueError:
        return None


def _mode(headers: Headers) -> tuple[str, str | None]:
    if headers.get("Disposition-Notification-To") is None:
        return "none", None
    url = headers.get("Receipt-Delivery-Option") or None
    return ("async" if url else "sync"), url


def _spool_dir(hub: As2Hub) -> str | None:
    """Where large bodies are spooled: the app's ``KONTOR_AS2_SPOOL_DIR``, else the hub's
    ``spool_dir`` (the var directory), else the system's temporary directory."""
    configured = current_app.config.get("KONTOR_AS2_SPOOL_DIR") or getattr(hub, "spool_dir", None)
    return str(configured) if configured else None


def _looks_like_mdn(headers: Headers, spool: Spool) -> bool:
    """:func:`adapters.as2.is_mdn` without reading a large body: an MDN's first part starts
    within the first :data:`_MDN_PEEK` bytes, and a whole MDN is never larger than that."""
    if spool.size <= _MDN_PEEK:
        return is_mdn(headers, spool.region().read())
    ctype, params = content_type(headers)
    if ctype == "multipart/report":
        return True
    boundary = params.get("boundary")
    if ctype != "multipart/signed" or not boundary:
        return False
    head = spool.region().head(_MDN_PEEK)
    delim = b"--" + boundary.encode("latin-1")
    start = 0 if head.startswith(delim) else head.find(b"\n" + delim) + 1
    if start == 0 and not head.startswith(delim):
        return False
    line_end = head.find(b"\n", start)
    if line_end < 0:
        return False
    try:
        return content_type(split_entity(head[line_end + 1 :])[0])[0] == "multipart/report"
    except ValueError:
        return False


#: bodies up to this size are checked whole for being an MDN
_MDN_PEEK = 256 * 1024


@bp.post("/as2")
def receive() -> Response:
    """Receive one AS2 message and answer with (or queue) its MDN.

    The body is copied from the request stream into a spooled temporary file (in memory up
    to 8 MiB, then on disk under the spool directory), so a large message is never held
    whole in memory: only the payload handed to ``store()`` is (see :func:`adapters.as2.parse_message`).
    """
    hub = _hub()
    headers = Headers(list(request.headers.items()))
    limit = current_app.config.get("KONTOR_AS2_MAX_BYTES", 512 * 1024 * 1024)
    try:
        spool = Spool.from_stream(request.stream, _spool_dir(hub), limit=limit, size_hint=request.content_length)
    except BodyTooLarge:
        return Response(f"the message exceeds {limit} bytes\r\n".encode(), status=413, mimetype="text/plain")
    with spool:
        return _receive(hub, headers, spool)


def _receive(hub: As2Hub, headers: Headers, spool: Spool) -> Response:
    if _looks_like_mdn(headers, spool):
        return _receive_mdn(hub, headers, spool.region().read())
    message_id = (headers.get("Message-ID") or "").strip()
    as2_from = (headers.get("AS2-From") or "").strip().strip('"')
    mode, url = _mode(headers)
    if message_id:
        previous = hub.seen(message_id, as2_from)
        if previous is not None:
            log.info("AS2 %s is a duplicate: answering its original MDN", message_id)
            mode, url = _mdn_mode(mode, url, _partner(hub, as2_from, headers), message_id)
            return _answer(mode, url, previous[0], previous[1])
    try:
        inbound = parse_message(headers, spool, hub.lookup, spool_dir=_spool_dir(hub))
    except As2Error as err:
        mdn_headers, mdn_body = build_mdn(err)
        err_mode, err_url = _mdn_mode(err.mdn_request.mode, err.mdn_request.url, err.partner, err.message_id)
        if err_mode != err.mdn_request.mode:  # recorded as answered, not queued
            err.mdn_request = dataclasses.replace(err.mdn_request, url=None)
        _record_refusal(hub, headers, spool.region(), err, mdn_headers, mdn_body)
        return _answer(err_mode, err_url, mdn_headers, mdn_body)
    mdn_headers, mdn_body = build_mdn(inbound)
    receipt = inbound.receipt()
    receipt.update(mdn_headers=mdn_headers, mdn_body=mdn_body)
    try:
        hub.store(inbound.partner.as2_id, inbound.filename, inbound.payload, receipt)
    except Exception:  # the boundary: any storage failure means "not received", the partner must resend
        previous = hub.seen(message_id, inbound.as2_from)
        if previous is not None:  # a concurrent copy of the same message won the race
            return _answer(*_mdn_mode(mode, url, inbound.partner, message_id), previous[0], previous[1])
        log.exception("AS2 %s from %s could not be stored", message_id, inbound.as2_from)
        return Response(b"message not stored, please resend\r\n", status=503, mimetype="text/plain", headers={"Retry-After": "60"})
    hub.remember_mdn(message_id, mdn_headers, mdn_body)
    mode, url = _mdn_mode(inbound.mdn_request.mode, inbound.mdn_request.url, inbound.partner, message_id)
    return _answer(mode, url, mdn_headers, mdn_body)


def _record_refusal(hub: As2Hub, headers: Headers, body: Region, err: As2Error,
                    mdn_headers: dict[str, str], mdn_body: bytes) -> None:
    """Let the hub keep the refused request for operations; its failure never withholds the MDN.
    ``body`` is the spooled request body (``len()``, ``head(n)``, ``read()``)."""
    refuse = getattr(hub, "refuse", None)
    if refuse is None:
        return
    try:
        refuse(list(headers.items), body, err, mdn_headers, mdn_body)
    except Exception:  # the boundary: the partner still gets its error MDN, the log keeps why it was not stored
        log.exception("refused AS2 message %s from %r could not be recorded", err.message_id, err.as2_from)


def _receive_mdn(hub: As2Hub, headers: Headers, body: bytes) -> Response:
    receive = getattr(hub, "receive_mdn", None)
    if receive is None:
        return Response(b"async MDNs are not accepted here\r\n", status=501, mimetype="text/plain")
    try:
        receive(dict(headers.items), body)
    except LookupError:
        return Response(b"no such message\r\n", status=404, mimetype="text/plain")
    except MdnError as exc:
        log.warning("async MDN refused: %s", exc)
        return Response(b"MDN not accepted\r\n", status=400, mimetype="text/plain")
    return Response(b"", status=200, mimetype="text/plain")
