"""MailboxServer: hosted SFTP mailboxes, exercised with OpenSSH's sftp and with SftpAdapter."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import threading
import time

import paramiko
import pytest
from argon2 import PasswordHasher

from adapters.base import TransportError
from adapters.sftp import SftpAdapter, SftpSettings, _close_strictly
from adapters.sftp_server import MailboxAccount, MailboxAdapter, MailboxServer

SFTP_CLI = shutil.which("sftp")
SSHPASS = shutil.which("sshpass")
PASSWORD = "correct horse battery staple"


class Hub:
    """Collects uploads; ``fail`` makes on_upload raise like a failed commit."""

    def __init__(self) -> None:
        self.uploads: list[tuple[str, str, bytes]] = []
        self.fail = False
        self.lock = threading.Lock()

    def on_upload(self, code: str, name: str, data: bytes) -> None:
        if self.fail:
            raise RuntimeError("database is locked")
        with self.lock:
            self.uploads.append((code, name, data))


@pytest.fixture
def mailbox(tmp_path, ssh_keys):
    hub = Hub()
    pw_hash = PasswordHasher().hash(PASSWORD)
    accounts = {
        "acme": MailboxAccount("ACME", password_hash=pw_hash, authorized_keys=(ssh_keys["ed25519"].public_line, ssh_keys["rsa"].public_line)),
        "other": MailboxAccount("OTHER", password_hash=pw_hash),
    }
    server = MailboxServer("127.0.0.1", 0, tmp_path / "keys" / "host_ed25519", accounts.get, hub.on_upload, tmp_path / "mailboxes")
    server.start()
    server.hub = hub  # type: ignore[attr-defined]
    yield server
    server.stop()


def client_settings(server, **over) -> SftpSettings:
    d = {
        "host": "127.0.0.1", "port": server.port, "username": "acme", "password": PASSWORD,
        "host_keys": [server.host_key_line], "inbound_dir": "/out", "outbound_dir": "/in", "completeness": "rename",
    }
    d.update(over)
    return SftpSettings.from_dict(d)


def raw_client(server, user="acme") -> tuple[paramiko.Transport, paramiko.SFTPClient]:
    t = paramiko.Transport(("127.0.0.1", server.port))
    t.connect(hostkey=server.host_key, username=user, password=PASSWORD)
    sftp = paramiko.SFTPClient.from_transport(t)
    assert sftp is not None
    return t, sftp


def test_host_key_generated_once(tmp_path, mailbox):
    key_path = tmp_path / "keys" / "host_ed25519"
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    again = MailboxServer("127.0.0.1", 0, key_path, lambda u: None, lambda *a: None, tmp_path / "m2")
    assert again.host_key_line == mailbox.host_key_line and mailbox.host_key_line.startswith("ssh-ed25519 ")


@pytest.mark.parametrize("mode", ["rename", "direct"])
def test_adapter_password_upload_lands_via_on_upload(mailbox, mode):
    with SftpAdapter(client_settings(mailbox, outbound_mode=mode)) as a:
        receipt = a.deliver("ORDERS_1.edi", b"UNB+UNOC:3'")  # stat after upload still answers
    assert mailbox.hub.uploads == [("ACME", "ORDERS_1.edi", b"UNB+UNOC:3'")]
    assert receipt.data["remote_path"] == "/in/ORDERS_1.edi"
    assert os.listdir(mailbox.root / "ACME" / "in") == []  # handed over, not kept


def test_refused_upload_fails_the_close_and_client_sees_it(mailbox):
    mailbox.hub.fail = True
    with pytest.raises(TransportError, match="upload not accepted by the hub") as exc:
        SftpAdapter(client_settings(mailbox, outbound_mode="direct")).deliver("ORDERS_1.edi", b"x")
    assert exc.value.retryable is True
    t, sftp = raw_client(mailbox)
    fh = sftp.open("/in/x.edi", "wb")
    fh.write(b"x")
    with pytest.raises(IOError, match="not accepted"):  # (paramiko's own close() would swallow it)
        _close_strictly(fh)
    t.close()
    assert os.listdir(mailbox.root / "ACME" / "in") == []


def test_outbound_via_mailbox_adapter_then_partner_fetches_and_deletes(mailbox):
    MailboxAdapter(mailbox.root, "ACME").deliver("ORDRSP_9.edi", b"answer")
    with SftpAdapter(client_settings(mailbox)) as a:
        files = list(a.fetch())
        assert [(f.name, f.data) for f in files] == [("ORDRSP_9.edi", b"answer")]
        a.confirm(files[0])
    assert os.listdir(mailbox.root / "ACME" / "out") == []


def test_jail_refuses_traversal_symlinks_and_other_partners(mailbox, tmp_path):
    MailboxAdapter(mailbox.root, "OTHER").deliver("secret.edi", b"theirs")
    secret = tmp_path / "secret.txt"
    secret.write_text("no")
    t, sftp = raw_client(mailbox)
    (mailbox.root / "ACME" / "out" / "link.edi").symlink_to(secret)
    try:
        assert sorted(sftp.listdir("/")) == ["in", "out"]
        assert sftp.listdir("/out") == []  # the planted symlink is not listed
        for bad in ("/../OTHER/out/secret.edi", "../OTHER/out/secret.edi", "/in/../../OTHER/out/secret.edi",
                    str(mailbox.root / "OTHER" / "out" / "secret.edi"), "/etc/passwd", "/out/link.edi"):
            with pytest.raises(PermissionError):
                sftp.open(bad, "rb")
        with pytest.raises(PermissionError):
            sftp.listdir("/..")
        with pytest.raises(PermissionError):
            sftp.symlink("/out", "/in/x")
        with pytest.raises(PermissionError):
            sftp.mkdir("/in/sub")
        with pytest.raises(PermissionError):
            sftp.open("/out/new.edi", "wb")  # out/ is read only for the partner
        with pytest.raises(PermissionError):
            sftp.open("/in/.hidden", "wb")
        with pytest.raises(PermissionError):
            sftp.rename("/in/a.tmp", "/out/a.edi")
        assert sftp.normalize("..") == "/"
    finally:
        t.close()
    assert mailbox.hub.uploads == []


def test_temp_name_is_handed_over_on_rename(mailbox):
    t, sftp = raw_client(mailbox)
    try:
        with sftp.open("/in/big.edi.part", "wb") as fh:
            fh.write(b"part one ")
            fh.write(b"part two")
        assert mailbox.hub.uploads == []
        sftp.posix_rename("/in/big.edi.part", "/in/big.edi")
        assert mailbox.hub.uploads == [("ACME", "big.edi", b"part one part two")]
        with sftp.open("/in/gone.tmp", "wb") as fh:
            fh.write(b"x")
        sftp.remove("/in/gone.tmp")
    finally:
        t.close()
    assert os.listdir(mailbox.root / "ACME" / "in") == []


def test_upload_cut_off_before_close_is_discarded(mailbox):
    t, sftp = raw_client(mailbox)
    fh = sftp.open("/in/half.edi", "wb")
    fh.write(b"x" * 10000)
    fh.flush()
    t.close()
    deadline = time.monotonic() + 5
    while os.listdir(mailbox.root / "ACME" / "in") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert os.listdir(mailbox.root / "ACME" / "in") == []
    assert mailbox.hub.uploads == []


def test_wrong_password_and_unknown_user_refused(mailbox):
    for user, pw in (("acme", "nope"), ("nobody", PASSWORD)):
        with pytest.raises(TransportError, match="refused the login") as exc:
            SftpAdapter(client_settings(mailbox, username=user, password=pw)).deliver("x.edi", b"x")
        assert exc.value.retryable is False


@pytest.mark.parametrize("kind", ["ed25519", "rsa"])
def test_key_auth_with_adapter(mailbox, ssh_keys, kind):
    s = client_settings(mailbox, password=None, private_key=ssh_keys[kind].private_pem)
    with SftpAdapter(s) as a:
        a.deliver("k.edi", b"k")
    assert mailbox.hub.uploads == [("ACME", "k.edi", b"k")]
    with pytest.raises(TransportError, match="refused the login"):
        SftpAdapter(client_settings(mailbox, password=None, private_key=ssh_keys["stranger"].private_pem)).deliver("x", b"x")


@pytest.mark.skipif(SFTP_CLI is None, reason="OpenSSH sftp client not installed (Debian package openssh-client)")
def test_openssh_cli_key_auth_put_get_and_refusals(mailbox, ssh_keys, tmp_path):
    MailboxAdapter(mailbox.root, "ACME").deliver("ORDRSP_1.edi", b"answer")
    src = tmp_path / "ORDERS_5.edi"
    src.write_bytes(b"UNB+UNOC:3+A+B'")
    key = ["-i", str(ssh_keys["ed25519"].path), "-o", "BatchMode=yes"]
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{mailbox.port} {mailbox.host_key_line}\n")
    batch = tmp_path / "b1"
    batch.write_text(f"put {src} /in/ORDERS_5.edi\nget /out/ORDRSP_1.edi {tmp_path}/got.edi\nrm /out/ORDRSP_1.edi\n")
    base = [SFTP_CLI, "-P", str(mailbox.port), "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={known}", *key]
    subprocess.run([*base, "-b", str(batch), "acme@127.0.0.1"], check=True, capture_output=True, timeout=30)
    assert mailbox.hub.uploads == [("ACME", "ORDERS_5.edi", b"UNB+UNOC:3+A+B'")]
    assert (tmp_path / "got.edi").read_bytes() == b"answer"
    assert os.listdir(mailbox.root / "ACME" / "out") == []
    for line in ("get /../OTHER/out/x.edi", f"put {src} /../OTHER/in/x.edi", "symlink /out /in/l", "mkdir /in/d",
                 f"put {src} /out/x.edi"):
        batch.write_text(line + "\n")
        res = subprocess.run([*base, "-b", str(batch), "acme@127.0.0.1"], capture_output=True, text=True, timeout=30)
        assert res.returncode != 0, line
    mailbox.hub.fail = True
    batch.write_text(f"put {src} /in/ORDERS_6.edi\n")
    res = subprocess.run([*base, "-b", str(batch), "acme@127.0.0.1"], capture_output=True, text=True, timeout=30)
    assert res.returncode != 0 and "close remote: Failure" in res.stderr
    # a changed host key is refused by the partner's client
    known.write_text(f"[127.0.0.1]:{mailbox.port} {ssh_keys['other_host'].public_line}\n")
    res = subprocess.run([*base, "-b", str(batch), "acme@127.0.0.1"], capture_output=True, text=True, timeout=30)
    assert res.returncode != 0 and "HOST IDENTIFICATION HAS CHANGED" in res.stderr


@pytest.mark.skipif(SFTP_CLI is None or SSHPASS is None, reason="sftp or sshpass not installed (Debian packages openssh-client, sshpass)")
def test_openssh_cli_password_auth(mailbox, tmp_path):
    src = tmp_path / "ORDERS_8.edi"
    src.write_bytes(b"eight")
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{mailbox.port} {mailbox.host_key_line}\n")
    env = {**os.environ, "SSHPASS": PASSWORD}
    subprocess.run(
        [SSHPASS, "-e", SFTP_CLI, "-P", str(mailbox.port), "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={known}",
         "-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password", "acme@127.0.0.1"],
        input=f"put {src} /in/ORDERS_8.edi\nbye\n", check=True, capture_output=True, text=True, timeout=30, env=env,
    )
    assert mailbox.hub.uploads == [("ACME", "ORDERS_8.edi", b"eight")]


def test_many_connections_at_once(mailbox):
    errors: list[BaseException] = []

    def upload(i: int) -> None:
        try:
            with SftpAdapter(client_settings(mailbox)) as a:
                a.deliver(f"O_{i}.edi", str(i).encode())
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=upload, args=(i,)) for i in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert sorted(n for _, n, _ in mailbox.hub.uploads) == sorted(f"O_{i}.edi" for i in range(6))



@pytest.fixture
def small_mailbox(tmp_path):
    """A mailbox with a 100,000-byte upload limit, password login for ACME."""
    hub = Hub()
    accounts = {"acme": MailboxAccount("ACME", password_hash=PasswordHasher().hash(PASSWORD))}
    server = MailboxServer("127.0.0.1", 0, tmp_path / "keys" / "host_ed25519", accounts.get, hub.on_upload,
                           tmp_path / "mailboxes", max_upload_bytes=100_000)
    server.start()
    server.hub = hub  # type: ignore[attr-defined]
    yield server
    server.stop()


@pytest.mark.parametrize("name", ["big.edi", "big.edi.part"])
def test_upload_over_the_limit_fails_and_nothing_is_stored(small_mailbox, name):
    t, sftp = raw_client(small_mailbox)
    try:
        fh = sftp.open(f"/in/{name}", "wb")
        with pytest.raises(IOError):
            for i in range(30):  # 300,000 bytes in 10,000-byte writes
                fh.write(b"x" * 10_000)
                fh.flush()
        with pytest.raises(IOError, match="larger than the mailbox limit of 100000 bytes"):
            _close_strictly(fh)
        if name.endswith(".part"):  # the temp name is gone too: the rename finds nothing to hand over
            with pytest.raises(IOError):
                sftp.posix_rename(f"/in/{name}", "/in/big.edi")
    finally:
        t.close()
    assert small_mailbox.hub.uploads == []
    assert os.listdir(small_mailbox.root / "ACME" / "in") == []


def test_upload_that_hits_a_full_disk_is_discarded(mailbox, monkeypatch):
    real_pwrite = os.pwrite

    def pwrite(fd: int, data: bytes, offset: int) -> int:
        if offset >= 20_000:
            raise OSError(28, os.strerror(28))  # ENOSPC
        return real_pwrite(fd, data, offset)

    t, sftp = raw_client(mailbox)
    try:
        fh = sftp.open("/in/full.edi", "wb")
        monkeypatch.setattr(os, "pwrite", pwrite)
        with pytest.raises(IOError):
            for _ in range(10):
                fh.write(b"y" * 10_000)
                fh.flush()
        with pytest.raises(IOError, match="No space left on device"):
            _close_strictly(fh)
    finally:
        monkeypatch.undo()
        t.close()
    assert mailbox.hub.uploads == []
    assert os.listdir(mailbox.root / "ACME" / "in") == []


@pytest.mark.skipif(SFTP_CLI is None or SSHPASS is None, reason="sftp or sshpass not installed (Debian packages openssh-client, sshpass)")
def test_openssh_cli_upload_over_the_limit_fails_and_nothing_is_stored(small_mailbox, tmp_path):
    src = tmp_path / "ORDERS_BIG.edi"
    src.write_bytes(b"z" * 300_000)
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{small_mailbox.port} {small_mailbox.host_key_line}\n")
    batch = tmp_path / "batch"
    batch.write_text(f"put {src} /in/ORDERS_BIG.edi\n")
    res = subprocess.run(
        [SSHPASS, "-e", SFTP_CLI, "-P", str(small_mailbox.port), "-o", "StrictHostKeyChecking=yes",
         "-o", f"UserKnownHostsFile={known}", "-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password",
         "-o", "BatchMode=no", "-b", str(batch), "acme@127.0.0.1"],  # (-b alone would turn password login off)
        capture_output=True, text=True, timeout=30, env={**os.environ, "SSHPASS": PASSWORD},
    )
    assert res.returncode != 0 and "Failure" in res.stderr, res.stderr
    assert small_mailbox.hub.uploads == []
    assert os.listdir(small_mailbox.root / "ACME" / "in") == []
