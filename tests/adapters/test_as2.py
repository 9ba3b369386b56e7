"""AS2 messages and MDNs, with the `openssl cms` command line as the other side."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
import shutil
import subprocess
import zlib

import pytest
from asn1crypto import cms as a_cms

from adapters import cms
from adapters.as2 import (
    As2Adapter,
    As2Partner,
    As2Settings,
    AuthenticationFailed,
    CertificateExpired,
    DecryptionFailed,
    HttpResponse,
    InsufficientMessageSecurity,
    IntegrityCheckFailed,
    MdnError,
    UnexpectedProcessingError,
    UnknownPartner,
    build_mdn,
    build_message,
    expiry,
    parse_mdn,
    parse_message,
)
from adapters.as2_mime import Headers, split_entity
from adapters.base import TransportError

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="openssl command line not installed (Debian package openssl)")

PAYLOAD = b"UNA:+.? 'UNB+UNOC:3+ACME:14+KONTOR:14+261125:1200+1'UNH+1+ORDERS:D:96A:UN'\r\nBGM+220+PO1'UNT+3+1'UNZ+1+1'"
CIPHERS = {"3des": "-des3", "aes128-cbc": "-aes128", "aes192-cbc": "-aes192", "aes256-cbc": "-aes256",
           "aes128-gcm": "-aes-128-gcm", "aes192-gcm": "-aes-192-gcm", "aes256-gcm": "-aes-256-gcm"}


@pytest.fixture(scope="module")
def sides(identities):
    """(hub_view, partner_view): each side's profile of the other."""
    hub_local = As2Settings("KONTOR", identities["hub"].key, identities["hub"].cert, mdn_url="https://hub.example/as2")
    acme_local = As2Settings("ACME Corp", identities["partner"].key, identities["partner"].cert, mdn_url="https://acme.example/mdn")
    hub_view = As2Partner("ACME Corp", hub_local, (identities["partner"].cert,))
    partner_view = As2Partner("KONTOR", acme_local, (identities["hub"].cert,), url="https://hub.example/as2")
    return hub_view, partner_view


def with_(p: As2Partner, **kw) -> As2Partner:
    import dataclasses

    return dataclasses.replace(p, **kw)


def lookup_for(profile: As2Partner):
    def lookup(as2_from: str, as2_to: str) -> As2Partner | None:
        return profile if (as2_from, as2_to) == (profile.as2_id, profile.local.as2_id) else None

    return lookup


def openssl(*args: str, input: bytes | None = None) -> bytes:
    assert OPENSSL is not None
    res = subprocess.run([OPENSSL, *args], input=input, capture_output=True, timeout=30)
    if res.returncode:
        raise AssertionError(f"openssl {' '.join(args[:2])} failed: {res.stderr.decode(errors='replace')}")
    return res.stdout


def as2_headers(content_type: str, **extra: str) -> dict[str, str]:
    h = {"AS2-Version": "1.2", "AS2-From": '"ACME Corp"', "AS2-To": "KONTOR", "Message-ID": "<m1@acme>",
         "Content-Type": content_type, "Disposition-Notification-To": "edi@acme.example"}
    h.update(extra)
    return h


def payload_entity(filename: str = "PO 1.edi") -> bytes:
    return (b"Content-Type: application/edifact\r\nContent-Disposition: attachment; filename=\"" + filename.encode()
            + b"\"\r\n\r\n" + PAYLOAD)


# -- our messages, both ways ------------------------------------------------------------


ROUND_TRIPS = [
    (sign, encrypt, compress)
    for sign in (None, "sha256", "sha384", "sha512")
    for encrypt in (None, "aes128-cbc", "aes192-cbc", "aes256-cbc", "aes128-gcm", "aes192-gcm", "aes256-gcm")
    for compress in (None, "before-sign", "after-sign")
    if not (compress == "before-sign" and sign is None)
]


@pytest.mark.parametrize("sign,encrypt,compress", ROUND_TRIPS)
def test_round_trip(sides, sign, encrypt, compress):
    hub_view, partner_view = sides
    sender = with_(partner_view, sign=sign, encrypt=encrypt, compress=compress)
    receiver = with_(hub_view, require_signed=bool(sign), require_encrypted=bool(encrypt))
    out = build_message(PAYLOAD, "PO 1.edi", sender)
    got = parse_message(out.headers, out.body, lookup_for(receiver))
    assert got.payload == PAYLOAD and got.filename == "PO 1.edi" and got.message_id == out.message_id
    assert got.received_content_mic == out.mic  # both sides agree on the MIC
    assert (got.signed, got.encrypted, got.compressed) == (bool(sign), encrypt, bool(compress))
    mdn_headers, mdn_body = build_mdn(got)
    result = parse_mdn(mdn_headers, mdn_body, out.message_id, out.mic, sender)
    assert result.ok and result.signed and result.status == "processed"


