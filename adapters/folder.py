"""Folder transport: local or mounted directories.

Inbound files are taken only when complete, by the channel's
``completeness`` rule (the same rules as the SFTP client's):

``stable`` (default)
    the file's size and modification time are the same at two looks
    ``settle_seconds`` apart (a copy that keeps the original's mtime still
    changes size while it runs);
``trigger``
    a companion file says the data file is complete: ``NAME.trg`` /
    ``NAME.ok``, or the same stem with those suffixes (``trigger_suffixes``);
    the trigger is removed or archived with its file;
``rename``
    the writer uses a temporary name and renames when done: every file not
    matching ``temp_patterns`` is complete.

Whatever the rule, names matching ``temp_patterns`` (by default hidden
names and ``*.tmp``, ``*.part``, ``*.partial``, ``*.filepart``) are being
written and never taken, and a file that changes while it is read is left
for the next poll. A file that cannot be read is left where it is and the
others are still taken: after each ``fetch()``, ``skipped`` lists one error
per such file, naming it (the hub keeps them on the channel). After the hub has stored a file,
:meth:`FolderAdapter.confirm` moves it into the archive folder (a name
already there gets a timestamp and a random suffix; nothing is
overwritten) or deletes it. Outbound files are written under a hidden
temporary name, flushed to disk, then renamed into place, so a partner
polling the folder never sees half a file; a failed write leaves nothing.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from adapters.base import InboundFile, Receipt, TransportError, wanted_name

__all__ = ["FolderSettings", "FolderAdapter", "safe_name", "COMPLETENESS_RULES"]

log = logging.getLogger(__name__)

COMPLETENESS_RULES = ("stable", "trigger", "rename")
_DEFAULT_TEMP = ("*.tmp", "*.part", "*.partial", "*.filepart", ".*")
_DEFAULT_TRIGGERS = (".trg", ".ok")


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


def _names(value: Any, key: str, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"{where}: {key}: must be a list of file name patterns or suffixes")
    return tuple(value)


@dataclass(frozen=True)
class FolderSettings:
    inbound: Path | None = None
    outbound: Path | None = None
    archive: Path | None = None  # default: <inbound>/archive
    delete_after_receipt: bool = False
    settle_seconds: float = 1.0
    pattern: str = "*"
    completeness: str = "stable"
    trigger_suffixes: tuple[str, ...] = _DEFAULT_TRIGGERS
    temp_patterns: tuple[str, ...] = _DEFAULT_TEMP

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, base: Path | None = None, where: str = "folder channel") -> "FolderSettings":
        """Build from a channel's settings; relative paths are taken from ``base``. An unknown key is refused."""
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"{where}: unknown key {unknown[0]!r}")

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
        completeness = data.get("completeness", "stable")
        if completeness not in COMPLETENESS_RULES:
            raise ValueError(f"{where}: completeness: must be one of {', '.join(COMPLETENESS_RULES)}")
        triggers = _names(data.get("trigger_suffixes", _DEFAULT_TRIGGERS), "trigger_suffixes", where)
        temps = _names(data.get("temp_patterns", _DEFAULT_TEMP), "temp_patterns", where)
        return cls(
            inbound=path("inbound"),
            outbound=path("outbound"),
            archive=path("archive"),
            delete_after_receipt=bool(data.get("delete_after_receipt", False)),
            settle_seconds=float(settle),
            pattern=pattern,
            completeness=completeness,
            trigger_suffixes=triggers,
            temp_patterns=temps,
        )


@dataclass(frozen=True)
class _Source:
    path: Path
    trigger: Path | None = None


