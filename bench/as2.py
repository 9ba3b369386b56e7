"""AS2 receive benchmark: messages per second and peak memory, against `openssl cms` in the same run.

    .venv/bin/python bench/as2.py [--quick]

For 1 KB, 100 KB and 10 MB payloads, signed (SHA-256) and encrypted
(AES-256-CBC) with a signed sync MDN requested, it measures:

* ours: ``POST /as2`` through the Flask test client (parse_message, store in
  memory, build_mdn) — messages per second;
* baseline: ``openssl cms -decrypt | openssl cms -verify`` on the same
  message (two processes per message, so small payloads favour us);
* the ratio ours / baseline (> 1: we are faster).

Then the peak memory of receiving one 100 MB message in a fresh process:
growth of the resident set (ru_maxrss) over the process holding just the
request body, as a multiple of the payload size (target: under 3x).
Run by hand; never part of the tests.
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

from adapters.as2 import As2Partner, As2Settings, build_message  # noqa: E402
from tests.adapters.conftest import make_identity  # noqa: E402


def profiles(d: Path) -> tuple[As2Partner, As2Partner, dict[str, Path]]:
    hub, partner = make_identity(d, "hub"), make_identity(d, "partner")
    hub_view = As2Partner("ACME", As2Settings("KONTOR", hub.key, hub.cert), (partner.cert,))
    partner_view = As2Partner("KONTOR", As2Settings("ACME", partner.key, partner.cert), (hub.cert,), url="http://bench/as2")
    paths = {"hub_key": hub.key_path, "hub_cert": hub.cert_path, "partner_cert": partner.cert_path}
    return hub_view, partner_view, paths


def edi_payload(size: int) -> bytes:
    """EDIFACT-looking text with CRLF line ends (openssl's S/MIME verify reads text mode, see tests)."""
    seg = b"LIN+%06d++4000862141404:SRS'QTY+21:48'PRI+AAA:12.50'\r\n"
    out = bytearray(b"UNA:+.? 'UNB+UNOC:3+ACME:14+KONTOR:14+261125:1200+1'\r\n")
    i = 0
    while len(out) < size:
        out += seg % (i % 1000000)
        i += 1
    return bytes(out[:size - 2]) + b"\r\n"


def app_for(hub_view: As2Partner):  # type: ignore[no-untyped-def]
    from flask import Flask

    from extranet.as2 import bp

    class Hub:
        def __init__(self) -> None:
            self.count = 0

        def lookup(self, a: str, b: str) -> As2Partner | None:
            return hub_view

        def store(self, *args: object) -> None:
            self.count += 1

        def seen(self, message_id: str, as2_from: str) -> None:
            return None

        def remember_mdn(self, *args: object) -> None:
            pass

        def send_async_mdn(self, *args: object) -> None:
            pass

    app = Flask("bench")
    app.register_blueprint(bp)
    app.extensions["kontor_as2"] = Hub()
    return app


def ours(app, messages) -> float:  # type: ignore[no-untyped-def]
    client = app.test_client()
    start = time.perf_counter()
    for out in messages:
        res = client.post("/as2", data=out.body, headers=out.headers)
        assert res.status_code == 200 and b"processed" in res.get_data() or res.headers["Content-Type"].startswith("multipart/signed")
    return len(messages) / (time.perf_counter() - start)


def baseline(messages, paths: dict[str, Path], d: Path) -> float:  # type: ignore[no-untyped-def]
    openssl = shutil.which("openssl")
    assert openssl, "openssl is needed for the baseline"
    files = []
    for i, out in enumerate(messages):
        f = d / f"m{i}.der"
        f.write_bytes(out.body)
        files.append(f)
    start = time.perf_counter()
    for f in files:
        dec = subprocess.Popen([openssl, "cms", "-decrypt", "-binary", "-inform", "DER", "-in", str(f),
                                "-inkey", str(paths["hub_key"]), "-recip", str(paths["hub_cert"])], stdout=subprocess.PIPE)
        ver = subprocess.run([openssl, "cms", "-verify", "-CAfile", str(paths["partner_cert"]), "-out", os.devnull],
                             stdin=dec.stdout, capture_output=True)
        assert dec.stdout is not None
        dec.stdout.close()
        if dec.wait() or ver.returncode:
            raise RuntimeError(f"openssl failed: {ver.stderr.decode(errors='replace')}")
    return len(files) / (time.perf_counter() - start)


_MEMORY_CHILD = r"""
import json, sys
from pathlib import Path


def hwm():  # peak RSS in KiB of this process image (ru_maxrss would carry the parent's over exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])

sys.path.insert(0, sys.argv[1])
from cryptography import x509
from adapters.as2 import As2Partner, As2Settings, build_mdn, load_private_key, parse_message
d = Path(sys.argv[2])
local = As2Settings("KONTOR", load_private_key(str(d / "hub.key")), x509.load_pem_x509_certificate((d / "hub.pem").read_bytes()))
hub_view = As2Partner("ACME", local, (x509.load_pem_x509_certificate((d / "partner.pem").read_bytes()),))
headers = json.loads((d / "big.headers").read_text())
body = (d / "big.body").read_bytes()
before = hwm()
got = parse_message(headers, body, lambda a, b: hub_view)
build_mdn(got)
after = hwm()
print(before, after, len(got.payload), len(body))
"""


def peak_memory(partner_view: As2Partner, d: Path, size: int) -> tuple[float, float, int]:
    """Measured in a fresh process that holds only the request body:
    (growth of peak RSS / payload size, growth incl. the body / payload size, peak RSS bytes)."""
    import json

    out = build_message(os.urandom(size), "big.bin", partner_view)
    (d / "big.headers").write_text(json.dumps(out.headers))
    (d / "big.body").write_bytes(out.body)
    del out
    res = subprocess.run([sys.executable, "-c", _MEMORY_CHILD, str(Path(__file__).resolve().parents[1]), str(d)],
                         capture_output=True, text=True, check=True)
    before, after, n, body = (int(x) for x in res.stdout.split())
    growth = (after - before) * 1024
    return growth / n, (growth + body) / n, after * 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer messages, 20 MB instead of 100 MB for memory")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        hub_view, partner_view, paths = profiles(d)
        app = app_for(hub_view)
        print(f"{'payload':>8} {'ours msg/s':>11} {'openssl msg/s':>14} {'ratio':>6}")
        for label, size, count in (("1 KB", 1024, 200), ("100 KB", 100 * 1024, 100), ("10 MB", 10 * 1024 * 1024, 6)):
            if args.quick:
                count = max(2, count // 5)
            messages = [build_message(edi_payload(size), "bench.edi", partner_view) for _ in range(count)]
            mine = ours(app, messages)
            base = baseline(messages, paths, d)
            print(f"{label:>8} {mine:11.1f} {base:14.1f} {mine / base:6.2f}")
        size = (20 if args.quick else 100) * 1024 * 1024
        growth, with_body, rss = peak_memory(partner_view, d, size)
        print(f"peak memory receiving {size // (1024 * 1024)} MB (signed+encrypted): {growth:.2f}x payload on top of "
              f"the request body, {with_body:.2f}x counting the body (peak RSS {rss / 2**20:.0f} MiB); target under 3x")


if __name__ == "__main__":
    main()
