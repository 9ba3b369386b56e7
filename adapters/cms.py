"""CMS (RFC 5652) for AS2: detached signatures, enveloping, compression.

Signing uses ``cryptography``'s PKCS7SignatureBuilder. Verification,
enveloping (EnvelopedData with AES-CBC, AuthEnvelopedData with AES-GCM as in
RFC 5083/5084), decryption (also 3DES, inbound only) and compression (RFC
3274, zlib) are built here on ``asn1crypto`` structures and ``cryptography``
primitives, because the libraries offer no public API for them.

Large messages: :func:`decrypt_stream` reads an envelope on demand and
decrypts it chunk by chunk (only definite-length DER is streamed; BER is read
whole), and :func:`verify` takes a detached content as a chunk source.

Errors are :class:`CmsError` subclasses that say what failed:
:class:`SignatureMismatch` (content digest differs: the data was altered),
:class:`SignatureInvalid` (the signature does not verify with the given
certificate), :class:`SignerUnknown`, :class:`DecryptionError`,
:class:`DecompressionError`, :class:`CmsFormatError`.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import zlib
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

from asn1crypto import algos as a_algos
from asn1crypto import cms as a_cms
from asn1crypto import core as a_core
from asn1crypto import x509 as a_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric import padding as asym_padding
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.serialization import pkcs7

try:  # cryptography >= 43 keeps 3DES among the "decrepit" algorithms
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
except ImportError:  # pragma: no cover - older cryptography
    TripleDES = algorithms.TripleDES  # type: ignore[attr-defined,misc]

__all__ = [
    "CmsError",
    "CmsFormatError",
    "SignatureMismatch",
    "SignatureInvalid",
    "SignerUnknown",
    "DecryptionError",
    "DecompressionError",
    "Verified",
    "DIGESTS",
    "ENCRYPTIONS",
    "sign_detached",
    "verify",
    "encrypt",
    "decrypt",
    "decrypt_stream",
    "compress",
    "decompress",
    "content_type_of",
    "content_type_stream",
]


BytesLike = bytes | bytearray | memoryview


class CmsError(Exception):
    """A CMS structure could not be processed."""


class CmsFormatError(CmsError):
    """Not the CMS structure expected, or malformed DER."""


class SignatureMismatch(CmsError):
    """The signed digest does not match the content: the content was altered."""


class SignatureInvalid(CmsError):
    """The signature does not verify with the signer's certificate."""


class SignerUnknown(CmsError):
    """The signer is none of the certificates we trust for this partner."""


class DecryptionError(CmsError):
    """The content could not be decrypted (wrong recipient, key, or algorithm)."""


class DecompressionError(CmsError):
    """CompressedData could not be decompressed."""


#: digest name -> (hashlib name, cryptography hash class, signing allowed)
DIGESTS: dict[str, tuple[str, type[hashes.HashAlgorithm], bool]] = {
    "sha256": ("sha256", hashes.SHA256, True),
    "sha384": ("sha384", hashes.SHA384, True),
    "sha512": ("sha512", hashes.SHA512, True),
    "sha1": ("sha1", hashes.SHA1, False),  # accepted inbound only
}

#: our encryption names -> (asn1crypto algorithm name, key bytes, mode, allowed outbound)
ENCRYPTIONS: dict[str, tuple[str, int, str, bool]] = {
    "aes128-cbc": ("aes128_cbc", 16, "cbc", True),
    "aes192-cbc": ("aes192_cbc", 24, "cbc", True),
    "aes256-cbc": ("aes256_cbc", 32, "cbc", True),
    "aes128-gcm": ("aes128_gcm", 16, "gcm", True),
    "aes192-gcm": ("aes192_gcm", 24, "gcm", True),
    "aes256-gcm": ("aes256_gcm", 32, "gcm", True),
    "3des": ("tripledes_3key", 24, "cbc", False),  # accepted inbound only
}
_BY_ASN1 = {v[0]: k for k, v in ENCRYPTIONS.items()}


class _GcmParameters(a_core.Sequence):
    """GCMParameters from RFC 5084 (asn1crypto has the OIDs but not this structure)."""

    _fields = [("aes_nonce", a_core.OctetString), ("aes_icvlen", a_core.Integer, {"default": 12})]


@dataclass(frozen=True)
class Verified:
    """A verified signature: the digest algorithm used, the signer, the signed content."""

    digest: str
    signer: x509.Certificate
    content: BytesLike | None  # None when the content was given as chunks