@needs_openssl
@pytest.mark.parametrize("sign", ["sha256", "sha384", "sha512"])
@pytest.mark.parametrize("encrypt", ["aes128-cbc", "aes192-cbc", "aes256-cbc", "aes128-gcm", "aes192-gcm", "aes256-gcm"])
def test_our_message_decrypts_and_verifies_with_openssl(sides, identities, tmp_path, sign, encrypt):
    _, partner_view = sides
    out = build_message(PAYLOAD, "PO 1.edi", with_(partner_view, sign=sign, encrypt=encrypt))
    hub = identities["hub"]
    (tmp_path / "msg.der").write_bytes(out.body)
    signed = openssl("cms", "-decrypt", "-binary", "-inform", "DER", "-in", str(tmp_path / "msg.der"),
                     "-inkey", str(hub.key_path), "-recip", str(hub.cert_path))
    (tmp_path / "signed.eml").write_bytes(signed)
    # openssl's S/MIME reader in -binary mode keeps the CR before a boundary, so read the MIME in text
    # mode (our entity is CRLF already) and check the exact bytes detached in binary mode below
    content = openssl("cms", "-verify", "-in", str(tmp_path / "signed.eml"), "-CAfile", str(identities["partner"].cert_path))
    assert content.endswith(PAYLOAD)
    boundary = re.search(rb'boundary="([^"]+)"', signed).group(1)  # type: ignore[union-attr]
    _, first, second = signed.split(b"--" + boundary + b"\r\n", 2)
    first = first[: -len(b"\r\n")]
    (tmp_path / "content").write_bytes(first)
    sig = base64.b64decode(second.split(b"\r\n\r\n", 1)[1].split(b"\r\n--" + boundary)[0])
    (tmp_path / "sig.der").write_bytes(sig)
    openssl("cms", "-verify", "-binary", "-inform", "DER", "-in", str(tmp_path / "sig.der"), "-content", str(tmp_path / "content"),
            "-CAfile", str(identities["partner"].cert_path), "-out", "/dev/null")
    digest = base64.b64encode(hashlib.sha256(first).digest()).decode()
    assert out.mic == f"{digest}, sha-256"


@needs_openssl
@pytest.mark.parametrize("md", ["sha1", "sha256", "sha384", "sha512"])
@pytest.mark.parametrize("cipher", list(CIPHERS))
def test_openssl_message_accepted(sides, identities, tmp_path, md, cipher):
    hub_view, _ = sides
    partner, hub = identities["partner"], identities["hub"]
    (tmp_path / "entity").write_bytes(payload_entity())
    signed = openssl("cms", "-sign", "-binary", "-md", md, "-in", str(tmp_path / "entity"),
                     "-signer", str(partner.cert_path), "-inkey", str(partner.key_path))
    (tmp_path / "signed").write_bytes(signed)
    body = openssl("cms", "-encrypt", "-binary", CIPHERS[cipher], "-in", str(tmp_path / "signed"), "-outform", "DER", str(hub.cert_path))
    smime_type = "authEnveloped-data" if "gcm" in cipher else "enveloped-data"
    headers = as2_headers(f"application/pkcs7-mime; smime-type={smime_type}; name=smime.p7m",
                          **{"Disposition-Notification-Options": "signed-receipt-protocol=optional, pkcs7-signature; signed-receipt-micalg=optional, sha-256"})
    got = parse_message(headers, body, lookup_for(hub_view))
    assert got.payload == PAYLOAD and got.filename == "PO 1.edi" and got.encrypted == cipher and got.signed
    assert got.mic == base64.b64encode(hashlib.sha256(payload_entity()).digest()).decode() and got.mic_alg == "sha-256"


