"""Streamed AS2 receiving: a spooled body gives exactly what the in-memory path gives.

Every case runs with the body spooled in memory and on disk, and with tiny chunks
(so delimiters, DER headers, base64 quanta and cipher blocks straddle chunk edges).
"""

from __future__ import annotations

import base64
import hashlib

import pytest

from adapters import as2_spool, cms
from adapters.as2 import (
    As2Error,
    DecryptionFailed,
    IntegrityCheckFailed,
    UnknownPartner,
    build_message,
    parse_message,
)
from adapters.as2_spool import BodyTooLarge, Region, Spool
from tests.adapters.test_as2 import (  # noqa: F401  (sides is a fixture)
    OPENSSL,
    PAYLOAD,
    as2_headers,
    lookup_for,
    needs_openssl,
    openssl,
    payload_entity,
    sides,
    with_,
)

MODES = ["memory", "disk", "disk-tiny-chunks"]


@pytest.fixture(params=MODES)
def spooled(request, monkeypatch, tmp_path):
    """spooled(body) -> a Spool of ``body`` in the mode of this run (closed after the test)."""
    made: list[Spool] = []
    if request.param == "disk-tiny-chunks":
        monkeypatch.setattr(as2_spool, "CHUNK", 7)

    def make(body: bytes) -> Spool:
        spool = Spool.of(body, tmp_path, threshold=0 if request.param != "memory" else 1 << 30)
        made.append(spool)
        assert spool.on_disk == (request.param != "memory")
        return spool

    yield make
    for spool in made:
        spool.close()


STREAM_CASES = [
    (sign, encrypt, compress)
    for sign in (None, "sha256", "sha512")
    for encrypt in (None, "aes128-cbc", "aes256-cbc", "aes128-gcm", "aes256-gcm")
    for compress in (None, "before-sign", "after-sign")
    if not (compress == "before-sign" and sign is None)
]


@pytest.mark.parametrize("sign,encrypt,compress", STREAM_CASES)
def test_spooled_body_gives_the_same_message(sides, spooled, sign, encrypt, compress):
    hub_view, partner_view = sides
    sender = with_(partner_view, sign=sign, encrypt=encrypt, compress=compress)
    receiver = with_(hub_view, require_signed=bool(sign), require_encrypted=bool(encrypt))
    out = build_message(PAYLOAD * 50, "PO 1.edi", sender)
    in_memory = parse_message(out.headers, out.body, lookup_for(receiver))
    got = parse_message(out.headers, spooled(out.body), lookup_for(receiver))
    assert got.payload == PAYLOAD * 50 and isinstance(got.payload, bytes)
    assert got.received_content_mic == out.mic == in_memory.received_content_mic
    assert (got.filename, got.signed, got.encrypted, got.compressed) == ("PO 1.edi", bool(sign), encrypt, bool(compress))
    assert got.receipt() == in_memory.receipt()


def test_base64_encrypted_body_and_base64_payload(sides, spooled):
    """A base64 outer body (as some AS2 products send) and a base64 payload part are decoded in chunks."""
    hub_view, partner_view = sides
    key, cert = hub_view.local.key, hub_view.local.cert
    payload = bytes(range(256)) * 40
    inner = (b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
             b"Content-Disposition: attachment; filename=b.bin\r\n\r\n" + base64.encodebytes(payload).replace(b"\n", b"\r\n"))
    der = cms.encrypt(inner, cert, "aes192-gcm")
    body = base64.encodebytes(der)
    headers = as2_headers("application/pkcs7-mime; smime-type=authEnveloped-data", **{"Content-Transfer-Encoding": "base64"})
    receiver = with_(hub_view, require_signed=False)
    got = parse_message(headers, spooled(body), lookup_for(receiver))
    assert got.payload == payload and got.encrypted == "aes192-gcm" and got.filename == "b.bin"
    assert got.mic == base64.b64encode(hashlib.sha256(inner).digest()).decode()  # canonical headers + body as sent
    assert got.mic == parse_message(headers, body, lookup_for(receiver)).mic
    assert key is not None


