"""Hub-hosted SFTP mailboxes on a paramiko server.

Each partner logs in (password checked against an argon2 hash, or one of its
authorized public keys) and sees a jail of its own, ``root/<partner_code>/``,
presented as ``/`` with two folders:

``/in``
    The partner uploads here (write only). When an upload's file handle is
    closed, the whole file is handed to ``on_upload(partner_code, filename,
    data)``. If ``on_upload`` raises, the close fails with an SFTP failure
    ("upload not accepted, send it again") so the partner's client knows it
    must retry. On success the file is removed from ``in/`` at once: the hub
    has stored it, and a partner cannot download it again. For the rest of
    that SSH session ``stat`` still answers for it (clients such as paramiko's
    ``put`` stat the file after upload to confirm its size).
    Uploads whose names match ``temp_patterns`` (``*.tmp``, ``*.part``,
    ``*.filepart``) are kept in ``in/`` instead, and handed over when the
    partner renames them to their final name; the partner may also remove them.
    An upload cut off before its close is discarded.
``/out``
    The hub puts files here (:class:`MailboxAdapter`, or any writer that
    writes under a hidden ``.name`` and renames); the partner reads and deletes
    them. Hidden names (``.*``) are never listed or served.

Refused with SFTP permission errors: ``..`` above the jail, any path other
than ``/``, ``/in``, ``/out`` and plain file names directly inside those two,
creating or reading symlinks, following a symlink found on disk, mkdir/rmdir,
reading ``in/`` and writing ``out/``. Other partners' folders are not
reachable by any path.

The host key is an Ed25519 key at ``host_key_path``, generated (mode 0600) if
missing. Nothing here touches a database: ``accounts`` and ``on_upload`` are
callables the hub passes in. Passwords and keys are never logged.
"""

from __future__ import annotations

import base64
import fnmatch
import logging
import os
import re
import socket
import stat
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import paramiko
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from paramiko.sftp import CMD_CLOSE
from paramiko.sftp_server import SFTP_BAD_MESSAGE, SFTP_FAILURE, SFTP_OK

from adapters.base import InboundFile, Receipt
from adapters.folder import FolderAdapter, FolderSettings

__all__ = ["MailboxAccount", "MailboxServer", "MailboxAdapter", "UploadRefused", "load_or_create_host_key"]

log = logging.getLogger(__name__)

SFTP_PERMISSION_DENIED = paramiko.sftp.SFTP_PERMISSION_DENIED
SFTP_NO_SUCH_FILE = paramiko.sftp.SFTP_NO_SUCH_FILE
SFTP_OP_UNSUPPORTED = paramiko.sftp.SFTP_OP_UNSUPPORTED

_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_hasher = PasswordHasher()


@dataclass(frozen=True)
class MailboxAccount:
    """A partner's login: ``partner_code`` names its jail folder.

    ``password_hash`` is an argon2 hash (as ``hub.accounts`` stores them) or
    None for key-only accounts; ``authorized_keys`` are OpenSSH public key
    lines ("ssh-ed25519 AAAA... comment").
    """

    partner_code: str
    password_hash: str | None = field(default=None, repr=False)
    authorized_keys: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not _CODE.match(self.partner_code):
            raise ValueError(f"partner_code {self.partner_code!r} is not a safe folder name")

    def check_password(self, password: str) -> bool:
        if not self.password_hash:
            return False
        try:
            return bool(_hasher.verify(self.password_hash, password))
        except (VerificationError, InvalidHashError):
            return False

    def check_key(self, key: paramiko.PKey) -> bool:
        blob = key.asbytes()
        for line in self.authorized_keys:
            parts = line.split()
            for i, token in enumerate(parts[:-1]):
                if token == key.get_name() or (token == "ssh-rsa" and key.get_name().startswith("rsa-")):
                    try:
                        if base64.b64decode(parts[i + 1]) == blob:
                            return True
                    except ValueError:
                        pass
                    break
        return False


class UploadRefused(Exception):
    """``on_upload`` failed; the partner's close (or rename) gets an SFTP failure."""


