"""The ten credential types and the rules for their secret ``data`` fields.

A field outside a type's allowed set is refused (naming the field and pointing
to ``CUSTOM``) so that a typo such as ``pasword`` can never store a credential
without its secret. Error messages name fields, never values.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from loomal.core.totp import TotpParameters, normalise_base32_secret
from loomal.errors import ValidationError

__all__ = [
    "NAME_PATTERN",
    "CredentialType",
    "TypeRule",
    "decode_name_cursor",
    "encode_name_cursor",
    "validate_credential_name",
    "validate_data",
    "validate_metadata",
]

NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$")


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
    CUSTOM = "CUSTOM"


@dataclass(frozen=True, slots=True)
class TypeRule:
    """``required_any``: at least one of these must be present (all of them when
    ``require_all``); ``allowed``: every field the type accepts."""

    allowed: frozenset[str]
    required_any: tuple[str, ...]
    require_all: bool = True
    list_fields: frozenset[str] = frozenset()


TYPE_RULES: Mapping[CredentialType, TypeRule] = {
    CredentialType.LOGIN: TypeRule(frozenset({"password"}), ("password",)),
    CredentialType.API_KEY: TypeRule(frozenset({"key"}), ("key",)),
    CredentialType.OAUTH: TypeRule(frozenset({"accessToken", "refreshToken"}), ("accessToken",)),
    CredentialType.TOTP: TypeRule(
        frozenset({"secret", "backupCodes", "usedBackupCodes"}),
        ("secret",),
        list_fields=frozenset({"backupCodes", "usedBackupCodes"}),
    ),
    CredentialType.SSH_KEY: TypeRule(frozenset({"privateKey", "passphrase"}), ("privateKey",)),
    CredentialType.DATABASE: TypeRule(
        frozenset({"password", "connectionString"}),
        ("password", "connectionString"),
        require_all=False,
    ),
    CredentialType.SMTP: TypeRule(frozenset({"password"}), ("password",)),
    CredentialType.AWS: TypeRule(
        frozenset({"secretAccessKey", "sessionToken"}), ("secretAccessKey",)
    ),
    CredentialType.CERTIFICATE: TypeRule(frozenset({"privateKey"}), ("privateKey",)),
}

_TYPE_NAMES = ", ".join(t.value for t in CredentialType)


def parse_credential_type(value: str) -> CredentialType:
    try:
        return CredentialType(value)
    except ValueError:
        raise ValidationError(f"type must be one of: {_TYPE_NAMES}.") from None


def validate_credential_name(name: str) -> str:
    if not NAME_PATTERN.fullmatch(name):
        raise ValidationError(
            "name must be 1-128 characters of A-Z a-z 0-9 . _ - and must not start with '.'."
        )
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

    Normalisation is limited to what the SPEC names: a TOTP secret is stored as
    upper-case base32 without spaces or padding.
    """
    if not isinstance(data, Mapping):
        raise ValidationError("data must be a JSON object.")
    if ctype is CredentialType.CUSTOM:
        return _validate_custom(data)
    rule = TYPE_RULES[ctype]
    unknown = sorted(k for k in data if k not in rule.allowed)
    if unknown:
        allowed = ", ".join(sorted(rule.allowed))
        raise ValidationError(
            f"data.{unknown[0]} is not a field of {ctype.value} (allowed: {allowed}); "
            "use type CUSTOM for free-form secrets."
        )
    for field in rule.allowed - rule.list_fields:
        if field in data:
            _require_non_empty_string(field, data[field])
    present = [f for f in rule.required_any if f in data]
    if rule.require_all and len(present) != len(rule.required_any):
        missing = next(f for f in rule.required_any if f not in data)
        raise ValidationError(f"data.{missing} is required for type {ctype.value}.")
    if not present:
        raise ValidationError(
            f"data needs at least one of {' or '.join(rule.required_any)} for type {ctype.value}."
        )
    result = dict(data)
    if ctype is CredentialType.TOTP:
        result["secret"] = normalise_base32_secret(data["secret"], field="data.secret")
        result["backupCodes"] = _validate_code_list("backupCodes", data.get("backupCodes", []))
        result["usedBackupCodes"] = _validate_code_list(
            "usedBackupCodes", data.get("usedBackupCodes", []), allow_duplicates=True
        )
    return result


def validate_metadata(ctype: CredentialType, metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    """Metadata is free-form plaintext, except TOTP parameters, which must be usable."""
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise ValidationError("metadata must be a JSON object.")
    if ctype is CredentialType.TOTP:
        TotpParameters.from_metadata(metadata)
    return dict(metadata)


def _validate_custom(data: Mapping[str, Any]) -> dict[str, Any]:
    if not data:
        raise ValidationError("data must hold at least one field for type CUSTOM.")
    for key in data:
        if not key:
            raise ValidationError("data field names must not be empty.")
    return dict(data)


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
