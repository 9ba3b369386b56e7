"""SFTP client transport: poll a partner's SFTP server, deliver files to it.

:class:`SftpAdapter` implements :class:`adapters.base.Adapter` on paramiko.
It takes explicit :class:`SftpSettings` (built from a channel's settings
dict with :meth:`SftpSettings.from_dict`), logs through this module's
logger, and never logs a password, a key or file contents.

Contract
--------
* The server's host key must match one of ``host_keys`` (a known_hosts line or
  ``"ssh-ed25519 AAAA..."``). An unknown or changed key is refused with a
  non-retryable :class:`TransportError`; nothing is ever added automatically.
* ``fetch()`` yields only files that are complete by the channel's
  completeness rule (``stable``, ``trigger`` or ``rename``; see
  :class:`SftpSettings`). Files whose names match ``temp_patterns`` are
  never fetched. Nothing is removed at the source by ``fetch()``.
* ``confirm(file)`` archives (``archive_dir``, created if missing, unique name
  on clash) or deletes the remote file (and its trigger file). The hub calls it
  only after its commit. Confirming a file that is already gone is a no-op.
* ``deliver(name, data)`` uploads into ``outbound_dir``, unless a regular file
  of that name and size is already there whose bytes are the same (read back
  and compared up to :data:`READ_BACK_BYTES`; a larger one is judged by its
  size): then it reports the file as already delivered (a delivery cut off
  before it was recorded, or a resend of a file the partner has not
  collected), as the folder adapter does, and never writes a second copy.
  Otherwise, in ``rename`` mode
  under ``name + upload_suffix`` first, then renamed (``posix-rename@openssh.com``
  where the server offers it, which replaces an existing file of the same
  name; otherwise the existing file is removed and a plain rename is done).
* Size limit: a fetched file is spooled to a
  :class:`tempfile.SpooledTemporaryFile` (in memory up to ``spool_bytes``,
  then on disk) and handed over as ``bytes``; files larger than
  ``max_file_bytes`` (default 512 MiB) are skipped.
* A file that cannot be taken (over the size limit, refused by the server,
  changed while it was read) is left on the server and the others are still
  fetched: after each ``fetch()``, ``skipped`` lists one error per such
  file, naming it (the hub keeps them on the channel). Only a lost
  connection ends the fetch.
* Errors become :class:`TransportError`: refused/dropped connections, time-outs
  and SFTP failures (e.g. remote disk full) are retryable; authentication
  failure, refused host key, permission denied and missing directories are
  not (a person has to act).

One adapter holds at most one SSH connection, opened lazily. Used as a
context manager, the adapter keeps it open until the ``with`` block ends, so
several calls share it. Otherwise each call closes it when done: ``deliver``
and ``confirm`` at once, ``fetch`` when its iteration ends (``confirm`` calls
made while iterating reuse the connection). A forgotten adapter therefore
never leaves an SSH session (and paramiko's transport thread) behind.
"""

from __future__ import annotations

import base64
import errno
import io
import logging
import posixpath
import socket
import stat
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Hashable, Iterator, Mapping

import paramiko

from adapters.base import InboundFile, Receipt, TransportError, wanted_name

__all__ = ["SftpSettings", "SftpAdapter", "parse_host_key", "load_private_key"]

log = logging.getLogger(__name__)

COMPLETENESS_RULES = ("stable", "trigger", "rename")

#: the ``stable`` rule's last listing per ``seen_key`` (a channel), name -> (size, mtime, monotonic time first
#: seen so): an optimisation of this process only, another process lists twice instead
_SEEN_BY_KEY: dict[Hashable, dict[str, tuple[int, int, float]]] = {}
_SEEN_LOCK = threading.Lock()

#: up to this size a file already at the delivery path is read back and compared before it counts as delivered
READ_BACK_BYTES = 4 * 1024 * 1024
OUTBOUND_MODES = ("rename", "direct")

_PREFERRED_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")

_KEY_TYPES_FOR_PIN = {
    "ssh-rsa": ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"),
}


