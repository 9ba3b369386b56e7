"""Portal load: 50 users browse a 50,000-product catalogue and place orders, on PostgreSQL.

Run by hand (never by the test suite)::

    .venv/bin/python bench/portal.py                      # 50 users, 60 s, gunicorn, local PostgreSQL
    .venv/bin/python bench/portal.py --duration 20 --users 20 --server waitress
    .venv/bin/python bench/portal.py --db-url postgresql+psycopg://user@host/postgres

What it does:

1. creates a scratch database on the PostgreSQL server, migrates it, loads the
   partners of ``config/partners``, generates ``--products`` products (with
   Acme's contract prices for two products in three, two quantity breaks each)
   and ``--users`` Acme buyers;
2. serves ``extranet.create_app()`` with gunicorn (``--workers`` processes of
   4 threads) or with ``kontor web`` (waitress, 8 threads) on a loopback port;
3. runs locust headless (this same file is the locustfile: the user class is
   defined when locust imports it): each simulated user signs in once, then
   browses catalogue pages, searches, filters a category, and orders
   (cart add + checkout), waiting 1-3 s between actions like a person reading a
   page (``--think 0.5-1.5``: another range; ``--no-wait``:
   none, the server's saturation throughput); the statistics are reset once
   every user has signed in, so they show ``--duration`` seconds of steady
   state (sign-in, deliberately slow with Argon2, is not part of the targets);
4. prints requests per second and p50/p95 per kind of request, and checks
   the targets: p95 under 200 ms for catalogue pages and for order submission;
5. stops the server and drops the scratch database.

Needs: locust and gunicorn (``pip install locust gunicorn``), a PostgreSQL
server that the URL's user may create databases on.
"""

from __future__ import annotations

import os
import random

# --- the locust side: defined only when locust imports this file ----------------------------

if __name__ != "__main__":  # pragma: no cover - runs inside locust
    import itertools
    import re

    from locust import HttpUser, between, constant, task

    import html

    _TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
    _NEXT = re.compile(r'href="([^"]+)" rel="next"')
    _THINK = [float(x) for x in os.environ.get("BENCH_THINK", "1,3").split(",")]
    _numbers = itertools.count(1)
    _WORDS = os.environ.get("BENCH_WORDS", "oil").split(",")
    _PRODUCTS = int(os.environ.get("BENCH_PRODUCTS", "50000"))
    _CATEGORIES = os.environ.get("BENCH_CATEGORIES", "").split(",")
    _USERS = int(os.environ.get("BENCH_USERS", "50"))
    _signed_in = 0

    class Buyer(HttpUser):
        wait_time = constant(0) if os.environ.get("BENCH_NO_WAIT") else between(*_THINK)
        next_url: str | None = None  # the "Next" link of the catalogue page this buyer is reading
        browsed = 0

        def on_start(self) -> None:
            number = next(_numbers)
            self.email = f"bench{number:03d}@acme.example"
            page = self.client.get("/login", name="sign in (page)")
            token = _TOKEN.search(page.text).group(1)
            self.client.post("/login", data={"email": self.email, "password": os.environ["BENCH_PASSWORD"],
                                             "csrf_token": token}, name="sign in", allow_redirects=False)
            self.token = _TOKEN.search(self.client.get("/cart", name="cart").text).group(1)
            self.client.get("/", name="catalogue page")  # warm the worker's templates
            global _signed_in
            _signed_in += 1
            if _signed_in == _USERS:  # everyone is in: measure the steady state from here
                self.environment.runner.stats.reset_all()
                print(f"all {_USERS} users signed in; statistics reset", flush=True)

        @task(6)
        def catalog_page(self) -> None:
            """Leaf through the catalogue as a buyer does: follow "Next" a few pages, then start
            over, from the first page or from anywhere in it (a bookmarked or shared deep link)."""
            if self.next_url is None or self.browsed >= 5:
                start = random.randint(1, _PRODUCTS)
                self.next_url = random.choice(["/", f"/?after={start}"])
                self.browsed = 0
            response = self.client.get(self.next_url, name="catalogue page")
            found = _NEXT.search(response.text)
            self.next_url = html.unescape(found.group(1)) if found else None
            self.browsed += 1

        @task(3)
        def catalog_search(self) -> None:
            self.client.get("/", params={"q": random.choice(_WORDS)}, name="catalogue search")

        @task(2)
        def catalog_category(self) -> None:
            params = {"category": random.choice(_CATEGORIES)}
            if random.random() < 0.5:  # a later page of the category
                params["after"] = str(random.randint(1, _PRODUCTS))
            self.client.get("/", params=params, name="catalogue category")

        @task(2)
        def order(self) -> None:
            sku = f"BN-{random.randint(1, _PRODUCTS):06d}"
            with self.client.post("/cart/add", data={"sku": sku, "quantity": str(random.randint(1, 20)),
                                                     "csrf_token": self.token},
                                  name="order: cart add", allow_redirects=False, catch_response=True) as r:
                if r.status_code != 302:
                    r.failure(f"cart add answered {r.status_code}")
            with self.client.post("/checkout", data={"csrf_token": self.token, "number": ""},
                                  name="order: checkout", allow_redirects=False, catch_response=True) as r:
                if r.status_code != 302 or "/orders/" not in r.headers.get("Location", ""):
                    r.failure(f"checkout answered {r.status_code}")

        @task(1)
        def orders(self) -> None:
            self.client.get("/orders", name="orders list")


