"""GTIN and SSCC check digits (GS1 mod 10) are verified when EDIFACT is read: a warning each."""

from __future__ import annotations

from pathlib import Path

import pytest

from edi.edifact.common import gs1_check_digit, gs1_problem
from edi.translate import translate

GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize("key", [
    "4000862141404",  # GTIN-13 of the golden files
    "1234567890128",  # GTIN-13
    "96385074",  # GTIN-8
    "036000291452",  # GTIN-12 (UPC-A)
    "10614141000415",  # GTIN-14
])
def test_valid_gtins_pass(key):
    assert gs1_check_digit(key[:-1]) == int(key[-1])
    assert gs1_problem(key, "GTIN") is None


def test_sscc_check_digit():
    assert gs1_problem("106141411234567897", "SSCC") is None  # GS1 General Specifications' example SSCC
    assert gs1_problem("106141411234567890", "SSCC") == (
        "SSCC '106141411234567890' has check digit 0; 7 is right for 10614141123456789")
    assert gs1_problem("1234", "SSCC") == "SSCC '1234' is not 18 digits"


@pytest.mark.parametrize("key, problem", [
    ("1234567890124", "GTIN '1234567890124' has check digit 4; 8 is right for 123456789012"),
    ("12345", "GTIN '12345' is not 8, 12, 13 or 14 digits"),
    ("40008621414O4", "GTIN '40008621414O4' is not 8, 12, 13 or 14 digits"),
    ("\u0664" * 13, f"GTIN '{chr(0x664) * 13}' is not 8, 12, 13 or 14 digits"),
])
def test_bad_gtins_say_why(key, problem):
    assert gs1_problem(key, "GTIN") == problem


def test_a_wrong_gtin_check_digit_on_lin_is_a_warning_at_its_place():
    data = (GOLDEN / "orders_D96A.edi").read_bytes().replace(b"LIN+1++4000862141404:EN", b"LIN+1++4000862141405:EN")
    translation = translate(data)
    (issue,) = translation.all_issues()
    assert (issue.severity, issue.code, issue.segment, issue.tag, issue.element, issue.component) == (
        "warning", "12", 16, "LIN", 3, 1)
    assert issue.message == "GTIN '4000862141405' has check digit 5; 4 is right for 400086214140"
    assert translation.ok  # the order is still taken: a warning tells the partner


def test_a_wrong_sscc_check_digit_on_gin_is_a_warning():
    data = (GOLDEN / "desadv_D96A.edi").read_bytes()
    text = data.decode()
    sscc = next(line for line in text.split("\n") if line.startswith("GIN+BJ+")).split("+")[2].rstrip("'")
    assert gs1_problem(sscc, "SSCC") is None
    wrong = sscc[:-1] + str((int(sscc[-1]) + 1) % 10)
    translation = translate(data.replace(f"GIN+BJ+{sscc}".encode(), f"GIN+BJ+{wrong}".encode()))
    (issue,) = translation.all_issues()
    assert (issue.severity, issue.tag, issue.element, issue.component) == ("warning", "GIN", 2, 1)
    assert issue.message.startswith(f"SSCC '{wrong}' has check digit")


def test_golden_files_have_valid_keys():
    for path in sorted(GOLDEN.glob("*.edi")):
        issues = translate(path.read_bytes()).all_issues()
        assert [str(i) for i in issues if "GTIN" in i.message or "SSCC" in i.message] == [], path.name