def load_or_create_host_key(path: Path) -> paramiko.PKey:
    """Load the Ed25519 host key at ``path``; generate it (mode 0600) if missing."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        )
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
        log.info("generated SFTP host key %s", path)
    return paramiko.Ed25519Key.from_private_key_file(str(path))


class _Denied(Exception):
    pass


# -- paramiko plumbing -------------------------------------------------------------


class _Auth(paramiko.ServerInterface):
    def __init__(self, mailbox: "MailboxServer", peer: str):
        self.mailbox = mailbox
        self.peer = peer
        self.account: MailboxAccount | None = None

    def _lookup(self, username: str) -> MailboxAccount | None:
        try:
            return self.mailbox.accounts(username)
        except Exception:  # the hub's lookup failed: refuse this login, keep serving
            log.exception("account lookup for %r failed", username)
            return None

    def get_allowed_auths(self, username: str) -> str:
        return "publickey,password"

    def check_auth_password(self, username: str, password: str) -> int:
        account = self._lookup(username)
        if account is not None and account.check_password(password):
            self.account = account
            log.info("SFTP login %s (password) from %s", username, self.peer)
            return paramiko.AUTH_SUCCESSFUL
        log.warning("SFTP password login refused for %r from %s", username, self.peer)
        return paramiko.AUTH_FAILED

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        account = self._lookup(username)
        if account is not None and account.check_key(key):
            self.account = account
            log.info("SFTP login %s (key %s) from %s", username, key.get_name(), self.peer)
            return paramiko.AUTH_SUCCESSFUL
        return paramiko.AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind == "session":
            return paramiko.OPEN_SUCCEEDED
        return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED


class _SftpServer(paramiko.SFTPServer):
    """paramiko's SFTP server, except that a refused upload's CLOSE reports why.

    (paramiko answers every CLOSE with OK; the close of an upload the hub did
    not accept must fail so the client retries.)
    """

    def _process(self, t: int, request_number: int, msg: Any) -> None:
        if t != CMD_CLOSE:
            super()._process(t, request_number, msg)
            return
        handle = msg.get_binary()
        if handle in self.folder_table:
            del self.folder_table[handle]
            self._send_status(request_number, SFTP_OK)
        elif handle in self.file_table:
            fh = self.file_table.pop(handle)
            try:
                fh.close()
            except UploadRefused as exc:
                self._send_status(request_number, SFTP_FAILURE, str(exc))
                return
            self._send_status(request_number, SFTP_OK)
        else:
            self._send_status(request_number, SFTP_BAD_MESSAGE, "Invalid handle")


class _ReadHandle(paramiko.SFTPHandle):
    def __init__(self, fd: int):
        super().__init__()
        self.fd = fd

    def read(self, offset: int, length: int) -> bytes | int:
        try:
            return os.pread(self.fd, length, offset)
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)

    def write(self, offset: int, data: bytes) -> int:
        return SFTP_PERMISSION_DENIED

    def stat(self) -> paramiko.SFTPAttributes | int:
        return paramiko.SFTPAttributes.from_stat(os.fstat(self.fd))

    def chattr(self, attr: paramiko.SFTPAttributes) -> int:
        return SFTP_OK

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class _UploadHandle(paramiko.SFTPHandle):
    def __init__(self, jail: "_Jail", name: str, temp: Path, fd: int):
        super().__init__()
        self.jail, self.name, self.temp, self.fd = jail, name, temp, fd
        self.size = 0
        self.failed: str | None = None  # why a write failed: the upload is then discarded at close

    def read(self, offset: int, length: int) -> int:
        return SFTP_PERMISSION_DENIED

    def write(self, offset: int, data: bytes) -> int:
        """Write a block; after any failed write the whole upload is void (close discards it)."""
        if self.failed is not None:
            return SFTP_FAILURE
        end = offset + len(data)
        limit = self.jail.mailbox.max_upload_bytes
        if end > limit:
            self.failed = f"upload is larger than the mailbox limit of {limit} bytes"
            return SFTP_FAILURE
        try:
            os.pwrite(self.fd, data, offset)
        except OSError as exc:
            self.failed = f"write failed at offset {offset}: {os.strerror(exc.errno or 0)}"
            return paramiko.SFTPServer.convert_errno(exc.errno)
        self.size = max(self.size, end)
        return SFTP_OK

    def stat(self) -> paramiko.SFTPAttributes | int:
        return paramiko.SFTPAttributes.from_stat(os.fstat(self.fd))

    def chattr(self, attr: paramiko.SFTPAttributes) -> int:
        return SFTP_OK

    def close(self) -> None:
        if self.fd < 0:
            return
        fd, self.fd = self.fd, -1
        try:
            if self.jail.ended:  # connection gone before the client closed: incomplete
                log.warning("discarding incomplete upload %s/in/%s", self.jail.code, self.name)
                os.unlink(self.temp)
                return
            if self.failed is not None:  # a write was refused: what is on disk is a cut-off file
                log.warning("discarding failed upload %s/in/%s: %s", self.jail.code, self.name, self.failed)
                os.unlink(self.temp)
                raise UploadRefused(f"upload not accepted: {self.failed}; nothing was stored, send it again")
            self.jail.finish_upload(self.name, self.temp)
        finally:
            os.close(fd)


class _Jail(paramiko.SFTPServerInterface):
    def __init__(self, server: _Auth, mailbox: "MailboxServer", *args: Any, **kwargs: Any):
        super().__init__(server, *args, **kwargs)
        assert server.account is not None
        self.mailbox = mailbox
        self.code = server.account.partner_code
        self.home = mailbox.root / self.code
        self.ended = False
        self.received: dict[str, paramiko.SFTPAttributes] = {}
        for sub in ("in", "out"):
            (self.home / sub).mkdir(parents=True, exist_ok=True)

    def session_ended(self) -> None:
        self.ended = True

    # path handling: the virtual tree is "/", "/in", "/out" and plain names inside those two.

    def _parts(self, path: str) -> list[str]:
        parts: list[str] = []
        for comp in path.split("/"):
            if comp in ("", "."):
                continue
            if comp == "..":
                if not parts:
                    raise _Denied(path)
                parts.pop()
            else:
                parts.append(comp)
        if len(parts) > 2 or (parts and parts[0] not in ("in", "out")):
            raise _Denied(path)
        if len(parts) == 2:
            name = parts[1]
            if name.startswith(".") or "\\" in name or "\x00" in name or len(name) > 200 or any(ord(c) < 32 for c in name):
                raise _Denied(path)
        return parts

    def _real(self, parts: list[str]) -> Path:
        real = self.home.joinpath(*parts)
        if real.is_symlink():
            raise _Denied(str(real))
        return real

    def _is_temp(self, name: str) -> bool:
        return any(fnmatch.fnmatch(name, p) for p in self.mailbox.temp_patterns)

    def canonicalize(self, path: str) -> str:
        try:
            return "/" + "/".join(self._parts(path))
        except _Denied:
            return "/"

    def list_folder(self, path: str) -> list[paramiko.SFTPAttributes] | int:
        try:
            parts = self._parts(path)
            if len(parts) == 2:
                return SFTP_NO_SUCH_FILE
            real = self._real(parts)
            names = ["in", "out"] if not parts else sorted(os.listdir(real))
            out = []
            for name in names:
                if name.startswith("."):
                    continue
                st = os.lstat(real / name)
                if stat.S_ISLNK(st.st_mode) or (parts and not stat.S_ISREG(st.st_mode)):
                    continue
                out.append(paramiko.SFTPAttributes.from_stat(st, name))
            return out
        except _Denied:
            return SFTP_PERMISSION_DENIED
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)

    def stat(self, path: str) -> paramiko.SFTPAttributes | int:
        try:
            parts = self._parts(path)
            if len(parts) == 2 and parts[0] == "in" and parts[1] in self.received and not (self.home / "in" / parts[1]).exists():
                return self.received[parts[1]]
            return paramiko.SFTPAttributes.from_stat(os.lstat(self._real(parts)))
        except _Denied:
            return SFTP_PERMISSION_DENIED
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)

    lstat = stat

    def open(self, path: str, flags: int, attr: paramiko.SFTPAttributes) -> paramiko.SFTPHandle | int:
        try:
            parts = self._parts(path)
            if len(parts) != 2:
                return SFTP_PERMISSION_DENIED
            area, name = parts
            real = self._real(parts)
            writing = flags & (os.O_WRONLY | os.O_RDWR)
            if area == "out":
                if writing:
                    return SFTP_PERMISSION_DENIED
                return _ReadHandle(os.open(real, os.O_RDONLY | os.O_NOFOLLOW))
            if not writing:
                return SFTP_PERMISSION_DENIED  # in/ is write only
            if flags & os.O_APPEND:
                return SFTP_OP_UNSUPPORTED  # every upload is a whole file
            temp = self.home / "in" / f".upload-{uuid.uuid4().hex}"
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            return _UploadHandle(self, name, temp, fd)
        except _Denied:
            return SFTP_PERMISSION_DENIED
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)

    def finish_upload(self, name: str, temp: Path) -> None:
        """A complete upload: keep a temp-named file, else hand it to the hub (raise UploadRefused if it fails)."""
        final = self.home / "in" / name
        if self._is_temp(name):
            if final.is_symlink() or final.is_dir():
                os.unlink(temp)
                raise UploadRefused("upload not accepted: name is in use")
            os.replace(temp, final)
            return
        self._hand_over(name, temp)

    def _hand_over(self, name: str, path: Path) -> None:
        st = os.lstat(path)
        try:
            data = path.read_bytes()
            self.mailbox.on_upload(self.code, name, data)
        except Exception as exc:
            log.error("upload %s/in/%s (%d bytes) not accepted: %s", self.code, name, st.st_size, exc)
            os.unlink(path)
            raise UploadRefused("upload not accepted by the hub; send it again") from exc
        os.unlink(path)
        self.received[name] = paramiko.SFTPAttributes.from_stat(st)
        log.info("received %s/in/%s (%d bytes)", self.code, name, st.st_size)

    def remove(self, path: str) -> int:
        try:
            parts = self._parts(path)
            if len(parts) != 2 or (parts[0] == "in" and not self._is_temp(parts[1])):
                return SFTP_PERMISSION_DENIED
            os.unlink(self._real(parts))
            return SFTP_OK
        except _Denied:
            return SFTP_PERMISSION_DENIED
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)

    def rename(self, oldpath: str, newpath: str) -> int:
        try:
            old, new = self._parts(oldpath), self._parts(newpath)
            if len(old) != 2 or len(new) != 2 or old[0] != "in" or new[0] != "in" or not self._is_temp(old[1]):
                return SFTP_PERMISSION_DENIED
            src = self._real(old)
            if not src.is_file():
                return SFTP_NO_SUCH_FILE
            if self._is_temp(new[1]):
                os.replace(src, self._real(new))
                return SFTP_OK
            self._hand_over(new[1], src)
            return SFTP_OK
        except _Denied:
            return SFTP_PERMISSION_DENIED
        except UploadRefused:
            return SFTP_FAILURE
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)

    posix_rename = rename

    def chattr(self, path: str, attr: paramiko.SFTPAttributes) -> int:
        try:
            parts = self._parts(path)
            if len(parts) == 2 and (self._real(parts).exists() or parts[1] in self.received):
                return SFTP_OK  # times and modes are not kept; accept so clients do not fail
            return SFTP_PERMISSION_DENIED
        except _Denied:
            return SFTP_PERMISSION_DENIED

    def mkdir(self, path: str, attr: paramiko.SFTPAttributes) -> int:
        return SFTP_PERMISSION_DENIED

    def rmdir(self, path: str) -> int:
        return SFTP_PERMISSION_DENIED

    def symlink(self, target_path: str, path: str) -> int:
        return SFTP_PERMISSION_DENIED

    def readlink(self, path: str) -> int:
        return SFTP_PERMISSION_DENIED


# -- the server ------------------------------------------------------------------


class MailboxServer:
    """An SFTP server for hub-hosted partner mailboxes. See the module docstring.

    ``accounts(username)`` returns the :class:`MailboxAccount` for a login name
    or None; ``on_upload(partner_code, filename, data)`` stores a complete
    upload (and commits) or raises. Both are called on connection threads.
    """

    def __init__(
        self,
        host: str,
        port: int,
        host_key_path: Path,
        accounts: Callable[[str], MailboxAccount | None],
        on_upload: Callable[[str, str, bytes], None],
        root: Path,
        *,
        temp_patterns: tuple[str, ...] = ("*.tmp", "*.part", "*.filepart"),
        max_upload_bytes: int = 512 * 1024 * 1024,
        auth_timeout: float = 30.0,
    ):
        self.host = host
        self._requested_port = port
        self.host_key = load_or_create_host_key(Path(host_key_path))
        self.accounts = accounts
        self.on_upload = on_upload
        self.root = Path(root)
        self.temp_patterns = temp_patterns
        self.max_upload_bytes = max_upload_bytes
        self.auth_timeout = auth_timeout
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._transports: set[paramiko.Transport] = set()
        self._workers: set[threading.Thread] = set()

    @property
    def port(self) -> int:
        """The bound port once started (useful with port 0), else the configured one."""
        return int(self._sock.getsockname()[1]) if self._sock is not None else self._requested_port

    @property
    def host_key_line(self) -> str:
        """``"ssh-ed25519 AAAA..."`` for partners to pin."""
        return f"{self.host_key.get_name()} {self.host_key.get_base64()}"

    def start(self) -> None:
        """Bind and serve in a background thread (a thread per connection)."""
        if self._thread is not None:
            raise RuntimeError("MailboxServer already started")
        self.root.mkdir(parents=True, exist_ok=True)
        sock = socket.create_server((self.host, self._requested_port), reuse_port=False)
        sock.settimeout(0.5)
        self._sock = sock
        self._stopping.clear()
        self._thread = threading.Thread(target=self._accept_loop, name=f"sftp-mailbox:{self.port}", daemon=True)
        self._thread.start()
        log.info("SFTP mailboxes on %s:%d, root %s", self.host, self.port, self.root)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, close every connection and wait for the threads."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
        with self._lock:
            transports = list(self._transports)
            workers = list(self._workers)
        for t in transports:
            t.close()
        for w in workers:
            w.join(timeout)
        if self._sock is not None:
            self._sock.close()
        self._thread = None
        self._sock = None

    def _accept_loop(self) -> None:
        assert self._sock is not None
        while not self._stopping.is_set():
            try:
                conn, addr = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                if self._stopping.is_set():
                    return
                log.exception("SFTP accept failed")
                time.sleep(0.5)
                continue
            worker = threading.Thread(target=self._serve, args=(conn, f"{addr[0]}:{addr[1]}"), daemon=True)
            with self._lock:
                self._workers.add(worker)
            worker.start()

    def _serve(self, conn: socket.socket, peer: str) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        transport = paramiko.Transport(conn)
        with self._lock:
            self._transports.add(transport)
        try:
            transport.add_server_key(self.host_key)
            transport.set_subsystem_handler("sftp", _SftpServer, _Jail, self)
            auth = _Auth(self, peer)
            transport.start_server(server=auth)
            deadline = time.monotonic() + self.auth_timeout
            channels = []  # held: a channel that is garbage-collected closes itself
            while transport.is_active() and not self._stopping.is_set():
                if not transport.is_authenticated() and time.monotonic() > deadline:
                    log.warning("SFTP connection from %s did not log in in time", peer)
                    break
                chan = transport.accept(0.5)  # subsystems run on their own threads
                if chan is not None:
                    channels.append(chan)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            log.info("SFTP connection from %s ended: %s", peer, exc)
        finally:
            transport.close()
            with self._lock:
                self._transports.discard(transport)
                self._workers.discard(threading.current_thread())


class MailboxAdapter:
    """Outbound delivery into a hosted mailbox: writes ``root/<partner_code>/out/<name>``.

    The file is written under a hidden name and renamed into place (the
    mailbox server never lists hidden names), via :class:`FolderAdapter`.
    Inbound files arrive through ``MailboxServer(on_upload=...)``, so
    ``fetch()`` yields nothing.
    """

    def __init__(self, root: Path, partner_code: str):
        MailboxAccount(partner_code)  # validates the code as a folder name
        self._folder = FolderAdapter(FolderSettings(outbound=Path(root) / partner_code / "out"))

    def fetch(self) -> Any:
        return iter(())

    def confirm(self, file: InboundFile) -> None:
        return None

    def deliver(self, name: str, data: bytes) -> Receipt:
        return self._folder.deliver(name, data)