#: a detached content given as a callable returning its chunks (called once per pass)
Chunks = Callable[[], Iterable[BytesLike]]


def _load(der: BytesLike, expected: str) -> a_cms.ContentInfo:
    try:
        info = a_cms.ContentInfo.load(bytes(der))
        kind = info["content_type"].native
        if len(der) < 1 << 20:
            info["content"].native  # parse small blobs eagerly: malformed DER fails here, not later
    except (ValueError, TypeError, KeyError) as exc:
        raise CmsFormatError(f"not a CMS {expected} structure: {exc}") from exc
    if kind != expected:
        raise CmsFormatError(f"expected CMS {expected}, got {kind}")
    return info


_OIDS = {
    bytes.fromhex("2a864886f70d010703"): "enveloped_data",
    bytes.fromhex("2a864886f70d0109100117"): "authenticated_enveloped_data",
    bytes.fromhex("2a864886f70d010702"): "signed_data",
    bytes.fromhex("2a864886f70d0109100109"): "compressed_data",
    bytes.fromhex("2a864886f70d010701"): "data",
}


class _NotSimple(Exception):
    """DER the fast path does not handle (indefinite lengths, constructed strings): use asn1crypto."""


def _tlv(buf: memoryview | _Sparse, pos: int, end: int) -> tuple[int, int, int]:
    """(tag, contents start, contents end) of the DER element at ``pos``, without copying."""
    if pos + 2 > end:
        raise CmsFormatError("truncated DER")
    tag, length = buf[pos], buf[pos + 1]
    pos += 2
    if tag & 0x1F == 0x1F or length == 0x80:
        raise _NotSimple()
    if length & 0x80:
        n = length & 0x7F
        length = int.from_bytes(buf[pos : pos + n], "big")
        pos += n
    if pos + length > end:
        raise CmsFormatError("truncated DER")
    return tag, pos, pos + length


def _children(buf: memoryview | _Sparse, start: int, end: int) -> list[tuple[int, int, int, int]]:
    """(tag, element start, contents start, contents end) of each element in ``buf[start:end]``."""
    out = []
    while start < end:
        tag, cs, ce = _tlv(buf, start, end)
        out.append((tag, start, cs, ce))
        start = ce
    return out


def content_type_of(der: BytesLike) -> str | None:
    """The CMS content type ('signed_data', 'enveloped_data', ...) of a DER blob, or None."""
    buf = memoryview(der)
    try:
        tag, cs, ce = _tlv(buf, 0, len(buf))
        if tag != 0x30:
            return None
        otag, _, os_, oe = _children(buf, cs, ce)[0]
        if otag != 0x06:
            return None
        oid = bytes(buf[os_:oe])
        if oid in _OIDS:
            return _OIDS[oid]
        return str(a_core.ObjectIdentifier.load(b"\x06" + bytes([len(oid)]) + oid).native) if len(oid) < 128 else None
    except (_NotSimple, CmsFormatError, IndexError, ValueError):
        try:
            return str(a_cms.ContentInfo.load(bytes(der))["content_type"].native)
        except (ValueError, TypeError, KeyError):
            return None


# -- signatures -----------------------------------------------------------------


def sign_detached(data: bytes, key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, cert: x509.Certificate, digest: str) -> bytes:
    """A DER SignedData over ``data`` (not canonicalised), without the content."""
    if digest not in DIGESTS or not DIGESTS[digest][2]:
        raise ValueError(f"signing digest must be one of sha256, sha384, sha512, not {digest!r}")
    algorithm: hashes.SHA256 | hashes.SHA384 | hashes.SHA512
    if digest == "sha256":
        algorithm = hashes.SHA256()
    elif digest == "sha384":
        algorithm = hashes.SHA384()
    else:
        algorithm = hashes.SHA512()
    return (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(data)
        .add_signer(cert, key, algorithm)
        .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary])
    )


def _asn1_cert(cert: x509.Certificate) -> a_x509.Certificate:
    return a_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _matches(sid: a_cms.SignerIdentifier | a_cms.RecipientIdentifier, cert: x509.Certificate) -> bool:
    c = _asn1_cert(cert)
    if sid.name in ("issuer_and_serial_number",):
        return bool(c.issuer == sid.chosen["issuer"] and c.serial_number == sid.chosen["serial_number"].native)
    if sid.name in ("subject_key_identifier", "subject_key_id"):
        return bool(c.key_identifier == sid.chosen.native)
    return False


