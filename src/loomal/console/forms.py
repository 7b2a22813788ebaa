"""The add/edit form of each credential type, and turning a posted form into a
:class:`StoreRequest` for :meth:`VaultService.store_credential`.

This module only maps form fields to the API's ``data`` and ``metadata``
shapes; every rule (required fields, base32, TOTP parameters, names) is the
core's, and its errors are shown next to the field they name. A TOTP seed may
be pasted as an ``otpauth://`` URI: the core's parser reads it.

Editing never puts a stored secret into the page: a secret field left blank
keeps the stored value. A TOTP seed is never handed back by the vault, so
changing a credential that holds one needs the seed entered again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from loomal.core.models import StoreRequest
from loomal.core.totp import parse_otpauth_uri
from loomal.core.types import TOTP_REDACTED
from loomal.errors import ValidationError

__all__ = [
    "CREDENTIAL_TYPES",
    "FIELDS",
    "Field",
    "FormErrors",
    "request_from_form",
]

CREDENTIAL_TYPES = (
    "LOGIN",
    "API_KEY",
    "OAUTH",
    "TOTP",
    "SSH_KEY",
    "DATABASE",
    "SMTP",
    "AWS",
    "CERTIFICATE",
    "CARD",
    "SHIPPING_ADDRESS",
    "CUSTOM",
)


@dataclass(frozen=True, slots=True)
class Field:
    key: str
    label: str
    section: str  # "data" or "metadata"
    secret: bool = False
    multiline: bool = False
    lines: bool = False  # a list of strings, one per line
    totp: bool = False  # a base32 seed or an otpauth:// URI
    choices: tuple[str, ...] = ()
    hint: str = ""

    @property
    def form_name(self) -> str:
        return f"{self.section}.{self.key}"


def _d(key: str, label: str, **kw: Any) -> Field:
    return Field(key, label, "data", secret=kw.pop("secret", True), **kw)


def _m(key: str, label: str, **kw: Any) -> Field:
    return Field(key, label, "metadata", **kw)


_TOTP_SEED = "Base32 seed or otpauth:// URI"
FIELDS: Mapping[str, tuple[Field, ...]] = {
    "LOGIN": (
        _d("password", "Password"),
        _d("totp", "TOTP seed (optional)", totp=True, hint=_TOTP_SEED),
        _m("uri", "URI"),
        _m("username", "Username"),
    ),
    "API_KEY": (
        _d("key", "Key"),
        _d("clientId", "Client ID", secret=False),
        _d("secret", "Client secret"),
        _m("service", "Service"),
        _m("prefix", "Display prefix", hint="e.g. sk_live_...c123, to recognise the key"),
    ),
    "OAUTH": (
        _d("accessToken", "Access token"),
        _d("refreshToken", "Refresh token"),
        _m("provider", "Provider"),
        _m("scopes", "OAuth scopes"),
        _m("expiresAt", "Token expires at", hint="ISO 8601"),
    ),
    "TOTP": (
        _d("secret", "Secret", totp=True, hint=_TOTP_SEED),
        _d("backupCodes", "Backup codes", lines=True, multiline=True, hint="One per line"),
        _m("issuer", "Issuer"),
        _m("account", "Account"),
        _m("algorithm", "Algorithm", choices=("SHA1", "SHA256", "SHA512")),
        _m("digits", "Digits", choices=("6", "8")),
        _m("period", "Period (seconds)"),
    ),
    "SSH_KEY": (
        _d("privateKey", "Private key", multiline=True),
        _d("passphrase", "Passphrase"),
        _m("publicKey", "Public key", multiline=True),
        _m("keyType", "Key type", hint="e.g. ed25519"),
    ),
    "DATABASE": (
        _d("password", "Password"),
        _d("connectionString", "Connection string"),
        _m("engine", "Engine"),
        _m("host", "Host"),
        _m("port", "Port"),
        _m("database", "Database"),
    ),
    "SMTP": (
        _d("password", "Password"),
        _m("host", "Host"),
        _m("port", "Port"),
        _m("username", "Username"),
        _m("encryption", "Encryption", hint="e.g. starttls"),
    ),
    "AWS": (
        _d("secretAccessKey", "Secret access key"),
        _d("sessionToken", "Session token"),
        _m("accessKeyId", "Access key ID"),
        _m("region", "Region"),
    ),
    "CERTIFICATE": (
        _d("privateKey", "Private key", multiline=True),
        _m("certificate", "Certificate", multiline=True),
        _m("chain", "Chain", multiline=True),
        _m("domain", "Domain"),
        _m("expiresAt", "Certificate expires at", hint="ISO 8601"),
    ),
    "CARD": (
        _d("cardholder", "Cardholder", secret=False),
        _d("number", "Card number"),
        _d("expMonth", "Expiry month", secret=False),
        _d("expYear", "Expiry year", secret=False),
        _d("cvc", "CVC"),
        _d("zip", "Billing ZIP", secret=False),
        _m("brand", "Brand"),
        _m("last4", "Last 4 digits"),
    ),
    "SHIPPING_ADDRESS": (
        _d("name", "Full name", secret=False),
        _d("line1", "Address line 1", secret=False),
        _d("line2", "Address line 2", secret=False),
        _d("city", "City", secret=False),
        _d("state", "State", secret=False),
        _d("postcode", "Postcode", secret=False),
        _d("country", "Country", secret=False),
        _d("phone", "Phone", secret=False),
    ),
    "CUSTOM": (),
}
# Any type may carry a seed in data.totp (LOGIN shows it first, after the password).
FIELDS = {
    ctype: fields
    if ctype in ("TOTP", "CUSTOM", "LOGIN")
    else (*fields, _d("totp", "TOTP seed (optional)", totp=True, hint=_TOTP_SEED))
    for ctype, fields in FIELDS.items()
}

CUSTOM_ROWS = 4
"""Empty key/value rows a new CUSTOM form shows (the script adds more)."""


class FormErrors(Exception):
    """Errors to show next to fields: form name → message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("the form has errors")
        self.errors = errors