@needs_openssl
@pytest.mark.parametrize("spelling,expected", [("sha1", "sha1"), ("sha-1", "sha1"), ("SHA256", "sha-256"), ("sha-512", "sha-512"), ("md5", None)])
def test_micalg_spellings(sides, identities, tmp_path, spelling, expected):
    hub_view, _ = sides
    partner = identities["partner"]
    (tmp_path / "entity").write_bytes(payload_entity())
    signed = openssl("cms", "-sign", "-binary", "-md", "sha384", "-in", str(tmp_path / "entity"),
                     "-signer", str(partner.cert_path), "-inkey", str(partner.key_path))
    head, body = signed.split(b"\n\n", 1)
    ctype = re.search(rb"Content-Type: (.*)", head).group(1).decode()  # type: ignore[union-attr]
    dno = f"signed-receipt-protocol=optional, pkcs7-signature; signed-receipt-micalg=optional, {spelling}"
    got = parse_message(as2_headers(ctype, **{"Disposition-Notification-Options": dno}), body,
                        lookup_for(with_(hub_view, require_encrypted=False)))
    alg = expected or "sha-384"  # unsupported request: the signature's digest
    name = {"sha1": "sha1", "sha-256": "sha256", "sha-512": "sha512", "sha-384": "sha384"}[alg]
    assert got.mic_alg == alg and got.mic == base64.b64encode(hashlib.new(name, payload_entity()).digest()).decode()


@needs_openssl
def test_binary_signature_part_without_transfer_encoding_and_opaque_signed_data(sides, identities, tmp_path):
    """Sterling-style: the signature part is raw DER and no part says Content-Transfer-Encoding."""
    hub_view, _ = sides
    receiver = with_(hub_view, require_encrypted=False)
    partner = identities["partner"]
    (tmp_path / "entity").write_bytes(payload_entity("a.edi"))
    sig = openssl("cms", "-sign", "-binary", "-md", "sha256", "-in", str(tmp_path / "entity"), "-outform", "DER",
                  "-signer", str(partner.cert_path), "-inkey", str(partner.key_path))
    body = (b"--XyZ\r\n" + payload_entity("a.edi") + b"\r\n--XyZ\r\nContent-Type: application/pkcs7-signature\r\n\r\n"
            + sig + b"\r\n--XyZ--\r\n")
    got = parse_message(as2_headers('multipart/signed; protocol="application/pkcs7-signature"; micalg=sha256; boundary=XyZ'),
                        body, lookup_for(receiver))
    assert got.payload == PAYLOAD and got.filename == "a.edi"
    opaque = openssl("cms", "-sign", "-binary", "-nodetach", "-md", "sha256", "-in", str(tmp_path / "entity"), "-outform", "DER",
                     "-signer", str(partner.cert_path), "-inkey", str(partner.key_path))
    got = parse_message(as2_headers("application/pkcs7-mime; smime-type=signed-data"), opaque, lookup_for(receiver))
    assert got.payload == PAYLOAD and got.signed


@needs_openssl
def test_lf_line_ends_in_signed_entity_tolerated(sides, identities, tmp_path):
    """A sender signed the canonical (CRLF) form but sent the entity with bare LF."""
    hub_view, _ = sides
    partner = identities["partner"]
    lf_entity = b"Content-Type: application/edifact\nContent-Disposition: attachment; filename=lf.edi\n\n" + PAYLOAD.replace(b"\r\n", b"\n")
    (tmp_path / "entity").write_bytes(lf_entity)
    sig = openssl("cms", "-sign", "-md", "sha256", "-in", str(tmp_path / "entity"), "-outform", "DER",  # text mode: signs CRLF form
                  "-signer", str(partner.cert_path), "-inkey", str(partner.key_path))
    body = (b"--b1\n" + lf_entity + b"\n--b1\nContent-Type: application/pkcs7-signature\nContent-Transfer-Encoding: base64\n\n"
            + base64.encodebytes(sig) + b"\n--b1--\n")
    got = parse_message(as2_headers('multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256; boundary="b1"'),
                        body, lookup_for(with_(hub_view, require_encrypted=False)))
    assert got.filename == "lf.edi" and got.signed
    assert got.mic == base64.b64encode(hashlib.sha256(lf_entity.replace(b"\n", b"\r\n")).digest()).decode()


