"""Unit codes for UBL: UN/ECE Recommendation 20 (with the Rec. 21 extension).

UBL 2.1 and EN 16931 (BR-CL-23) want every ``unitCode`` from UN/ECE Rec. 20,
whose code list also carries the Rec. 21 package codes with an ``X`` prefix.
EDIFACT partners write EANCOM data element 6411 codes instead, and most of
those are Rec. 20 codes already (KGM, LTR, MTR, NAR, PR, ...). The ones that
are not are translated on the way into UBL:

* ``PCE`` (EANCOM 6411 "Piece: a unit of count defining the number of pieces
  (piece: a single item, article or exemplar)") is Rec. 20 ``H87`` "piece",
  which carries the same definition word for word. Sources: GS1 EANCOM 2002
  S4 data element 6411 code list; UN/ECE Recommendation 20, Annex II/III
  (revision 17), code H87.
* a bare Rec. 21 package code (``CT`` carton, ``PK`` package, ``BX`` box,
  ``PX`` pallet, ...) is written ``X`` + code: UN/ECE Recommendation 20,
  introduction to Annex II/III ("Rec. 21 codes ... prefixed with X").

Codes that are valid Rec. 20/21 already, and codes this table does not know,
pass through unchanged (EN 16931 BR-CL-23 then reports an unknown one).
Parsing keeps the code as the partner wrote it; this mapping is one-way.
"""

from __future__ import annotations

from edi.ubl.rules import code_lists

__all__ = ["EANCOM_TO_REC20", "rec20_unit"]

#: EANCOM 6411 codes that are not Rec. 20 codes -> the Rec. 20 code with the same definition.
EANCOM_TO_REC20: dict[str, str] = {
    "PCE": "H87",  # piece
}


def rec20_unit(code: str | None) -> str | None:
    """The UN/ECE Rec. 20 code for ``code`` (unchanged when it is one already or unknown)."""
    if code is None:
        return None
    valid = code_lists()["unit_codes"]
    if code in valid:
        return code
    if code in EANCOM_TO_REC20:
        return EANCOM_TO_REC20[code]
    if f"X{code}" in valid and len(code) == 2:
        return f"X{code}"
    return code
