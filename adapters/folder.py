"""Folder transport: local or mounted directories.

Inbound files are taken only when complete: names starting with ``.`` or
ending in ``.tmp``/``.part`` are being written and skipped, and a file must
have kept its size and modification time for ``settle_seconds``. After the
hub has stored a file, :meth:`FolderAdapter.confirm` moves it into the
archive folder (or deletes it). Outbound files are written under a hidden
temporary name, flushed to disk, then renamed into place, so a partner
polling the folder never sees half a file.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from adapters.base import InboundFile, Receipt, TransportError

__all__ = ["FolderSettings", "FolderAdapter", "safe_name"]

log = logging.getLogger(__name__)

_INCOMPLETE_SUFFIXES = (".tmp", ".part", ".partial", ".filepart")


def safe_name(name: str) -> str:
    """A file name a partner gave, reduced to a safe base name (no paths, no control characters)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(c if (c.isalnum() or c in "._-+=@,") else "_" for c in base).lstrip(".")
    return cleaned[:200] or "unnamed"


def _same_bytes(path: Path, data: bytes) -> bool:
    try:
        return path.stat().st_size == len(data) and path.read_bytes() == data
    except OSError:
        return False


@dataclass(frozen=True)
class FolderSettings:
    inbound: Path | None = None
    outbound: Path | None = None
    archive: Path | None = None  # default: <inbound>/archive
    delete_after_receipt: bool = False
    settle_seconds: float = 1.0
    pattern: str = "*"

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, base: Path | None = None, where: str = "folder channel") -> "FolderSettings":
        """Build from a channel's settings; relative paths are taken from ``base``."""

        def path(key: str) -> Path | None:
            value = data.get(key)
            if value is None:
                return None
            if not isinstance(value, str) or not value:
                raise ValueError(f"{where}: {key}: must be a folder path")
            p = Path(value)
            return p if p.is_absolute() or base is None else base / p

        settle = data.get("settle_seconds", 1.0)
        if isinstance(settle, bool) or not isinstance(settle, (int, float)) or settle < 0:
            raise ValueError(f"{where}: settle_seconds: must be a number of seconds, 0 or more")
        pattern = data.get("pattern", "*")
        if not isinstance(pattern, str):
            raise ValueError(f"{where}: pattern: must be a file name pattern such as *.edi")
        return cls(
            inbound=path("inbound"),
            outbound=path("outbound"),
            archive=path("archive"),
            delete_after_receipt=bool(data.get("delete_after_receipt", False)),
            settle_seconds=float(settle),
            pattern=pattern,
        )


class FolderAdapter:
    """The Adapter protocol over local folders."""

    def __init__(self, settings: FolderSettings, *, clock=time.time):
        self.settings = settings
        self._clock = clock

    def _complete(self, path: Path) -> bool:
        name = path.name
        if name.startswith(".") or name.lower().endswith(_INCOMPLETE_SUFFIXES):
            return False
        if not fnmatch.fnmatch(name, self.settings.pattern):
            return False
        first = path.stat()
        if self._clock() - first.st_mtime < self.settings.settle_seconds:
            return False
        return True

    def fetch(self) -> Iterator[InboundFile]:
        inbound = self.settings.inbound
        if inbound is None:
            return
        if not inbound.is_dir():
            raise TransportError(f"inbound folder {inbound} does not exist", retryable=True)
        for path in sorted(p for p in inbound.iterdir() if p.is_file() and not p.is_symlink()):
            try:
                if not self._complete(path):
                    continue
                before = path.stat()
                data = path.read_bytes()
                after = path.stat()
            except FileNotFoundError:
                continue  # taken by someone else in between
            except OSError as exc:
                raise TransportError(f"cannot read {path}: {exc.strerror}") from exc
            if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns) or len(data) != after.st_size:
                continue  # still being written: next poll
            yield InboundFile(name=path.name, data=data, source=path,
                              meta={"path": str(path), "mtime": after.st_mtime})

    def confirm(self, file: InboundFile) -> None:
        path: Path = file.source
        if self.settings.delete_after_receipt:
            path.unlink(missing_ok=True)
            return
        archive = self.settings.archive or path.parent / "archive"
        archive.mkdir(parents=True, exist_ok=True)
        target = archive / path.name
        if target.exists():
            target = archive / f"{time.strftime('%Y%m%d%H%M%S')}-{os.getpid()}-{path.name}"
        os.replace(path, target)

    def deliver(self, name: str, data: bytes) -> Receipt:
        outbound = self.settings.outbound
        if outbound is None:
            raise TransportError("this folder channel has no outbound folder", retryable=False)
        name = safe_name(name)
        try:
            outbound.mkdir(parents=True, exist_ok=True)
            target = outbound / name
            if target.exists():
                if _same_bytes(target, data):
                    # already there, untouched by the partner: a delivery cut off before it was
                    # recorded, or a redelivery of a file not yet collected; never a second copy
                    return Receipt(detail=f"already in place at {target}", data={"path": str(target), "size": len(data)})
                stem, dot, ext = name.partition(".")
                target = outbound / f"{stem}-{time.time_ns()}{dot}{ext}"
            temporary = outbound / f".{target.name}.tmp"
            with open(temporary, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, target)
        except OSError as exc:
            raise TransportError(f"cannot write to {outbound}: {exc.strerror}") from exc
        return Receipt(detail=f"written to {target}", data={"path": str(target), "size": len(data)})
