"""The operations console in a real browser: list, filters, a rejected message with its error
highlighted, reprocess with a comment, the dashboard.

Same set-up as the portal's browser test: the extranet under waitress on a
loopback port, Debian's Chromium driven by Playwright, screenshots in
``build/screenshots/`` (named ``ops-*``).
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest
from sqlalchemy import select

from hub.demo import DEMO_PASSWORD, load_demo
from hub.models import Message, MessageEvent, Partner, Payload
from hub.partners import load_profiles, sync_partners
from hub.settings import BASE_DIR
from tests.extranet.conftest import ORDERS_WITH_ERROR

sync_api = pytest.importorskip("playwright.sync_api")

pytestmark = pytest.mark.e2e

CHROMIUM = os.environ.get("KONTOR_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = BASE_DIR / "build" / "screenshots"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def _message(session, partner, data, *, state, document_type="ORDERS", direction="in", issues=None, error=None,
             ref="IC1"):
    message = Message(direction=direction, partner=partner, document_type=document_type, syntax="edifact",
                      interchange_ref=ref, message_ref="1", business_ref=f"PO-{ref}",
                      payload=Payload(sha256="0" * 64, size=len(data), data=data), size=len(data), state=state,
                      issues=issues or [], receipt={}, error=error)
    session.add(message)
    session.add(MessageEvent(message=message, event="store", state="received", actor="folder:acme"))
    if state != "received":
        session.add(MessageEvent(message=message, event="reject" if state == "rejected" else "done", state=state,
                                 actor="worker-1", detail=error))
    return message


@pytest.fixture
def server(settings, session_factory):
    from waitress.server import create_server

    from extranet import create_app

    with session_factory() as session:
        sync_partners(session, load_profiles(BASE_DIR / "config" / "partners"))
        session.flush()
        load_demo(session, settings)
        acme = session.scalar(select(Partner).where(Partner.code == "ACME"))
        other = session.scalar(select(Partner).where(Partner.code != "ACME").order_by(Partner.id))
        for i in range(6):
            _message(session, acme if i % 2 else other, b"UNB+UNOC:3+A+B+261125:1200+X'UNZ+0+X'",
                     state="processed", ref=f"IC10{i}")
        _message(session, acme, ORDERS_WITH_ERROR, state="rejected", ref="IC0001",
                 issues=[{"segment": 4, "tag": "DTM", "element": 1, "component": 2,
                          "message": "2026112X is not a date (CCYYMMDD)", "code": "12"}],
                 error="segment 4 (DTM) element 1.2: 2026112X is not a date (CCYYMMDD)")
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
            if msg.type == "error":
                problems.append(f"{msg.text} ({msg.location.get('url')})")

        page.on("console", console)
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        yield page
        assert not problems, problems  # no CSP violations, no script errors
        context.close()
        browser.close()


UNLABELLED = """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea, button')]
  .filter(el => !el.closest('[hidden]'))
  .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.textContent.trim())
  .map(el => el.outerHTML)"""


def shot(page, name: str) -> None:
    assert page.evaluate(UNLABELLED) == [], f"controls without a label on {page.url}"
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_list_filter_detail_reprocess_dashboard(server, page):
    expect = sync_api.expect
    page.goto(f"{server}/ops")
    page.get_by_label("E-mail address").fill("ops@kontor.example")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Messages")).to_be_visible()
    rows = page.locator("table.messages tbody tr")
    expect(rows).to_have_count(7)
    shot(page, "ops-01-messages")

    page.get_by_label("State", exact=True).select_option("rejected")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("IC0001")
    shot(page, "ops-02-messages-filtered")

    rows.first.get_by_role("link").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("ORDERS from")
    flagged = page.locator("li.segment.flagged")
    expect(flagged).to_have_count(1)
    expect(flagged).to_contain_text("DTM+137:2026112X:102")
    expect(flagged).to_contain_text("2026112X is not a date")
    assert flagged.get_attribute("id") == "segment-4"
    shot(page, "ops-03-message-error")

    page.get_by_label("Comment (required)").first.fill("date corrected by the partner's support")
    page.get_by_role("button", name="Reprocess").click()
    expect(page.get_by_role("status")).to_contain_text("Reprocess: done")
    expect(page.locator("table.trace")).to_contain_text("date corrected by the partner's support")
    expect(page.locator("dl.facts")).to_contain_text("received")
    shot(page, "ops-04-reprocessed")

    page.get_by_role("link", name="Dashboard").click()
    expect(page.get_by_role("heading", name="Dashboard", exact=True)).to_be_visible()
    charts = page.locator("svg.chart[role=img]")
    expect(charts).to_have_count(4)
    assert page.locator("#chart-volume-title").text_content() == "Messages per day, last 14 days"
    expect(page.get_by_role("table", name="Messages per day")).to_be_visible()
    shot(page, "ops-05-dashboard")

    page.get_by_role("link", name="Alerts").click()
    expect(page.get_by_role("heading", name="Alerts", exact=True)).to_be_visible()
    shot(page, "ops-06-alerts")


def test_partner_and_channel_pages(server, page):
    expect = sync_api.expect
    page.goto(f"{server}/ops/partners")
    page.get_by_label("E-mail address").fill("ops@kontor.example")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{server}/ops/partners")
    page.get_by_role("link", name="Acme Distribution GmbH").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("ACME")
    page.get_by_label("Alert when nothing arrives for (hours)").fill("8")
    page.get_by_role("button", name="Save document preferences").click()
    expect(page.get_by_role("status")).to_contain_text("Document preferences saved")
    shot(page, "ops-07-partner")

    page.get_by_role("link", name="sftp", exact=True).click()
    page.get_by_label("Name").fill("acme-upload")
    page.get_by_label("Settings").fill('host = "127.0.0.1"\nport = 1\nusername = "acme"\nhost_keys = []\n')
    page.get_by_label("Password (not set)").fill("browser-secret")
    page.get_by_role("button", name="Save channel").click()
    expect(page.get_by_role("status")).to_contain_text("Channel acme-upload saved")
    expect(page.get_by_label("Password (set · enter to replace)")).to_have_value("")
    assert "browser-secret" not in page.content()
    page.get_by_role("button", name="Test connection").click()
    expect(page.get_by_role("alert")).to_contain_text("Test connection failed")
    shot(page, "ops-08-channel")