def _hash_name(alg: a_algos.DigestAlgorithm) -> str:
    name = str(alg["algorithm"].native)
    if name not in DIGESTS:
        raise CmsFormatError(f"digest algorithm {name} is not supported")
    return name


def verify(signature_der: BytesLike, data: BytesLike | Chunks | None, certs: Sequence[x509.Certificate]) -> Verified:
    """Verify a SignedData: detached over ``data``, or attached when ``data`` is None.

    ``data`` may be a callable returning the content in chunks (called once per digest
    computed), so a large detached content is hashed without being held in memory; then
    ``Verified.content`` is None. The signer must be one of ``certs`` (certificates embedded
    in the signature are ignored: trust comes from configuration, not the message).
    """
    info = _load(signature_der, "signed_data")
    sd = info["content"]
    if data is None:
        content = sd["encap_content_info"]["content"]
        if content.native is None:
            raise CmsFormatError("signature carries no content and none was given")
        data = bytes(content.native if isinstance(content.native, bytes) else content.contents)
    infos = list(sd["signer_infos"])
    if not infos:
        raise CmsFormatError("SignedData has no signer")
    last_error: CmsError = SignerUnknown("the message is signed by a certificate we do not know for this partner")
    for si in infos:
        cert = next((c for c in certs if _matches(si["sid"], c)), None)
        if cert is None:
            continue
        digest = _hash_name(si["digest_algorithm"])
        hname, hcls, _ = DIGESTS[digest]
        attrs = si["signed_attrs"]
        if attrs.native is not None and len(attrs):
            md = next((a["values"][0].native for a in attrs if a["type"].native == "message_digest"), None)
            if md is None:
                raise CmsFormatError("signed attributes lack the message digest")
            if not hmac.compare_digest(md, _digest(hname, data)):
                last_error = SignatureMismatch("the content does not match its signed digest: it was altered in transit")
                continue
            signed = b"\x31" + attrs.dump()[1:]  # the SET OF form, not the [0] IMPLICIT tag
            prehashed = False
        elif callable(data):  # no signed attributes: the signature is over the content's digest
            signed, prehashed = _digest(hname, data), True
        else:
            signed, prehashed = bytes(data), False
        try:
            _check_signature(cert, si["signature_algorithm"], hcls, si["signature"].native, signed, prehashed)
        except InvalidSignature:
            last_error = SignatureInvalid("the signature does not verify with the partner's certificate")
            continue
        return Verified(digest, cert, None if callable(data) else data)
    raise last_error


def _digest(hname: str, data: BytesLike | Chunks) -> bytes:
    """The ``hname`` digest of ``data``, hashed chunk by chunk when it is a chunk source."""
    if not callable(data):
        return hashlib.new(hname, data).digest()
    h = hashlib.new(hname)
    for chunk in data():
        h.update(chunk)
    return h.digest()


def _check_signature(cert: x509.Certificate, alg: a_algos.SignedDigestAlgorithm, hcls: type[hashes.HashAlgorithm],
                     sig: bytes, signed: bytes, prehashed: bool = False) -> None:
    """Check ``sig`` over ``signed``, or over the digest ``signed`` (``prehashed``, with ``hcls``)."""
    pub = cert.public_key()
    kind = alg.signature_algo
    algorithm: hashes.HashAlgorithm | Prehashed = Prehashed(hcls()) if prehashed else hcls()
    if isinstance(pub, rsa.RSAPublicKey) and kind == "rsassa_pkcs1v15":
        pub.verify(sig, signed, asym_padding.PKCS1v15(), algorithm)
    elif isinstance(pub, rsa.RSAPublicKey) and kind == "rsassa_pss":
        params = alg["parameters"]
        phash = DIGESTS.get(str(params["hash_algorithm"]["algorithm"].native), DIGESTS["sha1"])[1]
        if prehashed and phash.name != hcls.name:
            raise CmsFormatError("an RSASSA-PSS signature without signed attributes whose hash differs from the "
                                 "digest algorithm is not supported")
        pub.verify(sig, signed, asym_padding.PSS(asym_padding.MGF1(phash()), params["salt_length"].native),
                   Prehashed(phash()) if prehashed else phash())
    elif isinstance(pub, ec.EllipticCurvePublicKey) and kind == "ecdsa":
        pub.verify(sig, signed, ec.ECDSA(algorithm))
    else:
        raise CmsFormatError(f"signature algorithm {alg['algorithm'].native} does not fit the certificate's key")


