"""SftpAdapter against a real OpenSSH sshd on 127.0.0.1 (see conftest.py)."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import time

import paramiko
import pytest

from adapters.base import TransportError
from adapters.sftp import SftpAdapter, SftpSettings

SFTP_CLI = shutil.which("sftp")


def settings(sshd, keys, **over) -> SftpSettings:
    d = {
        "host": "127.0.0.1",
        "port": sshd.port,
        "username": sshd.user,
        "private_key": keys["ed25519"].private_pem,
        "host_keys": [f"[127.0.0.1]:{sshd.port} {keys['host_ed25519'].public_line}"],
        "inbound_dir": str(sshd.root / "in"),
        "outbound_dir": str(sshd.root / "out"),
        "completeness": "rename",
        "stable_seconds": 0.3,
        "timeout": 10,
    }
    d.update(over)
    return SftpSettings.from_dict(d, where="partners/acme.toml channel sftp")


def fetch_all(adapter: SftpAdapter) -> dict[str, bytes]:
    return {f.name: f.data for f in adapter.fetch()}


# -- settings ------------------------------------------------------------------


def test_settings_errors_name_the_key(ssh_keys):
    base = {"host": "h", "username": "u", "password": "p", "host_keys": [ssh_keys["host_ed25519"].public_line], "inbound_dir": "in"}
    with pytest.raises(ValueError, match=r"acme.toml: unknown key 'hostname'"):
        SftpSettings.from_dict({**base, "hostname": "x"}, where="acme.toml")
    with pytest.raises(ValueError, match="completeness"):
        SftpSettings.from_dict({**base, "completeness": "sometimes"}, where="acme.toml")
    with pytest.raises(ValueError, match="host_keys"):
        SftpSettings.from_dict({**base, "host_keys": []}, where="acme.toml")
    with pytest.raises(ValueError, match="port must be an integer"):
        SftpSettings.from_dict({**base, "port": "22"}, where="acme.toml")
    with pytest.raises(ValueError, match="host key"):
        SftpSettings.from_dict({**base, "host_keys": ["not a key"]}, where="acme.toml")
    assert SftpSettings.from_dict(base, where="acme.toml").port == 22


def test_secrets_not_in_repr(ssh_keys):
    s = SftpSettings.from_dict(
        {"host": "h", "username": "u", "password": "hunter2", "private_key": ssh_keys["rsa"].private_pem,
         "host_keys": [ssh_keys["host_ed25519"].public_line], "inbound_dir": "in"}
    )
    assert "hunter2" not in repr(s) and "PRIVATE" not in repr(s)


# -- connection and host keys ---------------------------------------------------


@pytest.mark.parametrize("key", ["ed25519", "rsa"])
def test_key_auth_and_rename_upload(sshd, ssh_keys, key):
    with SftpAdapter(settings(sshd, ssh_keys, private_key=str(ssh_keys[key].path))) as a:
        receipt = a.deliver("ORDRSP_1.edi", b"UNA:+.? 'UNB+x'")
    assert (sshd.root / "out" / "ORDRSP_1.edi").read_bytes() == b"UNA:+.? 'UNB+x'"
    assert not (sshd.root / "out" / "ORDRSP_1.edi.part").exists()
    assert receipt.data["remote_path"].endswith("out/ORDRSP_1.edi") and receipt.detail.startswith("sftp://127.0.0.1:")


def test_rsa_pinned_host_key(sshd, ssh_keys):
    s = settings(sshd, ssh_keys, host_keys=[ssh_keys["host_rsa"].public_line], private_key=ssh_keys["rsa"].private_pem)
    with SftpAdapter(s) as a:
        a.deliver("x.edi", b"x")
        assert a._transport is not None and a._transport.get_remote_server_key().get_name() == "ssh-rsa"


def test_unknown_host_key_refused(sshd, ssh_keys):
    s = settings(sshd, ssh_keys, host_keys=[ssh_keys["other_host"].public_line])
    with pytest.raises(TransportError, match="host key of 127.0.0.1:.* is changed") as exc:
        SftpAdapter(s).deliver("x.edi", b"x")
    assert exc.value.retryable is False
    assert not (sshd.root / "out" / "x.edi").exists()


def test_host_key_of_other_type_is_unknown(sshd, ssh_keys):
    # pinned ecdsa: the server offers no such key -> handshake cannot agree, or key refused; never accepted
    ecdsa = paramiko.ECDSAKey.generate()
    s = settings(sshd, ssh_keys, host_keys=[f"{ecdsa.get_name()} {ecdsa.get_base64()}"])
    with pytest.raises(TransportError) as exc:
        SftpAdapter(s).deliver("x.edi", b"x")
    assert exc.value.retryable is False


def test_wrong_client_key_refused(sshd, ssh_keys):
    s = settings(sshd, ssh_keys, private_key=ssh_keys["stranger"].private_pem)
    with pytest.raises(TransportError, match="refused the login") as exc:
        SftpAdapter(s).deliver("x.edi", b"x")
    assert exc.value.retryable is False


def test_connection_refused_is_retryable(ssh_keys, sshd):
    from tests.adapters.conftest import free_port

    s = settings(sshd, ssh_keys, port=free_port())
    with pytest.raises(TransportError, match="cannot connect") as exc:
        SftpAdapter(s).deliver("x.edi", b"x")
    assert exc.value.retryable is True


def test_aes_gcm_preferred_by_default(sshd, ssh_keys):
    with SftpAdapter(settings(sshd, ssh_keys)) as a:
        a.deliver("x.edi", b"x")
        assert a._transport is not None and a._transport.remote_cipher == "aes128-gcm@openssh.com"


def test_legacy_algorithm_settings_are_passed(sshd, ssh_keys):
    s = settings(sshd, ssh_keys, ciphers=["aes128-ctr"], kex=["diffie-hellman-group14-sha256"],
                 disabled_algorithms={"macs": ["hmac-sha1"]})
    with SftpAdapter(s) as a:
        a.deliver("x.edi", b"x")
        t = a._transport
        assert t is not None and t.remote_cipher == "aes128-ctr"


# -- completeness rules -----------------------------------------------------------


def test_connection_closed_after_each_call_unless_in_with_block(sshd, ssh_keys):
    (sshd.root / "in" / "a.edi").write_bytes(b"A")
    (sshd.root / "in" / "b.edi").write_bytes(b"B")
    a = SftpAdapter(settings(sshd, ssh_keys))
    a.deliver("x.edi", b"x")
    assert a._transport is None  # a forgotten adapter leaves no SSH session behind
    transports = set()
    for f in a.fetch():
        a.confirm(f)  # reuses the fetch's connection
        transports.add(id(a._transport))
    assert len(transports) == 1 and a._transport is None
    with SftpAdapter(settings(sshd, ssh_keys)) as kept:
        kept.deliver("y.edi", b"y")
        first = kept._transport
        kept.deliver("z.edi", b"z")
        assert first is not None and kept._transport is first
    assert kept._transport is None


def test_rename_rule_ignores_temp_names(sshd, ssh_keys):
    inbox = sshd.root / "in"
    (inbox / "a.edi").write_bytes(b"A")
    (inbox / "b.edi.tmp").write_bytes(b"B")
    (inbox / "c.part").write_bytes(b"C")
    (inbox / "other.txt").write_bytes(b"D")
    with SftpAdapter(settings(sshd, ssh_keys, pattern="*.edi")) as a:
        assert fetch_all(a) == {"a.edi": b"A"}


def test_trigger_rule(sshd, ssh_keys):
    inbox = sshd.root / "in"
    (inbox / "a.edi").write_bytes(b"A")
    (inbox / "b.edi").write_bytes(b"B")
    (inbox / "b.edi.trg").write_bytes(b"")
    (inbox / "c.edi").write_bytes(b"C")
    (inbox / "c.ok").write_bytes(b"")
    with SftpAdapter(settings(sshd, ssh_keys, completeness="trigger")) as a:
        files = list(a.fetch())
        assert {f.name: f.data for f in files} == {"b.edi": b"B", "c.edi": b"C"}
        for f in files:
            a.confirm(f)
    assert sorted(os.listdir(inbox)) == ["a.edi"]  # trigger files go with their file


def test_stable_rule_waits_for_growth_to_stop(sshd, ssh_keys):
    inbox = sshd.root / "in"
    (inbox / "done.edi").write_bytes(b"D" * 10)
    growing = inbox / "growing.edi"
    growing.write_bytes(b"G")
    with SftpAdapter(settings(sshd, ssh_keys, completeness="stable", stable_seconds=0.4)) as a:
        import threading

        def grow() -> None:
            time.sleep(0.15)
            with open(growing, "ab") as fh:
                fh.write(b"G" * 100)
            os.utime(growing, (time.time() + 5, time.time() + 5))

        t = threading.Thread(target=grow)
        t.start()
        first = fetch_all(a)
        t.join()
        assert first == {"done.edi": b"D" * 10}
        second = fetch_all(a)  # growing.edi was seen changing; now stable across this poll
        assert second == {"done.edi": b"D" * 10, "growing.edi": b"G" * 101}



def test_stable_rule_with_a_seen_key_uses_the_previous_poll_instead_of_sleeping(sshd, ssh_keys):
    inbox = sshd.root / "in"
    (inbox / "po.edi").write_bytes(b"P" * 10)

    def no_sleep(seconds: float) -> None:
        raise AssertionError("a polled channel does not sleep between listings")

    key = ("test channel", sshd.root)

    def poll() -> tuple[dict[str, bytes], SftpAdapter]:  # as the hub does: a new adapter every poll, confirm each
        a = SftpAdapter(settings(sshd, ssh_keys, completeness="stable", stable_seconds=0.3), seen_key=key, sleep=no_sleep)
        got = {}
        for f in a.fetch():
            got[f.name] = f.data
            a.confirm(f)
        return got, a

    assert poll()[0] == {}, "first seen now: not yet known to be stable"
    assert poll()[0] == {}, "seen, but not stable_seconds ago"
    time.sleep(0.35)
    (inbox / "late.edi").write_bytes(b"L")
    assert poll()[0] == {"po.edi": b"P" * 10}, "unchanged since the earlier poll; late.edi waits"
    assert not (inbox / "po.edi").exists()
    time.sleep(0.35)
    with open(inbox / "late.edi", "ab") as fh:  # changed since it was seen: starts again
        fh.write(b"L")
    assert poll()[0] == {}
    time.sleep(0.35)
    assert poll()[0] == {"late.edi": b"LL"}
    # without a key the adapter lists, sleeps and lists again
    slept: list[float] = []
    (inbox / "new.edi").write_bytes(b"N")
    plain = SftpAdapter(settings(sshd, ssh_keys, completeness="stable", stable_seconds=0.3), sleep=slept.append)
    assert "new.edi" in fetch_all(plain) and slept and 0 < slept[0] <= 0.3


# -- confirm ---------------------------------------------------------------------


def test_fetch_leaves_file_until_confirm_then_archives(sshd, ssh_keys):
    inbox = sshd.root / "in"
    (inbox / "a.edi").write_bytes(b"first")
    archive = sshd.root / "archive" / "2026"
    (sshd.root / "archive").mkdir()
    (sshd.root / "archive" / "2026").mkdir()
    (archive / "a.edi").write_bytes(b"older")  # clash: a unique name is chosen
    with SftpAdapter(settings(sshd, ssh_keys, archive_dir=str(archive))) as a:
        [f] = list(a.fetch())
        assert (inbox / "a.edi").exists()  # nothing removed before the hub's commit
        a.confirm(f)
        a.confirm(f)  # idempotent
    assert not (inbox / "a.edi").exists()
    names = sorted(os.listdir(archive))
    assert len(names) == 2 and "a.edi" in names
    assert {(archive / n).read_bytes() for n in names} == {b"first", b"older"}


def test_archive_dir_created_when_missing(sshd, ssh_keys):
    (sshd.root / "in" / "a.edi").write_bytes(b"x")
    archive = sshd.root / "arch" / "deep"
    with SftpAdapter(settings(sshd, ssh_keys, archive_dir=str(archive))) as a:
        for f in a.fetch():
            a.confirm(f)
    assert (archive / "a.edi").read_bytes() == b"x"


def test_confirm_deletes_without_archive(sshd, ssh_keys):
    (sshd.root / "in" / "a.edi").write_bytes(b"x")
    with SftpAdapter(settings(sshd, ssh_keys)) as a:
        for f in a.fetch():
            assert f.meta["remote_path"].endswith("in/a.edi")
            a.confirm(f)
        assert fetch_all(a) == {}
    assert os.listdir(sshd.root / "in") == []


# -- outbound --------------------------------------------------------------------


def test_direct_upload_and_replace(sshd, ssh_keys):
    (sshd.root / "out" / "x.edi").write_bytes(b"old")
    with SftpAdapter(settings(sshd, ssh_keys, outbound_mode="direct")) as a:
        a.deliver("x.edi", b"new")
    assert (sshd.root / "out" / "x.edi").read_bytes() == b"new"
    with SftpAdapter(settings(sshd, ssh_keys)) as a:
        a.deliver("x.edi", b"newer")  # rename mode replaces too (posix-rename)
    assert (sshd.root / "out" / "x.edi").read_bytes() == b"newer"



@pytest.mark.parametrize("mode", ["rename", "direct"])
def test_a_resend_of_a_file_already_in_place_is_not_uploaded_again(sshd, ssh_keys, monkeypatch, mode):
    import adapters.sftp as sftp_module

    out = sshd.root / "out"
    writes: list[str] = []
    real_open = paramiko.SFTPClient.open

    def open_(self, filename, mode="r", bufsize=-1):
        if "w" in mode:
            writes.append(filename)
        return real_open(self, filename, mode, bufsize)

    monkeypatch.setattr(paramiko.SFTPClient, "open", open_)
    with SftpAdapter(settings(sshd, ssh_keys, outbound_mode=mode)) as a:
        first = a.deliver("x.edi", b"the order")
        assert len(writes) == 1
        again = a.deliver("x.edi", b"the order")
        assert again.data["already_delivered"] is True and "already in place" in again.detail
        assert again.data["remote_path"] == first.data["remote_path"]
        assert len(writes) == 1, "not written again"
        # the same size with other bytes is not the same file: it is replaced
        changed = a.deliver("x.edi", b"the ORDER")
        assert "already_delivered" not in changed.data
        assert (out / "x.edi").read_bytes() == b"the ORDER"
        # over READ_BACK_BYTES the size decides
        monkeypatch.setattr(sftp_module, "READ_BACK_BYTES", 4)
        assert a.deliver("x.edi", b"the other").data.get("already_delivered") is True
        assert (out / "x.edi").read_bytes() == b"the ORDER"
        assert "already_delivered" not in a.deliver("x.edi", b"a longer one").data
    assert sorted(os.listdir(out)) == ["x.edi"] and (out / "x.edi").read_bytes() == b"a longer one"

def test_rename_fallback_without_posix_rename(sshd, ssh_keys, monkeypatch):
    def unsupported(self, old, new):
        raise IOError("Operation unsupported")

    monkeypatch.setattr(paramiko.SFTPClient, "posix_rename", unsupported)
    (sshd.root / "out" / "x.edi").write_bytes(b"old")
    with SftpAdapter(settings(sshd, ssh_keys)) as a:
        a.deliver("x.edi", b"new")
    assert (sshd.root / "out" / "x.edi").read_bytes() == b"new" and os.listdir(sshd.root / "out") == ["x.edi"]


@pytest.mark.parametrize("refusal", ["Failure", "Operation unsupported", "Permission denied"])
def test_rename_fallback_on_any_refused_posix_rename(sshd, ssh_keys, monkeypatch, refusal):
    def refused(self, old, new):
        raise IOError(refusal) if refusal != "Permission denied" else IOError(errno.EACCES, refusal)

    monkeypatch.setattr(paramiko.SFTPClient, "posix_rename", refused)
    with SftpAdapter(settings(sshd, ssh_keys)) as a:
        a.deliver("new.edi", b"first")  # nothing in the way: a plain rename
        (sshd.root / "out" / "x.edi").write_bytes(b"old")
        a.deliver("x.edi", b"new")  # in the way: removed, then renamed
    assert (sshd.root / "out" / "x.edi").read_bytes() == b"new"
    assert sorted(os.listdir(sshd.root / "out")) == ["new.edi", "x.edi"]


def test_rename_fallback_on_a_server_that_denies_posix_rename(sshd_factory, ssh_keys, monkeypatch):
    denying = sshd_factory(sftp="internal-sftp -P posix-rename")  # OpenSSH answers the request with an error status
    refusals: list[BaseException] = []
    original = paramiko.SFTPClient.posix_rename

    def spy(self, old, new):
        try:
            return original(self, old, new)
        except BaseException as exc:
            refusals.append(exc)
            raise

    monkeypatch.setattr(paramiko.SFTPClient, "posix_rename", spy)
    (denying.root / "out").mkdir()
    (denying.root / "out" / "x.edi").write_bytes(b"old")
    with SftpAdapter(settings(denying, ssh_keys, outbound_dir=str(denying.root / "out"))) as a:
        a.deliver("x.edi", b"new")
        a.deliver("y.edi", b"y")
    assert (denying.root / "out" / "x.edi").read_bytes() == b"new"
    assert sorted(os.listdir(denying.root / "out")) == ["x.edi", "y.edi"]
    assert len(refusals) == 2 and all(isinstance(e, OSError) for e in refusals), refusals


def test_a_failed_rename_removes_the_temporary_file(sshd, ssh_keys, monkeypatch):
    def refused(self, old, new):
        raise IOError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(paramiko.SFTPClient, "posix_rename", refused)
    monkeypatch.setattr(paramiko.SFTPClient, "rename", refused)
    with pytest.raises(TransportError, match="permission denied"):
        SftpAdapter(settings(sshd, ssh_keys)).deliver("x.edi", b"x")
    assert os.listdir(sshd.root / "out") == [], "no .part left behind"


def test_a_short_read_is_refused_and_the_file_stays(sshd, ssh_keys, monkeypatch):
    path = sshd.root / "in" / "po.edi"
    path.write_bytes(b"x" * 5000)
    original = SftpAdapter._complete

    def listed_then_cut(self, sftp):
        listed = original(self, sftp)
        os.truncate(path, 3000)  # the partner rewrites it between our listing and our read
        return listed

    monkeypatch.setattr(SftpAdapter, "_complete", listed_then_cut)
    a = SftpAdapter(settings(sshd, ssh_keys))
    assert fetch_all(a) == {}
    assert len(a.skipped) == 1 and "po.edi" in a.skipped[0]
    assert "short read, 3000 of the 5000 bytes" in a.skipped[0] and "left on the server" in a.skipped[0]
    assert path.stat().st_size == 3000, "left on the server"
    monkeypatch.undo()
    assert fetch_all(a) == {"po.edi": b"x" * 3000}, "taken whole on the next poll"


def test_a_pinned_key_type_the_server_does_not_offer_is_named(sshd, ssh_keys):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    ecdsa = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    pinned = settings(sshd, ssh_keys, host_keys=[f"[127.0.0.1]:{sshd.port} {ecdsa}"])
    with pytest.raises(TransportError) as exc:
        SftpAdapter(pinned).deliver("x.edi", b"x")
    message = str(exc.value)
    assert f"127.0.0.1:{sshd.port} offers no host key of the pinned type (ecdsa-sha2-nistp256)" in message
    assert "it offers" in message and "ssh-ed25519" in message, "what the server offers, to pin the right key"
    assert exc.value.retryable is False
    assert not (sshd.root / "out" / "x.edi").exists()


def test_unsafe_outbound_name_refused(sshd, ssh_keys):
    with pytest.raises(TransportError, match="not a plain file name") as exc:
        SftpAdapter(settings(sshd, ssh_keys)).deliver("../x.edi", b"x")
    assert exc.value.retryable is False


def test_missing_outbound_dir_is_not_retryable(sshd, ssh_keys):
    with pytest.raises(TransportError, match="no such file") as exc:
        SftpAdapter(settings(sshd, ssh_keys, outbound_dir=str(sshd.root / "nope"))).deliver("x.edi", b"x")
    assert exc.value.retryable is False


def test_permission_denied_on_read_only_server(sshd_factory, ssh_keys):
    ro = sshd_factory(sftp="internal-sftp -R")
    (ro.root / "out").mkdir()
    with pytest.raises(TransportError, match="permission denied") as exc:
        SftpAdapter(settings(ro, ssh_keys, outbound_dir=str(ro.root / "out"))).deliver("x.edi", b"x")
    assert exc.value.retryable is False


def test_large_file_round_trip(sshd, ssh_keys):
    data = os.urandom(3 * 1024 * 1024 + 17)
    with SftpAdapter(settings(sshd, ssh_keys, spool_bytes=1024 * 1024)) as a:
        a.deliver("big.bin", data)
        os.rename(sshd.root / "out" / "big.bin", sshd.root / "in" / "big.bin")
        assert fetch_all(a) == {"big.bin": data}


def test_file_over_limit_is_skipped(sshd, ssh_keys):
    (sshd.root / "in" / "huge.edi").write_bytes(b"x" * 2000)
    (sshd.root / "in" / "ok.edi").write_bytes(b"y")
    with SftpAdapter(settings(sshd, ssh_keys, max_file_bytes=1000)) as a:
        assert fetch_all(a) == {"ok.edi": b"y"}
        [error] = a.skipped
        assert f"{sshd.root / 'in' / 'huge.edi'}" in error and "2000 bytes" in error and "1000 bytes" in error
        a.confirm(next(f for f in a.fetch() if f.name == "ok.edi"))
        assert fetch_all(a) == {} and len(a.skipped) == 1, "reported again while the file is there"
        (sshd.root / "in" / "huge.edi").unlink()
        assert fetch_all(a) == {} and a.skipped == []


def test_an_unreadable_file_is_skipped_and_the_others_are_fetched(sshd, ssh_keys, monkeypatch):
    for name in ("a.edi", "b.edi", "c.edi"):
        (sshd.root / "in" / name).write_bytes(name.encode())
    real_open = paramiko.SFTPClient.open

    def open_(self, filename, mode="r", bufsize=-1):
        if filename.endswith("/b.edi") and "r" in mode:
            raise IOError(errno.EACCES, "Permission denied")  # what paramiko raises for SSH_FX_PERMISSION_DENIED
        return real_open(self, filename, mode, bufsize)

    monkeypatch.setattr(paramiko.SFTPClient, "open", open_)
    with SftpAdapter(settings(sshd, ssh_keys)) as a:
        assert fetch_all(a) == {"a.edi": b"a.edi", "c.edi": b"c.edi"}, "b.edi does not stop c.edi"
        [error] = a.skipped
        assert "b.edi" in error and "permission denied" in error
    assert (sshd.root / "in" / "b.edi").exists()


# -- dropped connections ------------------------------------------------------------


def _kill_after(monkeypatch, sshd, method: str, calls: int) -> None:
    original = getattr(paramiko.SFTPFile, method)
    count = {"n": 0}

    def wrapper(self, *args, **kwargs):
        count["n"] += 1
        if count["n"] == calls:
            sshd.drop_connections()
            time.sleep(0.2)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(paramiko.SFTPFile, method, wrapper)


def test_dropped_connection_during_download_keeps_remote_file(sshd, ssh_keys, monkeypatch):
    data = os.urandom(8 * 1024 * 1024)
    (sshd.root / "in" / "big.edi").write_bytes(data)
    a = SftpAdapter(settings(sshd, ssh_keys))
    _kill_after(monkeypatch, sshd, "read", 2)
    with pytest.raises(TransportError, match="connection lost|failure") as exc:
        fetch_all(a)
    assert exc.value.retryable is True
    monkeypatch.undo()
    assert (sshd.root / "in" / "big.edi").read_bytes() == data  # not lost
    with a:
        assert fetch_all(a) == {"big.edi": data}  # and fetched again on the next poll


def test_dropped_connection_during_upload_leaves_no_final_file(sshd, ssh_keys, monkeypatch):
    a = SftpAdapter(settings(sshd, ssh_keys))
    _kill_after(monkeypatch, sshd, "write", 2)
    with pytest.raises(TransportError) as exc:
        a.deliver("big.edi", os.urandom(4 * 1024 * 1024))
    assert exc.value.retryable is True
    assert not (sshd.root / "out" / "big.edi").exists()


# -- OpenSSH command line interop ------------------------------------------------------


@pytest.mark.skipif(SFTP_CLI is None, reason="OpenSSH sftp client not installed (Debian package openssh-client)")
def test_openssh_cli_upload_then_fetch_and_adapter_upload_then_cli_get(sshd, ssh_keys, tmp_path):
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{sshd.port} {ssh_keys['host_ed25519'].public_line}\n")
    src = tmp_path / "ORDERS_7.edi"
    src.write_bytes(b"UNB+UNOC:3+X+Y'")
    batch = tmp_path / "batch"
    batch.write_text(
        f"put {src} {sshd.root}/in/ORDERS_7.edi.tmp\nrename {sshd.root}/in/ORDERS_7.edi.tmp {sshd.root}/in/ORDERS_7.edi\n"
        f"get {sshd.root}/out/ANSWER.edi {tmp_path}/ANSWER.edi\n"
    )
    with SftpAdapter(settings(sshd, ssh_keys)) as a:
        a.deliver("ANSWER.edi", b"answer")
    subprocess.run(
        [SFTP_CLI, "-b", str(batch), "-P", str(sshd.port), "-i", str(ssh_keys["ed25519"].path),
         "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={known}", "-o", "BatchMode=yes",
         f"{sshd.user}@127.0.0.1"],
        check=True, capture_output=True, timeout=30,
    )
    assert (tmp_path / "ANSWER.edi").read_bytes() == b"answer"
    with SftpAdapter(settings(sshd, ssh_keys)) as a:
        assert fetch_all(a) == {"ORDERS_7.edi": b"UNB+UNOC:3+X+Y'"}