@needs_openssl
@pytest.mark.parametrize("cipher", ["3des", "aes128-cbc", "aes256-gcm"])
@pytest.mark.parametrize("options", [[], ["-stream"]], ids=["der", "ber-indefinite"])
def test_openssl_messages_spooled(sides, identities, tmp_path, spooled, cipher, options):
    """3DES and AES from `openssl cms`, definite DER streamed and BER (read whole) both accepted."""
    from tests.adapters.test_as2 import CIPHERS

    hub_view, _ = sides
    partner, hub = identities["partner"], identities["hub"]
    (tmp_path / "entity").write_bytes(payload_entity())
    signed = openssl("cms", "-sign", "-binary", "-md", "sha1", "-in", str(tmp_path / "entity"),
                     "-signer", str(partner.cert_path), "-inkey", str(partner.key_path))
    (tmp_path / "signed").write_bytes(signed)
    body = openssl("cms", "-encrypt", "-binary", CIPHERS[cipher], "-in", str(tmp_path / "signed"), "-outform", "DER",
                   *options, str(hub.cert_path))
    smime_type = "authEnveloped-data" if "gcm" in cipher else "enveloped-data"
    headers = as2_headers(f"application/pkcs7-mime; smime-type={smime_type}",
                          **{"Disposition-Notification-Options": "signed-receipt-protocol=optional, pkcs7-signature; "
                                                                "signed-receipt-micalg=optional, sha1"})
    got = parse_message(headers, spooled(body), lookup_for(hub_view))
    assert got.payload == PAYLOAD and got.encrypted == cipher and got.signed and got.mic_alg == "sha1"
    assert got.mic == base64.b64encode(hashlib.sha1(payload_entity()).digest()).decode()


def test_lf_signed_entity_falls_back_to_the_canonical_forms(sides, identities, tmp_path, spooled):
    if OPENSSL is None:
        pytest.skip("openssl command line not installed")
    hub_view, _ = sides
    partner = identities["partner"]
    lf_entity = b"Content-Type: application/edifact\nContent-Disposition: attachment; filename=lf.edi\n\n" + PAYLOAD.replace(b"\r\n", b"\n")
    (tmp_path / "entity").write_bytes(lf_entity)
    sig = openssl("cms", "-sign", "-md", "sha256", "-in", str(tmp_path / "entity"), "-outform", "DER",
                  "-signer", str(partner.cert_path), "-inkey", str(partner.key_path))
    body = (b"--b1\n" + lf_entity + b"\n--b1\nContent-Type: application/pkcs7-signature\nContent-Transfer-Encoding: base64\n\n"
            + base64.encodebytes(sig) + b"\n--b1--\n")
    headers = as2_headers('multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256; boundary="b1"')
    got = parse_message(headers, spooled(body), lookup_for(with_(hub_view, require_encrypted=False)))
    assert got.filename == "lf.edi" and got.signed
    assert got.mic == base64.b64encode(hashlib.sha256(lf_entity.replace(b"\n", b"\r\n")).digest()).decode()


def test_refusals_are_the_same(sides, spooled):
    hub_view, partner_view = sides
    out = build_message(PAYLOAD, "t.edi", with_(partner_view, encrypt=None))
    tampered = out.body.replace(b"BGM+220+PO1", b"BGM+220+PO9")
    with pytest.raises(IntegrityCheckFailed):
        parse_message(out.headers, spooled(tampered), lookup_for(with_(hub_view, require_encrypted=False)))
    for alg, at, error in (("aes256-cbc", -1, DecryptionFailed), ("aes256-cbc", -40, As2Error),
                           ("aes128-gcm", -1, DecryptionFailed), ("aes128-gcm", -200, DecryptionFailed)):
        enc = build_message(PAYLOAD * 20, "t.edi", with_(partner_view, encrypt=alg))
        flipped = bytearray(enc.body)
        flipped[at] ^= 0x01  # the padding block, a block before it; GCM's tag, its ciphertext
        with pytest.raises(error) as streamed:
            parse_message(enc.headers, spooled(bytes(flipped)), lookup_for(hub_view))
        with pytest.raises(error) as in_memory:
            parse_message(enc.headers, bytes(flipped), lookup_for(hub_view))
        assert type(streamed.value) is type(in_memory.value) and str(streamed.value) == str(in_memory.value)
    with pytest.raises(UnknownPartner):
        parse_message(out.headers, spooled(out.body), lookup_for(with_(hub_view, as2_id="SOMEONE")))