def parse_host_key(text: str) -> paramiko.PKey:
    """Parse a pinned host key: a known_hosts line (``[host]:port ssh-ed25519 AAAA...``)
    or a bare ``"ssh-ed25519 AAAA... [comment]"``. Raises ValueError."""
    tokens = text.strip().split()
    for i, token in enumerate(tokens[:-1]):
        if token.startswith(("ssh-", "ecdsa-sha2-", "sk-")):
            try:
                blob = base64.b64decode(tokens[i + 1], validate=True)
                return paramiko.PKey.from_type_string(token, blob)
            except Exception as exc:  # paramiko raises several types for a bad blob
                raise ValueError(f"host key {token!r} cannot be read: {exc}") from exc
    raise ValueError("host key must look like 'ssh-ed25519 AAAA...' or a known_hosts line")


def load_private_key(key: str, passphrase: str | None = None) -> paramiko.PKey:
    """Load an OpenSSH or PEM private key given as text or as a file path."""
    text = key
    if "-----BEGIN" not in key:
        path = Path(key).expanduser()
        try:
            text = path.read_text()
        except OSError as exc:
            raise ValueError(f"private key file {path} cannot be read: {exc.strerror}") from exc
    for cls in (paramiko.Ed25519Key, paramiko.RSAKey, paramiko.ECDSAKey):
        try:
            return cls.from_private_key(io.StringIO(text), password=passphrase)
        except paramiko.PasswordRequiredException as exc:
            raise ValueError("private key is encrypted and no passphrase is set") from exc
        except (paramiko.SSHException, ValueError):
            continue
    raise ValueError("private key is not an Ed25519, RSA or ECDSA key paramiko can read")