# -- enveloping ---------------------------------------------------------------------


def encrypt(data: bytes, cert: x509.Certificate, algorithm: str = "aes256-cbc") -> bytes:
    """EnvelopedData (CBC) or AuthEnvelopedData (GCM) for one RSA recipient, as DER."""
    if algorithm not in ENCRYPTIONS or not ENCRYPTIONS[algorithm][3]:
        raise ValueError(f"encryption must be one of {', '.join(k for k, v in ENCRYPTIONS.items() if v[3])}, not {algorithm!r}")
    asn1_name, size, mode, _ = ENCRYPTIONS[algorithm]
    pub = cert.public_key()
    if not isinstance(pub, rsa.RSAPublicKey):
        raise ValueError("the partner's encryption certificate must hold an RSA key")
    cek = os.urandom(size)
    c = _asn1_cert(cert)
    recipient = a_cms.RecipientInfo(
        name="ktri",
        value=a_cms.KeyTransRecipientInfo(
            {
                "version": "v0",
                "rid": a_cms.RecipientIdentifier(
                    name="issuer_and_serial_number",
                    value=a_cms.IssuerAndSerialNumber({"issuer": c.issuer, "serial_number": c.serial_number}),
                ),
                "key_encryption_algorithm": {"algorithm": "rsaes_pkcs1v15"},
                "encrypted_key": pub.encrypt(cek, asym_padding.PKCS1v15()),
            }
        ),
    )
    if mode == "cbc":
        iv = os.urandom(16)
        padder = padding.PKCS7(128).padder()
        plain = padder.update(data) + padder.finalize()
        enc = Cipher(algorithms.AES(cek), modes.CBC(iv)).encryptor()
        ct = enc.update(plain) + enc.finalize()
        env = a_cms.EnvelopedData(
            {
                "version": "v0",
                "recipient_infos": [recipient],
                "encrypted_content_info": {
                    "content_type": "data",
                    "content_encryption_algorithm": {"algorithm": asn1_name, "parameters": a_core.OctetString(iv)},
                    "encrypted_content": ct,
                },
            }
        )
        return a_cms.ContentInfo({"content_type": "enveloped_data", "content": env}).dump()
    nonce = os.urandom(12)
    enc = Cipher(algorithms.AES(cek), modes.GCM(nonce)).encryptor()
    ct = enc.update(data) + enc.finalize()
    auth = a_cms.AuthEnvelopedData(
        {
            "version": "v0",
            "recipient_infos": [recipient],
            "auth_encrypted_content_info": {
                "content_type": "data",
                "content_encryption_algorithm": {
                    "algorithm": asn1_name,
                    "parameters": _GcmParameters({"aes_nonce": nonce, "aes_icvlen": 16}),
                },
                "encrypted_content": ct,
            },
            "mac": enc.tag,
        }
    )
    return a_cms.ContentInfo({"content_type": "authenticated_enveloped_data", "content": auth}).dump()


@dataclass
class _Envelope:
    kind: str
    recipient_infos: a_cms.RecipientInfos
    algorithm: a_algos.EncryptionAlgorithm
    ciphertext: BytesLike | None  # None when only its place is known (``ct_range``)
    mac: bytes | None
    aad: bytes
    ct_range: tuple[int, int] = (0, 0)


class _Sparse:
    """A DER blob read on demand (``read(offset, size)``): indexing and slicing like a memoryview,
    so the TLV walk touches only the few bytes of each header, never the content."""

    def __init__(self, read: Callable[[int, int], bytes], size: int):
        self._read, self._size = read, size

    def __len__(self) -> int:
        return self._size

    def __getitem__(self, key: int | slice) -> Any:
        if isinstance(key, slice):
            start, stop, _ = key.indices(self._size)
            return self._read(start, max(0, stop - start))
        if not 0 <= key < self._size:
            raise IndexError("DER offset out of range")
        return self._read(key, 1)[0]