_FIELD_IN_MESSAGE = re.compile(r"\b(data|metadata)\.([A-Za-z0-9_]+)")


def field_of_error(message: str, ctype: str) -> str:
    """Which form field a core validation message is about (else the form itself)."""
    if message.startswith("name "):
        return "name"
    if message.startswith("expiresAt"):
        return "expiresAt"
    match = _FIELD_IN_MESSAGE.search(message)
    if match:
        name = f"{match.group(1)}.{match.group(2)}"
        if any(f.form_name == name for f in FIELDS.get(ctype, ())):
            return name
    if message.startswith(("otpauth", "data.secret")) and ctype == "TOTP":
        return "data.secret"
    return "_form"


def request_from_form(
    form: Mapping[str, str], existing: Mapping[str, Any] | None = None
) -> tuple[str, StoreRequest]:
    """The credential name and the store request a posted form describes.

    ``existing`` is the stored ``data`` when editing: blank secret fields keep it.
    """
    name = form.get("name", "").strip()
    ctype = form.get("type", "")
    if ctype not in FIELDS:
        raise FormErrors({"type": "Choose a type."})
    metadata: dict[str, Any] = {}
    errors: dict[str, str] = {}
    shown = {f.key for f in FIELDS[ctype] if f.section == "data"} | {"usedBackupCodes"}
    # Editing keeps the data fields this form does not show (the API stores any).
    data = {k: v for k, v in (existing or {}).items() if k not in shown}
    if ctype == "CUSTOM":
        data = _custom_rows(form, existing or {})
    elif any(v == TOTP_REDACTED for v in data.values()):
        raise FormErrors({"_form": "This credential holds a TOTP seed this form cannot show."})
    for field in FIELDS[ctype]:
        raw = form.get(field.form_name, "")
        value: Any = [ln.strip() for ln in raw.splitlines() if ln.strip()] if field.lines else raw
        if isinstance(value, str) and not field.multiline and not (field.secret and value.strip()):
            value = value.strip()  # a password may begin or end with a space: kept as typed
        if field.section == "metadata":
            if value:
                metadata[field.key] = value
            continue
        if not value and existing is not None and field.key in existing:
            if field.totp and existing[field.key] == TOTP_REDACTED:
                errors[field.form_name] = "Enter the seed again: the vault never hands it back."
                continue
            value = existing[field.key]
        if field.totp and isinstance(value, str) and value.lower().startswith("otpauth:"):
            try:
                parsed = parse_otpauth_uri(value)
            except ValidationError as exc:
                errors[field.form_name] = exc.message
                continue
            value = parsed.secret
            if ctype == "TOTP":
                metadata = {**parsed.metadata(), **metadata}
        if value:
            data[field.key] = value
    if ctype == "TOTP" and existing is not None:
        data["usedBackupCodes"] = list(existing.get("usedBackupCodes", []))
    if errors:
        raise FormErrors(errors)
    expires = form.get("expiresAt", "").strip()
    return name, StoreRequest(
        type=ctype, data=data, metadata=metadata, expires_at=_expiry(expires) if expires else None
    )


def _custom_rows(form: Mapping[str, str], existing: Mapping[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    index = 0
    while f"custom.{index}.key" in form:
        key = form[f"custom.{index}.key"].strip()
        value = form.get(f"custom.{index}.value", "")
        if key:
            data[key] = value if value or key not in existing else existing[key]
            if data[key] == TOTP_REDACTED:
                raise FormErrors(
                    {"_form": f"Enter {key} again: the vault never hands a seed back."}
                )
        index += 1
    return data


def _expiry(value: str) -> str:
    """The form's date field (YYYY-MM-DD) as the API's ISO 8601 (end of that day, UTC)."""
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise FormErrors({"expiresAt": "Give a date as YYYY-MM-DD."}) from None
    return f"{day.isoformat()}T23:59:59Z"
