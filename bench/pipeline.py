"""End-to-end pipeline throughput: received ORDERS -> order stored -> ORDRSP queued.

Run by hand (never by the test suite)::

    .venv/bin/python bench/pipeline.py              # 2,000 ORDERS a configuration
    .venv/bin/python bench/pipeline.py --quick      # 300 ORDERS a configuration
    .venv/bin/python bench/pipeline.py --profile sqlite   # cProfile of one in-process worker

Each configuration gets a fresh database (an SQLite file in a temporary
folder; a scratch PostgreSQL database created on ``--pg-url`` and dropped
afterwards), 20 partners (EANCOM D96A, no CONTRL, ORDRSP wanted, a folder
channel to send on) and the demo catalog. N ORDERS of 10 lines each,
rendered by the translator with the partner's GLN as sender, are stored as
``received`` messages. Then worker *processes* (forked, each with its own
engine, each running :class:`hub.worker.Worker` ``run_batch`` in a loop, as
``kontor worker`` does) are
started together, and the clock runs until every ORDERS is ``processed``,
i.e. its order is stored and its ORDRSP rendered, numbered and ``queued``.
Workers claim inbound before outbound, so deliveries start only when the
inbound queue is empty; they are not part of the figure.

Each runs twice where it matters: on the batch road (what ``kontor
worker`` does: the plain new orders of a claimed batch applied together,
:mod:`hub.batch`) and on the pipeline road (``Worker(batch_road=False)``:
each message through :func:`hub.pipeline.process_inbound` in its own
transaction, the road of every message that is not a plain new order).

Baseline, measured in the same run in this process: the bare
``edi.translate.translate`` of the same ORDERS bytes (parse, validate, map),
and translate plus rendering the ORDRSP interchange. The ratio says what
share of the per-message cost is the translator; the rest is the database,
the domain and the worker.

Peak RSS is the largest VmHWM of the worker processes (read from
``/proc/self/status`` by each worker before it exits).
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import multiprocessing as mp
import os
import pstats
import random
import resource
import shutil
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, func, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from edi import documents as docs  # noqa: E402
from edi.translate import render_edifact, translate  # noqa: E402
from hub import db as hubdb  # noqa: E402
from hub.demo import gtin13, load_demo  # noqa: E402
from hub.inbound import receive  # noqa: E402
from hub.models import Message, Partner  # noqa: E402
from hub.partners import load_profiles, sync_partners  # noqa: E402
from hub.settings import Settings, load_settings  # noqa: E402
from hub.states import State  # noqa: E402

PG_URL = "postgresql+psycopg://postgres@127.0.0.1/postgres"
PARTNERS = 20
LINES = 10

PROFILE = """\
code = "{code}"
name = "Bench partner {number}"
currency = "EUR"

[[identifiers]]
scheme = "GLN"
value = "{gln}"

[documents]
directory = "D96A"
subset = "EANCOM"
acknowledgements = []
order_response = true