def test_compression_is_rfc3274_zlib_and_foreign_compressed_data_accepted(sides):
    hub_view, partner_view = sides
    out = build_message(PAYLOAD, "z.edi", with_(partner_view, sign=None, encrypt=None, compress="after-sign"))
    info = a_cms.ContentInfo.load(out.body)
    assert info["content_type"].native == "compressed_data"
    assert info["content"]["compression_algorithm"]["algorithm"].dotted == "1.2.840.113549.1.9.16.3.8"
    assert zlib.decompress(info["content"]["encap_content_info"]["content"].native).endswith(PAYLOAD)
    # CompressedData built independently here, compressed with a different level
    foreign = a_cms.ContentInfo({"content_type": "compressed_data", "content": a_cms.CompressedData({
        "version": "v0", "compression_algorithm": {"algorithm": "zlib"},
        "encap_content_info": {"content_type": "data", "content": zlib.compress(payload_entity(), 1)}})}).dump()
    got = parse_message(as2_headers("application/pkcs7-mime; smime-type=compressed-data"), foreign,
                        lookup_for(with_(hub_view, require_signed=False, require_encrypted=False)))
    assert got.payload == PAYLOAD and got.compressed


@needs_openssl
def test_openssl_compressed_message_accepted_when_openssl_has_zlib(sides, tmp_path):
    hub_view, _ = sides
    (tmp_path / "entity").write_bytes(payload_entity())
    res = subprocess.run([OPENSSL, "cms", "-compress", "-in", str(tmp_path / "entity"), "-outform", "DER"], capture_output=True)  # type: ignore[list-item]
    if res.returncode:
        pytest.skip("this OpenSSL is built without zlib: `openssl cms -compress` is unavailable")
    got = parse_message(as2_headers("application/pkcs7-mime; smime-type=compressed-data"), res.stdout,
                        lookup_for(with_(hub_view, require_signed=False, require_encrypted=False)))
    assert got.payload == PAYLOAD


# -- refusals and their MDNs --------------------------------------------------------------


def test_tampered_payload_gives_integrity_check_failed_mdn(sides):
    hub_view, partner_view = sides
    out = build_message(PAYLOAD, "t.edi", with_(partner_view, encrypt=None))
    tampered = out.body.replace(b"BGM+220+PO1", b"BGM+220+PO9")
    with pytest.raises(IntegrityCheckFailed) as exc:
        parse_message(out.headers, tampered, lookup_for(with_(hub_view, require_encrypted=False)))
    err = exc.value
    assert err.modifier == "integrity-check-failed" and err.message_id == out.message_id and err.partner is not None
    mdn_headers, mdn_body = build_mdn(err)
    result = parse_mdn(mdn_headers, mdn_body, out.message_id, out.mic, partner_view)
    assert not result.ok and result.status == "processed" and result.modifier == "Error: integrity-check-failed"
    assert result.signed and result.mic is None


@needs_openssl
def test_expired_partner_certificate_refused(sides, identities, tmp_path):
    hub_view, _ = sides
    expired = identities["expired"]
    (tmp_path / "entity").write_bytes(payload_entity())
    signed = openssl("cms", "-sign", "-binary", "-md", "sha256", "-in", str(tmp_path / "entity"),
                     "-signer", str(expired.cert_path), "-inkey", str(expired.key_path))
    head, body = signed.split(b"\n\n", 1)
    ctype = re.search(rb"Content-Type: (.*)", head).group(1).decode()  # type: ignore[union-attr]
    receiver = with_(hub_view, certs=(expired.cert,), require_encrypted=False)
    with pytest.raises(CertificateExpired, match=r"has expired; ask the partner for its new certificate") as exc:
        parse_message(as2_headers(ctype), body, lookup_for(receiver))
    assert exc.value.modifier == "authentication-failed"
    assert expiry(expired.cert) < dt.datetime.now(dt.timezone.utc)
    with pytest.raises(ValueError, match="expired"):
        build_message(PAYLOAD, "x.edi", with_(receiver, encrypt="aes256-cbc"))