# --- the driver ----------------------------------------------------------------------------

if __name__ == "__main__":
    import argparse
    import csv
    import shutil
    import signal
    import socket
    import subprocess
    import sys
    import tempfile
    import time
    import urllib.request
    import uuid
    from decimal import Decimal
    from pathlib import Path

    ROOT = Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(ROOT))

    WORDS = ["engine", "gear", "hydraulic", "grease", "coolant", "brake", "filter", "pump", "valve", "hose",
             "bearing", "seal", "belt", "chain", "clamp", "nozzle", "gasket", "sensor", "relay", "fuse"]
    KINDS = ["oil", "fluid", "kit", "set", "pack", "unit", "spare", "part"]
    CATEGORIES = [f"Category {c}" for c in "ABCDEFGHIJKLMNOPQRST"]
    PASSWORD = "bench-password-1"
    WARM_UP = 20  # seconds for every user to sign in (Argon2) before the statistics are reset
    CATALOG = ("catalogue page", "catalogue search", "catalogue category")
    ORDERING = ("order: cart add", "order: checkout")

    def gtin13(base12: str) -> str:
        digits = [int(c) for c in base12]
        total = sum(d * (3 if i % 2 else 1) for i, d in enumerate(digits))
        return base12 + str((10 - total % 10) % 10)

    def free_port() -> int:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]

    def prepare(url: str, products: int, users: int) -> None:
        from sqlalchemy import insert, select, text

        from hub import db as hubdb
        from hub.accounts import hash_password
        from hub.models import Partner, Price, Product, User
        from hub.partners import load_profiles, sync_partners

        started = time.perf_counter()
        hubdb.upgrade(url)
        engine = hubdb.make_engine(url)
        rng = random.Random(7)
        with hubdb.make_session_factory(engine)() as session:
            sync_partners(session, load_profiles(ROOT / "config" / "partners"))
            session.commit()
            rows = []
            for n in range(1, products + 1):
                word, other, kind = rng.choice(WORDS), rng.choice(WORDS), rng.choice(KINDS)
                price = Decimal(rng.randint(150, 50000)) / 100
                rows.append({"sku": f"BN-{n:06d}", "gtin": gtin13(f"47{n:010d}"), "unit": "PCE",
                             "name": f"{word.title()} {other} {kind} {n}", "category": rng.choice(CATEGORIES),
                             "description": f"{word} {other} {kind}", "list_price": price, "currency": "EUR",
                             "tax_rate": Decimal("19"), "stock": Decimal(rng.randint(0, 500)), "active": True})
            for start in range(0, len(rows), 5000):
                session.execute(insert(Product), rows[start:start + 5000])
            acme = session.scalar(select(Partner).where(Partner.code == "ACME"))
            acme.approval_threshold = None  # the load measures ordering, not the approval queue
            ids = list(session.scalars(select(Product.id).order_by(Product.id)))
            prices = []
            for index, (pid, row) in enumerate(zip(ids, rows)):
                if index % 3 == 2:
                    continue
                for min_qty, factor in ((Decimal(1), Decimal("0.88")), (Decimal(50), Decimal("0.83"))):
                    prices.append({"partner_id": acme.id, "product_id": pid, "currency": "EUR",
                                   "price": (row["list_price"] * factor).quantize(Decimal("0.01")),
                                   "min_quantity": min_qty})
            for start in range(0, len(prices), 5000):
                session.execute(insert(Price), prices[start:start + 5000])
            hashed = hash_password(PASSWORD)
            session.execute(insert(User), [
                {"email": f"bench{n:03d}@acme.example", "name": f"Bench Buyer {n}", "partner_id": acme.id,
                 "role": "buyer", "password_hash": hashed, "notify": {}, "active": True, "failed_logins": 0}
                for n in range(1, users + 1)])
            session.commit()
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))  # planner statistics, as on a database that has lived a while
        engine.dispose()
        print(f"prepared {products:,} products, {len(prices):,} contract prices, {users} users"
              f" in {time.perf_counter() - started:.1f} s", flush=True)

    def serve(kind: str, url: str, port: int, workers: int, var: Path, keep_alive: int = 5) -> subprocess.Popen:
        env = dict(os.environ, KONTOR_DATABASE_URL=url, KONTOR_WEB_SECRET_KEY="bench-secret",
                   KONTOR_SFTP_ENABLED="false", KONTOR_VAR_DIR=str(var), KONTOR_SMTP_HOST="",
                   KONTOR_CONFIG=str(var / "none.toml"))
        (var / "none.toml").write_text("")
        bin_dir = Path(sys.executable).parent
        if kind == "gunicorn":
            # keep-alive longer than the think time (gunicorn's default is 2 s): otherwise the server
            # closes an idle connection just as locust reuses it (connection reset), as a proxy
            # in front of gunicorn would not
            command = [str(bin_dir / "gunicorn"), "-w", str(workers), "-k", "gthread", "--threads", "4",
                       "--keep-alive", str(keep_alive), "-b", f"127.0.0.1:{port}", "--log-level", "warning",
                       "extranet:create_app()"]
        else:
            command = [str(bin_dir / "kontor"), "web", "--port", str(port), "--threads", "8"]
        process = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2).read()
                return process
            except OSError:
                if process.poll() is not None:
                    raise SystemExit(f"the server exited with {process.returncode}")
                time.sleep(0.3)
        stop(process)
        raise SystemExit("the server did not answer within 60 s")

    def stop(process: subprocess.Popen) -> None:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def run_locust(port: int, users: int, duration: int, products: int, no_wait: bool, out: Path,
                   think: tuple[float, float] = (1.0, 3.0)) -> Path:
        env = dict(os.environ, BENCH_PASSWORD=PASSWORD, BENCH_PRODUCTS=str(products), BENCH_USERS=str(users),
                   BENCH_WORDS=",".join(WORDS), BENCH_CATEGORIES=",".join(CATEGORIES),
                   BENCH_THINK=f"{think[0]},{think[1]}")
        if no_wait:
            env["BENCH_NO_WAIT"] = "1"
        locust = Path(sys.executable).parent / "locust"
        subprocess.run([str(locust), "-f", str(Path(__file__).resolve()), "--headless", "-u", str(users),
                        "-r", str(max(1, users // 2)), "-t", f"{duration + WARM_UP}s", "--host", f"http://127.0.0.1:{port}",
                        "--csv", str(out / "portal"), "--only-summary", "--loglevel", "WARNING",
                        "--stop-timeout", "5"], env=env, check=False, timeout=duration + 120)
        return out / "portal_stats.csv"

    def report(stats_csv: Path, duration: int) -> bool:
        with stats_csv.open(newline="") as handle:
            rows = {row["Name"]: row for row in csv.DictReader(handle)}
        print()
        print(f"{'request':24} {'count':>7} {'fail':>5} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7}")
        for name, row in rows.items():
            print(f"{name[:24]:24} {row['Request Count']:>7} {row['Failure Count']:>5} "
                  f"{float(row['Requests/s']):7.1f} {row['50%']:>7} {row['95%']:>7} {row['99%']:>7}")
        ok = True
        for group, names in (("catalogue pages", CATALOG), ("order submission", ORDERING)):
            p95 = max(float(rows[n]["95%"]) for n in names if n in rows)
            verdict = "met" if p95 < 200 else "MISSED"
            ok &= p95 < 200
            print(f"target p95 < 200 ms for {group}: worst p95 {p95:.0f} ms: {verdict}")
        failures = sum(int(r["Failure Count"]) for n, r in rows.items() if n != "Aggregated")
        if failures:
            print(f"{failures} request(s) failed")
        return ok and not failures

    def main() -> int:
        parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
        parser.add_argument("--db-url", default=os.environ.get("KONTOR_BENCH_DATABASE_URL",
                                                               "postgresql+psycopg://postgres@127.0.0.1/postgres"))
        parser.add_argument("--users", type=int, default=50)
        parser.add_argument("--duration", type=int, default=60, help="seconds of load")
        parser.add_argument("--products", type=int, default=50_000)
        parser.add_argument("--server", choices=("gunicorn", "waitress"), default="gunicorn")
        parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
        parser.add_argument("--think", default="1-3", help="think time between a user's actions, seconds MIN-MAX")
        parser.add_argument("--no-wait", action="store_true", help="no think time: saturation throughput")
        parser.add_argument("--keep", action="store_true", help="keep the scratch database")
        args = parser.parse_args()
        if not args.db_url.startswith("postgresql"):
            raise SystemExit("the portal load runs on PostgreSQL: give --db-url postgresql+psycopg://...")
        if shutil.which("locust", path=str(Path(sys.executable).parent)) is None:
            raise SystemExit("locust is not installed: .venv/bin/pip install locust")

        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        base = make_url(args.db_url)
        name = f"kontor_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = base.set(database=name).render_as_string(hide_password=False)
        work = Path(tempfile.mkdtemp(prefix="kontor-bench-"))
        server = None
        try:
            prepare(url, args.products, args.users)
            port = free_port()
            think = tuple(float(x) for x in args.think.split("-", 1))
            server = serve(args.server, url, port, args.workers, work, keep_alive=int(think[1]) + 3)
            wait = "no think time" if args.no_wait else f"{think[0]:g}-{think[1]:g} s think time"
            print(f"load: {args.users} users, {args.duration} s, {wait}, {args.server}"
                  f"{f' ({args.workers} workers x 4 threads)' if args.server == 'gunicorn' else ' (8 threads)'},"
                  f" {os.cpu_count()} cores shared by server, database and locust", flush=True)
            stats = run_locust(port, args.users, args.duration, args.products, args.no_wait, work, think)
            ok = report(stats, args.duration)
        finally:
            if server is not None:
                stop(server)
            if args.keep:
                print(f"kept the database: {url}")
            else:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
            shutil.rmtree(work, ignore_errors=True)
        return 0 if ok else 1

    sys.exit(main())