def _envelope_fast(buf: memoryview | _Sparse, kind: str) -> _Envelope:
    """The parts of definite-length EnvelopedData/AuthEnvelopedData at ``buf`` (a memoryview or
    :class:`_Sparse`); raises _NotSimple for BER and unusual layouts."""
    try:
        _, cs, ce = _tlv(buf, 0, len(buf))
        explicit = _children(buf, cs, ce)[1]
        if explicit[0] != 0xA0:
            raise CmsFormatError("ContentInfo without content")
        _, es, ee = _tlv(buf, explicit[2], explicit[3])
        fields = _children(buf, es, ee)
        rinfos = next(f for f in fields if f[0] == 0x31)
        eci = next(f for f in fields[fields.index(rinfos) + 1 :] if f[0] == 0x30)
        eci_fields = _children(buf, eci[2], eci[3])
        if len(eci_fields) < 3 or eci_fields[2][0] != 0x80:
            raise _NotSimple()  # no content, or a constructed (chunked) OCTET STRING
        after = fields[fields.index(eci) + 1 :]
        mac = next((bytes(buf[f[2] : f[3]]) for f in after if f[0] == 0x04), None)
        auth = next((f for f in after if f[0] == 0xA1), None)
        ct_range = (eci_fields[2][2], eci_fields[2][3])
        return _Envelope(
            kind=kind,
            recipient_infos=a_cms.RecipientInfos.load(bytes(buf[rinfos[1] : rinfos[3]])),
            algorithm=a_algos.EncryptionAlgorithm.load(bytes(buf[eci_fields[1][1] : eci_fields[1][3]])),
            ciphertext=buf[ct_range[0] : ct_range[1]] if isinstance(buf, memoryview) else None,
            mac=mac,
            aad=b"\x31" + bytes(buf[auth[1] + 1 : auth[3]]) if auth else b"",
            ct_range=ct_range,
        )
    except (StopIteration, IndexError) as exc:
        raise _NotSimple() from exc
    except ValueError as exc:
        raise CmsFormatError(f"malformed enveloped data: {exc}") from exc


def _envelope_slow(der: BytesLike, kind: str) -> _Envelope:
    """BER or an unusual layout: asn1crypto parses it (with copies)."""
    info = _load(der, kind)
    env = info["content"]
    eci2 = env["encrypted_content_info"] if kind == "enveloped_data" else env["auth_encrypted_content_info"]
    ct = eci2["encrypted_content"].native
    if ct is None:
        raise CmsFormatError("enveloped data carries no encrypted content")
    aad = b""
    if kind == "authenticated_enveloped_data" and env["auth_attrs"].native is not None and len(env["auth_attrs"]):
        aad = b"\x31" + env["auth_attrs"].dump()[1:]
    return _Envelope(kind, env["recipient_infos"], eci2["content_encryption_algorithm"], ct,
                     env["mac"].native if kind == "authenticated_enveloped_data" else None, aad, (0, len(ct)))


def _envelope(der: BytesLike) -> _Envelope:
    """The parts of EnvelopedData/AuthEnvelopedData; the ciphertext is a view, not a copy, when the DER allows."""
    kind = content_type_of(der)
    if kind not in ("enveloped_data", "authenticated_enveloped_data"):
        raise CmsFormatError(f"expected CMS enveloped data, got {kind or 'something else'}")
    try:
        return _envelope_fast(memoryview(der), kind)
    except _NotSimple:
        return _envelope_slow(der, kind)


