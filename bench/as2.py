"""AS2 receive benchmark: messages per second and peak memory, against `openssl cms` in the same run.

    .venv/bin/python bench/as2.py [--quick]

For 1 KB, 100 KB and 10 MB payloads, signed (SHA-256) and encrypted
(AES-256-CBC) with a signed sync MDN requested, it measures:

* ours: ``POST /as2`` through the Flask test client (parse_message, store in
  memory, build_mdn) — messages per second;
* baseline: ``openssl cms -decrypt | openssl cms -verify`` on the same
  message (two processes per message, so small payloads favour us);
* the ratio ours / baseline (> 1: we are faster).

Then the peak memory of receiving one 100 MB message through the real HTTP
path: a fresh server process runs the Flask app's ``/as2`` endpoint under
waitress on loopback with an in-memory hub (its ``store`` holds the payload
while it runs, as a database write would), this process POSTs the message
with requests (streamed from a file) and checks the signed MDN; printed is
the growth of the server's peak resident set (VmHWM, reset after a 1 MB
warm-up message) over its resident set before the message, as a multiple
of the payload (target: under 3x). ``--source DIR`` runs another checkout's
endpoint (for before/after figures).
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
    hub = app.extensions["kontor_as2"]
    stored = hub.count
    start = time.perf_counter()
    for out in messages:
        res = client.post("/as2", data=out.body, headers=out.headers)
        assert res.status_code == 200 and res.headers["Content-Type"].startswith("multipart/signed")
    elapsed = time.perf_counter() - start
    assert hub.count == stored + len(messages), "a message was refused (its MDN says why)"
    return len(messages) / elapsed


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


_SERVER_CHILD = r"""
import sys
from pathlib import Path

sys.path.insert(0, sys.argv[1])
import waitress
from cryptography import x509
from flask import Flask, Response

from adapters.as2 import As2Partner, As2Settings, load_private_key
from extranet.as2 import bp

d = Path(sys.argv[2])
local = As2Settings("KONTOR", load_private_key(str(d / "hub.key")), x509.load_pem_x509_certificate((d / "hub.pem").read_bytes()))
hub_view = As2Partner("ACME", local, (x509.load_pem_x509_certificate((d / "partner.pem").read_bytes()),))


class Hub:  # in memory: store() holds the payload while it runs, as a database write would
    def __init__(self):
        self.sizes = []

    def lookup(self, a, b):
        return hub_view

    def store(self, partner, filename, payload, receipt):
        self.sizes.append(len(payload))

    def seen(self, message_id, as2_from):
        return None

    def remember_mdn(self, *args):
        pass

    def send_async_mdn(self, *args):
        pass


def status():
    out = {}
    for line in open("/proc/self/status"):
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) * 1024
    return out


if sys.argv[3] == "memory":
    app = Flask("bench-as2")
    app.config["KONTOR_AS2_SPOOL_DIR"] = str(d / "spool")
    app.register_blueprint(bp)
    hub = app.extensions["kontor_as2"] = Hub()
else:  # the whole application on a fresh SQLite database, with a partner file for ACME
    from extranet import create_app
    from hub import db as hubdb
    from hub.partners import load_profiles, sync_partners
    from hub.settings import load_settings

    (d / "partners").mkdir(exist_ok=True)
    (d / "partners" / "acme.toml").write_text("\n".join([
        'code = "ACME"', 'name = "Acme"', "[[identifiers]]", 'scheme = "GLN"', 'value = "4012345000009"',
        "[[channels]]", 'name = "as2"', 'kind = "as2"', 'as2_id = "ACME"', 'url = "http://127.0.0.1:9/as2"', f'cert = "{d / "partner.pem"}"', ""]))
    url = f"sqlite:///{d / 'kontor.db'}"
    settings = load_settings(config_file=False, environ={}, database_url=url, var_dir=d / "var", partners_dir=d / "partners",
                             web_secret_key="bench", backoffice_token="bench-token", sftp_enabled=False,
                             hub_as2_id="KONTOR", hub_as2_key=str(d / "hub.key"), hub_as2_cert=str(d / "hub.pem"))
    hubdb.upgrade(url)
    session_factory = hubdb.make_session_factory(hubdb.make_engine(url))
    with session_factory() as session:
        sync_partners(session, load_profiles(settings.partners_path))
        session.commit()
    app = create_app(settings, session_factory=session_factory)

    class Stored:
        @property
        def sizes(self):
            from sqlalchemy import select
            from hub.models import Message
            with session_factory() as session:
                return [m.size for m in session.scalars(select(Message).where(Message.direction == "in").order_by(Message.id))]

    hub = Stored()


