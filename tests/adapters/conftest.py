"""Fixtures for transport tests: a real OpenSSH sshd on loopback, keys and certificates.

The sshd is Debian's ``openssh-server`` started by the test as the current
user (``sshd -D -e -f CONFIG``) with its own host keys, authorized keys and
``Subsystem sftp internal-sftp``. Keys and X.509 certificates are generated
with ``cryptography``. Tests that need a binary skip only when it is absent.
"""

from __future__ import annotations

import datetime as dt
import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.x509.oid import NameOID

SSHD = shutil.which("sshd") or ("/usr/sbin/sshd" if os.path.exists("/usr/sbin/sshd") else None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class SshKey:
    """A key pair: ``private_pem`` (OpenSSH format), ``public_line`` ("ssh-ed25519 AAAA..."), ``path``."""

    private_pem: str
    public_line: str
    path: Path


def make_ssh_key(directory: Path, name: str, kind: str = "ed25519") -> SshKey:
    key: ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey
    key = ed25519.Ed25519PrivateKey.generate() if kind == "ed25519" else rsa.generate_private_key(65537, 2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode()
    pub = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    path = directory / name
    path.write_text(pem)
    path.chmod(0o600)
    (directory / f"{name}.pub").write_text(pub + "\n")
    return SshKey(pem, pub, path)


@pytest.fixture(scope="session")
def ssh_keys(tmp_path_factory) -> dict[str, SshKey]:
    """Client keys (ed25519, rsa, stranger) and server host keys (host_ed25519, host_rsa, other_host)."""
    d = tmp_path_factory.mktemp("sshkeys")
    return {
        "ed25519": make_ssh_key(d, "id_ed25519"),
        "rsa": make_ssh_key(d, "id_rsa", "rsa"),
        "stranger": make_ssh_key(d, "id_stranger"),
        "host_ed25519": make_ssh_key(d, "ssh_host_ed25519_key"),
        "host_rsa": make_ssh_key(d, "ssh_host_rsa_key", "rsa"),
        "other_host": make_ssh_key(d, "other_host_key"),
    }


@dataclass
class Sshd:
    """A running sshd: ``port``, ``user``, ``root`` (a scratch directory it serves), ``proc``."""

    port: int
    user: str
    root: Path
    proc: subprocess.Popen[bytes]
    log: Path
    host_key_lines: list[str] = field(default_factory=list)

    def children(self) -> list[int]:
        """PIDs of every descendant of the listening sshd (the per-connection processes)."""
        parents: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry))
        out, todo = [], [self.proc.pid]
        while todo:
            for child in parents.get(todo.pop(), []):
                out.append(child)
                todo.append(child)
        return out

    def drop_connections(self) -> None:
        """Kill the per-connection sshd processes (the listener stays up)."""
        for pid in self.children():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def stop(self) -> None:
        self.drop_connections()
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start_sshd(base: Path, keys: dict[str, SshKey], *, sftp: str = "internal-sftp") -> Sshd:
    if SSHD is None:
        pytest.skip("OpenSSH sshd not installed (Debian package openssh-server)")
    base.mkdir(parents=True, exist_ok=True)
    root = base / "files"
    root.mkdir(exist_ok=True)
    auth = base / "authorized_keys"
    auth.write_text(keys["ed25519"].public_line + "\n" + keys["rsa"].public_line + "\n")
    auth.chmod(0o600)
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation directory
    port = free_port()
    cfg = base / "sshd_config"
    cfg.write_text(
        "\n".join(
            [
                f"Port {port}",
                "ListenAddress 127.0.0.1",
                f"HostKey {keys['host_ed25519'].path}",
                f"HostKey {keys['host_rsa'].path}",
                f"PidFile {base / 'sshd.pid'}",
                f"AuthorizedKeysFile {auth}",
                "StrictModes no",
                "UsePAM no",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PubkeyAuthentication yes",
                "PermitRootLogin prohibit-password",
                "LogLevel VERBOSE",
                f"Subsystem sftp {sftp}",
                "",
            ]
        )
    )
    log = base / "sshd.log"
    with open(log, "wb") as log_fh:  # the child keeps its own descriptor
        proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(cfg)], stdout=log_fh, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"sshd exited: {log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                if s.recv(4).startswith(b"SSH-"):
                    break
        except OSError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"sshd did not start: {log.read_text()}")
        time.sleep(0.05)
    return Sshd(
        port=port,
        user=getpass.getuser(),
        root=root,
        proc=proc,
        log=log,
        host_key_lines=[keys["host_ed25519"].public_line, keys["host_rsa"].public_line],
    )


@pytest.fixture(scope="session")
def sshd_session(tmp_path_factory, ssh_keys) -> Iterator[Sshd]:
    server = start_sshd(tmp_path_factory.mktemp("sshd"), ssh_keys)
    yield server
    server.stop()


@pytest.fixture
def sshd(sshd_session: Sshd, tmp_path: Path) -> Sshd:
    """The session's sshd with a fresh directory per test at ``sshd.root`` (in/, out/, archive/ inside)."""
    root = tmp_path / "remote"
    for sub in ("in", "out"):
        (root / sub).mkdir(parents=True)
    return Sshd(sshd_session.port, sshd_session.user, root, sshd_session.proc, sshd_session.log, sshd_session.host_key_lines)


@pytest.fixture
def sshd_factory(tmp_path: Path, ssh_keys) -> Iterator[Callable[..., Sshd]]:
    """Start an extra sshd (e.g. ``sftp="internal-sftp -R"`` for a read-only server)."""
    started: list[Sshd] = []

    def make(**kwargs: str) -> Sshd:
        server = start_sshd(tmp_path / f"sshd{len(started)}", ssh_keys, **kwargs)
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


# -- X.509 for AS2 ---------------------------------------------------------------


@dataclass
class Identity:
    """An RSA key and a self-signed certificate, with PEM files on disk for openssl."""

    key: rsa.RSAPrivateKey
    cert: x509.Certificate
    key_path: Path
    cert_path: Path


def make_identity(directory: Path, name: str, *, days: int = 365, expired: bool = False, bits: int = 2048) -> Identity:
    key = rsa.generate_private_key(65537, bits)
    now = dt.datetime.now(dt.timezone.utc)
    start, end = (now - dt.timedelta(days=30), now - dt.timedelta(days=1)) if expired else (now - dt.timedelta(days=1), now + dt.timedelta(days=days))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Kontor tests")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_path = directory / f"{name}.key"
    cert_path = directory / f"{name}.pem"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return Identity(key, cert, key_path, cert_path)


@pytest.fixture(scope="session")
def identities(tmp_path_factory) -> dict[str, Identity]:
    """``hub`` (us), ``partner``, ``expired`` (a partner whose certificate has expired), ``stranger``."""
    d = tmp_path_factory.mktemp("x509")
    return {
        "hub": make_identity(d, "hub"),
        "partner": make_identity(d, "partner"),
        "expired": make_identity(d, "expired", expired=True),
        "stranger": make_identity(d, "stranger"),
    }