def test_damaged_spooled_messages_always_raise_as2_errors(sides, spooled):
    hub_view, partner_view = sides
    lookup = lookup_for(hub_view)
    for sender in (partner_view, with_(partner_view, encrypt="aes128-gcm")):
        out = build_message(PAYLOAD, "x.edi", sender)
        body = out.body
        for cut in (0, 1, 2, 10, 50, len(body) // 2, len(body) - 1):
            with pytest.raises(As2Error):
                parse_message(out.headers, spooled(body[:cut]), lookup)
        for pos in range(0, len(body), max(1, len(body) // 25)):
            damaged = body[:pos] + bytes([body[pos] ^ 0x55]) + body[pos + 1 :]
            try:
                got = parse_message(out.headers, spooled(damaged), lookup)
            except As2Error:
                continue
            assert got.payload == PAYLOAD


def test_decrypt_stream_writes_plaintext_in_chunks(sides):
    hub_view, _ = sides
    data = bytes(range(256)) * 1000
    for alg in ("aes128-cbc", "aes256-gcm"):
        der = cms.encrypt(data, hub_view.local.cert, alg)
        pieces: list[bytes] = []
        reads: list[int] = []

        def read(offset: int, size: int) -> bytes:
            reads.append(size)
            return der[offset : offset + size]

        name = cms.decrypt_stream(len(der), read, pieces.append, hub_view.local.decryption_keys, chunk=4096)
        assert name == alg and b"".join(pieces) == data
        assert max(reads) <= 4096 and max(len(p) for p in pieces) <= 4096 + 16  # never the whole content at once


def test_region_find_across_chunks_and_spool_limits(tmp_path, monkeypatch):
    monkeypatch.setattr(as2_spool, "CHUNK", 5)
    with Spool.of(b"0123456789--boundary\r\nabc", tmp_path, threshold=0) as spool:
        region = spool.region()
        assert region.find(b"--boundary") == 10 and region.find(b"--boundary", 11) == -1
        assert region.sub(3, 12).read() == b"3456789--" and b"".join(region.sub(2).chunks()) == b"23456789--boundary\r\nabc"
        assert region.head(4) == b"0123" and region.tail(3) == b"abc"
        with pytest.raises(ValueError, match="outside"):
            Region(spool, 5, 100)
    import io

    with pytest.raises(BodyTooLarge, match="exceeds 10 bytes"):
        Spool.from_stream(io.BytesIO(b"x" * 11), tmp_path, limit=10)
    with Spool.from_stream(io.BytesIO(b"x" * 10), tmp_path, limit=10) as ok:
        assert ok.size == 10


def test_a_spool_announced_large_starts_on_disk(tmp_path):
    """No roll-over copy: a body announced past the threshold is written to disk from its first byte."""
    import io

    with Spool(tmp_path, threshold=100, size_hint=101) as big, Spool(tmp_path, threshold=100, size_hint=100) as small:
        assert big.on_disk and not small.on_disk
    with pytest.raises(BodyTooLarge):
        Spool.from_stream(io.BytesIO(b""), tmp_path, limit=10, size_hint=11)  # refused before reading
    with Spool.from_stream(io.BytesIO(b"y" * 50), tmp_path, threshold=10, size_hint=50) as spool:
        assert spool.on_disk and spool.region().read() == b"y" * 50


@needs_openssl
@pytest.mark.parametrize("md", ["sha256", "sha384"])
def test_signature_without_signed_attributes_is_checked_over_the_hashed_chunks(sides, identities, tmp_path, spooled, md):
    """`openssl cms -sign -noattr` signs the content's digest directly: verified pre-hashed, tampering refused."""
    hub_view, _ = sides
    partner = identities["partner"]
    (tmp_path / "entity").write_bytes(payload_entity("n.edi"))
    sig = openssl("cms", "-sign", "-binary", "-noattr", "-md", md, "-in", str(tmp_path / "entity"), "-outform", "DER",
                  "-signer", str(partner.cert_path), "-inkey", str(partner.key_path))
    headers = as2_headers(f'multipart/signed; protocol="application/pkcs7-signature"; micalg={md}; boundary=nA')
    receiver = lookup_for(with_(hub_view, require_encrypted=False))

    def body(entity: bytes) -> bytes:
        return (b"--nA\r\n" + entity + b"\r\n--nA\r\nContent-Type: application/pkcs7-signature\r\n"
                b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(sig) + b"\r\n--nA--\r\n")

    got = parse_message(headers, spooled(body(payload_entity("n.edi"))), receiver)
    assert got.payload == PAYLOAD and got.signed and got.filename == "n.edi"
    with pytest.raises(As2Error) as refused:
        parse_message(headers, spooled(body(payload_entity("n.edi").replace(b"PO1", b"PO2"))), receiver)
    assert refused.value.modifier == "authentication-failed"  # no digest attribute: the signature itself fails