[[channels]]
name = "out"
kind = "folder"
direction = "out"
outbound = "{outbound}"
settle_seconds = 0
"""


def partner_gln(number: int) -> str:
    return gtin13(f"40299{number:07d}")


def write_profiles(folder: Path, outbox: Path, count: int = PARTNERS) -> list[tuple[str, str]]:
    """Partner files P01..Pnn in ``folder``; returns (code, GLN) pairs."""
    folder.mkdir(parents=True, exist_ok=True)
    result = []
    for number in range(1, count + 1):
        code, gln = f"P{number:02d}", partner_gln(number)
        (folder / f"{code.lower()}.toml").write_text(
            PROFILE.format(code=code, number=number, gln=gln, outbound=outbox / code)
        )
        result.append((code, gln))
    return result


def order_bytes(settings: Settings, gln: str, number: int, gtins: list[str], rng: random.Random) -> bytes:
    """One ORDERS D96A interchange with ``LINES`` lines, sender ``gln``, recipient the hub."""
    picked = rng.sample(gtins, LINES)
    order = docs.Order(
        number=f"PO-{number:06d}",
        issue_date=dt.date.today(),
        requested_delivery=dt.date.today() + dt.timedelta(days=7),
        currency="EUR",
        parties=[docs.Party(role=docs.PartyRole.BUYER, id=gln, name=f"Buyer {gln}"),
                 docs.Party(role=docs.PartyRole.SUPPLIER, id=settings.hub_id)],
        lines=[docs.OrderLine(line_no=str(i), gtin=gtin, quantity=Decimal(rng.randint(1, 120)), unit="PCE")
               for i, gtin in enumerate(picked, start=1)],
    )
    return render_edifact([order], sender=gln, sender_qualifier="14", recipient=settings.hub_id,
                          recipient_qualifier="14", control_ref=f"B{number:08d}")


def prepare(url: str, workdir: Path, n: int, seed: int = 7) -> tuple[Settings, list[bytes]]:
    """Migrate ``url``, load partners and the demo catalog, store ``n`` received ORDERS."""
    hubdb.upgrade(url)
    settings = load_settings(config_file=False, environ={}, database_url=url, var_dir=workdir / "var",
                             partners_dir=workdir / "partners", sftp_enabled=False)
    pairs = write_profiles(settings.partners_path, workdir / "outbox")
    engine = hubdb.make_engine(url)
    factory = hubdb.make_session_factory(engine)
    rng = random.Random(seed)
    payloads = []
    with factory() as session:
        sync_partners(session, load_profiles(settings.partners_path))
        load_demo(session, settings)
        session.commit()
        from hub.models import Product

        gtins = sorted(session.scalars(select(Product.gtin)))
        partners = {p.code: p for p in session.scalars(select(Partner))}
        for number in range(1, n + 1):
            code, gln = pairs[(number - 1) % len(pairs)]
            data = order_bytes(settings, gln, number, gtins, rng)
            payloads.append(data)
            receive(session, data=data, actor="bench", partner=partners[code], filename=f"{number}.edi")
            if number % 500 == 0:
                session.commit()
        session.commit()
    engine.dispose()
    return settings, payloads


def _vm_hwm_kb() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def _worker_main(settings: Settings, name: str, start, stop, results, batch_road: bool) -> None:
    from hub.worker import Worker

    engine = hubdb.make_engine(settings.database)
    worker = Worker(settings, hubdb.make_session_factory(engine), name=name, batch_road=batch_road)
    done = 0
    start.wait()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_before = usage.ru_utime + usage.ru_stime
    while not stop.is_set():
        claimed = worker.run_batch()  # what `kontor worker` does: claims in batches
        if claimed:
            done += claimed
        else:
            time.sleep(0.01)
    engine.dispose()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    results.put((name, done, _vm_hwm_kb(), usage.ru_utime + usage.ru_stime - cpu_before))


def run_workers(settings: Settings, n: int, workers: int, timeout: float = 600.0,
                batch_road: bool = True) -> tuple[float, int, float]:
    """Fork ``workers`` processes, time until ``n`` inbound messages are processed.

    Returns (seconds, the largest worker VmHWM in kB, the workers' CPU seconds together)."""
    ctx = mp.get_context("fork")
    start, stop, results = ctx.Event(), ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_worker_main, args=(settings, f"b{i}", start, stop, results, batch_road))
             for i in range(workers)]
    for proc in procs:
        proc.start()
    engine = hubdb.make_engine(settings.database)
    time.sleep(0.5)  # let the children import and connect before the clock starts
    began = time.perf_counter()
    start.set()
    count_stmt = select(func.count()).select_from(Message).where(
        Message.direction == "in", Message.state == State.PROCESSED)
    finished = None
    while time.perf_counter() - began < timeout:
        with engine.connect() as conn:
            done = conn.scalar(count_stmt)
        if done >= n:
            finished = time.perf_counter() - began
            break
        time.sleep(0.02)
    stop.set()
    reports = [results.get(timeout=60) for _ in procs]
    for proc in procs:
        proc.join(timeout=30)
    with engine.connect() as conn:
        states = dict(conn.execute(select(Message.state, func.count()).where(Message.direction == "in")
                                   .group_by(Message.state)).all())
        queued = conn.scalar(select(func.count()).select_from(Message).where(
            Message.direction == "out", Message.document_type == "ORDRSP"))
    engine.dispose()
    if finished is None:
        raise SystemExit(f"not all {n} ORDERS processed within {timeout:.0f} s: {states}")
    if states.get(State.PROCESSED) != n or queued != n:
        raise SystemExit(f"expected {n} processed and {n} ORDRSP, got {states} and {queued}")
    return finished, max(r[2] for r in reports), sum(r[3] for r in reports)