def test_other_refusals(sides, identities):
    hub_view, partner_view = sides
    lookup = lookup_for(hub_view)
    out = build_message(PAYLOAD, "x.edi", partner_view)
    with pytest.raises(UnknownPartner):
        parse_message({**out.headers, "AS2-From": "MALLORY"}, out.body, lookup)
    plain = build_message(PAYLOAD, "x.edi", with_(partner_view, sign=None, encrypt=None))
    with pytest.raises(InsufficientMessageSecurity, match="must encrypt"):
        parse_message(plain.headers, plain.body, lookup)
    unsigned = build_message(PAYLOAD, "x.edi", with_(partner_view, sign=None))
    with pytest.raises(InsufficientMessageSecurity, match="must sign"):
        parse_message(unsigned.headers, unsigned.body, lookup)
    wrong_recipient = build_message(PAYLOAD, "x.edi", with_(partner_view, certs=(identities["stranger"].cert,)))
    with pytest.raises(DecryptionFailed, match="not encrypted for any of our certificates"):
        parse_message(wrong_recipient.headers, wrong_recipient.body, lookup)
    stranger_local = As2Settings("ACME Corp", identities["stranger"].key, identities["stranger"].cert)
    forged = build_message(PAYLOAD, "x.edi", with_(partner_view, local=stranger_local))
    with pytest.raises(AuthenticationFailed, match="not know"):
        parse_message(forged.headers, forged.body, lookup)
    with pytest.raises(UnexpectedProcessingError):
        parse_message({k: v for k, v in out.headers.items() if k != "Message-ID"}, out.body, lookup)
    with pytest.raises(DecryptionFailed):
        parse_message(out.headers, out.body[:-40] + bytes(40), lookup)
    # an error MDN for an unknown partner is unsigned (no key chosen) but well formed
    try:
        parse_message({**out.headers, "AS2-From": "MALLORY"}, out.body, lookup)
    except UnknownPartner as err:
        mdn_headers, mdn_body = build_mdn(err)
        assert b"processed/Error: authentication-failed" in mdn_body and mdn_headers["AS2-To"] == "MALLORY"
        assert mdn_headers["Content-Type"].startswith("multipart/report")
        signed_headers, _ = build_mdn(err, hub_view.local)  # our default identity signs it
        assert signed_headers["Content-Type"].startswith("multipart/signed") and signed_headers["AS2-From"] == "KONTOR"


# -- MDNs ---------------------------------------------------------------------------------


@needs_openssl
@pytest.mark.parametrize("micalg", ["sha-256", "sha-384", "sha-512"])
def test_signed_mdn_verifies_with_openssl(sides, identities, tmp_path, micalg):
    hub_view, partner_view = sides
    out = build_message(PAYLOAD, "x.edi", with_(partner_view, mdn_alg=micalg.replace("-", "")))
    got = parse_message(out.headers, out.body, lookup_for(hub_view))
    mdn_headers, mdn_body = build_mdn(got)
    assert f"micalg={micalg}" in mdn_headers["Content-Type"]
    smime = f"Content-Type: {mdn_headers['Content-Type']}\r\n\r\n".encode() + mdn_body
    (tmp_path / "mdn.eml").write_bytes(smime)
    report = openssl("cms", "-verify", "-in", str(tmp_path / "mdn.eml"), "-CAfile", str(identities["hub"].cert_path))
    assert b"Disposition: automatic-action/MDN-sent-automatically; processed" in report
    assert f"Received-Content-MIC: {out.mic}".encode() in report
    assert f"Original-Message-ID: {out.message_id}".encode() in report


@needs_openssl
def test_mdn_signed_by_openssl_is_parsed(sides, identities, tmp_path):
    _, partner_view = sides
    mid, mic = "<abc@acme>", "q83vEjRWeJA=, sha-256"
    report = (b"Content-Type: multipart/report; report-type=disposition-notification; boundary=\"r\"\r\n\r\n"
              b"--r\r\nContent-Type: text/plain\r\n\r\nThanks\r\n--r\r\nContent-Type: message/disposition-notification\r\n\r\n"
              b"Original-Message-ID: <abc@acme>\r\nDisposition: automatic-action/MDN-sent-automatically; processed\r\n"
              b"Received-Content-MIC: q83vEjRWeJA=, sha256\r\n\r\n--r--\r\n")
    (tmp_path / "report").write_bytes(report)
    hub = identities["hub"]
    signed = openssl("cms", "-sign", "-binary", "-md", "sha256", "-in", str(tmp_path / "report"),
                     "-signer", str(hub.cert_path), "-inkey", str(hub.key_path))
    head, body = split_entity(signed)
    result = parse_mdn({"Content-Type": head.get("Content-Type") or ""}, body, mid, mic, partner_view)
    assert result.ok and result.signed and result.text == "Thanks"  # sha256 and sha-256 are the same algorithm
    assert not parse_mdn({"Content-Type": head.get("Content-Type") or ""}, body, mid, "AAAA, sha-256", partner_view).mic_ok


