"""`kontor edi translate --format ubl` and `kontor edi render --format ubl`: one XML document per
file, and documents UBL cannot express are reported, not tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree

from edi.ubl import parse_ubl
from hub.cli import main

DATA = Path(__file__).resolve().parents[1] / "data"
GOLDEN = Path(__file__).resolve().parents[1] / "edi" / "golden"


@pytest.fixture
def cli():
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(main, list(args), catch_exceptions=False)

    return invoke


def _json_documents(cli, *names: str) -> list[dict]:
    documents = []
    for name in names:
        result = cli("edi", "translate", str(GOLDEN / name))
        assert result.exit_code == 0, result.output
        documents.append(json.loads(result.stdout))
    return documents


def test_translate_a_contrl_to_ubl_reports_instead_of_crashing(cli):
    result = cli("edi", "translate", str(GOLDEN / "contrl_D96A.edi"), "--format", "ubl")
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert f"{GOLDEN / 'contrl_D96A.edi'}: document 1 (Acknowledgement" in result.stderr
    assert "cannot be written as UBL: a CONTRL has no UBL rendering" in result.stderr
    assert result.stdout == ""


def test_translate_an_order_replacement_to_ubl_names_the_reason(cli, tmp_path):
    replacement = (DATA / "orders_acme_d96a.edi").read_bytes().replace(b"BGM+220+PO-2026-0001+9'", b"BGM+220+PO-2026-0001+5'")
    assert b"+5'" in replacement
    path = tmp_path / "replace.edi"
    path.write_bytes(replacement)
    result = cli("edi", "translate", str(path), "--format", "ubl")
    assert result.exit_code == 1
    assert f"{path}: document 1 (Order PO-2026-0001): cannot be written as UBL: order function '5'" in result.stderr


def test_render_a_list_as_ubl_needs_a_folder(cli, tmp_path):
    source = tmp_path / "two.json"
    source.write_text(json.dumps(_json_documents(cli, "orders_D96A.edi", "invoic_D96A.edi")))
    refused = CliRunner().invoke(main, ["edi", "render", str(source), "--format", "ubl"])
    assert refused.exit_code == 2
    assert "2 documents, and one UBL XML file holds one; give --out FOLDER" in refused.output
    out = tmp_path / "xml"
    # --no-check: the golden INVOIC has no buyer address nor a name on line 2 (EN 16931 BR-10, BR-25)
    result = cli("edi", "render", str(source), "--format", "ubl", "--out", str(out), "--no-check")
    assert result.exit_code == 0, result.output
    files = sorted(out.iterdir())
    assert [f.name.split("-")[:2] for f in files] == [["1", "Order"], ["2", "Invoice"]]
    assert result.stdout.split() == [str(f) for f in files]
    for path in files:
        etree.fromstring(path.read_bytes())  # each file is one well-formed document
        document, issues = parse_ubl(path.read_bytes())
        assert document is not None and not [i for i in issues if i.rule == "UBL-XSD"]


def test_render_a_single_document_as_ubl_still_prints_it(cli, tmp_path):
    source = tmp_path / "one.json"
    source.write_text(json.dumps(_json_documents(cli, "orders_D96A.edi")[0]))
    result = cli("edi", "render", str(source), "--format", "ubl")
    assert result.exit_code == 0
    assert etree.QName(etree.fromstring(result.stdout_bytes)).localname == "Order"


def test_render_reports_a_document_ubl_cannot_express(cli, tmp_path):
    order = _json_documents(cli, "orders_D96A.edi")[0]
    order["function"] = "1"
    source = tmp_path / "cancel.json"
    source.write_text(json.dumps(order))
    result = cli("edi", "render", str(source), "--format", "ubl")
    assert result.exit_code == 1 and result.stdout == ""
    assert "cannot be written as UBL: order function '1'" in result.stderr


def test_out_is_only_for_ubl(cli, tmp_path):
    result = CliRunner().invoke(main, ["edi", "translate", str(DATA / "orders_acme_d96a.edi"), "--out", str(tmp_path)])
    assert result.exit_code == 2 and "--out writes UBL files; use it with --format ubl" in result.output


def test_translate_to_ubl_checks_what_it_produced_and_exits_1_on_its_errors(cli):
    source = GOLDEN / "invoic_D96A.edi"
    result = cli("edi", "translate", str(source), "--format", "ubl")
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert f"{source}: /Invoice/cac:AccountingCustomerParty/cac:Party/cac:PostalAddress: [BR-10]" in "\n".join(lines)
    assert any(line.startswith(f"{source}: /Invoice/cac:InvoiceLine[2]/cac:Item/cbc:Name: [BR-25]") for line in lines)
    assert any("the rendered UBL is not valid (paths above are in it); not written" in line for line in lines)
    unchecked = cli("edi", "translate", str(source), "--format", "ubl", "--no-check")
    assert unchecked.exit_code == 0, unchecked.output
    assert etree.QName(etree.fromstring(unchecked.stdout_bytes)).localname == "Invoice"


def test_render_to_ubl_writes_only_the_documents_that_pass_their_check(cli, tmp_path):
    source = tmp_path / "two.json"
    source.write_text(json.dumps(_json_documents(cli, "orders_D96A.edi", "invoic_D96A.edi")))
    out = tmp_path / "xml"
    result = cli("edi", "render", str(source), "--format", "ubl", "--out", str(out))
    assert result.exit_code == 1
    written = sorted(out.iterdir())
    assert [f.name.split("-")[:2] for f in written] == [["1", "Order"]]
    assert result.stdout.split() == [str(written[0])]
    invoice_file = out / f"2-Invoice-{json.loads(source.read_text())[1]['number']}.xml"
    assert f"{invoice_file}: /Invoice/cac:AccountingCustomerParty/cac:Party/cac:PostalAddress: [BR-10]" in result.stderr
    assert not invoice_file.exists()


def test_render_a_complete_invoice_as_ubl_passes_its_check(cli, tmp_path):
    invoice = _json_documents(cli, "invoic_D96A.edi")[0]
    for party in invoice["parties"]:
        party.setdefault("street", "1 Dock Road")
        party.update({k: v or d for k, v, d in [("city", party.get("city"), "Hull"),
                                                 ("postcode", party.get("postcode"), "HU1 1AA"),
                                                 ("country", party.get("country"), "GB"),
                                                 ("name", party.get("name"), "Some Party")]})
    for line in invoice["lines"]:
        line["description"] = line.get("description") or "An item"
    source = tmp_path / "invoice.json"
    source.write_text(json.dumps(invoice))
    result = cli("edi", "render", str(source), "--format", "ubl")
    assert result.exit_code == 0, result.stderr
    assert etree.QName(etree.fromstring(result.stdout_bytes)).localname == "Invoice"