class Scratch:
    """A database for one configuration: an SQLite file, or a scratch PostgreSQL database."""

    def __init__(self, kind: str, pg_url: str, workdir: Path):
        self.kind, self.pg_url = kind, pg_url
        if kind == "sqlite":
            self.url = f"sqlite:///{workdir / 'bench.db'}"
        else:
            self.name = f"kontor_bench_{uuid.uuid4().hex[:10]}"
            self.admin = create_engine(make_url(pg_url), isolation_level="AUTOCOMMIT")
            with self.admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{self.name}"'))
            self.url = make_url(pg_url).set(database=self.name).render_as_string(hide_password=False)

    def drop(self) -> None:
        if self.kind == "postgresql":
            with self.admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
            self.admin.dispose()


def baseline(payloads: list[bytes], settings: Settings) -> tuple[float, float]:
    """Messages/s of bare translate(), and of translate() plus rendering an ORDRSP interchange."""
    sample = payloads[: min(len(payloads), 500)]
    began = time.perf_counter()
    translations = [translate(data) for data in sample]
    translate_rate = len(sample) / (time.perf_counter() - began)
    began = time.perf_counter()
    for number, data in enumerate(sample, start=1):
        order = translate(data).messages[0].document
        response = docs.OrderResponse(
            number=f"{order.number}-R1", order_number=order.number, order_date=order.issue_date,
            issue_date=dt.date.today(), currency="EUR",
            parties=[docs.Party(role=docs.PartyRole.SUPPLIER, id=settings.hub_id)],
            lines=[docs.OrderResponseLine(line_no=line.line_no, gtin=line.gtin, quantity=line.quantity,
                                          ordered_quantity=line.quantity, unit=line.unit,
                                          net_price=Decimal("12.34")) for line in order.lines],
        )
        render_edifact([response], sender=settings.hub_id, sender_qualifier="14", recipient="4029900000001",
                       recipient_qualifier="14", control_ref=str(number))
    both_rate = len(sample) / (time.perf_counter() - began)
    assert all(not t.errors for t in translations)
    return translate_rate, both_rate


