"""The command line as users script it: help, exit codes, error line format."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from edi.ubl.units import rec20_unit
from hub.cli import main

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture
def cli():
    runner = CliRunner()

    def invoke(*args, env=None):
        return runner.invoke(main, list(args), env=env, catch_exceptions=False)

    return invoke


def test_help_names_every_command(cli):
    result = cli("--help")
    assert result.exit_code == 0
    for command in ("run", "web", "worker", "db", "partners", "edi"):
        assert f"  {command} " in result.output
    edi = cli("edi", "--help")
    assert {"validate", "translate", "render"} <= set(edi.output.split())
    assert "FILE: segment N (TAG) element E[.C]: message" in cli("edi", "validate", "--help").output


def test_console_script_entry_point():
    result = subprocess.run([sys.executable, "-m", "hub.cli", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and "kontor" in result.stdout


def test_validate_exit_codes_and_line_format(cli, tmp_path, corpus):
    good = cli("edi", "validate", str(DATA / "orders_acme_d96a.edi"))
    assert good.exit_code == 0, good.output
    assert good.output == ""
    bad_file = corpus / "edifact" / "staedi_INVOIC_D97B_bad.edi"
    bad = cli("edi", "validate", str(bad_file), str(DATA / "orders_acme_d96a.edi"))
    assert bad.exit_code == 1
    assert f"{bad_file}: segment 6 (NAD) element 1: " in bad.output
    assert "'BYZZ' is too long" in bad.output


def test_validate_leniency_by_name(cli, corpus):
    missing_unz = corpus / "edifact" / "pydifact_ORDERS_D96A_UN_noUNZ.edi"
    strict = cli("edi", "validate", str(missing_unz))
    assert strict.exit_code == 1 and "has no UNZ" in strict.output
    lenient = cli("edi", "validate", "--lenient", "missing-unz", str(missing_unz))
    assert "has no UNZ" in lenient.output and "(warning)" in lenient.output
    unknown = cli("edi", "validate", "--lenient", "be-nice", str(missing_unz))
    assert unknown.exit_code == 2 and "unknown leniency 'be-nice'" in unknown.output


def test_translate_then_render_gives_the_same_document(cli, tmp_path):
    translated = cli("edi", "translate", str(DATA / "orders_acme_d96a.edi"))
    assert translated.exit_code == 0
    document = json.loads(translated.output)
    assert document["document"] == "Order" and document["number"] == "PO-2026-0001"
    path = tmp_path / "order.json"
    path.write_text(translated.output)
    rendered = cli("edi", "render", str(path), "--format", "edifact", "--recipient", "4000001000005")
    assert rendered.exit_code == 0 and rendered.output.startswith("UNB+UNOC:3+")
    again = tmp_path / "again.edi"
    again.write_text(rendered.output)
    assert json.loads(cli("edi", "translate", str(again)).output) == document
    ubl = cli("edi", "render", str(path), "--format", "ubl")
    assert ubl.exit_code == 0 and "<Order" in ubl.output


def test_render_names_the_bad_field(cli, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"document": "Order", "number": "1", "issue_date": "yesterday", "lines": []}))
    result = cli("edi", "render", str(path))
    assert result.exit_code == 1
    assert "$.issue_date: 'yesterday' is not a valid date" in result.output


def test_configuration_errors_stop_with_file_and_key(cli, tmp_path):
    config = tmp_path / "kontor.toml"
    config.write_text("[web]\nport = -1\n")
    result = cli("--config", str(config), "db", "upgrade")
    assert result.exit_code == 2
    assert f"{config}: [web] port: -1 is not a TCP port" in result.output


def test_db_upgrade_and_partners_load(cli, tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    env = {"KONTOR_DATABASE_URL": url}
    assert cli("db", "upgrade", env=env).exit_code == 0
    loaded = cli("partners", "load", env=env)
    assert loaded.exit_code == 0 and "ACME: created" in loaded.output
    assert "ACME: updated" in cli("partners", "load", env=env).output
    bad = tmp_path / "partners"
    bad.mkdir()
    (bad / "x.toml").write_text('code = "X"\nname = "x"\n')
    result = cli("partners", "load", "--dir", str(bad), env=env)
    assert result.exit_code == 2 and "x.toml: code: 'X' must be 2-40" in result.output


def test_translate_to_ubl_and_back(cli, tmp_path):
    ubl = cli("edi", "translate", str(DATA / "orders_acme_d96a.edi"), "--format", "ubl")
    assert ubl.exit_code == 0 and "<Order" in ubl.output and "PO-2026-0001" in ubl.output
    path = tmp_path / "order.xml"
    path.write_text(ubl.output)
    assert cli("edi", "validate", str(path)).exit_code == 0
    back = json.loads(cli("edi", "translate", str(path)).output)
    original = json.loads(cli("edi", "translate", str(DATA / "orders_acme_d96a.edi")).output)
    for line in original["lines"]:  # UBL writes UN/ECE Rec. 20 units: EANCOM PCE comes back as H87
        line["unit"] = rec20_unit(line["unit"])
    assert back == original, "EDIFACT -> document -> UBL -> document is the same document"


def test_progress_bar_of_validate_and_translate_when_forced(tmp_path):
    """--progress shows a byte-counting bar on stderr (here not a terminal, so off without it); stdout stays clean."""
    runner = CliRunner()
    name = "orders_acme_d96a.edi"
    size = (DATA / name).stat().st_size
    for command in ("validate", "translate"):
        shown = runner.invoke(main, ["edi", command, "--progress", str(DATA / name)], catch_exceptions=False)
        assert shown.exit_code == 0, shown.output
        assert name in shown.stderr and f"{size}/{size}" in shown.stderr and "100%" in shown.stderr
        assert "100%" not in shown.stdout
        quiet = runner.invoke(main, ["edi", command, str(DATA / name)], catch_exceptions=False)
        assert quiet.exit_code == 0 and quiet.stderr == ""
    translated = runner.invoke(main, ["edi", "translate", "--progress", str(DATA / name)], catch_exceptions=False)
    assert json.loads(translated.stdout)["number"] == "PO-2026-0001"