def test_mdn_problems_raise(sides, identities):
    hub_view, partner_view = sides
    out = build_message(PAYLOAD, "x.edi", partner_view)
    got = parse_message(out.headers, out.body, lookup_for(hub_view))
    mdn_headers, mdn_body = build_mdn(got)
    with pytest.raises(MdnError, match="answers"):
        parse_mdn(mdn_headers, mdn_body, "<other@x>", out.mic, partner_view)
    with pytest.raises(MdnError, match="signature"):
        parse_mdn(mdn_headers, mdn_body.replace(b"processed", b"processeD"), out.message_id, out.mic, partner_view)
    unsigned = build_message(PAYLOAD, "x.edi", with_(partner_view, mdn_signed=False))
    got2 = parse_message(unsigned.headers, unsigned.body, lookup_for(hub_view))
    h2, b2 = build_mdn(got2)
    assert h2["Content-Type"].startswith("multipart/report")
    with pytest.raises(MdnError, match="not signed"):
        parse_mdn(h2, b2, unsigned.message_id, unsigned.mic, partner_view)
    assert parse_mdn(h2, b2, unsigned.message_id, unsigned.mic, with_(partner_view, mdn_signed=False)).ok


def test_headers_message_id_kept_on_resend_and_mdn_request(sides):
    _, partner_view = sides
    first = build_message(PAYLOAD, "x.edi", partner_view)
    again = build_message(PAYLOAD, "x.edi", partner_view, message_id=first.message_id)
    assert again.headers["Message-ID"] == first.message_id and again.body != first.body
    assert first.headers["AS2-From"] == '"ACME Corp"' and first.headers["AS2-To"] == "KONTOR"
    assert "signed-receipt-micalg=optional, sha-256" in first.headers["Disposition-Notification-Options"]
    asynchronous = build_message(PAYLOAD, "x.edi", with_(partner_view, mdn="async"))
    assert asynchronous.headers["Receipt-Delivery-Option"] == "https://acme.example/mdn"
    none = build_message(PAYLOAD, "x.edi", with_(partner_view, mdn="none"))
    assert "Disposition-Notification-To" not in none.headers


def test_profile_validation_and_from_dict(identities, tmp_path):
    local = As2Settings.from_dict({"as2_id": "KONTOR", "key": str(identities["hub"].key_path), "cert": str(identities["hub"].cert_path)})
    p = As2Partner.from_dict({"as2_id": "ACME", "cert": str(identities["partner"].cert_path), "encrypt": "aes128-gcm",
                              "compress": "none", "url": "https://acme.example/as2"}, local, where="partners/acme.toml")
    assert p.encrypt == "aes128-gcm" and p.compress is None and p.certs[0] == identities["partner"].cert
    for bad, msg in (({"sign": "sha1"}, "sign must be"), ({"encrypt": "3des"}, "encrypt must be"), ({"mdn": "later"}, "mdn must be"),
                     ({"colour": "red"}, "unknown key 'colour'"), ({"require_signed": "no"}, "require_signed must be true or false"),
                     ({"url": "ftp://x"}, "url must be")):
        with pytest.raises(ValueError, match=f"partners/acme.toml: {msg}"):
            As2Partner.from_dict({"as2_id": "ACME", "cert": str(identities["partner"].cert_path), **bad}, local, where="partners/acme.toml")
    assert "PRIVATE" not in repr(local)


# -- the adapter ------------------------------------------------------------------------------


def test_adapter_delivers_and_checks_sync_mdn(sides):
    hub_view, partner_view = sides
    stored: list[bytes] = []

    def partner_side(url, headers, body, timeout):  # what the receiving hub does
        try:
            got = parse_message(headers, body, lookup_for(hub_view))
        except Exception as err:  # noqa: BLE001 - answered as an error MDN like a real endpoint
            h, b = build_mdn(err)  # type: ignore[arg-type]
        else:
            stored.append(got.payload)
            h, b = build_mdn(got)
        return HttpResponse(200, Headers.of(h), b)

    receipt = As2Adapter(partner_view, sender=partner_side).deliver("PO1.edi", PAYLOAD)
    assert receipt.acknowledged and stored == [PAYLOAD] and receipt.data["mdn"]["signed"]
    wrong = with_(partner_view, certs=(sides[1].certs[0],), local=As2Settings("ACME Corp", hub_view.local.key, hub_view.local.cert))
    with pytest.raises(TransportError, match="authentication-failed") as exc:
        As2Adapter(wrong, sender=partner_side).deliver("PO1.edi", PAYLOAD)
    assert exc.value.retryable is False
    asynchronous = As2Adapter(with_(partner_view, mdn="async"), sender=lambda *a: HttpResponse(200, Headers(), b""))
    r = asynchronous.deliver("PO1.edi", PAYLOAD, message_id="<resend@acme>")
    assert not r.acknowledged and r.data["message_id"] == "<resend@acme>" and r.data["mic"].endswith("sha-256")


