"""RFC 6238 time-based one-time codes, base32 seeds and otpauth:// URIs.

Time is always passed in (``at``, seconds since the epoch) so that codes are
deterministic under test. Secrets are accepted the way authenticator exports
write them (any case, spaces, missing ``=`` padding) and stored normalised.
"""

from __future__ import annotations

import binascii
import hmac
import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from loomal.errors import ValidationError

__all__ = [
    "OtpauthUri",
    "TotpCode",
    "TotpParameters",
    "decode_base32_secret",
    "normalise_base32_secret",
    "parse_otpauth_uri",
    "seed_secret_and_parameters",
    "totp_code",
]

_DIGESTS = {"SHA1": "sha1", "SHA256": "sha256", "SHA512": "sha512"}
"""Digest names for ``hmac.digest``, OpenSSL's one-shot HMAC (faster than ``hmac.new``)."""


def normalise_base32_secret(value: Any, *, field: str = "secret") -> str:
    """Upper-case, spaces and padding removed; raise if it is still not base32."""
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be a base32 string.")
    cleaned = "".join(value.split()).replace("-", "").rstrip("=").upper()
    if not cleaned:
        raise ValidationError(f"{field} must not be empty.")
    try:
        decoded = decode_base32_secret(cleaned)
    except (binascii.Error, ValueError):
        raise ValidationError(f"{field} is not valid base32 (A-Z, 2-7).") from None
    if not decoded:
        raise ValidationError(f"{field} is not valid base32 (A-Z, 2-7).")
    return cleaned


_TO_BASE32HEX = str.maketrans(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567abcdefghijklmnopqrstuvwxyz",
    "0123456789ABCDEFGHIJKLMNOPQRSTUV0123456789ABCDEFGHIJKLMNOP",
)
_BASE32 = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567abcdefghijklmnopqrstuvwxyz")


def decode_base32_secret(secret: str) -> bytes:
    """RFC 4648 base32 (any case, ``=`` padding optional) to bytes.

    Why not ``base64.b32decode``: it is pure Python and was the largest single
    cost of a TOTP code. RFC 4648's alphabet maps one-to-one onto the digits of
    base 32 (``int(..., 32)``), so one translation and one C-level conversion
    decode it. It refuses what ``b32decode`` refuses (checked against it in
    tests): other characters, and lengths no encoder produces.
    """
    stripped = secret.rstrip("=")
    n = len(stripped)
    if (
        n % 8 in (1, 3, 6)
        or not _BASE32.issuperset(stripped)
        or (len(secret) != n and len(secret) % 8)
    ):
        raise binascii.Error("Non-base32 digit found or incorrect padding")
    if not n:
        return b""
    size = n * 5 // 8
    value = int(stripped.translate(_TO_BASE32HEX), 32) >> (n * 5 - size * 8)
    return value.to_bytes(size, "big")


@dataclass(frozen=True, slots=True)
class TotpParameters:
    algorithm: str = "SHA1"
    digits: int = 6
    period: int = 30

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any]) -> TotpParameters:
        """Read ``algorithm``, ``digits`` and ``period`` from credential metadata."""
        algorithm = metadata.get("algorithm", "SHA1")
        if not isinstance(algorithm, str) or algorithm.upper() not in _DIGESTS:
            raise ValidationError("metadata.algorithm must be SHA1, SHA256 or SHA512.")
        digits = _as_int(metadata.get("digits", 6), "metadata.digits")
        if digits not in (6, 8):
            raise ValidationError("metadata.digits must be 6 or 8.")
        period = _as_int(metadata.get("period", 30), "metadata.period")
        if not 1 <= period <= 3600:
            raise ValidationError("metadata.period must be between 1 and 3600 seconds.")
        return cls(algorithm=algorithm.upper(), digits=digits, period=period)


def _as_int(value: Any, field: str) -> int:
    if isinstance(value, bool):
        raise ValidationError(f"{field} must be an integer.")
    if isinstance(value, int):
        return value
    # ASCII digits only, and few of them: "²".isdigit() is true but int() refuses it,
    # and a 5,000-digit string would cost int() a lot before any range check.
    text = value.strip() if isinstance(value, str) else ""
    if text.isascii() and text.isdecimal() and len(text) <= 9:
        return int(text)
    raise ValidationError(f"{field} must be an integer.")


@dataclass(frozen=True, slots=True)
class TotpCode:
    code: str
    period: int
    expires_at: int
    """Epoch second at which this code stops being current."""
    seconds_remaining: int


def totp_code(secret: str, *, at: float, params: TotpParameters = TotpParameters()) -> TotpCode:
    """The RFC 6238 code current at ``at``, and how long it stays current."""
    key = decode_base32_secret(secret)
    counter = math.floor(at) // params.period
    mac = hmac.digest(key, struct.pack(">Q", counter), _DIGESTS[params.algorithm])
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    code = str(value % 10**params.digits).zfill(params.digits)
    expires_at = (counter + 1) * params.period
    return TotpCode(
        code=code,
        period=params.period,
        expires_at=expires_at,
        seconds_remaining=max(1, expires_at - math.floor(at)),
    )


@dataclass(frozen=True, slots=True)
class OtpauthUri:
    secret: str
    issuer: str | None
    account: str | None
    params: TotpParameters

    def __repr__(self) -> str:
        return f"OtpauthUri(issuer={self.issuer!r}, account={self.account!r}, secret='***')"

    def metadata(self) -> dict[str, Any]:
        meta: dict[str, Any] = {}
        if self.issuer:
            meta["issuer"] = self.issuer
        if self.account:
            meta["account"] = self.account
        meta.update(
            algorithm=self.params.algorithm, digits=self.params.digits, period=self.params.period
        )
        return meta


def seed_secret_and_parameters(
    seed: str, metadata_params: TotpParameters
) -> tuple[str, TotpParameters]:
    """The base32 secret and the parameters of a stored seed: an ``otpauth://`` URI
    carries its own (they win), a bare base32 seed uses the credential's metadata."""
    if seed[:8].lower() == "otpauth:":
        uri = parse_otpauth_uri(seed)
        return uri.secret, uri.params
    return seed, metadata_params


def parse_otpauth_uri(uri: str) -> OtpauthUri:
    """Parse an authenticator export (``otpauth://totp/Issuer:account?secret=...``).

    Tolerant of what exporters write (lower-case algorithm, missing padding,
    spaces, issuer in the label or the query); HOTP and malformed URIs are
    refused with a message that never repeats the URI (it holds the secret).
    """
    parts = urlsplit(uri.strip())
    if parts.scheme.lower() != "otpauth":
        raise ValidationError("otpauth URI must start with otpauth://totp/.")
    kind = parts.netloc.lower()
    if kind == "hotp":
        raise ValidationError("HOTP (counter-based) URIs are not supported; only otpauth://totp/.")
    if kind != "totp":
        raise ValidationError("otpauth URI must start with otpauth://totp/.")
    query = {k.lower(): v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    if "secret" not in query:
        raise ValidationError("otpauth URI has no secret parameter.")
    secret = normalise_base32_secret(query["secret"], field="otpauth secret")
    label = unquote(parts.path.lstrip("/"))
    label_issuer, _, account = label.rpartition(":")
    issuer = query.get("issuer") or label_issuer.strip() or None
    params = TotpParameters.from_metadata(
        {
            "algorithm": query.get("algorithm", "SHA1"),
            "digits": query.get("digits", "6"),
            "period": query.get("period", "30"),
        }
    )
    return OtpauthUri(secret=secret, issuer=issuer, account=account.strip() or None, params=params)
