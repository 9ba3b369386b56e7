"""FolderAdapter: completeness rules (stable across two looks, trigger files, rename), temporary
names, archive and delete after the hub's commit, and temp-then-rename writes."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from adapters.base import TransportError
from adapters.folder import FolderAdapter, FolderSettings


def adapter(tmp_path: Path, sleep=None, **over) -> FolderAdapter:
    data = {"inbound": str(tmp_path / "in"), "outbound": str(tmp_path / "out"), "settle_seconds": 0.2, **over}
    (tmp_path / "in").mkdir(exist_ok=True)
    settings = FolderSettings.from_dict(data, where="partners/acme.toml channel drop")
    return FolderAdapter(settings, sleep=sleep) if sleep is not None else FolderAdapter(settings)


def names(a: FolderAdapter) -> list[str]:
    return [f.name for f in a.fetch()]


def test_settings_errors_name_the_key(tmp_path):
    with pytest.raises(ValueError, match="acme.toml channel drop: completeness: must be one of stable, trigger, rename"):
        adapter(tmp_path, completeness="whenever")
    with pytest.raises(ValueError, match="trigger_suffixes"):
        adapter(tmp_path, trigger_suffixes=[""])
    with pytest.raises(ValueError, match="temp_patterns"):
        adapter(tmp_path, temp_patterns=42)
    with pytest.raises(ValueError, match="settle_seconds"):
        adapter(tmp_path, settle_seconds=-1)


def test_a_file_still_growing_is_left_until_it_settles(tmp_path):
    path = tmp_path / "in" / "po.edi"
    waits: list[float] = []

    def writer_still_busy(seconds: float) -> None:  # between the two looks the writer appends
        waits.append(seconds)
        with open(path, "ab") as fh:
            fh.write(b"more")

    a = adapter(tmp_path, sleep=writer_still_busy)
    path.write_bytes(b"UNB")  # adapter() made in/
    assert names(a) == [] and waits == [0.2], "looked twice, settle_seconds apart"
    assert [(f.name, f.data) for f in adapter(tmp_path, sleep=lambda s: None).fetch()] == [("po.edi", b"UNBmore")]


def test_a_copy_keeping_an_old_mtime_is_still_checked_by_size(tmp_path):
    (tmp_path / "in").mkdir()
    path = tmp_path / "in" / "po.edi"
    path.write_bytes(b"UNB")
    os.utime(path, (1_000_000_000, 1_000_000_000))  # `cp -p`: the original's mtime from the start

    def copy_goes_on(seconds: float) -> None:
        with open(path, "ab") as fh:
            fh.write(b"+rest")
        os.utime(path, (1_000_000_000, 1_000_000_000))

    assert names(adapter(tmp_path, sleep=copy_goes_on)) == []


def test_a_settled_file_is_taken_with_a_real_wait(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "po.edi").write_bytes(b"UNB")
    assert names(adapter(tmp_path)) == ["po.edi"]


def test_temporary_names_are_never_taken(tmp_path):
    inbound = tmp_path / "in"
    inbound.mkdir()
    for name in (".po.edi", "po.edi.tmp", "po.edi.part", "po.edi.filepart", "po.edi.inprogress", "po.edi"):
        (inbound / name).write_bytes(b"x")
    assert names(adapter(tmp_path, sleep=lambda s: None)) == ["po.edi", "po.edi.inprogress"]
    custom = adapter(tmp_path, sleep=lambda s: None, temp_patterns=["*.inprogress", ".*"])
    assert names(custom) == ["po.edi", "po.edi.filepart", "po.edi.part", "po.edi.tmp"]


def test_trigger_files_mark_complete_files_and_go_with_them(tmp_path):
    inbound = tmp_path / "in"
    inbound.mkdir()
    for name in ("a.edi", "a.edi.trg", "b.edi", "b.ok", "c.edi"):
        (inbound / name).write_bytes(b"data " + name.encode())

    def no_wait(seconds: float) -> None:
        raise AssertionError("the trigger rule does not wait")

    a = adapter(tmp_path, sleep=no_wait, completeness="trigger")
    files = list(a.fetch())
    assert [f.name for f in files] == ["a.edi", "b.edi"], "c.edi has no trigger yet; triggers are not data"
    for f in files:
        a.confirm(f)
    assert sorted(os.listdir(inbound)) == ["archive", "c.edi"]
    assert sorted(os.listdir(inbound / "archive")) == ["a.edi", "a.edi.trg", "b.edi", "b.ok"]


def test_rename_rule_takes_final_names_at_once(tmp_path):
    inbound = tmp_path / "in"
    inbound.mkdir()
    (inbound / "po.edi").write_bytes(b"x")
    (inbound / "next.edi.part").write_bytes(b"x")

    def no_wait(seconds: float) -> None:
        raise AssertionError("the rename rule does not wait")

    assert names(adapter(tmp_path, sleep=no_wait, completeness="rename")) == ["po.edi"]


def test_delete_after_receipt(tmp_path):
    inbound = tmp_path / "in"
    inbound.mkdir()
    (inbound / "po.edi").write_bytes(b"x")
    (inbound / "po.edi.ok").write_bytes(b"")
    a = adapter(tmp_path, delete_after_receipt=True, completeness="trigger")
    (file,) = a.fetch()
    assert (inbound / "po.edi").exists(), "nothing is removed before the hub's commit"
    a.confirm(file)
    assert os.listdir(inbound) == [], "deleted, trigger too, and no archive folder made"


def test_archive_name_clashes_keep_every_file(tmp_path):
    inbound, archive = tmp_path / "in", tmp_path / "kept"
    inbound.mkdir()
    archive.mkdir()
    (archive / "po.edi").write_bytes(b"yesterday")
    a = adapter(tmp_path, sleep=lambda s: None, archive=str(archive))
    for content in (b"first", b"second"):  # the same name twice within one second
        (inbound / "po.edi").write_bytes(content)
        (file,) = a.fetch()
        a.confirm(file)
    kept = {p.name: p.read_bytes() for p in archive.iterdir()}
    assert kept["po.edi"] == b"yesterday", "an archived file is never overwritten"
    assert sorted(kept.values()) == [b"first", b"second", b"yesterday"]
    assert all(n == "po.edi" or (n.startswith("po.") and n.endswith(".edi")) for n in kept)
    assert os.listdir(inbound) == []


def test_confirm_of_a_file_gone_meanwhile_is_quiet(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "po.edi").write_bytes(b"x")
    a = adapter(tmp_path, sleep=lambda s: None)
    (file,) = a.fetch()
    (tmp_path / "in" / "po.edi").unlink()
    a.confirm(file)


def test_writes_go_to_a_hidden_temporary_name_then_are_renamed(tmp_path, monkeypatch):
    a = adapter(tmp_path)
    out = tmp_path / "out"
    seen: list[list[str]] = []
    real_fsync = os.fsync

    def look_then_fsync(fd: int) -> None:
        seen.append(sorted(os.listdir(out)))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", look_then_fsync)
    receipt = a.deliver("ORDRSP_1.edi", b"answer")
    assert seen == [[".ORDRSP_1.edi.tmp"]], "while written, only the hidden temporary name exists"
    assert os.listdir(out) == ["ORDRSP_1.edi"] and (out / "ORDRSP_1.edi").read_bytes() == b"answer"
    assert receipt.data["path"] == str(out / "ORDRSP_1.edi")
    # a redelivery of the same bytes is not a second copy; other bytes never overwrite
    a.deliver("ORDRSP_1.edi", b"answer")
    a.deliver("ORDRSP_1.edi", b"corrected")
    assert sorted(p.read_bytes() for p in out.iterdir()) == [b"answer", b"corrected"]


def test_a_failed_write_leaves_nothing(tmp_path, monkeypatch):
    a = adapter(tmp_path)

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(TransportError, match="No space left on device") as exc:
        a.deliver("ORDRSP_1.edi", b"answer")
    assert exc.value.retryable is True
    assert os.listdir(tmp_path / "out") == []


def test_an_unreadable_file_is_skipped_with_its_error_and_the_others_are_taken(tmp_path, monkeypatch):
    inbound = tmp_path / "in"
    inbound.mkdir()
    for name in ("a.edi", "b.edi", "c.edi"):
        (inbound / name).write_bytes(name.encode())
    real_read = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if self.name == "b.edi":  # (the tests run as root, where chmod 000 does not stop a read)
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        return real_read(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    a = adapter(tmp_path, completeness="rename")
    assert names(a) == ["a.edi", "c.edi"]
    [error] = a.skipped
    assert str(inbound / "b.edi") in error and "Permission denied" in error
    monkeypatch.undo()
    assert names(a) == ["a.edi", "b.edi", "c.edi"] and a.skipped == [], "readable again: taken, error gone"


def test_an_unknown_setting_is_refused_by_name(tmp_path):
    with pytest.raises(ValueError, match="acme.toml channel drop: unknown key 'inbox'"):
        adapter(tmp_path, inbox=str(tmp_path / "in"))
    with pytest.raises(ValueError, match="unknown key 'archive_dir'"):
        adapter(tmp_path, archive_dir="x")  # the SFTP channel's name for it
