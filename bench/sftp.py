"""SFTP throughput: SftpAdapter (paramiko) against OpenSSH's `sftp` client, same sshd, same run.

    .venv/bin/python bench/sftp.py [--mb 64] [--rounds 3]

Starts Debian's OpenSSH sshd on 127.0.0.1 (as the tests do), then for a
random file of ``--mb`` MiB measures upload (``deliver``: pipelined write,
rename into place) and download (``fetch``: prefetch) in MB/s, each with a
fresh connection, and the same transfers with ``sftp -b``. Prints the best of
``--rounds`` and the ratio ours / OpenSSH (> 1: we are faster). Run by hand;
never part of the tests.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.sftp import SftpAdapter, SftpSettings  # noqa: E402
from tests.adapters.conftest import make_ssh_key, start_sshd  # noqa: E402


def best(fn, rounds: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--ciphers", default="", help="comma-separated cipher list for our side, e.g. aes128-gcm@openssh.com")
    args = ap.parse_args()
    sftp_cli = shutil.which("sftp")
    if sftp_cli is None:
        sys.exit("OpenSSH sftp client not installed (Debian package openssh-client)")
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        keys = {
            "ed25519": make_ssh_key(d, "id_ed25519"),
            "rsa": make_ssh_key(d, "id_rsa", "rsa"),
            "host_ed25519": make_ssh_key(d, "ssh_host_ed25519_key"),
            "host_rsa": make_ssh_key(d, "ssh_host_rsa_key", "rsa"),
        }
        sshd = start_sshd(d / "sshd", keys)
        try:
            remote = sshd.root
            (remote / "in").mkdir()
            (remote / "out").mkdir()
            size = args.mb * 1024 * 1024
            data = os.urandom(size)
            local = d / "local.bin"
            local.write_bytes(data)
            settings = SftpSettings.from_dict({
                "host": "127.0.0.1", "port": sshd.port, "username": sshd.user, "private_key": keys["ed25519"].private_pem,
                "host_keys": [keys["host_ed25519"].public_line], "inbound_dir": str(remote / "in"),
                "outbound_dir": str(remote / "out"), "completeness": "rename", "max_file_bytes": size * 2,
                "spool_bytes": size * 2,
                **({"ciphers": args.ciphers.split(",")} if args.ciphers else {}),
            })

            def our_up() -> None:
                with SftpAdapter(settings) as a:
                    a.deliver("up.bin", data)

            def our_down() -> None:
                with SftpAdapter(settings) as a:
                    files = list(a.fetch())
                    assert len(files) == 1 and len(files[0].data) == size

            known = d / "known_hosts"
            known.write_text(f"[127.0.0.1]:{sshd.port} {keys['host_ed25519'].public_line}\n")
            base = [sftp_cli, "-q", "-P", str(sshd.port), "-i", str(keys["ed25519"].path), "-o", "BatchMode=yes",
                    "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={known}"]

            def cli(batch: str) -> None:
                (d / "batch").write_text(batch)
                subprocess.run([*base, "-b", str(d / "batch"), f"{sshd.user}@127.0.0.1"], check=True, capture_output=True)

            t_up = best(our_up, args.rounds)
            shutil.copy(local, remote / "in" / "down.bin")
            t_down = best(our_down, args.rounds)
            c_up = best(lambda: cli(f"put {local} {remote}/out/cli.bin\n"), args.rounds)
            c_down = best(lambda: cli(f"get {remote}/in/down.bin {d}/got.bin\n"), args.rounds)
            assert (d / "got.bin").stat().st_size == size
            mb = size / 1e6
            print(f"{args.mb} MiB file, best of {args.rounds}, fresh connection each; our cipher: {args.ciphers or 'paramiko default'}")
            print(f"{'':>9} {'ours MB/s':>10} {'sftp MB/s':>10} {'ratio':>6}")
            print(f"{'upload':>9} {mb / t_up:10.1f} {mb / c_up:10.1f} {c_up / t_up:6.2f}")
            print(f"{'download':>9} {mb / t_down:10.1f} {mb / c_down:10.1f} {c_down / t_down:6.2f}")
        finally:
            sshd.stop()


if __name__ == "__main__":
    main()