def _str_tuple(value: Any, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ValueError(f"{key} must be a string or a list of strings")


@dataclass(frozen=True)
class SftpSettings:
    """One SFTP channel. Validated on construction (ValueError names the field).

    completeness:
        ``stable``  — a file is complete when size and mtime are unchanged
        between two listings at least ``stable_seconds`` apart. An adapter
        made with a ``seen_key`` (the hub passes the channel's id) takes the
        earlier listing from the previous poll of that channel in this
        process and never sleeps: a file first seen now, or changed since,
        waits for a later poll. Without one (or in another process, which
        has no earlier listing) the fetch lists, sleeps ``stable_seconds``
        and lists again;
        ``trigger`` — complete when a companion file exists: ``NAME.trg`` /
        ``NAME.ok`` or the same stem with those suffixes (``trigger_suffixes``);
        ``rename`` — the partner uploads under a temporary name and renames:
        anything matching ``temp_patterns`` is ignored (always true), every
        other file is complete.
    """

    host: str
    username: str
    host_keys: tuple[str, ...]
    port: int = 22
    password: str | None = field(default=None, repr=False)
    private_key: str | None = field(default=None, repr=False)
    private_key_passphrase: str | None = field(default=None, repr=False)
    inbound_dir: str | None = None
    outbound_dir: str | None = None
    archive_dir: str | None = None  # None: delete after confirm
    completeness: str = "stable"
    stable_seconds: float = 5.0
    trigger_suffixes: tuple[str, ...] = (".trg", ".ok")
    temp_patterns: tuple[str, ...] = ("*.tmp", "*.part", "*.filepart", ".*")
    pattern: str = "*"
    outbound_mode: str = "rename"
    upload_suffix: str = ".part"
    disabled_algorithms: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    kex: tuple[str, ...] = ()
    ciphers: tuple[str, ...] = ()
    macs: tuple[str, ...] = ()
    connect_timeout: float = 15.0
    timeout: float = 60.0
    spool_bytes: int = 16 * 1024 * 1024
    max_file_bytes: int = 512 * 1024 * 1024

    def __post_init__(self) -> None:
        if not self.host:
            raise ValueError("host is required")
        if not self.username:
            raise ValueError("username is required")
        if not (0 < self.port < 65536):
            raise ValueError(f"port must be 1..65535, not {self.port}")
        if not self.password and not self.private_key:
            raise ValueError("password or private_key is required")
        if not self.host_keys:
            raise ValueError("host_keys is required: pin the server's host key (unknown keys are refused)")
        for text in self.host_keys:
            parse_host_key(text)
        if self.private_key:
            load_private_key(self.private_key, self.private_key_passphrase)
        if self.completeness not in COMPLETENESS_RULES:
            raise ValueError(f"completeness must be one of {', '.join(COMPLETENESS_RULES)}")
        if self.outbound_mode not in OUTBOUND_MODES:
            raise ValueError(f"outbound_mode must be one of {', '.join(OUTBOUND_MODES)}")
        if self.stable_seconds < 0:
            raise ValueError("stable_seconds must not be negative")
        if self.connect_timeout <= 0 or self.timeout <= 0:
            raise ValueError("connect_timeout and timeout must be positive")
        if not self.upload_suffix:
            raise ValueError("upload_suffix must not be empty")
        if not self.inbound_dir and not self.outbound_dir:
            raise ValueError("inbound_dir or outbound_dir is required")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "sftp channel") -> "SftpSettings":
        """Build from a channel's settings dict; ValueError names ``where`` and the key."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"{where}: unknown key {unknown[0]!r}")
        kwargs: dict[str, Any] = {}
        for key, value in d.items():
            try:
                if key in ("host_keys", "trigger_suffixes", "temp_patterns", "kex", "ciphers", "macs"):
                    value = _str_tuple(value, key)
                elif key == "disabled_algorithms":
                    if not isinstance(value, Mapping):
                        raise ValueError("disabled_algorithms must be a table of lists")
                    value = {k: _str_tuple(v, f"disabled_algorithms.{k}") for k, v in value.items()}
                elif key in ("port", "spool_bytes", "max_file_bytes"):
                    if isinstance(value, bool) or not isinstance(value, int):
                        raise ValueError(f"{key} must be an integer")
                elif key in ("stable_seconds", "connect_timeout", "timeout"):
                    if isinstance(value, bool) or not isinstance(value, (int, float)):
                        raise ValueError(f"{key} must be a number")
                    value = float(value)
                elif value is not None and not isinstance(value, str):
                    raise ValueError(f"{key} must be a string")
            except ValueError as exc:
                raise ValueError(f"{where}: {exc}") from exc
            kwargs[key] = value
        missing = [k for k in ("host", "username", "host_keys") if k not in kwargs]
        if missing:
            raise ValueError(f"{where}: {missing[0]} is required"
                             + (": pin the server's host key (unknown keys are refused)" if missing[0] == "host_keys" else ""))
        try:
            return cls(**kwargs)
        except TypeError as exc:  # a required key is missing
            raise ValueError(f"{where}: {exc}") from exc
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from exc


@dataclass
class _Source:
    path: str
    trigger: str | None = None


class SftpAdapter:
    """Adapter for a partner-hosted SFTP server. See the module docstring."""

    def __init__(self, settings: SftpSettings, *, seen_key: Hashable | None = None,
                 sleep: Callable[[float], None] = time.sleep):
        """``seen_key``: see the ``stable`` rule of :class:`SftpSettings`."""
        self.settings = settings
        self._seen_key = seen_key
        self._sleep = sleep
        self._pinned = [parse_host_key(k) for k in settings.host_keys]
        self._pkey = (
            load_private_key(settings.private_key, settings.private_key_passphrase)
            if settings.private_key
            else None
        )
        self._transport: paramiko.Transport | None = None
        self._keep_open = False
        self._fetching = False
        self._sftp: paramiko.SFTPClient | None = None
        self._seen: dict[str, tuple[int, int, float]] = {}  # name -> (size, mtime, first seen)
        if seen_key is not None:
            with _SEEN_LOCK:
                self._seen = dict(_SEEN_BY_KEY.get(seen_key, {}))
        #: errors, one a file, of the files the last fetch() left on the server (see the module docstring)
        self.skipped: list[str] = []
        self._where = f"{settings.username}@{settings.host}:{settings.port}"

    # -- connection ---------------------------------------------------------

    def __enter__(self) -> "SftpAdapter":
        self._keep_open = True
        return self

    def __exit__(self, *exc: object) -> None:
        self._keep_open = False
        self.close()

    def _release(self) -> None:
        if not self._keep_open and not self._fetching:
            self.close()

    def close(self) -> None:
        """Close the SSH connection, if open."""
        if self._sftp is not None:
            try:
                self._sftp.close()
            except (OSError, EOFError, paramiko.SSHException):
                pass
        if self._transport is not None:
            self._transport.close()
        self._sftp = None
        self._transport = None

    def _client(self) -> paramiko.SFTPClient:
        if self._sftp is not None and self._transport is not None and self._transport.is_active():
            return self._sftp
        self.close()
        s = self.settings
        try:
            sock = socket.create_connection((s.host, s.port), timeout=s.connect_timeout)
        except OSError as exc:
            raise TransportError(f"cannot connect to SFTP server {s.host}:{s.port}: {exc.strerror or exc}") from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(s.timeout)
        transport = _Transport(sock, disabled_algorithms=dict(s.disabled_algorithms) or None)
        try:
            self._negotiate(transport)
            self._authenticate(transport)
            sftp = paramiko.SFTPClient.from_transport(transport)
            if sftp is None:
                raise TransportError(f"SFTP server {self._where} refused the sftp subsystem")
            sftp.get_channel().settimeout(s.timeout)
        except BaseException:
            transport.close()
            raise
        self._transport, self._sftp = transport, sftp
        return sftp

    def _negotiate(self, transport: paramiko.Transport) -> None:
        s = self.settings
        opts = transport.get_security_options()
        key_types: list[str] = []
        for key in self._pinned:
            for name in _KEY_TYPES_FOR_PIN.get(key.get_name(), (key.get_name(),)):
                if name not in key_types and name in opts.key_types:
                    key_types.append(name)
        if key_types:
            opts.key_types = tuple(key_types)
        try:
            if s.kex:
                opts.kex = s.kex
            if s.ciphers:
                opts.ciphers = s.ciphers
            else:  # AES-GCM first where paramiko has it: its MAC-less packets are the fastest in paramiko
                fast = tuple(c for c in _PREFERRED_CIPHERS if c in opts.ciphers)
                opts.ciphers = fast + tuple(c for c in opts.ciphers if c not in fast)
            if s.macs:
                opts.digests = s.macs
        except ValueError as exc:
            raise TransportError(f"SFTP channel {self._where}: algorithm setting refused: {exc}", retryable=False) from exc
        try:
            transport.start_client(timeout=s.timeout)
        except paramiko.SSHException as exc:
            if "no acceptable host key" in str(exc).lower():
                offered = getattr(transport, "offered_host_key_types", None)
                pinned = ", ".join(sorted({k.get_name() for k in self._pinned}))
                raise TransportError(
                    f"SSH server {s.host}:{s.port} offers no host key of the pinned type ({pinned})"
                    + (f"; it offers {', '.join(offered)}" if offered else "")
                    + ". Pin the server's key of a type it offers (e.g. from ssh-keyscan), checked with the partner.",
                    retryable=False,
                ) from exc
            raise TransportError(
                f"SSH handshake with {self._where} failed: {exc}",
                retryable="Incompatible" not in str(exc) and "no acceptable" not in str(exc).lower(),
            ) from exc
        except (OSError, EOFError) as exc:
            raise TransportError(f"SSH handshake with {self._where} failed: connection lost ({exc})") from exc
        remote = transport.get_remote_server_key()
        if not any(remote.get_name() == k.get_name() and remote.asbytes() == k.asbytes() for k in self._pinned):
            known = {k.get_name() for k in self._pinned}
            what = "changed" if remote.get_name() in known else "unknown"
            raise TransportError(
                f"host key of {s.host}:{s.port} is {what} ({remote.get_name()} "
                f"SHA256:{_fingerprint(remote)}); refusing to connect. If the partner really "
                "changed its key, pin the new one in the channel settings.",
                retryable=False,
            )

    def _authenticate(self, transport: paramiko.Transport) -> None:
        s = self.settings
        try:
            if self._pkey is not None:
                try:
                    transport.auth_publickey(s.username, self._pkey)
                except paramiko.AuthenticationException:
                    if not s.password:
                        raise
            if not transport.is_authenticated() and s.password:
                transport.auth_password(s.username, s.password)
        except paramiko.BadAuthenticationType as exc:
            raise TransportError(
                f"SFTP server {self._where} does not accept this login method (allowed: {', '.join(exc.allowed_types)})",
                retryable=False,
            ) from exc
        except paramiko.AuthenticationException as exc:
            raise TransportError(f"SFTP server {self._where} refused the login (check user name, key or password)", retryable=False) from exc
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise TransportError(f"SSH login to {self._where} failed: connection lost ({exc})") from exc
        if not transport.is_authenticated():
            raise TransportError(f"SFTP server {self._where} refused the login", retryable=False)

    def _error(self, exc: BaseException, action: str) -> TransportError:
        """Turn a paramiko/socket error into a TransportError with the right retry flag."""
        self.close()
        if isinstance(exc, TransportError):
            return exc
        code = getattr(exc, "errno", None)
        if code == errno.EACCES:
            return TransportError(f"{action} on {self._where}: permission denied", retryable=False)
        if code == errno.ENOENT:
            return TransportError(f"{action} on {self._where}: no such file or directory", retryable=False)
        if _connection_lost(exc):
            return TransportError(f"{action} on {self._where}: connection lost ({exc or type(exc).__name__})")
        text = str(exc.args[-1]) if getattr(exc, "args", None) else str(exc)
        return TransportError(f"{action} on {self._where}: SFTP server reported failure ({text or type(exc).__name__}), e.g. remote disk full")

    # -- inbound -------------------------------------------------------------

    def _complete(self, sftp: paramiko.SFTPClient) -> list[tuple[paramiko.SFTPAttributes, str | None]]:
        s = self.settings
        assert s.inbound_dir is not None
        entries = {a.filename: a for a in sftp.listdir_attr(s.inbound_dir) if a.st_mode is not None and stat.S_ISREG(a.st_mode)}
        names = set(entries)

        candidates = {n: a for n, a in entries.items() if wanted_name(n, s)}
        if s.completeness == "rename":
            return [(a, None) for _, a in sorted(candidates.items())]
        if s.completeness == "trigger":
            out = []
            for name, attr in sorted(candidates.items()):
                stem = posixpath.splitext(name)[0]
                trig = next((t for suf in s.trigger_suffixes for t in (name + suf, stem + suf) if t in names), None)
                if trig is not None:
                    out.append((attr, trig))
            return out
        # stable
        now = time.monotonic()
        ready: list[tuple[paramiko.SFTPAttributes, str | None]] = []
        pending: dict[str, tuple[int, int]] = {}
        seen: dict[str, tuple[int, int, float]] = {}
        for name, attr in sorted(candidates.items()):
            sig = (attr.st_size or 0, attr.st_mtime or 0)
            prev = self._seen.get(name)
            if prev is not None and prev[:2] == sig and now - prev[2] >= s.stable_seconds:
                ready.append((attr, None))
            else:
                pending[name] = sig
            seen[name] = prev if prev is not None and prev[:2] == sig else (*sig, now)
        self._seen = seen
        if self._seen_key is not None:  # pending files: the next poll of this channel looks again
            self._remember()
        elif pending:
            oldest = min(seen[n][2] for n in pending)
            self._sleep(max(0.0, s.stable_seconds - (time.monotonic() - oldest)))
            again = {a.filename: a for a in sftp.listdir_attr(s.inbound_dir)}
            for name, sig in pending.items():
                attr2 = again.get(name)
                if attr2 is not None and (attr2.st_size or 0, attr2.st_mtime or 0) == sig:
                    ready.append((attr2, None))
                elif attr2 is not None:
                    self._seen[name] = (attr2.st_size or 0, attr2.st_mtime or 0, time.monotonic())
        return sorted(ready, key=lambda r: r[0].filename)

    def _remember(self) -> None:
        """Keep this channel's listing for its next poll (``seen_key``)."""
        if self._seen_key is not None:
            with _SEEN_LOCK:
                _SEEN_BY_KEY[self._seen_key] = dict(self._seen)

    def fetch(self) -> Iterator[InboundFile]:
        """Yield complete files from ``inbound_dir``; nothing is removed here."""
        s = self.settings
        self.skipped = []
        if not s.inbound_dir:
            return
        self._fetching = True
        try:
            yield from self._fetch(s.inbound_dir)
        finally:
            self._fetching = False
            self._release()

    def _fetch(self, inbound_dir: str) -> Iterator[InboundFile]:
        s = self.settings
        try:
            sftp = self._client()
            complete = self._complete(sftp)
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise self._error(exc, f"listing {inbound_dir}") from exc
        for attr, trigger in complete:
            name = attr.filename
            path = posixpath.join(inbound_dir, name)
            size = attr.st_size or 0
            if size > s.max_file_bytes:
                self._skip(f"{path} on {self._where} is {size} bytes, over the channel's limit of "
                           f"{s.max_file_bytes} bytes (max_file_bytes): not fetched, left on the server")
                continue
            try:
                data = self._download(self._client(), path, size)
            except TransportError as exc:  # a short read: changed or cut off while read
                self._skip(str(exc))
                continue
            except (OSError, EOFError, paramiko.SSHException) as exc:
                if _connection_lost(exc):
                    raise self._error(exc, f"downloading {path}") from exc
                if getattr(exc, "errno", None) == errno.ENOENT:
                    log.info("%s on %s was gone before it was read", path, self._where)
                    continue
                reason = "permission denied" if getattr(exc, "errno", None) == errno.EACCES else \
                    f"the server reported failure ({exc.args[-1] if exc.args else type(exc).__name__})"
                self._skip(f"cannot read {path} on {self._where}: {reason}; left on the server")
                continue
            log.info("fetched %s (%d bytes) from %s", path, len(data), self._where)
            self._seen.pop(name, None)
            self._remember()
            yield InboundFile(
                name=name,
                data=data,
                source=_Source(path, posixpath.join(inbound_dir, trigger) if trigger else None),
                meta={"remote_path": path, "mtime": attr.st_mtime, "host": s.host},
            )

    def _skip(self, error: str) -> None:
        log.error("%s", error)
        self.skipped.append(error)

    def _download(self, sftp: paramiko.SFTPClient, path: str, size: int) -> bytes:
        with tempfile.SpooledTemporaryFile(max_size=self.settings.spool_bytes) as spool:
            with sftp.open(path, "rb") as remote:
                remote.prefetch(size)
                while True:
                    chunk = remote.read(1 << 20)
                    if not chunk:
                        break
                    spool.write(chunk)
            got = spool.tell()
            if got != size:
                raise TransportError(f"downloading {path} on {self._where}: short read, {got} of the {size} bytes "
                                     "listed (changed or cut off while read); left on the server for the next poll")
            spool.seek(0)
            return spool.read()

    def confirm(self, file: InboundFile) -> None:
        """Archive or delete a fetched file at the source (and its trigger file)."""
        src = file.source
        if not isinstance(src, _Source):
            raise TypeError("confirm() takes an InboundFile this adapter fetched")
        s = self.settings
        try:
            sftp = self._client()
            for path in (src.path, src.trigger):
                if path is None:
                    continue
                if s.archive_dir:
                    self._archive(sftp, path)
                else:
                    try:
                        sftp.remove(path)
                    except OSError as exc:
                        if getattr(exc, "errno", None) != errno.ENOENT:
                            raise
                        log.warning("%s on %s was already gone at confirm", path, self._where)
                        continue
                    log.info("deleted %s on %s", path, self._where)
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise self._error(exc, f"confirming {src.path}") from exc
        finally:
            self._release()

    def _archive(self, sftp: paramiko.SFTPClient, path: str) -> None:
        archive = self.settings.archive_dir
        assert archive is not None
        self._makedirs(sftp, archive)
        name = posixpath.basename(path)
        target = posixpath.join(archive, name)
        if self._exists(sftp, target):
            stem, ext = posixpath.splitext(name)
            target = posixpath.join(archive, f"{stem}.{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}{ext}")
        try:
            sftp.rename(path, target)
        except OSError as exc:
            if getattr(exc, "errno", None) == errno.ENOENT and not self._exists(sftp, path):
                log.warning("%s on %s was already gone at confirm", path, self._where)
                return
            raise
        log.info("archived %s to %s on %s", path, target, self._where)

    @staticmethod
    def _exists(sftp: paramiko.SFTPClient, path: str) -> bool:
        try:
            sftp.lstat(path)
        except OSError as exc:
            if getattr(exc, "errno", None) == errno.ENOENT:
                return False
            raise
        return True

    def _makedirs(self, sftp: paramiko.SFTPClient, path: str) -> None:
        if path in ("", "/", ".") or self._exists(sftp, path):
            return
        self._makedirs(sftp, posixpath.dirname(path.rstrip("/")))
        try:
            sftp.mkdir(path)
        except OSError:
            if not self._exists(sftp, path):
                raise

    # -- outbound ------------------------------------------------------------

    def deliver(self, name: str, data: bytes) -> Receipt:
        """Upload ``data`` as ``outbound_dir/name``; Receipt.detail names the remote path."""
        s = self.settings
        if not s.outbound_dir:
            raise TransportError(f"SFTP channel {self._where} has no outbound_dir", retryable=False)
        safe = posixpath.basename(name.replace("\\", "/"))
        if safe in ("", ".", "..") or safe != name:
            raise TransportError(f"refusing outbound file name {name!r}: not a plain file name", retryable=False)
        final = posixpath.join(s.outbound_dir, safe)
        target = final + s.upload_suffix if s.outbound_mode == "rename" else final
        try:
            sftp = self._client()
            if self._already_there(sftp, final, data):
                log.info("%s (%d bytes) is already in place on %s: not uploaded again", final, len(data), self._where)
                return Receipt(detail=f"already in place at {self._url(final)}",
                               data={"remote_path": final, "bytes": len(data), "already_delivered": True})
            try:
                remote = sftp.open(target, "wb")
                try:
                    remote.set_pipelined(True)
                    view = memoryview(data)
                    for off in range(0, len(view), 1 << 20):
                        remote.write(view[off : off + (1 << 20)])
                    _close_strictly(remote, len(data))
                finally:
                    remote.close()
                if target != final:
                    self._rename_over(sftp, target, final)
            except (OSError, EOFError, paramiko.SSHException):
                self._discard(sftp, target)
                raise
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise self._error(exc, f"uploading {final}") from exc
        finally:
            self._release()
        log.info("delivered %s (%d bytes) to %s", final, len(data), self._where)
        return Receipt(detail=self._url(final), data={"remote_path": final, "bytes": len(data)})

    def _url(self, path: str) -> str:
        return f"sftp://{self.settings.host}:{self.settings.port}{path if path.startswith('/') else '/' + path}"

    @staticmethod
    def _already_there(sftp: paramiko.SFTPClient, path: str, data: bytes) -> bool:
        """True when ``path`` is a regular file with ``data``'s size and, up to :data:`READ_BACK_BYTES`,
        its bytes. A file that cannot be looked at or read back does not count (it is uploaded over)."""
        try:
            attr = sftp.stat(path)
        except (OSError, EOFError, paramiko.SSHException) as exc:
            if _connection_lost(exc):
                raise
            return False
        if attr.st_mode is not None and not stat.S_ISREG(attr.st_mode):
            return False
        if attr.st_size != len(data):
            return False
        if len(data) > READ_BACK_BYTES:
            return True
        try:
            with sftp.open(path, "rb") as remote:
                remote.prefetch(len(data))
                got = remote.read(len(data) + 1)
        except (OSError, EOFError, paramiko.SSHException) as exc:
            if _connection_lost(exc):
                raise
            return False
        return got == data

    def _discard(self, sftp: paramiko.SFTPClient, path: str) -> None:
        """After a failed upload: remove what was written (the temporary file, or the partial file
        of a direct write), so neither a half file nor the space it takes stays behind. Best effort:
        on a dropped connection the file stays, under the temporary name in rename mode."""
        try:
            sftp.remove(path)
            log.info("removed the incomplete upload %s on %s", path, self._where)
        except (OSError, EOFError, paramiko.SSHException) as exc:
            if getattr(exc, "errno", None) != errno.ENOENT:
                log.warning("could not remove the incomplete upload %s on %s: %s", path, self._where, exc)

    @staticmethod
    def _rename_over(sftp: paramiko.SFTPClient, src: str, dst: str) -> None:
        """Rename ``src`` to ``dst``, replacing it: the posix-rename extension where it works;
        on any failure of that request (SSH_FX_OP_UNSUPPORTED, SSH_FX_FAILURE, a server that
        does not know the extension), a plain rename, and if ``dst`` is in the way, a plain
        rename after removing it. A lost connection is not retried here."""
        try:
            sftp.posix_rename(src, dst)
            return
        except (OSError, EOFError, paramiko.SSHException) as exc:
            if _connection_lost(exc):
                raise
            log.info("posix-rename of %s refused (%s); falling back to rename", src, exc or type(exc).__name__)
        try:
            sftp.rename(src, dst)
            return
        except OSError as exc:
            if _connection_lost(exc) or not SftpAdapter._exists(sftp, dst):
                raise
        sftp.remove(dst)
        sftp.rename(src, dst)


