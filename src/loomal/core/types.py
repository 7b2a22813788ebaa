"""The twelve credential types and the rules for their secret ``data`` fields.

A credential is one encrypted JSON blob: fields beyond a type's known ones are
stored and returned as given, but a credential without its required secret is
refused, so a typo such as ``pasword`` can never store a LOGIN without its
password (the message names the stray field as a likely typo). Known fields are
non-empty strings. Any type may carry a TOTP seed in ``data.totp`` (base32 or an
``otpauth://`` URI); a TOTP credential keeps its seed in ``data.secret``.
Error messages name fields, never values.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from loomal.core.totp import TotpParameters, normalise_base32_secret, parse_otpauth_uri
from loomal.errors import ValidationError

__all__ = [
    "NAME_PATTERN",
    "NAME_RULE",
    "TOTP_REDACTED",
    "CredentialType",
    "TypeRule",
    "decode_name_cursor",
    "encode_name_cursor",
    "parse_credential_type",
    "redact_totp_seed",
    "totp_seed",
    "validate_credential_name",
    "validate_data",
    "validate_metadata",
]

NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$")
NAME_RULE = "name must be 1-128 characters of A-Z a-z 0-9 . _ - and must not start with '.'."

TOTP_REDACTED = "[use /v0/vault/:name/totp]"
"""What a TOTP seed reads as in a full credential (the public reference's wording)."""


class CredentialType(StrEnum):
    LOGIN = "LOGIN"
    API_KEY = "API_KEY"
    OAUTH = "OAUTH"
    TOTP = "TOTP"
    SSH_KEY = "SSH_KEY"
    DATABASE = "DATABASE"
    SMTP = "SMTP"
    AWS = "AWS"
    CERTIFICATE = "CERTIFICATE"
    CARD = "CARD"
    SHIPPING_ADDRESS = "SHIPPING_ADDRESS"
    CUSTOM = "CUSTOM"


@dataclass(frozen=True, slots=True)
class TypeRule:
    """``known``: the string fields the type names; ``required``: alternatives, one of
    which must be present in full (API_KEY: ``key``, or ``clientId`` and ``secret``)."""

    known: frozenset[str]
    required: tuple[tuple[str, ...], ...]

    def describe_required(self) -> str:
        return ", or ".join(" and ".join(f"data.{f}" for f in group) for group in self.required)


def _rule(known: str, *required: str) -> TypeRule:
    return TypeRule(frozenset(known.split()), tuple(tuple(r.split()) for r in required))


TYPE_RULES: Mapping[CredentialType, TypeRule] = {
    CredentialType.LOGIN: _rule("password totp", "password"),
    CredentialType.API_KEY: _rule("key clientId secret totp", "key", "clientId secret"),
    CredentialType.OAUTH: _rule("accessToken refreshToken clientSecret totp", "accessToken"),
    CredentialType.TOTP: _rule("secret", "secret"),
    CredentialType.SSH_KEY: _rule("privateKey passphrase totp", "privateKey"),
    CredentialType.DATABASE: _rule(
        "password connectionString totp", "password", "connectionString"
    ),
    CredentialType.SMTP: _rule("password totp", "password"),
    CredentialType.AWS: _rule("secretAccessKey sessionToken totp", "secretAccessKey"),
    CredentialType.CERTIFICATE: _rule("privateKey totp", "privateKey"),
    CredentialType.CARD: _rule("cardholder number expMonth expYear cvc zip totp", "number"),
    CredentialType.SHIPPING_ADDRESS: _rule(
        "name line1 line2 city state postcode country phone totp", "line1"
    ),
}
_BACKUP_FIELDS = ("backupCodes", "usedBackupCodes")

_TYPE_NAMES = ", ".join(t.value for t in CredentialType)


def parse_credential_type(value: str) -> CredentialType:
    try:
        return CredentialType(value)
    except ValueError:
        raise ValidationError(f"type must be one of: {_TYPE_NAMES}.") from None


def validate_credential_name(name: str) -> str:
    if not NAME_PATTERN.fullmatch(name):
        raise ValidationError(NAME_RULE)
    return name


def encode_name_cursor(name: str) -> str:
    """A page cursor is the last name of the page, opaque to clients."""
    return base64.urlsafe_b64encode(name.encode()).decode().rstrip("=")


def decode_name_cursor(cursor: str | None) -> str | None:
    if not cursor:
        return None
    try:
        name = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        return validate_credential_name(name)
    except (binascii.Error, UnicodeDecodeError, ValidationError, ValueError):
        raise ValidationError("cursor is not a cursor this API returned.") from None


def validate_data(ctype: CredentialType, data: Mapping[str, Any]) -> dict[str, Any]:
    """Check ``data`` against the type's rules and return it normalised.

    Normalisation is limited to what the SPEC names: a base32 TOTP seed is
    stored upper-case without spaces or padding (an ``otpauth://`` URI is kept
    as given, once it parses).
    """
    if not isinstance(data, Mapping):
        raise ValidationError("data must be a JSON object.")
    result = dict(data)
    if ctype is CredentialType.CUSTOM:
        if not result:
            raise ValidationError("data must hold at least one field for type CUSTOM.")
        if any(not key for key in result):
            raise ValidationError("data field names must not be empty.")
    else:
        rule = TYPE_RULES[ctype]
        for field in rule.known:
            if field in result:
                _require_non_empty_string(field, result[field])
        if not any(all(f in result for f in group) for group in rule.required):
            raise ValidationError(_missing_message(ctype, rule, result))
    if ctype is CredentialType.TOTP:
        result["secret"] = normalise_base32_secret(result["secret"], field="data.secret")
    if "totp" in result:
        result["totp"] = _normalise_seed(result["totp"])
    if ctype is CredentialType.TOTP or "totp" in result:
        result["backupCodes"] = _validate_code_list("backupCodes", result.get("backupCodes", []))
        result["usedBackupCodes"] = _validate_code_list(
            "usedBackupCodes", result.get("usedBackupCodes", []), allow_duplicates=True
        )
    return result


def validate_metadata(
    ctype: CredentialType, metadata: Mapping[str, Any] | None, *, has_totp: bool = False
) -> dict[str, Any]:
    """Metadata is free-form plaintext, except TOTP parameters, which must be usable."""
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise ValidationError("metadata must be a JSON object.")
    if ctype is CredentialType.TOTP or has_totp:
        TotpParameters.from_metadata(metadata)
    return dict(metadata)


def totp_seed(ctype: str, data: Mapping[str, Any]) -> str | None:
    """The stored TOTP seed of a credential (base32, or an otpauth URI), if it has one."""
    seed = data.get("secret") if ctype == CredentialType.TOTP else data.get("totp")
    return seed if isinstance(seed, str) and seed else None


def redact_totp_seed(ctype: str, data: dict[str, Any]) -> bool:
    """Replace the seed in ``data`` by :data:`TOTP_REDACTED`; returns whether there was one.

    Backup codes stay readable: people need them to use them (seed, "TOTP and
    Backup Codes").
    """
    field = "secret" if ctype == CredentialType.TOTP else "totp"
    if totp_seed(ctype, data) is None:
        return False
    data[field] = TOTP_REDACTED
    return True


def _missing_message(ctype: CredentialType, rule: TypeRule, data: Mapping[str, Any]) -> str:
    message = f"{rule.describe_required()} is required for type {ctype.value}"
    strays = sorted(k for k in data if k not in rule.known and k not in _BACKUP_FIELDS)
    if strays:
        listed = ", ".join(f"data.{k}" for k in strays[:5])
        message += f" (found {listed}: a typo? use type CUSTOM for free-form secrets)"
    return message + "."


def _normalise_seed(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("data.totp must be a base32 seed or an otpauth://totp/ URI.")
    if value.strip().lower().startswith("otpauth:"):
        parse_otpauth_uri(value)  # its errors never repeat the URI
        return value.strip()
    return normalise_base32_secret(value, field="data.totp")


def _require_non_empty_string(field: str, value: Any) -> None:
    if not isinstance(value, str):
        raise ValidationError(f"data.{field} must be a string.")
    if not value:
        raise ValidationError(f"data.{field} must not be empty.")


def _validate_code_list(field: str, value: Any, *, allow_duplicates: bool = False) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(c, str) and c for c in value):
        raise ValidationError(f"data.{field} must be an array of non-empty strings.")
    if not allow_duplicates and len(set(value)) != len(value):
        raise ValidationError(f"data.{field} must not repeat a code: each is single-use.")
    return list(value)
