from pathlib import Path

import pytest
from sqlalchemy import select

from hub.errors import ProfileError
from hub.models import Channel, Partner
from hub.partners import load_profile, load_profiles, preferences, sync_partners

REPO_PARTNERS = Path(__file__).resolve().parents[2] / "config" / "partners"

GOOD = """
code = "ACME"
name = "Acme"
[[identifiers]]
scheme = "GLN"
value = "4012345000009"
[documents]
directory = "D01B"
leniencies = ["missing-unz"]
[[channels]]
name = "drop"
kind = "folder"
inbound = "in"
outbound = "out"
"""


def write(tmp_path: Path, text: str, name: str = "acme.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_the_shipped_partner_files_load():
    profiles = load_profiles(REPO_PARTNERS)
    assert {p.code for p in profiles} >= {"ACME", "NORDOEL", "LUSITANIA"}


def test_a_good_profile(tmp_path):
    profile = load_profile(write(tmp_path, GOOD))
    assert profile.identifiers[0].qualifier == "14"
    assert profile.documents.directory == "D01B"
    assert profile.documents.strictness.allows("missing-unz")
    assert profile.channels[0].settings == {"inbound": "in", "outbound": "out"}


@pytest.mark.parametrize(
    "change, where",
    [
        (('code = "ACME"', 'code = "acme corp"'), "code: 'acme corp' must be"),
        (('value = "4012345000009"', 'value = "4012345000008"'), "identifiers[0].value: '4012345000008' is not a GLN"),
        (('scheme = "GLN"', 'scheme = "EAN"'), "identifiers[0].scheme: 'EAN' is not one of"),
        (('directory = "D01B"', 'directory = "D99Z"'), "documents.directory: 'D99Z' is not one of"),
        (('["missing-unz"]', '["be-nice"]'), "documents.leniencies: unknown leniency 'be-nice'"),
        (('kind = "folder"', 'kind = "carrier-pigeon"'), "channels[0].kind: 'carrier-pigeon'"),
        (('inbound = "in"\n', ""), "channels[0].inbound: is required for a folder channel that receives"),
        (('name = "Acme"', 'name = "Acme"\ncolour = "red"'), "colour: unknown field"),
    ],
)
def test_wrong_values_name_file_and_field(tmp_path, change, where):
    path = write(tmp_path, GOOD.replace(*change))
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    assert str(info.value).startswith(f"{path}: ")
    assert where in str(info.value)


def test_codes_and_identifiers_are_unique_across_files(tmp_path):
    write(tmp_path, GOOD, "a.toml")
    write(tmp_path, GOOD.replace('code = "ACME"', 'code = "OTHER"'), "b.toml")
    with pytest.raises(ProfileError, match="b.toml: identifiers: GLN 4012345000009 is also used by"):
        load_profiles(tmp_path)


def test_sync_creates_updates_and_deactivates(tmp_path, session):
    write(tmp_path, GOOD)
    sync_partners(session, load_profiles(tmp_path))
    session.commit()
    partner = session.scalar(select(Partner))
    assert preferences(partner).directory == "D01B"
    write(tmp_path, GOOD.replace('name = "drop"', 'name = "drop2"').replace('name = "Acme"', 'name = "Acme AG"'))
    changes = sync_partners(session, load_profiles(tmp_path))
    session.commit()
    assert changes == ["ACME: updated"]
    channels = {c.name: c.active for c in session.scalars(select(Channel))}
    assert channels == {"drop": False, "drop2": True}, "removed channels are kept, inactive"
    assert session.scalar(select(Partner)).name == "Acme AG"