class _Transport(paramiko.Transport):
    """A client transport that remembers which host key types the server offered, so that
    a pinned key of another type is reported as such (paramiko only says "no acceptable
    host key"). Reads the KEXINIT with paramiko's own parser; without it nothing is kept."""

    offered_host_key_types: tuple[str, ...] = ()

    def _parse_kex_init(self, m: paramiko.Message) -> None:
        parse = getattr(self, "_really_parse_kex_init", None)
        if parse is not None:
            try:
                parsed = parse(paramiko.Message(m.asbytes()))  # the packet type byte is already read
                self.offered_host_key_types = tuple(parsed["server_key_algo_list"])
            except Exception:  # noqa: BLE001 - only for the error message; negotiation goes on as paramiko does it
                self.offered_host_key_types = ()
        super()._parse_kex_init(m)  # type: ignore[misc]


def _connection_lost(exc: BaseException) -> bool:
    """True when an SFTP error means the connection is gone (as opposed to a refused request)."""
    if isinstance(exc, (EOFError, socket.timeout, ConnectionError, paramiko.SSHException)):
        return True
    return isinstance(exc, OSError) and str(exc).startswith(("Socket is closed", "Server connection dropped"))


def _close_strictly(fh: paramiko.SFTPFile, expected_size: int | None = None) -> None:
    """Check an uploaded file's size on its open handle, close it, and raise if the server refuses the CLOSE.

    The size is taken with fstat before the close, because some servers take
    the file away as soon as it is closed.

    ``SFTPFile.close()`` ignores a failed CLOSE, but a server may only report
    there that it rejected the upload (quota, disk full, a hosted mailbox whose
    hub could not store it). This uses paramiko internals that have been stable
    since paramiko 1.x (``_finish_responses``, ``_request``).
    """
    fh.flush()
    if fh.pipelined:
        fh.sftp._finish_responses(fh)
    if expected_size is not None:
        written = fh.stat().st_size
        if written != expected_size:
            raise OSError(f"upload incomplete: {written} of {expected_size} bytes on the server")
    paramiko.file.BufferedFile.close(fh)  # marks it closed so close() sends nothing more
    fh.sftp._request(paramiko.sftp.CMD_CLOSE, fh.handle)


def _fingerprint(key: paramiko.PKey) -> str:
    import hashlib

    return base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")