@app.get("/bench/memory")
def memory():
    return {**status(), "stored": hub.sizes}


@app.get("/bench/reset-peak")
def reset_peak():
    try:  # Linux >= 4.0: the peak (VmHWM) restarts from the current resident set
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError as exc:
        return Response(str(exc), status=501)
    return status()


server = waitress.create_server(app, host="127.0.0.1", port=0, threads=2)
print(server.effective_port, flush=True)
server.run()
"""


def peak_memory(partner_view: As2Partner, d: Path, size: int, source: Path, hub: str = "memory") -> tuple[float, int, int]:
    """Peak RSS growth of a fresh server process (waitress on loopback, the code at ``source``:
    the AS2 blueprint with an in-memory hub, or with ``hub="sqlite"`` the whole application on
    a new SQLite database) while it receives one ``size``-byte signed+encrypted message POSTed
    by requests from this process: (growth / size, growth, peak RSS)."""
    import requests

    from adapters.as2 import parse_mdn

    out = build_message(os.urandom(size), "big.bin", partner_view)
    (d / "big.body").write_bytes(out.body)
    headers, message_id, mic = out.headers, out.message_id, out.mic
    warm = build_message(os.urandom(1 << 20), "warm.bin", partner_view)
    del out
    proc = subprocess.Popen([sys.executable, "-c", _SERVER_CHILD, str(source), str(d), hub], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        base = f"http://127.0.0.1:{int(proc.stdout.readline())}"
        with requests.Session() as http:
            res = http.post(base + "/as2", data=warm.body, headers=warm.headers, timeout=120)
            assert res.status_code == 200, res.text  # warm-up: imports, threads, caches
            reset = http.get(base + "/bench/reset-peak", timeout=10)
            before = reset.json()["VmRSS"] if reset.ok else http.get(base + "/bench/memory", timeout=10).json()["VmHWM"]
            with open(d / "big.body", "rb") as body:
                res = http.post(base + "/as2", data=body, headers=headers, timeout=1200)
            assert res.status_code == 200, res.text
            mdn = parse_mdn(res.headers, res.content, message_id, mic, partner_view)
            assert mdn.ok, mdn.disposition
            after = http.get(base + "/bench/memory", timeout=10).json()
            assert after["stored"][-1] == size
    finally:
        proc.terminate()
        proc.wait(30)
    growth = after["VmHWM"] - before
    return growth / size, growth, after["VmHWM"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer messages, 20 MB instead of 100 MB for memory")
    ap.add_argument("--source", type=Path, default=Path(__file__).resolve().parents[1],
                    help="the Kontor tree whose AS2 endpoint the memory measure runs (default: this one), "
                         "e.g. an older checkout for a before/after figure")
    ap.add_argument("--memory-only", action="store_true", help="skip the messages-per-second table")
    ap.add_argument("--hub", action="append", choices=["memory", "sqlite"],
                    help="the hub behind the endpoint for the memory measure (repeatable; default: both)")
    args = ap.parse_args()
    args.hub = args.hub or ["memory", "sqlite"]
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        hub_view, partner_view, paths = profiles(d)
        app = app_for(hub_view)
        print(f"{'payload':>8} {'ours msg/s':>11} {'openssl msg/s':>14} {'ratio':>6}")
        for label, size, count in (("1 KB", 1024, 200), ("100 KB", 100 * 1024, 100), ("10 MB", 10 * 1024 * 1024, 6)):
            if args.memory_only:
                break
            if args.quick:
                count = max(2, count // 5)
            messages = [build_message(edi_payload(size), "bench.edi", partner_view) for _ in range(count)]
            mine = ours(app, messages)
            base = baseline(messages, paths, d)
            print(f"{label:>8} {mine:11.1f} {base:14.1f} {mine / base:6.2f}")
        size = (20 if args.quick else 100) * 1024 * 1024
        for name in ("hub.key", "hub.pem", "partner.pem"):
            assert (d / name).exists(), f"make_identity no longer writes {name}"
        for hub in args.hub:
            ratio, growth, peak = peak_memory(partner_view, d, size, args.source, hub)
            print(f"peak memory receiving {size // (1024 * 1024)} MB (signed+encrypted, sync signed MDN) over HTTP "
                  f"(waitress, requests from another process), {hub} hub: RSS grew {growth / 2**20:.0f} MiB = "
                  f"{ratio:.2f}x the payload (peak RSS {peak / 2**20:.0f} MiB); target under 3x")


if __name__ == "__main__":
    main()
