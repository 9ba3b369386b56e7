"""kontor catalog load / prices load / assortment load: validated, all-or-nothing upserts; and
how loaded prices apply (validity dates, quantity breaks)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from hub.catalog_load import LoadError, gtin_problem, load_assortment, load_prices, load_products
from hub.cli import main
from hub.models import AssortmentItem, AuditEntry, Partner, Price, Product
from hub.portal import PartnerScope
from hub.pricing import price_for, prices_for

TODAY = dt.date.today()


@pytest.fixture
def cli(db_url):
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(main, list(args), env={"KONTOR_DATABASE_URL": db_url}, catch_exceptions=False)

    return invoke


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def product(session, sku: str) -> Product:
    """The product as it is now, detached (reading it later opens no transaction)."""
    found = session.scalar(select(Product).where(Product.sku == sku))
    session.expunge(found)
    session.rollback()
    return found


PRODUCTS = (
    "SKU,GTIN,Name,Category,Unit,List price,Currency,Tax rate,Stock,Active\n"
    "NEW-1,4006381333931,Stapler,Office,PCE,4.20,EUR,19,120,yes\n"
    "NEW-2,,Printer paper,Office,PK,\"5,95\",EUR,7,,yes\n"
    "WID-100,04012345000016,\"Widget, blue (2027)\",Widgets,PCE,13.00,EUR,19,80,yes\n"
)


def test_catalog_load_creates_and_updates_by_sku(cli, session, world, tmp_path):
    path = write(tmp_path, "products.csv", PRODUCTS)
    result = cli("catalog", "load", str(path))
    assert result.exit_code == 0, result.output
    assert "products.csv: products: 2 created, 1 updated, 0 unchanged" in result.output
    stapler, paper, widget = product(session, "NEW-1"), product(session, "NEW-2"), product(session, "WID-100")
    assert (stapler.gtin, stapler.list_price, stapler.stock, stapler.tax_rate) == (
        "4006381333931", Decimal("4.2"), Decimal(120), Decimal(19))
    assert (paper.gtin, paper.unit, paper.list_price, paper.stock, paper.tax_rate) == (
        None, "PK", Decimal("5.95"), None, Decimal(7))
    assert (widget.id, widget.name, widget.list_price, widget.gtin) == (
        world.widget, "Widget, blue (2027)", Decimal(13), "4012345000016")
    # the same file again changes nothing
    assert "0 created, 0 updated, 3 unchanged" in cli("catalog", "load", str(path)).output
    # a file without some columns leaves those fields alone
    cli("catalog", "load", str(write(tmp_path, "p2.csv", "sku;name;list_price\nNEW-2;Paper A4;6,10\n")))
    paper = product(session, "NEW-2")
    assert (paper.name, paper.list_price, paper.unit, paper.tax_rate) == ("Paper A4", Decimal("6.1"), "PK", Decimal(7))
    audits = session.scalar(select(func.count(AuditEntry.id)).where(AuditEntry.action == "catalog.loaded"))
    assert audits == 3


def test_catalog_load_refuses_the_whole_file_naming_line_and_column(cli, session, world, tmp_path):
    before = session.scalar(select(func.count(Product.id)))
    path = write(tmp_path, "bad.csv", (
        "sku,gtin,name,list_price,stock,active,unit\n"
        "OK-1,,Fine product,1.00,,yes,PCE\n"          # valid, but must not be loaded either
        "BAD-1,4006381333932,Wrong check digit,1,,yes,PCE\n"
        "BAD-2,,No price,,,yes,PCE\n"
        "BAD-3,,Minus,-1,abc,maybe,PIECES\n"
        "OK-1,,Twice,2,,yes,PCE\n"
        "BAD-4,4012345000016,Steals the widget's GTIN,1,,yes,PCE\n"
    ))
    result = cli("catalog", "load", str(path))
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert "bad.csv: line 3 column gtin: '4006381333932' has a wrong check digit" in lines
    assert "bad.csv: line 4 column list_price: is empty" in lines
    assert "bad.csv: line 5 column list_price: -1 must not be below 0" in lines
    assert "bad.csv: line 5 column stock: 'abc' is not a number" in lines
    assert "bad.csv: line 5 column active: 'maybe' is not yes or no" in lines
    assert any(line.startswith("bad.csv: line 5 column unit: 'PIECES'") for line in lines)
    assert "bad.csv: line 6 column sku: OK-1 is already on line 2" in lines
    assert "nothing was loaded" in result.output
    assert session.scalar(select(func.count(Product.id))) == before
    # the GTIN of another product is found once the rows themselves are fine
    with pytest.raises(LoadError) as caught:
        load_products(session, write(tmp_path, "gtin.csv", "sku,gtin,name,list_price\nBAD-4,4012345000016,X,1\n"))
    assert caught.value.errors == ["gtin.csv: line 2 column gtin: 4012345000016 belongs to product WID-100"]
    assert session.scalar(select(func.count(Product.id))) == before


def test_header_problems_are_named(session, world, tmp_path):
    with pytest.raises(LoadError) as caught:
        load_products(session, write(tmp_path, "h.csv", "sku,title,list_price\nA,B,1\n"))
    assert caught.value.errors == [
        "h.csv: line 1 column 2: unknown column 'title' (columns are sku, gtin, name, description, category, unit,"
        " list_price, currency, tax_rate, stock, active)",
        "h.csv: line 1: missing column(s) name"]
    with pytest.raises(LoadError) as caught:
        load_products(session, write(tmp_path, "e.csv", ""))
    assert caught.value.errors == ["e.csv: the file is empty"]


def test_gtin_check_digits():
    assert gtin_problem("4006381333931") is None and gtin_problem("96385074") is None
    assert gtin_problem("4006381333930") == "'4006381333930' has a wrong check digit"
    assert gtin_problem("12345") == "'12345' is not a GTIN (8, 12, 13 or 14 digits)"


def test_prices_load_with_validity_and_breaks(cli, session, world, tmp_path):
    tomorrow, yesterday = TODAY + dt.timedelta(days=1), TODAY - dt.timedelta(days=1)
    path = write(tmp_path, "prices.csv", (
        "partner,sku,price,currency,min_quantity,valid_from,valid_to\n"
        f"BETA,GAD-200,90.00,EUR,1,{TODAY - dt.timedelta(days=30)},\n"
        f"BETA,GAD-200,80.00,EUR,10,{TODAY - dt.timedelta(days=30)},\n"
        f"BETA,GAD-200,70.00,EUR,50,{TODAY - dt.timedelta(days=30)},\n"
        f"BETA,GAD-200,50.00,EUR,1,{tomorrow},\n"                       # not yet valid
        f"BETA,GAD-200,10.00,EUR,5,2020-01-01,{yesterday}\n"           # expired
        "acme,GAD-200,95.00,,1,,\n"                                    # lower-case code, currency defaulted
    ))
    result = cli("prices", "load", str(path))
    assert result.exit_code == 0, result.output
    assert "prices: 6 created, 0 updated, 0 unchanged (ACME, BETA)" in result.output
    beta, gadget = session.get(Partner, world.beta), session.get(Product, world.gadget)
    assert price_for(session, beta, gadget, Decimal(1)) == Decimal(90)       # not tomorrow's 50
    assert price_for(session, beta, gadget, Decimal(7)) == Decimal(90)       # not the expired 10 from 5
    assert price_for(session, beta, gadget, Decimal(10)) == Decimal(80)
    assert price_for(session, beta, gadget, Decimal(49)) == Decimal(80)
    assert price_for(session, beta, gadget, Decimal(50)) == Decimal(70)
    assert price_for(session, beta, gadget, Decimal(1), on=tomorrow) == Decimal(50)
    assert price_for(session, beta, gadget, Decimal(7), on=yesterday) == Decimal(10)
    assert prices_for(session, beta, [(gadget, Decimal(1)), (gadget, Decimal(7)), (gadget, Decimal(60))]) == [
        Decimal(90), Decimal(90), Decimal(70)]
    item = PartnerScope(session, world.beta).catalog("GAD-200").items[0]
    assert item.unit_price == Decimal(90) and [b.min_quantity for b in item.breaks] == [1, 10, 50]
    acme = session.get(Partner, world.acme)
    assert price_for(session, acme, gadget) == Decimal(95)
    session.rollback()
    # loading it again is harmless; a changed price is an update
    path.write_text(path.read_text().replace("80.00", "79.50"))
    assert "0 created, 1 updated, 5 unchanged" in cli("prices", "load", str(path)).output
    assert price_for(session, beta, gadget, Decimal(10)) == Decimal("79.5")
    session.rollback()


def test_prices_load_replace_removes_the_partners_other_prices(session, world, tmp_path):
    result = load_prices(session, write(tmp_path, "p.csv", "partner,sku,price\nACME,GAD-200,90\n"), replace=True)
    assert (result.created, result.removed) == (1, 2)  # ACME's two widget breaks went; BETA's stays
    left = {(p, s) for p, s in session.execute(select(Price.partner_id, Price.price))}
    assert left == {(world.acme, Decimal(90)), (world.beta, Decimal("11.11"))}


def test_prices_load_refuses_bad_rows_and_changes_nothing(session, world, tmp_path):
    before = session.scalar(select(func.count(Price.id)))
    with pytest.raises(LoadError) as caught:
        load_prices(session, write(tmp_path, "p.csv", (
            "partner,sku,price,currency,min_quantity,valid_from,valid_to\n"
            "BETA,GAD-200,90,EUR,1,,\n"
            "NOPE,GAD-200,1,EUR,1,,\n"
            "BETA,NOPE-1,1,EUR,1,,\n"
            "BETA,GAD-200,1,USD,0,2026-13-01,\n"
            "BETA,GAD-200,1,EUR,2,2026-05-01,2026-04-30\n"
            "BETA,GAD-200,91,EUR,1,,\n"
        )))
    assert caught.value.errors == [
        "p.csv: line 3 column partner: no partner with code NOPE",
        "p.csv: line 5 column currency: USD is not BETA's currency EUR",
        "p.csv: line 5 column min_quantity: 0 must be greater than 0",
        "p.csv: line 5 column valid_from: '2026-13-01' is not a date (YYYY-MM-DD)",
        "p.csv: line 6 column valid_to: 2026-04-30 is before valid_from 2026-05-01",
        "p.csv: line 7: the same price (partner BETA, SKU GAD-200, min_quantity 1, valid_from 2000-01-01) is"
        " already on line 2",
        "p.csv: line 4 column sku: no product with SKU NOPE-1",
    ]
    assert session.scalar(select(func.count(Price.id))) == before


def test_assortment_load_and_open(cli, session, world, tmp_path):
    path = write(tmp_path, "a.csv", "partner,sku,category\nACME,WID-100,\nACME,,Tools\n")
    result = cli("assortment", "load", str(path))
    assert result.exit_code == 0, result.output
    session.expire_all()  # the fixture's partner rows were loaded before the command changed them
    assert [i.product.sku for i in PartnerScope(session, world.acme).catalog().items] == ["WID-100"]
    assert {(a.product_id, a.category) for a in session.scalars(select(AssortmentItem))} == {
        (world.widget, None), (None, "Tools")}
    session.rollback()
    bad = cli("assortment", "load", str(write(tmp_path, "b.csv", "partner,sku,category\nACME,GAD-200,Gadgets\n"
                                                               "ACME,NOPE-1,\n")))
    assert bad.exit_code == 1
    assert bad.output.splitlines()[:2] == ["b.csv: line 2: give either a sku or a category",
                                           "b.csv: line 3 column sku: no product with SKU NOPE-1"]
    assert session.scalar(select(func.count(AssortmentItem.id))) == 2
    session.rollback()
    assert cli("assortment", "open", "acme").output == "ACME: sees the whole catalogue\n"
    session.expire_all()
    assert len(PartnerScope(session, world.acme).catalog().items) == 2
    session.rollback()
    with pytest.raises(LoadError):
        load_assortment(session, write(tmp_path, "c.csv", "partner,sku\nZZZ,WID-100\n"))