class _Decryptor:
    """The content decryption of one envelope, fed in chunks: :meth:`update` returns plaintext
    (for CBC, all but the last block, held back for the padding check), :meth:`finalize` the rest."""

    def __init__(self, env: _Envelope, recipients: Sequence[tuple[rsa.RSAPrivateKey, x509.Certificate]]):
        asn1_name = str(env.algorithm["algorithm"].native)
        name = _BY_ASN1.get(asn1_name)
        if name is None:
            raise DecryptionError(f"content encryption {asn1_name} is not supported")
        cek = _recover_key(env.recipient_infos, recipients)
        size, self.mode = ENCRYPTIONS[name][1], ENCRYPTIONS[name][2]
        if len(cek) != size:
            raise DecryptionError("the decrypted content key has the wrong length (wrong key or tampered message)")
        self.name = name
        self._held = b""
        self._ctx: Any
        try:
            if self.mode == "gcm":
                params = _GcmParameters.load(env.algorithm["parameters"].dump())
                if env.mac is None:
                    raise CmsFormatError("AuthEnvelopedData without a MAC")
                self._ctx = Cipher(algorithms.AES(cek), modes.GCM(params["aes_nonce"].native, env.mac)).decryptor()
                if env.aad:
                    self._ctx.authenticate_additional_data(env.aad)
                self._width = 0
            else:
                block: algorithms.AES | TripleDES = TripleDES(cek) if name == "3des" else algorithms.AES(cek)
                self._ctx = Cipher(block, modes.CBC(env.algorithm["parameters"].native)).decryptor()
                self._width = block.block_size // 8
        except (ValueError, TypeError) as exc:
            raise DecryptionError(f"the content encryption parameters are not usable: {exc}") from exc

    def update(self, chunk: BytesLike) -> bytes:
        out = self._ctx.update(chunk)
        if not self._width:
            return out
        data = self._held + out
        cut = len(data) - self._width
        if cut <= 0:
            self._held = data
            return b""
        self._held = data[cut:]
        return data[:cut]

    def finalize(self) -> bytes:
        """The last plaintext; raises DecryptionError for a bad tag or padding."""
        try:
            rest = self._ctx.finalize()
        except (InvalidTag, ValueError) as exc:
            raise DecryptionError("the content does not decrypt (wrong key or tampered message)") from exc
        if not self._width:
            return rest
        if rest:
            raise DecryptionError("the content does not decrypt (wrong key or tampered message)")
        last = self._held
        pad = last[-1] if last else 0
        if len(last) != self._width or not 1 <= pad <= self._width or last[-pad:] != bytes([pad]) * pad:
            raise DecryptionError("the content does not decrypt (wrong key or tampered message)")
        return last[:-pad]


def content_type_stream(size: int, read: Callable[[int, int], bytes]) -> str | None:
    """:func:`content_type_of` for a DER blob of ``size`` bytes read on demand (``read(offset, n)``):
    only its first header and OID are read, unless it is BER at the top (then it is read whole)."""
    sparse = _Sparse(read, size)
    try:
        _, cs, ce = _tlv(sparse, 0, size)
        otag, _, os_, oe = _children(sparse, cs, ce)[0]
        kind = _OIDS.get(bytes(sparse[os_:oe])) if otag == 0x06 else None
    except (_NotSimple, CmsFormatError, IndexError):
        kind = None
    return kind if kind is not None else content_type_of(read(0, size))


def decrypt_stream(size: int, read: Callable[[int, int], bytes], write: Callable[[bytes], object],
                   recipients: Sequence[tuple[rsa.RSAPrivateKey, x509.Certificate]], chunk: int = 1 << 20) -> str:
    """Decrypt an EnvelopedData/AuthEnvelopedData of ``size`` bytes that is read on demand
    (``read(offset, n)``), passing the plaintext to ``write`` chunk by chunk; returns the
    algorithm name as in :data:`ENCRYPTIONS`.

    Only the DER headers and recipient infos are parsed; the ciphertext is decrypted ``chunk``
    bytes at a time, so memory stays at a few chunks whatever the size. AES-GCM's tag is checked
    at the end: after a :class:`DecryptionError` the plaintext written so far must be discarded.
    A BER (indefinite-length or chunked) envelope is read whole and decrypted in memory
    (asn1crypto parses only complete buffers).
    """
    sparse = _Sparse(read, size)
    kind = content_type_stream(size, read)
    if kind not in ("enveloped_data", "authenticated_enveloped_data"):
        raise CmsFormatError(f"expected CMS enveloped data, got {kind or 'something else'}")
    try:
        env = _envelope_fast(sparse, kind)
    except _NotSimple:
        env = _envelope_slow(read(0, size), kind)
    dec = _Decryptor(env, recipients)
    if env.ciphertext is not None:
        view = memoryview(env.ciphertext)
        for pos in range(0, len(view), chunk):
            write(dec.update(view[pos : pos + chunk]))
    else:
        pos, end = env.ct_range
        while pos < end:
            piece = read(pos, min(chunk, end - pos))
            if not piece:
                raise CmsFormatError("the encrypted content ends early")
            pos += len(piece)
            write(dec.update(piece))
    write(dec.finalize())
    return dec.name


