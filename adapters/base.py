"""The one small interface every transport implements.

An adapter moves bytes, nothing else: it knows no partners' business, no
database and no Flask. The hub's transport service drives it:

1. ``fetch()`` yields :class:`InboundFile` s that are complete;
2. the hub stores each one and commits;
3. only then ``confirm(file)`` deletes or archives it at the source;
4. ``deliver(name, data)`` sends one outbound payload and returns a
   :class:`Receipt` (or raises :class:`TransportError`).

A polling adapter that leaves a file at the source because it cannot take it
(too large, unreadable) goes on with the others and lists the reason, naming
the file, in its ``skipped`` attribute (a list of str, refilled by each
``fetch()``); the hub keeps those on the channel as its last error.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any, Iterator, Protocol

__all__ = ["InboundFile", "Receipt", "TransportError", "Adapter", "wanted_name"]


@dataclass
class InboundFile:
    name: str  # the file name as the partner gave it (sanitised before use on disk)
    data: bytes
    source: Any = None  # adapter-private handle used by confirm()
    meta: dict[str, Any] = field(default_factory=dict)  # e.g. remote path, mtime, AS2 headers


@dataclass
class Receipt:
    """What the transport says about a delivery: where it went, and any receipt (MDN)."""

    detail: str
    data: dict[str, Any] = field(default_factory=dict)
    acknowledged: bool = False  # True when the receipt itself acknowledges (e.g. a positive sync MDN)


class TransportError(Exception):
    """A transport failed. ``retryable`` is False when trying again cannot help (wrong key, refused host key)."""

    def __init__(self, message: str, *, retryable: bool = True):
        super().__init__(message)
        self.retryable = retryable


class Adapter(Protocol):
    def fetch(self) -> Iterator[InboundFile]: ...

    def confirm(self, file: InboundFile) -> None: ...

    def deliver(self, name: str, data: bytes) -> Receipt: ...


def wanted_name(name: str, settings: Any) -> bool:
    """Whether an inbound file ``name`` is one to take, by the SFTP or folder ``settings``: it
    matches ``pattern`` and is neither a temporary name (``temp_patterns``) nor, under the trigger
    rule, a trigger file itself (``trigger_suffixes``)."""
    if any(fnmatch.fnmatch(name, p) for p in settings.temp_patterns):
        return False
    if settings.completeness == "trigger" and name.endswith(settings.trigger_suffixes):
        return False
    return fnmatch.fnmatch(name, settings.pattern)