def _signature(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


class FolderAdapter:
    """The Adapter protocol over local folders."""

    def __init__(self, settings: FolderSettings, *, sleep: Callable[[float], None] = time.sleep):
        self.settings = settings
        self._sleep = sleep
        #: errors, one a file, of the files the last fetch() could not read (see the module docstring)
        self.skipped: list[str] = []

    def _candidates(self, inbound: Path) -> list[tuple[Path, Path | None]]:
        s = self.settings
        entries = {p.name: p for p in inbound.iterdir() if not p.is_symlink() and p.is_file()}

        found: list[tuple[Path, Path | None]] = []
        for name in sorted(n for n in entries if wanted_name(n, s)):
            if s.completeness != "trigger":
                found.append((entries[name], None))
                continue
            stem = os.path.splitext(name)[0]
            trigger = next((t for suffix in s.trigger_suffixes for t in (name + suffix, stem + suffix) if t in entries), None)
            if trigger is not None:
                found.append((entries[name], entries[trigger]))
        return found

    def _stable(self, candidates: list[tuple[Path, Path | None]]) -> list[tuple[Path, Path | None]]:
        """The candidates whose size and mtime did not change across two looks ``settle_seconds`` apart."""
        first: dict[Path, tuple[int, int]] = {}
        for path, _ in candidates:
            try:
                first[path] = _signature(path)
            except FileNotFoundError:
                continue
        if first and self.settings.settle_seconds > 0:
            self._sleep(self.settings.settle_seconds)
        ready = []
        for path, trigger in candidates:
            try:
                if path in first and _signature(path) == first[path]:
                    ready.append((path, trigger))
            except FileNotFoundError:
                continue
        return ready

    def fetch(self) -> Iterator[InboundFile]:
        inbound = self.settings.inbound
        self.skipped = []
        if inbound is None:
            return
        if not inbound.is_dir():
            raise TransportError(f"inbound folder {inbound} does not exist", retryable=True)
        try:
            candidates = self._candidates(inbound)
            if self.settings.completeness == "stable":
                candidates = self._stable(candidates)
        except OSError as exc:
            raise TransportError(f"cannot list {inbound}: {exc.strerror or exc}") from exc
        for path, trigger in candidates:
            try:
                before = path.stat()
                data = path.read_bytes()
                after = path.stat()
            except FileNotFoundError:
                continue  # taken by someone else in between
            except OSError as exc:  # this file only: the others are still taken
                error = f"cannot read {path}: {exc.strerror or exc}; left in place"
                log.error("%s", error)
                self.skipped.append(error)
                continue
            if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns) or len(data) != after.st_size:
                log.info("%s changed while it was read: left for the next poll", path)
                continue
            meta: dict[str, Any] = {"path": str(path), "mtime": after.st_mtime}
            if trigger is not None:
                meta["trigger"] = str(trigger)
            yield InboundFile(name=path.name, data=data, source=_Source(path, trigger), meta=meta)

    def confirm(self, file: InboundFile) -> None:
        """Archive or delete a fetched file (and its trigger file). Raises OSError when it cannot."""
        src = file.source
        if not isinstance(src, _Source):
            raise TypeError("confirm() takes an InboundFile this adapter fetched")
        for path in (src.path, src.trigger):
            if path is None:
                continue
            if self.settings.delete_after_receipt:
                path.unlink(missing_ok=True)
                log.info("deleted %s", path)
            else:
                self._archive(path)

    def _archive(self, path: Path) -> None:
        archive = self.settings.archive or path.parent / "archive"
        archive.mkdir(parents=True, exist_ok=True)
        target = archive / path.name
        while target.exists():  # never over an archived file of the same name
            stem, ext = os.path.splitext(path.name)
            target = archive / f"{stem}.{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}{ext}"
        try:
            os.replace(path, target)
        except FileNotFoundError:
            if path.exists():
                raise
            log.warning("%s was already gone at confirm", path)
            return
        log.info("archived %s to %s", path, target)

    def deliver(self, name: str, data: bytes) -> Receipt:
        outbound = self.settings.outbound
        if outbound is None:
            raise TransportError("this folder channel has no outbound folder", retryable=False)
        name = safe_name(name)
        temporary: Path | None = None
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
            if temporary is not None:
                try:
                    temporary.unlink(missing_ok=True)
                except OSError:
                    log.warning("could not remove the incomplete %s", temporary)
            raise TransportError(f"cannot write to {outbound}: {exc.strerror or exc}") from exc
        return Receipt(detail=f"written to {target}", data={"path": str(target), "size": len(data)})
