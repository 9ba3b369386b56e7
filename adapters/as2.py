"""AS2 (RFC 4130, with the rfc4130bis draft's defaults) on cryptography and asn1crypto.

Pure functions and classes: no Flask, no database. The HTTP endpoint is
``extranet/as2.py``; storing, committing and sending async MDNs is the hub's.

Outbound::

    out = build_message(payload, "ORDERS_1.edi", partner)   # headers, body, message_id, mic
    response = send(partner.url, out.headers, out.body, partner.timeout)
    result = parse_mdn(response.headers, response.body, out.message_id, out.mic, partner)

or :class:`As2Adapter` (the Adapter protocol: ``deliver()`` does the three).

Inbound::

    try:
        msg = parse_message(headers, body, lookup_partner)   # InboundAs2
    except As2Error as err:                                  # knows its MDN modifier
        mdn_headers, mdn_body = build_mdn(err)
    else:
        ...store and commit...
        mdn_headers, mdn_body = build_mdn(msg)

``body`` may be an :class:`adapters.as2_spool.Spool` (the HTTP endpoint spools
request bodies): then an outer EnvelopedData/AuthEnvelopedData is decrypted
in chunks into another spool, multipart/signed is split and hashed (signature
digest and MIC) in chunks, and only the payload is copied into memory, once.
Layers that need whole buffers (CompressedData, opaque signed-data, BER
envelopes, the LF quirk below) continue in memory.

Message layering (outbound, and accepted inbound in any of these orders):
payload entity -> [compress "before-sign"] -> [sign: multipart/signed, detached
CMS signature, base64] -> [compress "after-sign"] -> [encrypt: EnvelopedData
(AES-CBC) or AuthEnvelopedData (AES-GCM)]. The outermost entity's headers are
the HTTP headers.

MIC (RFC 4130 7.3.1): for a signed message, over the signed MIME entity
(headers and content exactly as signed, i.e. the first part of
multipart/signed as received); for an unsigned but encrypted or compressed
message, over the innermost payload entity with its header block made CRLF;
for a plain message, over the content only. The MIC algorithm is the first
one the sender asked for in ``signed-receipt-micalg`` that we support, else
the signature's digest, else SHA-256. Algorithm names ``sha-256``/``sha256``
and ``sha1``/``sha-1`` are equivalent on input; we write ``sha-256``,
``sha-384``, ``sha-512`` and ``sha1``.

Tolerated inbound: a signature part in binary or base64, a missing
Content-Transfer-Encoding (taken as binary), LF instead of CRLF in the signed
entity's header block (verified both ways), ``x-pkcs7-*`` content types, a
missing ``smime-type`` (the CMS content type decides), SHA-1 signatures and
3DES encryption. Refused inbound: a partner certificate that has expired
(:class:`CertificateExpired`), unsigned or unencrypted messages when the
partner's profile requires them (:class:`InsufficientMessageSecurity`).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import email.utils
import hashlib
import logging
import re
import socket
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, NamedTuple, Sequence

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from adapters import as2_spool, cms
from adapters.as2_mime import (
    BytesLike,
    Headers,
    canonical_headers,
    content_type,
    decode_body,
    entity,
    new_boundary,
    param,
    split_entity,
    split_multipart,
)
from adapters.as2_spool import Region, Spool
from adapters.base import InboundFile, Receipt, TransportError

__all__ = [
    "As2Settings",
    "As2Partner",
    "MdnRequest",
    "InboundAs2",
    "OutboundAs2",
    "MdnResult",
    "HttpResponse",
    "As2Error",
    "AuthenticationFailed",
    "UnknownPartner",
    "CertificateExpired",
    "DecryptionFailed",
    "DecompressionFailed",
    "IntegrityCheckFailed",
    "InsufficientMessageSecurity",
    "UnexpectedProcessingError",
    "UnsupportedMdnOption",
    "MdnError",
    "As2Adapter",
    "build_message",
    "parse_message",
    "build_mdn",
    "parse_mdn",
    "send",
    "expiry",
    "load_certificates",
    "load_private_key",
    "micalg_name",
    "is_mdn",
    "peek_mdn",
    "async_mdn_refusal",
]

log = logging.getLogger(__name__)

AS2_VERSION = "1.2"
SIGNING = ("sha256", "sha384", "sha512")
ENCRYPTION = tuple(k for k, v in cms.ENCRYPTIONS.items() if v[3])
COMPRESSION = ("before-sign", "after-sign")
MDN_MODES = ("sync", "async", "none")
_MICALG_IN = {"sha1": "sha1", "sha-1": "sha1", "sha256": "sha256", "sha-256": "sha256", "sha384": "sha384",
              "sha-384": "sha384", "sha512": "sha512", "sha-512": "sha512"}
_MICALG_OUT = {"sha1": "sha1", "sha256": "sha-256", "sha384": "sha-384", "sha512": "sha-512"}
_PKCS7_MIME = ("application/pkcs7-mime", "application/x-pkcs7-mime")
_PKCS7_SIG = ("application/pkcs7-signature", "application/x-pkcs7-signature")


def micalg_name(name: str) -> str | None:
    """Our digest name ('sha256') for any spelling ('SHA-256', 'sha256'), or None if unsupported."""
    return _MICALG_IN.get(name.strip().strip('"').lower())


# -- configuration --------------------------------------------------------------------


def load_certificates(value: str | Sequence[str]) -> tuple[x509.Certificate, ...]:
    """Certificates from PEM text, a PEM/DER file path, or a list of those."""
    items = [value] if isinstance(value, str) else list(value)
    out: list[x509.Certificate] = []
    for item in items:
        if "-----BEGIN" in item:
            out.extend(x509.load_pem_x509_certificates(item.encode()))
            continue
        data = Path(item).expanduser().read_bytes()
        out.extend(x509.load_pem_x509_certificates(data) if b"-----BEGIN" in data else [x509.load_der_x509_certificate(data)])
    return tuple(out)


def load_private_key(value: str, password: str | None = None) -> rsa.RSAPrivateKey:
    """An RSA private key from PEM text or a PEM file path."""
    data = value.encode() if "-----BEGIN" in value else Path(value).expanduser().read_bytes()
    key = load_pem_private_key(data, password.encode() if password else None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the AS2 private key must be an RSA key")
    return key


def expiry(cert: x509.Certificate) -> dt.datetime:
    """When ``cert`` stops being valid (aware UTC datetime), for the console."""
    return cert.not_valid_after_utc


def _expired(cert: x509.Certificate, now: dt.datetime) -> bool:
    return not (cert.not_valid_before_utc <= now <= cert.not_valid_after_utc)


def _describe(cert: x509.Certificate) -> str:
    return f"{cert.subject.rfc4514_string()} (serial {cert.serial_number:x})"


@dataclass(frozen=True)
class As2Settings:
    """Our side of an AS2 relationship: our AS2 id, our key and certificate.

    ``previous`` holds older (key, certificate) pairs still accepted for
    decryption while partners switch to a new certificate. ``mdn_url`` is
    where partners send async MDNs to us.
    """

    as2_id: str
    key: rsa.RSAPrivateKey = field(repr=False)
    cert: x509.Certificate
    previous: tuple[tuple[rsa.RSAPrivateKey, x509.Certificate], ...] = field(default=(), repr=False)
    mdn_url: str | None = None
    user_agent: str = "Kontor AS2"

    def __post_init__(self) -> None:
        _check_as2_id(self.as2_id, "as2_id")

    @property
    def decryption_keys(self) -> list[tuple[rsa.RSAPrivateKey, x509.Certificate]]:
        return [(self.key, self.cert), *self.previous]

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "AS2 settings") -> "As2Settings":
        """Keys: as2_id, key (PEM or path), key_password, cert (PEM or path), mdn_url, user_agent."""
        try:
            _known(d, {"as2_id", "key", "key_password", "cert", "mdn_url", "user_agent"})
            for k in ("as2_id", "key", "cert"):
                if not isinstance(d.get(k), str) or not d[k]:
                    raise ValueError(f"{k} is required")
            return cls(
                as2_id=d["as2_id"],
                key=load_private_key(d["key"], d.get("key_password")),
                cert=load_certificates(d["cert"])[0],
                mdn_url=d.get("mdn_url"),
                user_agent=d.get("user_agent", "Kontor AS2"),
            )
        except (ValueError, OSError, IndexError) as exc:
            raise ValueError(f"{where}: {exc}") from exc


def _check_as2_id(value: str, name: str) -> None:
    if not value or len(value) > 128 or any(ord(c) < 33 and c != " " or ord(c) > 126 for c in value):
        raise ValueError(f"{name} must be 1..128 printable ASCII characters")


def _known(d: Mapping[str, Any], keys: set[str]) -> None:
    unknown = sorted(set(d) - keys)
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r}")


@dataclass(frozen=True)
class As2Partner:
    """A trading partner's AS2 profile, with our side (``local``) for it.

    Outbound: ``sign`` (sha256/384/512 or None), ``encrypt`` (aes128/192/256-cbc,
    aes128/192/256-gcm or None), ``compress`` (None, "before-sign",
    "after-sign"), ``mdn`` ("sync", "async" — to ``local.mdn_url`` — or
    "none"), ``mdn_signed`` and ``mdn_alg`` (the MIC algorithm we ask for),
    ``content_type`` of the payload. Inbound: ``require_signed`` and
    ``require_encrypted``. ``certs``: the partner's certificates (signature
    verification accepts any of them; encryption uses the first).
    ``mdn_hosts``: when not empty, the only host names an asynchronous MDN
    to this partner may be posted to (its Receipt-Delivery-Option's host).
    """

    as2_id: str
    local: As2Settings
    certs: tuple[x509.Certificate, ...]
    url: str | None = None
    sign: str | None = "sha256"
    encrypt: str | None = "aes256-cbc"
    compress: str | None = None
    mdn: str = "sync"
    mdn_signed: bool = True
    mdn_alg: str = "sha256"
    content_type: str = "application/edifact"
    require_signed: bool = True
    require_encrypted: bool = True
    timeout: float = 120.0
    mdn_hosts: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_as2_id(self.as2_id, "as2_id")
        if isinstance(self.mdn_hosts, str) or not all(isinstance(h, str) and h and h.isascii() and " " not in h
                                                      for h in self.mdn_hosts):
            raise ValueError("mdn_hosts must be a list of host names")
        if not self.certs:
            raise ValueError("certs: at least one partner certificate is required")
        if self.sign is not None and self.sign not in SIGNING:
            raise ValueError(f"sign must be one of {', '.join(SIGNING)} or none")
        if self.encrypt is not None and self.encrypt not in ENCRYPTION:
            raise ValueError(f"encrypt must be one of {', '.join(ENCRYPTION)} or none")
        if self.compress is not None and self.compress not in COMPRESSION:
            raise ValueError(f"compress must be one of {', '.join(COMPRESSION)} or none")
        if self.compress is not None and self.sign is None and self.compress == "before-sign":
            raise ValueError("compress = 'before-sign' needs sign")
        if self.mdn not in MDN_MODES:
            raise ValueError(f"mdn must be one of {', '.join(MDN_MODES)}")
        if self.mdn == "async" and not self.local.mdn_url:
            raise ValueError("mdn = 'async' needs our mdn_url")
        if self.mdn_alg not in SIGNING:
            raise ValueError(f"mdn_alg must be one of {', '.join(SIGNING)}")
        if "/" not in self.content_type or "\n" in self.content_type:
            raise ValueError("content_type must be a MIME type such as application/edifact")
        for name in ("mdn_signed", "require_signed", "require_encrypted"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false")
        if isinstance(self.timeout, bool) or not isinstance(self.timeout, (int, float)) or self.timeout <= 0:
            raise ValueError("timeout must be a positive number of seconds")
        if self.url is not None and not self.url.startswith(("https://", "http://")):
            raise ValueError("url must be an http(s) URL")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], local: As2Settings, where: str = "AS2 partner") -> "As2Partner":
        """From a partner file's AS2 table; ``certs`` (or ``cert``) is PEM text, a path, or a list."""
        fields = set(cls.__dataclass_fields__) - {"local", "certs"} | {"certs", "cert"}
        try:
            _known(d, fields)
            values = dict(d)
            certs = values.pop("certs", None) or values.pop("cert", None)
            values.pop("cert", None)
            if not certs:
                raise ValueError("certs is required")
            for k in ("sign", "encrypt", "compress"):
                if values.get(k) in ("none", "", False):
                    values[k] = None
            if isinstance(values.get("mdn_hosts"), list):
                values["mdn_hosts"] = tuple(values["mdn_hosts"])
            return cls(local=local, certs=load_certificates(certs), **values)
        except (ValueError, OSError, TypeError) as exc:
            raise ValueError(f"{where}: {exc}") from exc


# -- results and errors ------------------------------------------------------------------


@dataclass(frozen=True)
class MdnRequest:
    """What the sender asked for: an MDN at all, async URL, signed, MIC algorithms (ours, best first)."""

    requested: bool = False
    url: str | None = None
    signed: bool = False
    micalgs: tuple[str, ...] = ()
    #: a "required" option we cannot honour (RFC 4130 section 7: answered "failed/Failure: ..."), else None
    unsupported: str | None = None

    @property
    def mode(self) -> str:
        return "none" if not self.requested else ("async" if self.url else "sync")


@dataclass(frozen=True)
class InboundAs2:
    """An accepted inbound message. ``mic`` is base64; ``mic_alg`` as written ('sha-256')."""

    payload: bytes
    filename: str | None
    message_id: str
    mic: str
    mic_alg: str
    partner: As2Partner
    mdn_request: MdnRequest
    as2_from: str
    as2_to: str
    content_type: str
    signed: bool
    encrypted: str | None
    compressed: bool
    subject: str | None = None

    @property
    def received_content_mic(self) -> str:
        return f"{self.mic}, {self.mic_alg}"

    def receipt(self) -> dict[str, Any]:
        """The facts worth keeping with the stored message (no payload, no secrets)."""
        return {
            "transport": "as2",
            "message_id": self.message_id,
            "as2_from": self.as2_from,
            "as2_to": self.as2_to,
            "filename": self.filename,
            "content_type": self.content_type,
            "mic": self.received_content_mic,
            "signed": self.signed,
            "encrypted": self.encrypted,
            "compressed": self.compressed,
            "mdn": self.mdn_request.mode,
            "mdn_url": self.mdn_request.url,
            "mdn_signed": self.mdn_request.signed,
        }


class As2Error(Exception):
    """An inbound message was not accepted. ``modifier`` is the MDN disposition modifier.

    ``partner_fault`` is True when the sender must act, False when the
    fault is ours. parse_message fills in ``message_id``, ``as2_from``,
    ``as2_to``, ``partner`` and ``mdn_request`` as far as it got, so that
    :func:`build_mdn` can answer the error.
    """

    modifier = "unexpected-processing-error"
    partner_fault = True

    def __init__(self, message: str):
        super().__init__(message)
        self.message_id: str | None = None
        self.as2_from: str | None = None
        self.as2_to: str | None = None
        self.partner: As2Partner | None = None
        self.mdn_request: MdnRequest = MdnRequest()


class AuthenticationFailed(As2Error):
    modifier = "authentication-failed"


class UnknownPartner(AuthenticationFailed):
    """No AS2 relationship for this AS2-From/AS2-To pair."""


class CertificateExpired(AuthenticationFailed):
    """The partner's certificate is outside its validity period."""


class DecryptionFailed(As2Error):
    modifier = "decryption-failed"


class DecompressionFailed(As2Error):
    modifier = "decompression-failed"


class IntegrityCheckFailed(As2Error):
    modifier = "integrity-check-failed"


class InsufficientMessageSecurity(As2Error):
    modifier = "insufficient-message-security"


class UnexpectedProcessingError(As2Error):
    modifier = "unexpected-processing-error"


class UnsupportedMdnOption(As2Error):
    """The sender made an MDN option "required" that we cannot honour (an unknown MIC algorithm
    or receipt signature format): RFC 4130 (section 7) answers ``failed/Failure: <modifier>`` and the
    message is not processed."""

    modifier = "unsupported MIC-algorithms"


class MdnError(Exception):
    """An MDN we received cannot be trusted or read (bad signature, wrong message, garbled)."""


class OutboundAs2(NamedTuple):
    """What :func:`build_message` returns. ``mic`` is "base64, sha-256" as an MDN carries it."""

    headers: dict[str, str]
    body: bytes
    message_id: str
    mic: str


@dataclass(frozen=True)
class MdnResult:
    """A parsed MDN. ``ok``: processed without error/failure modifier, and the MIC matched."""

    original_message_id: str | None
    disposition: str
    status: str
    modifier: str | None
    mic: str | None
    mic_ok: bool
    signed: bool
    text: str
    message_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "processed" and not (self.modifier or "").lower().startswith(("error", "failure")) and self.mic_ok


# -- helpers -----------------------------------------------------------------------------


def _quote(value: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9!#$%&'*+\-.^_`|~]+", value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _unquote(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def _new_message_id(as2_id: str) -> str:
    domain = re.sub(r"[^A-Za-z0-9.-]", "", as2_id).strip(".-") or "kontor"
    return f"<{uuid.uuid4().hex}@{domain}.kontor>"


def _mic(data: BytesLike, alg: str, *more: BytesLike) -> str:
    """base64 digest of ``data`` followed by ``more`` (pieces hashed in order, never joined)."""
    h = hashlib.new(alg, data)
    for piece in more:
        h.update(piece)
    return base64.b64encode(h.digest()).decode()


def _signed_forms(content: memoryview) -> Iterator[BytesLike]:
    """The signed entity as received, then (only if asked for) with CRLF header lines, then all CRLF.

    Some senders sign the canonical (CRLF) form but transmit bare LF.
    """
    yield content
    if re.search(rb"(?<!\r)\n", content) is None:
        return
    head, body = canonical_headers(content)
    yield head + bytes(body)
    yield re.sub(rb"\r?\n", b"\r\n", bytes(content))


def _safe_filename(name: str | None) -> str | None:
    """The base name only, without control characters (file names come from partners)."""
    if not name:
        return None
    base = "".join(c for c in name.replace("\\", "/").rsplit("/", 1)[-1] if c.isprintable()).strip()
    return base[:255] or None


def _disposition(name: str) -> str:
    if name.isascii():
        return f"attachment; filename={_quote(name)}"
    return "attachment; filename*=UTF-8''" + urllib.parse.quote(name, safe="")


def _header_safe(value: str, what: str) -> str:
    if any(c in value for c in "\r\n\x00") or not value.isascii():
        raise ValueError(f"{what} must be one line of ASCII")
    return value


def _parse_mdn_request(h: Headers) -> MdnRequest:
    if h.get("Disposition-Notification-To") is None:
        return MdnRequest()
    url = h.get("Receipt-Delivery-Option") or None
    signed, micalgs, unsupported = False, [], None
    for item in (h.get("Disposition-Notification-Options") or "").split(";"):
        name, _, values = item.partition("=")
        importance, *parts = [v.strip().strip('"').lower() for v in values.split(",")]
        required = importance == "required"
        if name.strip().lower() == "signed-receipt-protocol":
            signed = "pkcs7-signature" in parts
            if required and not signed and parts:
                unsupported = unsupported or "unsupported format"
        elif name.strip().lower() == "signed-receipt-micalg":
            micalgs = [n for n in (micalg_name(p) for p in parts) if n]
            if required and not micalgs and parts:
                unsupported = unsupported or "unsupported MIC-algorithms"
    return MdnRequest(True, url, signed, tuple(dict.fromkeys(micalgs)), unsupported)


def _der(headers: Headers, body: BytesLike) -> BytesLike:
    """A CMS blob from a body that may be base64 even when the headers do not say so."""
    data = decode_body(headers, body)
    if data[:1] != b"\x30":
        try:
            decoded = base64.b64decode(re.sub(rb"\s+", b"", data), validate=True)
        except ValueError:
            return data
        if decoded[:1] == b"\x30":
            return decoded
    return data


# -- outbound ----------------------------------------------------------------------------


def build_message(
    payload: bytes,
    filename: str | None,
    partner: As2Partner,
    *,
    message_id: str | None = None,
    subject: str = "EDI message",
    now: dt.datetime | None = None,
) -> OutboundAs2:
    """Build an AS2 message for ``partner``. Pass ``message_id`` to resend with the same id.

    Raises ValueError for a configuration that cannot be used (e.g. the
    partner's encryption certificate has expired).
    """
    now = now or dt.datetime.now(dt.timezone.utc)
    local = partner.local
    name = _safe_filename(filename)
    inner = [("Content-Type", partner.content_type), ("Content-Transfer-Encoding", "binary")]
    if name:
        inner.append(("Content-Disposition", _disposition(name)))
    if message_id is not None:
        _header_safe(message_id, "message_id")
    _header_safe(subject, "subject")
    headers: list[tuple[str, str]] = inner
    body = payload
    mic_alg = partner.mdn_alg
    mic_basis: bytes | None = None

    def compressed(h: list[tuple[str, str]], b: bytes) -> tuple[list[tuple[str, str]], bytes]:
        return [
            ("Content-Type", 'application/pkcs7-mime; smime-type=compressed-data; name="smime.p7z"'),
            ("Content-Transfer-Encoding", "binary"),
            ("Content-Disposition", 'attachment; filename="smime.p7z"'),
        ], cms.compress(entity(h, b))

    if partner.compress == "before-sign":
        headers, body = compressed(headers, body)
    if partner.sign:
        signed_entity = entity(headers, body)
        mic_basis = signed_entity
        if _expired(local.cert, now):
            raise ValueError(f"our AS2 certificate {_describe(local.cert)} expired on {expiry(local.cert):%Y-%m-%d}")
        sig = cms.sign_detached(signed_entity, local.key, local.cert, partner.sign)
        boundary = new_boundary()
        sig_part = entity(
            [
                ("Content-Type", 'application/pkcs7-signature; name="smime.p7s"'),
                ("Content-Transfer-Encoding", "base64"),
                ("Content-Disposition", 'attachment; filename="smime.p7s"'),
            ],
            base64.encodebytes(sig).replace(b"\n", b"\r\n"),
        )
        b = boundary.encode()
        body = b"--" + b + b"\r\n" + signed_entity + b"\r\n--" + b + b"\r\n" + sig_part + b"\r\n--" + b + b"--\r\n"
        headers = [
            ("Content-Type", f'multipart/signed; protocol="application/pkcs7-signature"; micalg={_MICALG_OUT[partner.sign]}; boundary="{boundary}"')
        ]
    if partner.compress == "after-sign":
        headers, body = compressed(headers, body)
    if mic_basis is None:
        mic_basis = entity(inner, payload) if (partner.encrypt or partner.compress) else payload
    if partner.encrypt:
        cert = partner.certs[0]
        if _expired(cert, now):
            raise ValueError(f"partner {partner.as2_id}'s certificate {_describe(cert)} expired on {expiry(cert):%Y-%m-%d}")
        body = cms.encrypt(entity(headers, body), cert, partner.encrypt)
        smime_type = "authEnveloped-data" if partner.encrypt.endswith("gcm") else "enveloped-data"
        headers = [
            ("Content-Type", f'application/pkcs7-mime; smime-type={smime_type}; name="smime.p7m"'),
            ("Content-Disposition", 'attachment; filename="smime.p7m"'),
        ]
    message_id = message_id or _new_message_id(local.as2_id)
    http: dict[str, str] = {
        "AS2-Version": AS2_VERSION,
        "AS2-From": _quote(local.as2_id),
        "AS2-To": _quote(partner.as2_id),
        "Message-ID": message_id,
        "Subject": subject,
        "Date": email.utils.format_datetime(now),
        "MIME-Version": "1.0",
        "User-Agent": local.user_agent,
        "EDIINT-Features": "AS2-Reliability",
    }
    if partner.mdn != "none":
        http["Disposition-Notification-To"] = local.mdn_url or local.as2_id
        if partner.mdn_signed:
            http["Disposition-Notification-Options"] = (
                f"signed-receipt-protocol=optional, pkcs7-signature; signed-receipt-micalg=optional, {_MICALG_OUT[mic_alg]}"
            )
        if partner.mdn == "async":
            assert local.mdn_url is not None
            http["Receipt-Delivery-Option"] = local.mdn_url
    for k, v in headers:
        http[k] = v
    return OutboundAs2(http, body, message_id, f"{_mic(mic_basis, mic_alg)}, {_MICALG_OUT[mic_alg]}")


# -- inbound -----------------------------------------------------------------------------


def parse_message(
    headers: Mapping[str, str] | Headers,
    body: bytes | Spool,
    lookup_partner: Callable[[str, str], As2Partner | None],
    *,
    now: dt.datetime | None = None,
    spool_dir: str | Path | None = None,
) -> InboundAs2:
    """Unwrap, decrypt, verify and decompress an inbound AS2 message.

    ``body`` is the request body as bytes, or as a :class:`adapters.as2_spool.Spool`
    (what the HTTP endpoint receives): then the common layers are streamed (see
    :func:`_unwrap_spooled`) and intermediate results are spooled under ``spool_dir``.
    Raises an :class:`As2Error` subclass whose ``modifier`` names the MDN
    disposition modifier, with as much context as was known filled in.
    """
    h = Headers.of(headers)
    request = _parse_mdn_request(h)
    message_id = (h.get("Message-ID") or "").strip()
    as2_from, as2_to = _unquote(h.get("AS2-From")), _unquote(h.get("AS2-To"))
    partner: As2Partner | None = None
    try:
        if not message_id:
            raise UnexpectedProcessingError("the message has no Message-ID header")
        if not as2_from or not as2_to:
            raise UnexpectedProcessingError("the message lacks AS2-From or AS2-To")
        partner = lookup_partner(as2_from, as2_to)
        if partner is None:
            raise UnknownPartner(f"no AS2 partner {as2_from!r} sends to {as2_to!r} here")
        if request.unsupported:
            failure = UnsupportedMdnOption(
                f"a required MDN option cannot be honoured ({request.unsupported}): "
                f"{h.get('Disposition-Notification-Options')!r}; we sign receipts with pkcs7-signature and "
                f"compute MICs with {', '.join(_MICALG_OUT[a] for a in ('sha256', 'sha384', 'sha512', 'sha1'))}")
            failure.modifier = request.unsupported
            raise failure
        when = now or dt.datetime.now(dt.timezone.utc)
        if isinstance(body, Spool):
            return _unwrap_spooled(h, body.region(), partner, request, message_id, as2_from, as2_to, when, spool_dir)
        return _unwrap(h, body, partner, request, message_id, as2_from, as2_to, when)
    except As2Error as err:
        err.message_id, err.as2_from, err.as2_to, err.partner, err.mdn_request = message_id or None, as2_from, as2_to, partner, request
        log.warning("AS2 message %s from %r refused: %s (%s)", message_id, as2_from, err, err.modifier)
        raise
    except (ValueError, KeyError, TypeError, IndexError) as exc:  # a malformed message, however it shows
        err2 = UnexpectedProcessingError(f"the message cannot be read: {exc}")
        err2.message_id, err2.as2_from, err2.as2_to, err2.partner, err2.mdn_request = message_id or None, as2_from, as2_to, partner, request
        log.warning("AS2 message %s from %r unreadable: %s", message_id, as2_from, exc)
        raise err2 from exc


def _unwrap(
    h: Headers, body: BytesLike, partner: As2Partner, request: MdnRequest, message_id: str, as2_from: str, as2_to: str,
    now: dt.datetime, *, start: Headers | None = None, encrypted: str | None = None, entity_bytes: BytesLike | None = None,
    signed_by: tuple[str, str] | None = None,
) -> InboundAs2:
    """The layers of a message in memory, from the HTTP headers ``h`` and ``body``.

    :func:`_unwrap_spooled` hands over the rest of a message it unwrapped in part: ``start``
    (the headers of ``body``, an inner entity), ``entity_bytes`` (that entity whole),
    ``encrypted`` (the algorithm it decrypted) and ``signed_by`` ((MIC, digest) of the
    signature it verified)."""
    signed = compressed = False
    mic: str | None = None
    mic_digest: str | None = None
    if signed_by is not None:
        signed, (mic, mic_digest) = True, signed_by
    headers, current = (h if start is None else start), memoryview(body)
    # entity_bytes: the current layer as a MIME entity, when it was one
    for _ in range(6):
        ctype, params = content_type(headers)
        smime = (params.get("smime-type") or "").lower()
        if ctype in _PKCS7_MIME:
            der = _der(headers, current)
            kind = cms.content_type_of(der)
            if smime in ("enveloped-data", "authenveloped-data") or kind in ("enveloped_data", "authenticated_enveloped_data"):
                if encrypted:
                    raise UnexpectedProcessingError("the message is encrypted twice")
                try:
                    entity_bytes, encrypted = cms.decrypt(der, partner.local.decryption_keys)
                except cms.CmsError as exc:
                    raise DecryptionFailed(f"cannot decrypt: {exc}") from exc
            elif smime == "compressed-data" or kind == "compressed_data":
                try:
                    entity_bytes = cms.decompress(der)
                except cms.CmsError as exc:
                    raise DecompressionFailed(f"cannot decompress: {exc}") from exc
                compressed = True
            elif smime == "signed-data" or kind == "signed_data":
                opaque = _verify(der, None, partner, now)
                if opaque.content is None:  # pragma: no cover - verify() returns attached content
                    raise UnexpectedProcessingError("the signed data carries no content")
                signed, entity_bytes = True, opaque.content
                mic_digest = opaque.digest
                mic = _mic(opaque.content, _choose_micalg(request, opaque.digest))
            else:
                raise UnexpectedProcessingError(f"unsupported S/MIME type {smime or kind!r}")
            headers, current = split_entity(entity_bytes)
            continue
        if ctype == "multipart/signed":
            if signed:
                raise UnexpectedProcessingError("the message is signed twice")
            boundary = params.get("boundary")
            if not boundary:
                raise UnexpectedProcessingError("multipart/signed without a boundary")
            parts = split_multipart(current, boundary)
            if len(parts) != 2:
                raise UnexpectedProcessingError(f"multipart/signed has {len(parts)} parts, not 2")
            content, sig_entity = parts
            sig_headers, sig_body = split_entity(sig_entity)
            if content_type(sig_headers)[0] not in _PKCS7_SIG:
                raise UnexpectedProcessingError("the second part of multipart/signed is not a PKCS#7 signature")
            der = _der(sig_headers, sig_body)
            verified: cms.Verified | None = None
            last: As2Error | None = None
            signed_entity: BytesLike = content
            for candidate in _signed_forms(content):
                try:
                    verified = _verify(der, candidate, partner, now)
                    signed_entity = candidate
                    break
                except IntegrityCheckFailed as exc:
                    last = exc
            if verified is None:
                assert last is not None
                raise last
            signed = True
            mic_digest = verified.digest
            mic = _mic(signed_entity, _choose_micalg(request, verified.digest))
            entity_bytes = signed_entity
            headers, current = split_entity(signed_entity)
            continue
        break
    else:
        raise UnexpectedProcessingError("too many nested S/MIME layers")
    if partner.require_encrypted and not encrypted:
        raise InsufficientMessageSecurity(f"partner {partner.as2_id} must encrypt its messages")
    if partner.require_signed and not signed:
        raise InsufficientMessageSecurity(f"partner {partner.as2_id} must sign its messages")
    payload_view = decode_body(headers, current)
    alg = _choose_micalg(request, mic_digest)
    if mic is None:
        if entity_bytes is not None:
            head, rest = canonical_headers(entity_bytes)
            mic = _mic(head, alg, rest)
        else:
            mic = _mic(payload_view, alg)
    payload = bytes(payload_view)  # the one copy handed to the hub
    del payload_view, current, entity_bytes
    return _accepted(h, headers, payload, mic, alg, partner, request, message_id, as2_from, as2_to, signed, encrypted,
                     compressed)


def _accepted(h: Headers, headers: Headers, payload: bytes, mic: str, alg: str, partner: As2Partner, request: MdnRequest,
              message_id: str, as2_from: str, as2_to: str, signed: bool, encrypted: str | None,
              compressed: bool) -> InboundAs2:
    filename = _safe_filename(param(headers, "Content-Disposition", "filename"))
    log.info("AS2 message %s from %s accepted (%d bytes, signed=%s, encrypted=%s)", message_id, as2_from, len(payload), signed, encrypted)
    return InboundAs2(
        payload=payload,
        filename=filename,
        message_id=message_id,
        mic=mic,
        mic_alg=_MICALG_OUT[alg],
        partner=partner,
        mdn_request=request,
        as2_from=as2_from,
        as2_to=as2_to,
        content_type=content_type(headers)[0],
        signed=signed,
        encrypted=encrypted,
        compressed=compressed,
        subject=h.get("Subject"),
    )


# -- inbound, streamed ----------------------------------------------------------------------

#: a MIME header block or a signature part larger than this is refused (they are a few KB)
_HEAD_LIMIT = 64 * 1024


def _unwrap_spooled(
    h: Headers, body: Region, partner: As2Partner, request: MdnRequest, message_id: str, as2_from: str, as2_to: str,
    now: dt.datetime, spool_dir: str | Path | None,
) -> InboundAs2:
    """The layers of a spooled message, streamed where it matters for size.

    Streamed: an outer binary or base64 EnvelopedData/AuthEnvelopedData (decrypted chunk by
    chunk into a second spool), a multipart/signed (parts found by chunked search, the signed
    part hashed in chunks for the signature and the MIC, the signature part read alone), and a
    binary or base64 payload, copied into memory once as the bytes the hub stores. Anything
    else (CompressedData, an opaque signed-data, quoted-printable, LF-only signed entities that
    only verify in canonical form) is handed to :func:`_unwrap` in memory, as received.
    """
    spools: list[Spool] = []
    try:
        return _unwrap_spooled_layers(h, body, partner, request, message_id, as2_from, as2_to, now, spool_dir, spools)
    finally:
        for spool in spools:
            spool.close()


def _unwrap_spooled_layers(
    h: Headers, body: Region, partner: As2Partner, request: MdnRequest, message_id: str, as2_from: str, as2_to: str,
    now: dt.datetime, spool_dir: str | Path | None, spools: list[Spool],
) -> InboundAs2:
    encrypted: str | None = None
    headers, current = h, body
    entity: Region | None = None  # the decrypted entity (headers and body)
    ctype, params = content_type(headers)
    if ctype in _PKCS7_MIME:
        der = _der_region(headers, current, spool_dir, spools)
        kind = cms.content_type_stream(len(der), _reader(der)) if der is not None else None
        if der is None or kind not in ("enveloped_data", "authenticated_enveloped_data"):
            return _unwrap(h, current.read(), partner, request, message_id, as2_from, as2_to, now)
        plain = Spool(spool_dir, size_hint=len(der))  # the plaintext is about as long as the ciphertext
        spools.append(plain)
        try:
            encrypted = cms.decrypt_stream(len(der), _reader(der), plain.write, partner.local.decryption_keys,
                                           chunk=as2_spool.CHUNK)
        except cms.CmsError as exc:
            raise DecryptionFailed(f"cannot decrypt: {exc}") from exc
        entity = plain.region()
        headers, current = _split_entity_region(entity)
        ctype, params = content_type(headers)
    if ctype in _PKCS7_MIME:  # compressed or signed-data inside: in memory from here
        return _hand_over(h, headers, current, entity, partner, request, message_id, as2_from, as2_to, now, encrypted)
    signed = False
    mic: str | None = None
    mic_digest: str | None = None
    if ctype == "multipart/signed":
        boundary = params.get("boundary")
        if not boundary:
            raise UnexpectedProcessingError("multipart/signed without a boundary")
        parts = _split_multipart_region(current, boundary)
        if len(parts) != 2:
            raise UnexpectedProcessingError(f"multipart/signed has {len(parts)} parts, not 2")
        content, sig_region = parts
        if len(sig_region) > _HEAD_LIMIT * 16:
            raise UnexpectedProcessingError(f"the signature part is {len(sig_region)} bytes: too large for a signature")
        sig_headers, sig_body = split_entity(sig_region.read())
        if content_type(sig_headers)[0] not in _PKCS7_SIG:
            raise UnexpectedProcessingError("the second part of multipart/signed is not a PKCS#7 signature")
        der_sig = _der(sig_headers, sig_body)
        try:
            verified = _verify(der_sig, content.chunks, partner, now)
        except IntegrityCheckFailed:
            # perhaps signed in canonical (CRLF) form but sent with bare LF: the in-memory path tries those forms
            return _hand_over(h, headers, current, entity, partner, request, message_id, as2_from, as2_to, now, encrypted)
        signed, mic_digest = True, verified.digest
        mic = _mic_chunks(_choose_micalg(request, verified.digest), content.chunks())
        headers, current = _split_entity_region(content)
        entity = content
        if content_type(headers)[0] in (*_PKCS7_MIME, "multipart/signed"):  # compressed before signing, or nested
            return _hand_over(h, headers, current, entity, partner, request, message_id, as2_from, as2_to, now, encrypted,
                              (mic, mic_digest))
    if partner.require_encrypted and not encrypted:
        raise InsufficientMessageSecurity(f"partner {partner.as2_id} must encrypt its messages")
    if partner.require_signed and not signed:
        raise InsufficientMessageSecurity(f"partner {partner.as2_id} must sign its messages")
    alg = _choose_micalg(request, mic_digest)
    payload = _decoded_payload(headers, current, spool_dir, spools)  # the one copy handed to the hub
    if mic is None:
        if entity is not None:
            head, _ = canonical_headers(entity.head(len(entity) - len(current)))
            mic = _mic_chunks(alg, iter([head]), current.chunks())
        else:
            mic = _mic(payload, alg)
    return _accepted(h, headers, payload, mic, alg, partner, request, message_id, as2_from, as2_to, signed, encrypted, False)


def _hand_over(h: Headers, headers: Headers, current: Region, entity: Region | None, partner: As2Partner,
               request: MdnRequest, message_id: str, as2_from: str, as2_to: str, now: dt.datetime,
               encrypted: str | None, signed_by: tuple[str, str] | None = None) -> InboundAs2:
    """Continue in memory with :func:`_unwrap` from the layer ``headers``/``current`` (of ``entity``)."""
    if entity is None:
        return _unwrap(h, current.read(), partner, request, message_id, as2_from, as2_to, now, signed_by=signed_by)
    data = entity.read()
    inner_headers, inner_body = split_entity(data)
    return _unwrap(h, inner_body, partner, request, message_id, as2_from, as2_to, now, start=inner_headers,
                   encrypted=encrypted, entity_bytes=data, signed_by=signed_by)


def _reader(region: Region) -> Callable[[int, int], bytes]:
    """``read(offset, n)`` within ``region`` (never past its end)."""
    def read(offset: int, size: int) -> bytes:
        size = max(0, min(size, len(region) - offset))
        return region.spool.pread(region.start + offset, size)
    return read


def _mic_chunks(alg: str, *pieces: Iterable[BytesLike]) -> str:
    h = hashlib.new(alg)
    for piece in pieces:
        for chunk in piece:
            h.update(chunk)
    return base64.b64encode(h.digest()).decode()


def _split_entity_region(region: Region) -> tuple[Headers, Region]:
    """:func:`split_entity` for a spooled entity: the header block must end within 64 KiB."""
    head = region.head(_HEAD_LIMIT)
    headers, rest = split_entity(head)
    if len(region) > len(head) and not len(rest):
        raise UnexpectedProcessingError(f"a MIME header block does not end within {_HEAD_LIMIT} bytes")
    return headers, region.sub(len(head) - len(rest))


def _split_multipart_region(region: Region, boundary: str) -> list[Region]:
    """:func:`split_multipart` for a spooled body: the parts as regions, found by chunked search."""
    delim = b"--" + boundary.encode("latin-1")
    positions = [0] if region.head(len(delim)) == delim else []
    pos = 0
    while True:
        hit = region.find(b"\n" + delim, pos)
        if hit < 0:
            break
        positions.append(hit + 1)
        pos = hit + 1 + len(delim)
    if not positions:
        raise ValueError("multipart boundary not found")
    parts = []
    for start, end in zip(positions, positions[1:]):
        newline = region.find(b"\n", start)
        if newline < 0 or newline >= end:
            raise ValueError("multipart delimiter line not terminated")
        cs, ce = newline + 1, end
        tail = region.sub(max(cs, ce - 2), ce).read()
        if tail == b"\r\n":
            ce -= 2
        elif tail.endswith(b"\n"):
            ce -= 1
        parts.append(region.sub(cs, ce))
    after = positions[-1] + len(delim)
    if region.sub(min(after, len(region)), min(after + 2, len(region))).read() != b"--":
        raise ValueError("multipart is not terminated (truncated message?)")
    return parts


def _is_base64(headers: Headers) -> bool:
    return (headers.get("Content-Transfer-Encoding") or "binary").strip().lower() == "base64"


def _b64_to_spool(region: Region, spool_dir: str | Path | None, spools: list[Spool]) -> Region:
    """Decode a base64 body chunk by chunk into a new spool (ValueError if it is not base64)."""
    out = Spool(spool_dir, size_hint=len(region) * 3 // 4)
    spools.append(out)
    rest = b""
    for chunk in region.chunks():
        data = rest + re.sub(rb"\s+", b"", chunk)
        cut = len(data) - len(data) % 4
        try:
            out.write(base64.b64decode(data[:cut], validate=True))
        except binascii.Error as exc:
            raise ValueError(f"base64 body is corrupt: {exc}") from exc
        rest = data[cut:]
    if rest:
        raise ValueError("base64 body is corrupt: its length is not a multiple of 4")
    return out.region()


def _der_region(headers: Headers, region: Region, spool_dir: str | Path | None, spools: list[Spool]) -> Region | None:
    """:func:`_der` for a spooled body: the DER as a region (base64 decoded into a spool when it is
    base64, declared or not), or None for an encoding only the in-memory path reads."""
    cte = (headers.get("Content-Transfer-Encoding") or "binary").strip().lower()
    if cte not in ("binary", "8bit", "7bit", "base64"):
        return None
    if cte != "base64" and region.head(1) == b"\x30":
        return region
    try:
        decoded = _b64_to_spool(region, spool_dir, spools)
    except ValueError:
        if cte == "base64":
            raise
        return region
    return decoded if decoded.head(1) == b"\x30" or cte == "base64" else region


def _decoded_payload(headers: Headers, region: Region, spool_dir: str | Path | None, spools: list[Spool]) -> bytes:
    """The payload as bytes: binary read once, base64 decoded through a spool, anything else in memory."""
    cte = (headers.get("Content-Transfer-Encoding") or "binary").strip().lower()
    if cte == "base64":
        return _b64_to_spool(region, spool_dir, spools).read()
    if cte in ("binary", "8bit", "7bit"):
        return region.read()
    return bytes(decode_body(headers, region.read()))


def _choose_micalg(request: MdnRequest, signature_digest: str | None) -> str:
    for alg in request.micalgs:
        if alg in _MICALG_OUT:
            return alg
    return signature_digest or "sha256"


def _verify(der: BytesLike, content: BytesLike | cms.Chunks | None, partner: As2Partner, now: dt.datetime) -> cms.Verified:
    try:
        verified = cms.verify(der, content, partner.certs)
    except cms.SignatureMismatch as exc:
        raise IntegrityCheckFailed(str(exc)) from exc
    except (cms.SignatureInvalid, cms.SignerUnknown) as exc:
        raise AuthenticationFailed(str(exc)) from exc
    except cms.CmsError as exc:
        raise IntegrityCheckFailed(f"the signature cannot be read: {exc}") from exc
    if _expired(verified.signer, now):
        raise CertificateExpired(
            f"partner {partner.as2_id} signed with certificate {_describe(verified.signer)}, "
            f"valid {verified.signer.not_valid_before_utc:%Y-%m-%d} to {expiry(verified.signer):%Y-%m-%d}: it has expired; "
            "ask the partner for its new certificate"
        )
    return verified


# -- MDNs -----------------------------------------------------------------------------------


def build_mdn(
    result: InboundAs2 | As2Error,
    local: As2Settings | None = None,
    *,
    text: str | None = None,
    now: dt.datetime | None = None,
) -> tuple[dict[str, str], bytes]:
    """The MDN answering ``result`` (an accepted message or the error that refused it).

    Signed (multipart/signed over the multipart/report) when the sender
    asked for a signed receipt and we have a key: the partner's ``local``
    settings, or ``local`` (our AS2 id, key and certificate) for a message
    whose partner is unknown.
    """
    now = now or dt.datetime.now(dt.timezone.utc)
    partner = result.partner
    local = partner.local if partner is not None else local
    our_id = (partner.local.as2_id if partner else None) or result.as2_to or (local.as2_id if local else "unknown")
    their_id = result.as2_from or "unknown"
    request = result.mdn_request
    if isinstance(result, InboundAs2):
        disposition = "automatic-action/MDN-sent-automatically; processed"
        verified = " Its signature was verified." if result.signed else ""
        human = text or f"The AS2 message {result.message_id} was received and stored.{verified}"
    elif isinstance(result, UnsupportedMdnOption):
        disposition = f"automatic-action/MDN-sent-automatically; failed/Failure: {result.modifier}"
        human = text or f"The AS2 message {result.message_id or '(no Message-ID)'} was not processed: {result}"
    else:
        disposition = f"automatic-action/MDN-sent-automatically; processed/Error: {result.modifier}"
        human = text or f"The AS2 message {result.message_id or '(no Message-ID)'} was not accepted: {result}"
    fields = [
        ("Reporting-UA", local.user_agent if local else "Kontor AS2"),
        ("Original-Recipient", f"rfc822; {our_id}"),
        ("Final-Recipient", f"rfc822; {our_id}"),
        ("Original-Message-ID", result.message_id or "<unknown>"),
        ("Disposition", disposition),
    ]
    if isinstance(result, InboundAs2):
        fields.append(("Received-Content-MIC", result.received_content_mic))
    boundary = new_boundary()
    b = boundary.encode()
    text_part = entity([("Content-Type", "text/plain; charset=us-ascii"), ("Content-Transfer-Encoding", "7bit")],
                       human.encode("ascii", "replace") + b"\r\n")
    mdn_part = entity([("Content-Type", "message/disposition-notification"), ("Content-Transfer-Encoding", "7bit")],
                      "".join(f"{k}: {v}\r\n" for k, v in fields).encode("ascii", "replace"))
    report_body = b"--" + b + b"\r\n" + text_part + b"\r\n--" + b + b"\r\n" + mdn_part + b"\r\n--" + b + b"--\r\n"
    report_headers = [("Content-Type", f'multipart/report; report-type=disposition-notification; boundary="{boundary}"')]
    out_headers, out_body = report_headers, report_body
    if request.signed and local is not None:
        alg = next((a for a in request.micalgs if a in SIGNING), "sha256")
        report = entity(report_headers, report_body)
        sig = cms.sign_detached(report, local.key, local.cert, alg)
        sb = new_boundary()
        sbb = sb.encode()
        sig_part = entity(
            [
                ("Content-Type", 'application/pkcs7-signature; name="smime.p7s"'),
                ("Content-Transfer-Encoding", "base64"),
                ("Content-Disposition", 'attachment; filename="smime.p7s"'),
            ],
            base64.encodebytes(sig).replace(b"\n", b"\r\n"),
        )
        out_body = b"--" + sbb + b"\r\n" + report + b"\r\n--" + sbb + b"\r\n" + sig_part + b"\r\n--" + sbb + b"--\r\n"
        out_headers = [("Content-Type", f'multipart/signed; protocol="application/pkcs7-signature"; micalg={_MICALG_OUT[alg]}; boundary="{sb}"')]
    http = {
        "AS2-Version": AS2_VERSION,
        "AS2-From": _quote(our_id),
        "AS2-To": _quote(their_id),
        "Message-ID": _new_message_id(our_id),
        "Subject": "Message Disposition Notification",
        "Date": email.utils.format_datetime(now),
        "MIME-Version": "1.0",
        "User-Agent": local.user_agent if local else "Kontor AS2",
    }
    for k, v in out_headers:
        http[k] = v
    return http, out_body


def parse_mdn(
    headers: Mapping[str, str] | Headers,
    body: bytes,
    original_message_id: str | None,
    original_mic: str | None,
    partner: As2Partner,
    *,
    require_signed: bool | None = None,
    now: dt.datetime | None = None,
) -> MdnResult:
    """Read an MDN for our message ``original_message_id`` whose MIC was ``original_mic``.

    ``original_mic`` is "base64, sha-256" as :func:`build_message` returned it.
    A signed MDN is verified with the partner's certificates. Raises
    :class:`MdnError` when the MDN cannot be trusted (bad signature, unsigned
    though ``require_signed`` — default: ``partner.mdn_signed`` — or for
    another message) or read.
    """
    now = now or dt.datetime.now(dt.timezone.utc)
    h = Headers.of(headers)
    ctype, params = content_type(h)
    signed = False
    body_view = memoryview(body)
    try:
        if ctype == "multipart/signed":
            parts = split_multipart(body_view, params.get("boundary") or "")
            if len(parts) != 2:
                raise MdnError(f"signed MDN has {len(parts)} parts, not 2")
            sig_h, sig_b = split_entity(parts[1])
            try:
                _verify(_der(sig_h, sig_b), parts[0], partner, now)
            except As2Error as exc:
                raise MdnError(f"the MDN's signature is not valid: {exc}") from exc
            signed = True
            h, body_view = split_entity(parts[0])
            ctype, params = content_type(h)
        if (partner.mdn_signed if require_signed is None else require_signed) and not signed:
            raise MdnError("the MDN is not signed, but a signed MDN was requested")
        if ctype != "multipart/report":
            raise MdnError(f"an MDN must be multipart/report, not {ctype}")
        text = ""
        fields: Headers | None = None
        for part in split_multipart(body_view, params.get("boundary") or ""):
            ph, pb = split_entity(part)
            ptype = content_type(ph)[0]
            if ptype == "message/disposition-notification":
                fields, _ = split_entity(bytes(decode_body(ph, pb)).lstrip(b"\r\n") + b"\r\n\r\n")
            elif ptype.startswith("text/") and not text:
                text = bytes(decode_body(ph, pb)).decode("utf-8", "replace").strip()
    except ValueError as exc:
        raise MdnError(f"the MDN cannot be read: {exc}") from exc
    if fields is None:
        raise MdnError("the MDN has no message/disposition-notification part")
    original = fields.get("Original-Message-ID")
    if original_message_id and original and original.strip() != original_message_id.strip():
        raise MdnError(f"the MDN answers {original}, not {original_message_id}")
    disposition = fields.get("Disposition") or ""
    _, _, rest = disposition.partition(";")
    status, _, modifier = rest.strip().partition("/")
    mic = fields.get("Received-Content-MIC")
    mic_ok = _same_mic(mic, original_mic)
    return MdnResult(
        original_message_id=original,
        disposition=disposition,
        status=status.strip().lower(),
        modifier=modifier.strip() or None,
        mic=mic,
        mic_ok=mic_ok,
        signed=signed,
        text=text,
        message_id=h.get("Message-ID"),
    )


def is_mdn(headers: Mapping[str, str] | Headers, body: bytes) -> bool:
    """True when an inbound POST is an (async) MDN rather than a message: a multipart/report,
    or a multipart/signed whose signed part is one. Nothing is verified here."""
    h = Headers.of(headers)
    ctype, params = content_type(h)
    if ctype == "multipart/report":
        return True
    if ctype != "multipart/signed" or not params.get("boundary"):
        return False
    try:
        first = split_multipart(body, params["boundary"])[0]
    except (ValueError, IndexError):
        return False
    return content_type(split_entity(first)[0])[0] == "multipart/report"


def peek_mdn(headers: Mapping[str, str] | Headers, body: bytes) -> str | None:
    """The Original-Message-ID an MDN claims to answer, UNVERIFIED: only for finding our
    message and its MIC, then :func:`parse_mdn` checks everything."""
    h = Headers.of(headers)
    try:
        ctype, params = content_type(h)
        view = memoryview(body)
        if ctype == "multipart/signed":
            h, view = split_entity(split_multipart(view, params.get("boundary") or "")[0])
            ctype, params = content_type(h)
        for part in split_multipart(view, params.get("boundary") or ""):
            ph, pb = split_entity(part)
            if content_type(ph)[0] == "message/disposition-notification":
                fields, _ = split_entity(bytes(decode_body(ph, pb)).lstrip(b"\r\n") + b"\r\n\r\n")
                return fields.get("Original-Message-ID")
    except (ValueError, IndexError):
        return None
    return None


def _same_mic(got: str | None, expected: str | None) -> bool:
    if not got or not expected:
        return False
    g_val, _, g_alg = got.partition(",")
    e_val, _, e_alg = expected.partition(",")
    return g_val.strip() == e_val.strip() and micalg_name(g_alg) == micalg_name(e_alg) and micalg_name(g_alg) is not None


# -- HTTP and the Adapter -------------------------------------------------------------------


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: Headers
    body: bytes


def async_mdn_refusal(url: str, partner: As2Partner | None) -> str | None:
    """Why an asynchronous MDN must not be posted to ``url`` (a request's
    Receipt-Delivery-Option), or None when it may.

    Anyone can post to our endpoint, so the URL is checked before the hub
    queues a POST to it: only a known partner (``partner`` not None) gets an
    asynchronous MDN, only to an http(s) URL, and only to one of the
    partner's ``mdn_hosts`` when it names any. The caller answers the MDN
    synchronously instead.
    """
    shown = url if len(url) <= 200 else url[:200] + "..."
    if partner is None:
        return "the sender is not a known AS2 partner"
    try:
        parsed = urllib.parse.urlsplit(url)
        host = parsed.hostname
    except ValueError:
        return f"Receipt-Delivery-Option {shown!r} is not a URL"
    if parsed.scheme.lower() not in ("http", "https") or not host:
        return f"Receipt-Delivery-Option {shown!r} is not an http(s) URL"
    if partner.mdn_hosts and host.lower() not in {h.lower() for h in partner.mdn_hosts}:
        return (f"Receipt-Delivery-Option {shown!r}: host {host} is not one of partner "
                f"{partner.as2_id}'s mdn_hosts ({', '.join(partner.mdn_hosts)})")
    return None


def send(url: str, headers: Mapping[str, str], body: bytes, timeout: float) -> HttpResponse:
    """POST an AS2 message or async MDN to an http(s) URL. Raises TransportError (retryable for network
    trouble, 5xx, 408 and 429; not for other 4xx and other URL schemes)."""
    if urllib.parse.urlsplit(url).scheme.lower() not in ("http", "https"):
        raise TransportError(f"AS2 endpoint {url[:200]!r} is not an http(s) URL", retryable=False)
    req = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return HttpResponse(resp.status, Headers(resp.headers.items()), resp.read())
    except urllib.error.HTTPError as exc:
        status = exc.code
        raise TransportError(
            f"AS2 endpoint {url} answered HTTP {status} {exc.reason}",
            retryable=status >= 500 or status in (408, 429),
        ) from exc
    except (urllib.error.URLError, socket.timeout, ConnectionError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TransportError(f"cannot reach AS2 endpoint {url}: {reason}") from exc


class As2Adapter:
    """Outbound AS2 to one partner (the Adapter protocol).

    ``deliver`` builds, posts and, for a sync MDN, checks it: Receipt
    ``acknowledged`` is True for a positive MDN whose MIC matches; a negative
    MDN, a MIC mismatch or an untrustworthy MDN raise a non-retryable
    TransportError. With async MDNs the Receipt carries ``message_id`` and
    ``mic`` for the hub to match the MDN later with :func:`parse_mdn`.
    Inbound AS2 arrives at the HTTP endpoint, so ``fetch()`` yields nothing.
    """

    def __init__(self, partner: As2Partner, *, sender: Callable[[str, Mapping[str, str], bytes, float], HttpResponse] = send):
        if not partner.url:
            raise ValueError(f"AS2 partner {partner.as2_id} has no url")
        self.partner = partner
        self._send = sender

    def fetch(self) -> Iterator[InboundFile]:
        return iter(())

    def confirm(self, file: InboundFile) -> None:
        return None

    def prepare(self, name: str, data: bytes, *, message_id: str | None = None) -> OutboundAs2:
        """Build the message (signed, encrypted, ...) without sending it: its ``message_id`` and
        ``mic`` can be kept before a byte leaves, so a retry reuses them and an early
        asynchronous MDN finds them. Raises a non-retryable TransportError for a profile
        that cannot be used."""
        try:
            return build_message(data, name, self.partner, message_id=message_id)
        except ValueError as exc:
            raise TransportError(f"AS2 message to {self.partner.as2_id} cannot be built: {exc}", retryable=False) from exc

    def post(self, out: OutboundAs2) -> Receipt:
        """POST a prepared message and, with a sync MDN, check the MDN (see the class docstring)."""
        p = self.partner
        assert p.url is not None
        response = self._send(p.url, out.headers, out.body, p.timeout)
        info: dict[str, Any] = {"message_id": out.message_id, "mic": out.mic, "url": p.url, "http_status": response.status}
        if p.mdn != "sync":
            log.info("AS2 %s sent to %s (%s MDN)", out.message_id, p.as2_id, p.mdn)
            return Receipt(detail=f"AS2 {out.message_id} posted to {p.url}", data=info, acknowledged=False)
        return self.check_mdn(out, response.headers, response.body, info)

    def check_mdn(self, out: OutboundAs2, headers: Mapping[str, str] | Headers, body: bytes,
                  info: dict[str, Any] | None = None) -> Receipt:
        """The Receipt for an MDN answering ``out``: acknowledged when positive with a matching
        MIC; a negative or untrustworthy MDN raises a non-retryable TransportError."""
        p = self.partner
        info = dict(info or {"message_id": out.message_id, "mic": out.mic, "url": p.url})
        try:
            mdn = parse_mdn(headers, body, out.message_id, out.mic, p)
        except MdnError as exc:
            raise TransportError(f"AS2 {out.message_id} to {p.as2_id}: {exc}", retryable=False) from exc
        info["mdn"] = {"disposition": mdn.disposition, "mic": mdn.mic, "signed": mdn.signed, "text": mdn.text}
        if mdn.status != "processed" or (mdn.modifier or "").lower().startswith(("error", "failure")):
            raise TransportError(f"AS2 {out.message_id}: partner {p.as2_id} answered {_rest_of(mdn.disposition)}", retryable=False)
        if not mdn.mic_ok:
            raise TransportError(f"AS2 {out.message_id}: MDN MIC {mdn.mic} does not match ours ({out.mic})", retryable=False)
        log.info("AS2 %s delivered to %s, MDN processed", out.message_id, p.as2_id)
        return Receipt(detail=f"AS2 {out.message_id} to {p.url}: MDN processed, MIC matches", data=info, acknowledged=True)

    def deliver(self, name: str, data: bytes, *, message_id: str | None = None) -> Receipt:
        """:meth:`prepare` then :meth:`post`."""
        return self.post(self.prepare(name, data, message_id=message_id))


def _rest_of(disposition: str) -> str:
    """'processed/Error: decryption-failed' from a full Disposition value."""
    return disposition.partition(";")[2].strip() or disposition
