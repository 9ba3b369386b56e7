"""The portal in a real browser: sign in, search, quick order, place the order, see it.

The extranet runs under waitress on a loopback port in a thread, on the
test's migrated database with the demo partners, catalogue and users.
Chromium is Debian's (``apt-get install chromium``); Playwright drives it,
no browser is downloaded. Screenshots land in ``build/screenshots/``.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

from hub.demo import DEMO_PASSWORD, load_demo
from hub.partners import load_profiles, sync_partners
from hub.settings import BASE_DIR

sync_api = pytest.importorskip("playwright.sync_api")

pytestmark = pytest.mark.e2e

CHROMIUM = os.environ.get("KONTOR_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = BASE_DIR / "build" / "screenshots"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def server(settings, session_factory):
    from waitress.server import create_server

    from extranet import create_app

    with session_factory() as session:
        sync_partners(session, load_profiles(BASE_DIR / "config" / "partners"))
        session.flush()
        load_demo(session, settings)
        session.commit()
    app = create_app(settings, session_factory)
    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, name="waitress", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}"
    server.close()
    thread.join(timeout=5)


@pytest.fixture
def page():
    if not Path(CHROMIUM).exists() and not shutil.which(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.set_default_timeout(15_000)
        problems: list[str] = []
        def console(msg) -> None:
            # A 422 is how a form with errors answers; anything else is a problem.
            if msg.type == "error" and "status of 422" not in msg.text:
                problems.append(f"{msg.text} ({msg.location.get('url')})")

        page.on("console", console)
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        yield page
        # No CSP violations, no script errors, on any page the test saw.
        assert not problems, problems
        context.close()
        browser.close()


UNLABELLED = """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea, button')]
  .filter(el => !el.closest('[hidden]'))
  .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.textContent.trim())
  .map(el => el.outerHTML)"""


def shot(page, name: str) -> None:
    """Save a screenshot, and check that every control on the page has a name."""
    assert page.evaluate(UNLABELLED) == [], f"controls without a label on {page.url}"
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_sign_in_search_quick_order_and_order(server, page):
    page.goto(f"{server}/")
    assert "/login" in page.url
    # Keyboard first: the skip link is the first stop.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.get_by_label("E-mail address").fill("buyer@acme.example")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    shot(page, "01-login")
    page.get_by_role("button", name="Sign in").click()
    sync_api.expect(page.get_by_role("heading", name="Catalogue")).to_be_visible()

    page.get_by_role("searchbox", name="Search").fill("engine oil")
    page.get_by_role("button", name="Search").click()
    sync_api.expect(page.get_by_role("status").first).to_contain_text("matching “engine oil”")
    shot(page, "02-catalog-search")
    first_sku = page.locator("table.catalog tbody tr td .mono").first.inner_text()

    page.get_by_role("link", name="Quick order").click()
    page.get_by_label("Order lines").fill(f"{first_sku} 12\nNO-SUCH-SKU 1")
    page.get_by_role("button", name="Add to cart").click()
    sync_api.expect(page.get_by_text("no product with SKU or GTIN 'NO-SUCH-SKU'")).to_be_visible()
    shot(page, "03-quick-order-error")
    page.get_by_label("Order lines").fill("")
    page.get_by_role("link", name="Cart").click()
    sync_api.expect(page.get_by_role("heading", name="Cart")).to_be_visible()
    shot(page, "04-cart")

    page.get_by_role("link", name="Check out").click()
    page.get_by_label("Your order number").fill("PO-BROWSER-1")
    page.get_by_role("button", name="Place order").click()
    sync_api.expect(page.get_by_role("heading", name="Order PO-BROWSER-1")).to_be_visible()
    sync_api.expect(page.get_by_text("order PO-BROWSER-1 is placed")).to_be_visible()
    shot(page, "05-order")

    page.get_by_role("link", name="Orders").click()
    sync_api.expect(page.get_by_role("link", name="PO-BROWSER-1")).to_be_visible()
    shot(page, "06-orders")


def test_operator_reads_a_rejected_message(server, page, session_factory):
    from hub.messages import new_message
    from hub.models import Partner

    data = (
        b"UNA:+.? 'UNB+UNOC:3+4012345000009:14+4000001000005:14+261125:1200+IC77'"
        b"UNH+1+ORDERS:D:96A:UN:EAN008'BGM+220+PO-77+9'DTM+137:2026112X:102'"
        b"FTX+AAI+++Release ?' kept'UNT+5+1'UNZ+1+IC77'"
    )
    with session_factory() as session:
        partner = session.query(Partner).filter_by(code="ACME").one()
        message = new_message(session, direction="in", data=data, actor="sftp:acme", partner=partner,
                              filename="ORDERS_77.edi", document_type="ORDERS", interchange_ref="IC77")
        message.state = "rejected"
        message.error = "segment 4 (DTM) element 1.2: 2026112X is not a date (CCYYMMDD)"
        message.issues = [{"segment": 4, "tag": "DTM", "element": 1, "component": 2, "code": "12",
                           "message": "2026112X is not a date (CCYYMMDD)"}]
        session.commit()
        message_id = message.id

    page.goto(f"{server}/login")
    page.get_by_label("E-mail address").fill("ops@kontor.example")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    sync_api.expect(page.get_by_role("heading", name="Messages")).to_be_visible()
    page.get_by_label("State", exact=True).select_option("rejected")
    page.get_by_role("button", name="Filter").click()
    shot(page, "07-ops-messages")
    page.get_by_role("link", name=str(message_id), exact=True).click()
    sync_api.expect(page.locator("li.segment.flagged")).to_have_count(1)
    sync_api.expect(page.locator("#segment-4")).to_contain_text("DTM+137:2026112X:102")
    shot(page, "08-ops-message")
    page.get_by_label("Comment (required)").first.fill("partner resent with a valid date")
    page.get_by_role("button", name="Reprocess").click()
    sync_api.expect(page.get_by_text("Reprocess: done.")).to_be_visible()
    shot(page, "09-ops-reprocessed")


def test_csv_upload_fixed_in_place_order_and_its_pdf_invoice(server, page, settings, session_factory, tmp_path):
    from sqlalchemy import select

    from hub.backoffice import invoice_order, ship_order
    from hub.models import Order

    page.goto(f"{server}/login")
    page.get_by_label("E-mail address").fill("buyer@acme.example")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Upload CSV").click()
    csv_file = tmp_path / "order.csv"
    csv_file.write_text("sku,quantity,note\nKS-00001,4,for Leipzig\nKS-0OOO2,2,typo\n")
    page.get_by_label("CSV file").set_input_files(str(csv_file))
    page.get_by_role("button", name="Upload").click()
    sync_api.expect(page.get_by_text("1 row could not be added")).to_be_visible()
    shot(page, "10-upload-error-row")
    page.get_by_label("SKU in row 3").fill("KS-00002")
    page.get_by_role("button", name="Add corrected rows").click()
    sync_api.expect(page.get_by_role("heading", name="Cart")).to_be_visible()
    page.get_by_role("link", name="Check out").click()
    page.get_by_label("Your order number").fill("PO-BROWSER-CSV")
    page.get_by_role("button", name="Place order").click()
    sync_api.expect(page.get_by_role("heading", name="Order PO-BROWSER-CSV")).to_be_visible()

    with session_factory() as session:  # the supplier's back office ships and invoices it
        order_id = session.scalar(select(Order.id).where(Order.number == "PO-BROWSER-CSV"))
        ship_order(session, settings, order_id, actor="erp", carrier="DHL", tracking_number="JJD0099")
        invoice_order(session, settings, order_id, actor="erp")
    page.reload()
    page.get_by_role("link", name="Order, response, delivery and invoice on one page").click()
    sync_api.expect(page.get_by_role("heading", name="Order PO-BROWSER-CSV: all documents")).to_be_visible()
    shot(page, "11-order-chain")
    with page.expect_download() as download:
        page.get_by_role("link", name="PDF of invoice", exact=False).first.click()
    pdf = download.value.path()
    assert pdf is not None and open(pdf, "rb").read(5) == b"%PDF-"
    shutil.copyfile(pdf, SCREENSHOTS / "12-invoice.pdf")