def profile(kind: str, pg_url: str, n: int) -> None:
    """One worker in this process under cProfile; prints the top of the cumulative and own-time lists."""
    from hub.worker import Worker

    workdir = Path(tempfile.mkdtemp(prefix="kontor-bench-"))
    scratch = Scratch(kind, pg_url, workdir)
    try:
        settings, _ = prepare(scratch.url, workdir, n)
        engine = hubdb.make_engine(settings.database)
        worker = Worker(settings, hubdb.make_session_factory(engine), name="profiled")
        profiler = cProfile.Profile()
        began = time.perf_counter()
        profiler.enable()
        done = 0
        while done < n:
            claimed = worker.run_batch()
            if not claimed:
                break
            done += claimed
        profiler.disable()
        took = time.perf_counter() - began
        print(f"{done} messages in {took:.2f} s under cProfile ({done / took:.0f} msgs/s)")
        stats = pstats.Stats(profiler).strip_dirs()
        stats.sort_stats("cumulative").print_stats(45)
        stats.sort_stats("tottime").print_stats(30)
        engine.dispose()
    finally:
        scratch.drop()
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="300 ORDERS a configuration instead of 2,000")
    parser.add_argument("-n", type=int, help="ORDERS a configuration")
    parser.add_argument("--pg-url", default=os.environ.get("KONTOR_BENCH_PG_URL", PG_URL),
                        help="PostgreSQL server to create the scratch database on")
    parser.add_argument("--only", choices=["sqlite", "postgresql"], help="run one database kind only")
    parser.add_argument("--profile", choices=["sqlite", "postgresql"],
                        help="instead of the table: cProfile one in-process worker")
    args = parser.parse_args(argv)
    n = args.n or (300 if args.quick else 2000)
    if args.profile:
        profile(args.profile, args.pg_url, n)
        return

    # "batch": what `kontor worker` does (plain new orders of a claimed batch applied together, hub.batch);
    # "pipeline": the same workers with the batch road off, every message through hub.pipeline on its own
    # (the road every message that is not a plain new order takes)
    configs = [("sqlite", 1, "batch"), ("postgresql", 1, "batch"), ("postgresql", 2, "batch"),
               ("postgresql", 4, "batch"), ("sqlite", 1, "pipeline"), ("postgresql", 2, "pipeline")]
    if args.only:
        configs = [c for c in configs if c[0] == args.only]
    print(f"pipeline: {n} ORDERS ({LINES} lines each, {PARTNERS} partners) -> order + ORDRSP queued; "
          f"worker processes; {os.cpu_count()} CPUs")
    rows = []
    base = None
    for kind, workers, road in configs:
        workdir = Path(tempfile.mkdtemp(prefix="kontor-bench-"))
        scratch = Scratch(kind, args.pg_url, workdir)
        try:
            settings, payloads = prepare(scratch.url, workdir, n)
            if base is None:
                base = baseline(payloads, settings)
                print(f"baseline (this process): translate {base[0]:.0f} msgs/s; "
                      f"translate + render ORDRSP {base[1]:.0f} msgs/s")
            seconds, peak_kb, cpu = run_workers(settings, n, workers, batch_road=road == "batch")
        finally:
            scratch.drop()
            shutil.rmtree(workdir, ignore_errors=True)
        rate = n / seconds
        rows.append((kind, workers, road, seconds, rate, rate / base[0], rate / base[1], peak_kb / 1024,
                     1000 * cpu / n))
        print(f"  {kind} x{workers} ({road} road): {rate:.0f} msgs/s", flush=True)

    print()
    print(f"{'database':<11} {'workers':>7} {'road':>8} {'seconds':>8} {'msgs/s':>7} {'vs translate':>12} "
          f"{'vs tr+render':>12} {'worker CPU/msg':>14} {'peak RSS':>9}")
    for kind, workers, road, seconds, rate, r1, r2, rss, cpu_ms in rows:
        print(f"{kind:<11} {workers:>7} {road:>8} {seconds:>8.2f} {rate:>7.0f} {r1:>12.2f} {r2:>12.2f} "
              f"{cpu_ms:>11.1f} ms {rss:>6.0f} MB")
    print()
    print("vs translate: pipeline msgs/s over bare translate() msgs/s in one process (1.00 = the database, "
          "domain and worker cost nothing);")
    print(f"vs tr+render: the same over translate + render ORDRSP. Baseline: {base[0]:.0f} and {base[1]:.0f} msgs/s. "
          "worker CPU/msg: user+system CPU of the worker processes per message (the database server's not counted). "
          f"Load average now: {os.getloadavg()[0]:.1f}. Target: 200 msgs/s per node.")


if __name__ == "__main__":
    main()
