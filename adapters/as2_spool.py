"""Received AS2 bodies kept in a spooled temporary file, read in chunks.

A message of a few megabytes stays in memory; a larger one rolls over to a
temporary file (under the directory the caller names, e.g. ``var/``), so
receiving 100 MB does not cost 100 MB of memory per layer. :class:`Region`
is a byte range of a spool: searched, hashed and copied chunk by chunk, never
materialised except by :meth:`Region.read` (the one copy a caller asks for).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import IO, Iterator

__all__ = ["Spool", "Region", "BodyTooLarge", "CHUNK", "SPOOL_THRESHOLD"]

#: bytes read, hashed or decrypted at a time
CHUNK = 1 << 20
#: a spool stays in memory up to this size, then rolls over to a file
SPOOL_THRESHOLD = 8 << 20


class BodyTooLarge(ValueError):
    """The request body exceeds the allowed size."""


class Spool:
    """Bytes in a :class:`tempfile.SpooledTemporaryFile`; close it (or use ``with``) when done."""

    def __init__(self, directory: str | Path | None = None, threshold: int = SPOOL_THRESHOLD, *, size_hint: int | None = None):
        """``size_hint``: the expected size; past ``threshold`` the spool starts on disk (rolling
        over later would briefly hold the in-memory part twice)."""
        if directory is not None:
            Path(directory).mkdir(parents=True, exist_ok=True)
        self.file: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=threshold, mode="w+b",
                                                             dir=None if directory is None else str(directory),
                                                             prefix="as2-")
        if threshold <= 0 or (size_hint is not None and size_hint > threshold):
            # straight to disk (SpooledTemporaryFile reads a threshold of 0 as "never")
            self.file.rollover()  # type: ignore[attr-defined]
        self.size = 0

    @classmethod
    def from_stream(cls, stream: IO[bytes], directory: str | Path | None = None, *, threshold: int = SPOOL_THRESHOLD,
                    limit: int | None = None, size_hint: int | None = None) -> "Spool":
        """Copy ``stream`` to a new spool in chunks; :class:`BodyTooLarge` past ``limit`` bytes.
        ``size_hint``: the announced size (Content-Length), if any."""
        if limit is not None and size_hint is not None and size_hint > limit:
            raise BodyTooLarge(f"the request body exceeds {limit} bytes")
        spool = cls(directory, threshold, size_hint=size_hint)
        try:
            while True:
                chunk = stream.read(CHUNK)
                if not chunk:
                    break
                spool.write(chunk)
                if limit is not None and spool.size > limit:
                    raise BodyTooLarge(f"the request body exceeds {limit} bytes")
        except BaseException:
            spool.close()
            raise
        return spool

    @classmethod
    def of(cls, data: bytes | bytearray | memoryview, directory: str | Path | None = None, *,
           threshold: int = SPOOL_THRESHOLD) -> "Spool":
        """A spool holding ``data`` (for tests and callers that have bytes already)."""
        spool = cls(directory, threshold)
        spool.write(data)
        return spool

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.file.seek(0, 2)
        self.file.write(data)
        self.size += len(data)

    def truncate(self, size: int) -> None:
        self.file.truncate(size)
        self.size = size

    @property
    def on_disk(self) -> bool:
        return bool(getattr(self.file, "_rolled", False))

    def region(self, start: int = 0, end: int | None = None) -> "Region":
        return Region(self, start, self.size if end is None else end)

    def pread(self, offset: int, size: int) -> bytes:
        """``size`` bytes (fewer at the end) from ``offset``."""
        self.file.seek(offset)
        return self.file.read(size)

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> "Spool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Region:
    """Bytes ``start`` to ``end`` of a spool."""

    __slots__ = ("spool", "start", "end")

    def __init__(self, spool: Spool, start: int, end: int):
        if not 0 <= start <= end <= spool.size:
            raise ValueError(f"region {start}..{end} is outside the {spool.size} bytes received")
        self.spool, self.start, self.end = spool, start, end

    def __len__(self) -> int:
        return self.end - self.start

    def __repr__(self) -> str:
        return f"Region({self.start}, {self.end})"

    def sub(self, start: int, end: int | None = None) -> "Region":
        """A region relative to this one (offsets as for slicing, non-negative)."""
        stop = len(self) if end is None else end
        return Region(self.spool, self.start + start, self.start + stop)

    def head(self, size: int) -> bytes:
        return self.spool.pread(self.start, min(size, len(self)))

    def tail(self, size: int) -> bytes:
        size = min(size, len(self))
        return self.spool.pread(self.end - size, size)

    def chunks(self, size: int | None = None) -> Iterator[bytes]:
        """The region in pieces of ``size`` bytes (default :data:`CHUNK`)."""
        size = size or CHUNK
        pos = self.start
        while pos < self.end:
            piece = self.spool.pread(pos, min(size, self.end - pos))
            if not piece:
                raise ValueError("the spooled body ended early")
            pos += len(piece)
            yield piece

    def read(self) -> bytes:
        """The region as one bytes object (a full-size copy: call it once, where bytes are needed)."""
        data = self.spool.pread(self.start, len(self))
        if len(data) != len(self):
            raise ValueError("the spooled body ended early")
        return data

    def find(self, needle: bytes, start: int = 0) -> int:
        """Offset (relative to the region) of the first ``needle`` at or after ``start``, else -1."""
        overlap = len(needle) - 1
        pos = self.start + start
        while pos < self.end:
            size = min(CHUNK + overlap, self.end - pos)
            window = self.spool.pread(pos, size)
            hit = window.find(needle)
            if hit >= 0:
                return pos + hit - self.start
            if pos + size >= self.end:
                break
            pos += size - overlap
        return -1
