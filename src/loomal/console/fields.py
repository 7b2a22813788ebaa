"""The console's form fields: each credential type's inputs, and the inputs every
type shares for brokered use (allowed hosts, base URL, injection, request rules)
and for metadata no other input holds.

Data inputs map to ``data.<key>``, metadata inputs to ``metadata.<key>``: the
API's own field names, so the core's validation messages find their input.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "BROKER_FIELDS",
    "CREDENTIAL_TYPES",
    "CUSTOM_ROWS",
    "FIELDS",
    "OTHER_METADATA",
    "Field",
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
    form_key: str = ""  # the input's name when it is not section.key (one part of a key)

    @property
    def form_name(self) -> str:
        return f"{self.section}.{self.form_key or self.key}"


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


# Brokered use (docs/brokered.md): any type may carry these.
_INJECT_HINT = "Leave all four blank for the type's default (a Bearer or Basic Authorization)"
BROKER_FIELDS: tuple[Field, ...] = (
    _m(
        "allowedHosts",
        "Allowed hosts",
        lines=True,
        multiline=True,
        hint="One per line, e.g. api.stripe.com or *.example.com: the only hosts the vault "
        "sends this credential to",
    ),
    _m(
        "baseUrl",
        "Base URL",
        hint="Where the proxy sends requests, e.g. https://api.example.com/v1",
    ),
    _m(
        "inject",
        "Inject into",
        choices=("header", "query"),
        hint=_INJECT_HINT,
    ),
    _m("inject", "Header or query parameter name", form_key="inject.name", hint="e.g. X-Api-Key"),
    _m("inject", "Prefix", form_key="inject.prefix", hint='e.g. "Token " (header only)'),
    _m(
        "inject",
        "Template",
        form_key="inject.template",
        hint="Instead of a prefix: {field} names a data field, e.g. Token {key}",
    ),
    _m(
        "rules",
        "Request rules (JSON)",
        multiline=True,
        hint='e.g. [{"methods": ["GET"], "paths": ["/v1/**"]}]; blank: every request to an '
        "allowed host",
    ),
)

OTHER_METADATA = _m(
    "*",
    "Other metadata (JSON)",
    multiline=True,
    form_key="other",
    hint="Fields no input above holds, as a JSON object; kept as they are unless you change them",
)
