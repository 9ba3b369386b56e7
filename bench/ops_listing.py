"""Ops console message list on a large store: p95 page times with common filters.

Generates N messages (default 1,000,000) over 50 partners and 90 days in a
fresh, migrated database (SQLite file and/or a scratch PostgreSQL database),
bulk-inserted (executemany on SQLite, COPY on PostgreSQL), then times
``hub.monitor.list_messages`` -- the query behind ``/ops/messages`` -- for
the first page and a deep page (after 10,000 rows of the same filter) with
the usual filters, the interchange and message (UNH) reference, and free
text (rare, common, absent, an error phrase, and a two-character term that
no trigram index answers), plus the state counts shown above the list.
Every message gets one ``message_reference`` row (its UNH reference), and
the problem ones an error text.

Baseline, measured in the same run: fetching 50 messages by primary key
(``WHERE id IN (...)``), the least any page of 50 can cost. Printed: p50 and
p95 in milliseconds and p95 as a multiple of the baseline's p95.

    .venv/bin/python bench/ops_listing.py                       # both databases, 1,000,000 messages
    .venv/bin/python bench/ops_listing.py --only sqlite --messages 200000
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from hub import db as hubdb  # noqa: E402
from hub.models import Message  # noqa: E402
from hub.monitor import TEXT_SCAN_WINDOW, MessageFilter, list_messages, state_counts, text_indexed  # noqa: E402

PG_URL = "postgresql+psycopg://postgres@127.0.0.1/postgres"
PARTNERS = 50
#: the deep page starts after this many rows of its filter (page 201 at 50 a page)
DEEP_OFFSET = 10_000
DAYS = 90
END = dt.datetime(2026, 11, 25, 12, 0)
TYPES_IN = ("ORDERS", "ORDERS", "ORDERS", "ORDCHG")
TYPES_OUT = ("ORDRSP", "DESADV", "INVOIC", "CONTRL", "CONTRL")
#: (state, weight) per direction: nearly everything done, a few problems
STATES_IN = (("processed", 960), ("rejected", 20), ("duplicate", 8), ("failed", 6), ("dead", 3), ("received", 3))
STATES_OUT = (("acknowledged", 900), ("delivered", 70), ("ack_overdue", 10), ("failed", 10), ("dead", 5), ("queued", 5))
COLUMNS = ("id", "direction", "partner_id", "document_type", "syntax", "interchange_ref", "message_ref",
           "business_ref", "sender_id", "recipient_id", "filename", "size", "state", "attempts", "issues",
           "receipt", "error", "created_at", "updated_at")
#: the error text of a message in a problem state (with the message's number, so that texts differ)
ERRORS = {
    "rejected": "segment {n} (QTY) element 1: '{n}x' is not a number",
    "failed": "delivery failed: sftp upload to partner{p:03d}.example.com: connection refused (attempt {n})",
    "dead": "gave up after 8 attempts: connection refused by partner{p:03d}.example.com",
    "ack_overdue": "no CONTRL within 24 hours for interchange IC{n:08d}",
}


def _weighted(choices):
    states, weights = zip(*choices)
    return states, weights


def generate(n: int, seed: int = 7):
    """Rows in id order, created_at ascending over DAYS days (ids follow time, as in a live hub)."""
    rng = random.Random(seed)
    s_in, w_in = _weighted(STATES_IN)
    s_out, w_out = _weighted(STATES_OUT)
    start = END - dt.timedelta(days=DAYS)
    step = DAYS * 86400 / n
    states_in = rng.choices(s_in, w_in, k=n)
    states_out = rng.choices(s_out, w_out, k=n)
    for i in range(n):
        at = start + dt.timedelta(seconds=i * step)
        partner = rng.randrange(1, PARTNERS + 1)
        inbound = rng.random() < 0.45
        doc = rng.choice(TYPES_IN) if inbound else rng.choice(TYPES_OUT)
        order = f"PO-{partner:03d}-{i // 3:07d}"
        state = states_in[i] if inbound else states_out[i]
        error = ERRORS[state].format(n=i, p=partner) if state in ERRORS else None
        # UNH references: each sender's counter, so one value recurs every 10,000 messages
        yield (i + 1, "in" if inbound else "out", partner, doc, "edifact", f"IC{i:08d}", _unh(i), order,
               f"40{partner:011d}", "4000001000005", f"{doc}_{i}.edi", 1500 + (i % 700),
               state, 1, "[]", "{}", error, at, at)


def _unh(i: int) -> str:
    return str(i % 10_000 + 1)


def _partners(conn) -> None:
    conn.execute(text("INSERT INTO partner (id, code, name, active, currency, profile, created_at) "
                      "VALUES (:id, :code, :name, :active, 'EUR', '{}', :at)"),
                 [{"id": p, "code": f"P{p:03d}", "name": f"Partner {p}", "active": True, "at": END - dt.timedelta(days=400)}
                  for p in range(1, PARTNERS + 1)])


def load_sqlite(url: str, n: int) -> float:
    engine = create_engine(url)
    began = time.perf_counter()
    with engine.begin() as conn:
        _partners(conn)
        raw = conn.connection.driver_connection
        sql = f"INSERT INTO message ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
        batch = []
        for row in generate(n):
            batch.append(row[:-2] + (row[-2].isoformat(sep=" "), row[-1].isoformat(sep=" ")))
            if len(batch) == 50_000:
                raw.executemany(sql, batch)
                batch.clear()
        if batch:
            raw.executemany(sql, batch)
        raw.executemany("INSERT INTO message_reference (message_id, reference) VALUES (?, ?)",
                        ((i + 1, _unh(i)) for i in range(n)))
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    engine.dispose()
    return time.perf_counter() - began


def load_postgres(url: str, n: int) -> float:
    """COPY with the free-text GIN index dropped, then rebuilt (as a bulk load would); prints its build time."""
    engine = create_engine(url)
    began = time.perf_counter()
    with engine.begin() as conn:
        definition = conn.scalar(text("SELECT pg_get_indexdef('ix_message_search_trgm'::regclass)"))
        conn.execute(text("DROP INDEX ix_message_search_trgm"))
        _partners(conn)
        cursor = conn.connection.driver_connection.cursor()
        with cursor.copy(f"COPY message ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for row in generate(n):
                copy.write_row(row)
        with cursor.copy("COPY message_reference (message_id, reference) FROM STDIN") as copy:
            for i in range(n):
                copy.write_row((i + 1, _unh(i)))
        conn.execute(text("SELECT setval(pg_get_serial_sequence('message', 'id'), :n)"), {"n": n})
        indexed = time.perf_counter()
        conn.execute(text(definition))
        print(f"free-text index (GIN, pg_trgm) built in {time.perf_counter() - indexed:.1f} s")
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.execute(text("VACUUM ANALYZE message"))
        conn.execute(text("VACUUM ANALYZE message_reference"))
    engine.dispose()
    return time.perf_counter() - began


def timings(fn, runs: int) -> list[float]:
    fn()  # warm
    out = []
    for _ in range(runs):
        began = time.perf_counter()
        fn()
        out.append((time.perf_counter() - began) * 1000)
    return out


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(round(0.95 * len(ordered))) - 1)]


def run(url: str, label: str, n: int, runs: int) -> None:
    print(f"\n== {label}: {n:,} messages ==")
    hubdb.upgrade(url)
    loader = load_postgres if url.startswith("postgresql") else load_sqlite
    seconds = loader(url, n)
    print(f"bulk insert: {seconds:.1f} s ({n / seconds:,.0f} rows/s)")
    engine = hubdb.make_engine(url)
    factory = hubdb.make_session_factory(engine)
    deep_id = n // 2
    week_from = (END - dt.timedelta(days=DAYS // 2 + 3)).date()  # a week around the middle of the store
    with factory() as session:
        some_ref, interchange, unh = session.execute(select(
            Message.business_ref, Message.interchange_ref, Message.message_ref).where(Message.id == deep_id)).one()
        session.rollback()
    dialect = make_url(url).get_backend_name()
    rare = f"{deep_id - 1:08d}"  # the digits of one interchange reference: one message

    cases = [
        ("no filter", MessageFilter()),
        ("partner", MessageFilter(partner_id=7)),
        ("state failed", MessageFilter(state="failed")),
        ("state problem (4 states)", MessageFilter(state="problem")),
        ("date range (7 days)", MessageFilter(date_from=week_from, date_to=week_from + dt.timedelta(days=6))),
        ("business ref", MessageFilter(business_ref=some_ref)),
        ("partner + problem", MessageFilter(partner_id=7, state="problem")),
        ("partner + type + 7 days", MessageFilter(partner_id=7, document_type="ORDERS", date_from=week_from,
                                                  date_to=week_from + dt.timedelta(days=6))),
        ("interchange ref", MessageFilter(reference=interchange)),
        (f"message ref (UNH {unh})", MessageFilter(reference=unh)),
        ("text, rare (1 message)", MessageFilter(text=rare)),
        ("text, common (orders)", MessageFilter(text="orders")),
        ("text, absent", MessageFilter(text="zzqx-absent")),
        ("text, error phrase", MessageFilter(text="not a number")),
        ("text, 2 chars (no trigram)", MessageFilter(text="zq")),
        ("partner + text error", MessageFilter(partner_id=7, text="connection refused")),
    ]
    ids = list(range(deep_id, deep_id + 50))

    def baseline():
        with factory() as session:
            list(session.scalars(select(Message).where(Message.id.in_(ids))))

    base = p95(timings(baseline, runs))
    print(f"baseline (50 messages by primary key): p95 {base:.2f} ms")
    print(f"free text without an index ({'every term' if dialect == 'sqlite' else 'a term without a trigram'}): "
          f"a page searches {TEXT_SCAN_WINDOW:,} messages, then 'Older' goes on")
    print(f"{'filter':28} {'page':6} {'p50 ms':>8} {'p95 ms':>8} {'x base':>7} {'rows':>5}")
    for name, filters in cases:
        with factory() as session:  # the cursor of page 201 (after 10,000 rows), found once, outside the timing
            stmt = filters.apply(select(Message.id), dialect).order_by(Message.created_at.desc(), Message.id.desc())
            deep = session.scalar(stmt.offset(DEEP_OFFSET - 1).limit(1))
            session.rollback()
        for page, before in (("first", None), ("deep", deep)):
            if page == "deep" and deep is None:
                print(f"{name:28} {page:6} {'(fewer than ' + str(DEEP_OFFSET) + ' rows)':>30}")
                continue
            found = []

            def query():
                with factory() as session:
                    found[:] = list_messages(session, filters, before=before).items
            values = timings(query, runs)
            bounded = " (window)" if filters.text and not text_indexed(filters.text, dialect) else ""
            print(f"{name:28} {page:6} {statistics.median(values):8.2f} {p95(values):8.2f} "
                  f"{p95(values) / base:7.1f} {len(found):5d}{' over 200 ms' if p95(values) > 200 else ''}"
                  f"{bounded}")

    def counts():
        with factory() as session:
            state_counts(session)
    values = timings(counts, runs)
    print(f"{'state counts (not final)':28} {'':6} {statistics.median(values):8.2f} {p95(values):8.2f} "
          f"{p95(values) / base:7.1f}")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=30, help="timed runs per query (p95 over these)")
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--pg-url", default=PG_URL, help="server to create the scratch database on")
    args = parser.parse_args()
    if args.only in (None, "sqlite"):
        with tempfile.TemporaryDirectory() as tmp:
            run(f"sqlite:///{tmp}/bench.db", "SQLite", args.messages, args.runs)
    if args.only in (None, "postgresql"):
        base = make_url(args.pg_url)
        name = f"kontor_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            run(base.set(database=name).render_as_string(hide_password=False), "PostgreSQL", args.messages, args.runs)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


if __name__ == "__main__":
    main()