def test_cms_module_tolerates_garbage():
    with pytest.raises(cms.CmsError):
        cms.decrypt(b"\x30\x03\x02\x01\x00", [])
    with pytest.raises(cms.CmsError):
        cms.verify(b"not der", b"x", [])
    assert cms.content_type_of(b"junk") is None




@needs_openssl
@pytest.mark.parametrize("oaep", [False, True], ids=["ber-indefinite", "rsaes-oaep"])
def test_openssl_streamed_ber_and_oaep_key_transport(sides, identities, tmp_path, oaep):
    """BER with indefinite lengths (openssl -stream) takes the asn1crypto path; OAEP key transport decrypts."""
    hub_view, _ = sides
    partner, hub = identities["partner"], identities["hub"]
    (tmp_path / "entity").write_bytes(payload_entity())
    signed = openssl("cms", "-sign", "-binary", "-md", "sha256", "-in", str(tmp_path / "entity"),
                     "-signer", str(partner.cert_path), "-inkey", str(partner.key_path))
    (tmp_path / "signed").write_bytes(signed)
    options = ["-recip", str(hub.cert_path), "-keyopt", "rsa_padding_mode:oaep"] if oaep else ["-stream", str(hub.cert_path)]
    body = openssl("cms", "-encrypt", "-binary", "-aes256", "-in", str(tmp_path / "signed"), "-outform", "DER", *options)
    if not oaep:
        assert body[1] == 0x80  # indefinite length
    got = parse_message(as2_headers("application/pkcs7-mime; smime-type=enveloped-data"), body, lookup_for(hub_view))
    assert got.payload == PAYLOAD and got.encrypted == "aes256-cbc"


def test_file_names_are_sanitised_and_non_ascii_survives(sides):
    hub_view, partner_view = sides
    for name, expected in (("../../etc/Bestellung März.edi", "Bestellung März.edi"), ("a\r\nX-Evil: 1.edi", "aX-Evil: 1.edi"),
                           ("C:\\in\\po.edi", "po.edi")):
        out = build_message(PAYLOAD, name, partner_view)
        assert parse_message(out.headers, out.body, lookup_for(hub_view)).filename == expected
    with pytest.raises(ValueError, match="message_id"):
        build_message(PAYLOAD, "x.edi", partner_view, message_id="<a@b>\r\nBcc: x")


def test_damaged_messages_always_raise_as2_errors(sides):
    """Truncated or bit-flipped messages end in an As2Error (an error MDN), never another exception."""
    from adapters.as2 import As2Error

    hub_view, partner_view = sides
    lookup = lookup_for(hub_view)
    for sender in (partner_view, with_(partner_view, encrypt="aes128-gcm", compress="before-sign")):
        out = build_message(PAYLOAD, "x.edi", sender)
        body = out.body
        for cut in (0, 1, 2, 10, 50, len(body) // 2, len(body) - 1):
            with pytest.raises(As2Error):
                parse_message(out.headers, body[:cut], lookup)
        for pos in range(0, len(body), max(1, len(body) // 40)):
            damaged = body[:pos] + bytes([body[pos] ^ 0x55]) + body[pos + 1 :]
            try:
                got = parse_message(out.headers, damaged, lookup)
            except As2Error:
                continue
            assert got.payload == PAYLOAD  # a flip in an unauthenticated, unused byte can be harmless
    plain = build_message(PAYLOAD, "x.edi", with_(partner_view, encrypt=None))
    for pos in range(0, len(plain.body), max(1, len(plain.body) // 60)):
        damaged = plain.body[:pos] + bytes([plain.body[pos] ^ 0x01]) + plain.body[pos + 1 :]
        try:
            got = parse_message(plain.headers, damaged, lookup_for(with_(hub_view, require_encrypted=False)))
        except As2Error:
            continue
        assert got.payload == PAYLOAD