def decrypt(der: BytesLike, recipients: Sequence[tuple[rsa.RSAPrivateKey, x509.Certificate]]) -> tuple[memoryview, str]:
    """Decrypt EnvelopedData/AuthEnvelopedData with one of our (key, certificate) pairs.

    Returns (content, algorithm name as in :data:`ENCRYPTIONS`). The content
    is a view on one buffer: the only full-size allocation here.
    """
    env = _envelope(der)
    asn1_name = str(env.algorithm["algorithm"].native)
    name = _BY_ASN1.get(asn1_name)
    if name is None:
        raise DecryptionError(f"content encryption {asn1_name} is not supported")
    cek = _recover_key(env.recipient_infos, recipients)
    size, mode = ENCRYPTIONS[name][1], ENCRYPTIONS[name][2]
    if len(cek) != size:
        raise DecryptionError("the decrypted content key has the wrong length (wrong key or tampered message)")
    ct = env.ciphertext
    if ct is None:  # pragma: no cover - _envelope always gives the bytes
        raise CmsFormatError("enveloped data carries no encrypted content")
    out = bytearray(len(ct) + 16)
    try:
        if mode == "gcm":
            params = _GcmParameters.load(env.algorithm["parameters"].dump())
            if env.mac is None:
                raise CmsFormatError("AuthEnvelopedData without a MAC")
            gcm = Cipher(algorithms.AES(cek), modes.GCM(params["aes_nonce"].native, env.mac)).decryptor()
            if env.aad:
                gcm.authenticate_additional_data(env.aad)
            n = gcm.update_into(ct, out)
            gcm.finalize()
            return memoryview(out)[:n], name
        iv = env.algorithm["parameters"].native
        block: algorithms.AES | TripleDES = TripleDES(cek) if name == "3des" else algorithms.AES(cek)
        dec = Cipher(block, modes.CBC(iv)).decryptor()
        n = dec.update_into(ct, out)
        if dec.finalize():
            raise ValueError("ciphertext is not a whole number of blocks")
        pad = out[n - 1] if n else 0
        width = block.block_size // 8
        if not 1 <= pad <= width or out[n - pad : n] != bytes([pad]) * pad:
            raise ValueError("bad padding")
        return memoryview(out)[: n - pad], name
    except (InvalidTag, ValueError) as exc:
        raise DecryptionError("the content does not decrypt (wrong key or tampered message)") from exc


def _recover_key(infos: a_cms.RecipientInfos, recipients: Sequence[tuple[rsa.RSAPrivateKey, x509.Certificate]]) -> bytes:
    found = False
    for ri in infos:
        if ri.name != "ktri":
            continue
        ktri = ri.chosen
        for key, cert in recipients:
            if not _matches(ktri["rid"], cert):
                continue
            found = True
            kalg = ktri["key_encryption_algorithm"]
            try:
                if kalg["algorithm"].native == "rsaes_oaep":
                    p = kalg["parameters"]
                    h = DIGESTS.get(str(p["hash_algorithm"]["algorithm"].native), DIGESTS["sha1"])[1]
                    mgf_h = DIGESTS.get(str(p["mask_gen_algorithm"]["parameters"]["algorithm"].native), DIGESTS["sha1"])[1]
                    return key.decrypt(ktri["encrypted_key"].native, asym_padding.OAEP(asym_padding.MGF1(mgf_h()), h(), None))
                return key.decrypt(ktri["encrypted_key"].native, asym_padding.PKCS1v15())
            except ValueError as exc:
                raise DecryptionError("our private key does not decrypt the content key") from exc
    if not found:
        raise DecryptionError("the message is not encrypted for any of our certificates")
    raise DecryptionError("no usable recipient info")


# -- compression ------------------------------------------------------------------------


def compress(data: BytesLike) -> bytes:
    """CompressedData (RFC 3274, zlib) as DER."""
    cd = a_cms.CompressedData(
        {
            "version": "v0",
            "compression_algorithm": {"algorithm": "zlib"},
            "encap_content_info": {"content_type": "data", "content": zlib.compress(data)},
        }
    )
    return a_cms.ContentInfo({"content_type": "compressed_data", "content": cd}).dump()


def decompress(der: BytesLike) -> bytes:
    """Content of a CompressedData (zlib)."""
    info = _load(der, "compressed_data")
    cd = info["content"]
    if cd["compression_algorithm"]["algorithm"].native != "zlib":
        raise DecompressionError(f"compression {cd['compression_algorithm']['algorithm'].native} is not supported")
    try:
        return zlib.decompress(cd["encap_content_info"]["content"].native)
    except (zlib.error, TypeError) as exc:
        raise DecompressionError(f"compressed content is corrupt: {exc}") from exc
