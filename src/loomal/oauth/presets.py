"""What a refreshable OAUTH credential names, and the providers that may be named
instead of URLs.

``metadata.oauth``: ``clientId`` (required), ``tokenUrl`` (or a preset from
``metadata.provider``), ``authMethod`` (``client_secret_basic``,
``client_secret_post`` or ``none``; default: the preset's, else
``client_secret_basic``), optional ``scopes`` (a list of strings or one
space-separated string), ``resource`` (RFC 8707) and ``authorizeUrl`` (for the
connect flow). ``data.clientSecret`` is required unless the method is ``none``.

The preset URLs are the providers' documented endpoints; tests never contact them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from loomal.broker.urls import parse_url
from loomal.errors import ValidationError

__all__ = ["AUTH_METHODS", "PRESETS", "ClientConfig", "Preset", "client_config", "validate_oauth"]

AUTH_METHODS = ("client_secret_basic", "client_secret_post", "none")


@dataclass(frozen=True, slots=True)
class Preset:
    token_url: str
    authorize_url: str
    auth_method: str = "client_secret_post"
    extra_authorize: tuple[tuple[str, str], ...] = ()
    """Parameters a provider needs to hand out a refresh token at all."""


PRESETS: Mapping[str, Preset] = {
    "google": Preset(
        "https://oauth2.googleapis.com/token",
        "https://accounts.google.com/o/oauth2/v2/auth",
        extra_authorize=(("access_type", "offline"), ("prompt", "consent")),
    ),
    "microsoft": Preset(
        "https://login.microsoftonline.com/common/oauth2/v2.0/token",
        "https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
    ),
    "github": Preset(
        "https://github.com/login/oauth/access_token",
        "https://github.com/login/oauth/authorize",
    ),
    "slack": Preset(
        "https://slack.com/api/oauth.v2.access",
        "https://slack.com/oauth/v2/authorize",
    ),
    "salesforce": Preset(
        "https://login.salesforce.com/services/oauth2/token",
        "https://login.salesforce.com/services/oauth2/authorize",
    ),
    "hubspot": Preset(
        "https://api.hubapi.com/oauth/v1/token",
        "https://app.hubspot.com/oauth/authorize",
    ),
}


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """How to talk to one credential's token endpoint; masked in repr."""

    token_url: str
    authorize_url: str | None
    client_id: str
    client_secret: str | None
    auth_method: str
    scopes: tuple[str, ...]
    resource: str | None
    extra_authorize: tuple[tuple[str, str], ...] = ()

    def __repr__(self) -> str:
        return f"ClientConfig({self.token_url}, {self.client_id}, '***')"


def _settings(metadata: Mapping[str, Any]) -> Mapping[str, Any] | None:
    found = metadata.get("oauth")
    if found is None:
        return None
    if not isinstance(found, Mapping):
        raise ValidationError("metadata.oauth must be a JSON object.")
    return found


def _text(settings: Mapping[str, Any], field: str, *, required: bool = False) -> str | None:
    value = settings.get(field)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"metadata.oauth.{field} must be a non-empty string.")
    return value


def _scopes(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(value.split())
    if isinstance(value, list) and all(isinstance(s, str) and s and " " not in s for s in value):
        return tuple(value)
    raise ValidationError(
        "metadata.oauth.scopes must be a list of scope names or one space-separated string."
    )


def client_config(metadata: Mapping[str, Any], data: Mapping[str, Any]) -> ClientConfig | None:
    """The credential's token endpoint settings (None: not refreshable); refuses
    incomplete ones with a 422 naming the field."""
    settings = _settings(metadata)
    if settings is None:
        return None
    provider = metadata.get("provider")
    preset = PRESETS.get(provider.lower()) if isinstance(provider, str) else None
    token_url = _text(settings, "tokenUrl")
    if token_url is None:
        if preset is None:
            known = ", ".join(PRESETS)
            raise ValidationError(
                "metadata.oauth.tokenUrl is required unless metadata.provider names a "
                f"known provider ({known})."
            )
        token_url = preset.token_url
    parse_url(token_url, field="metadata.oauth.tokenUrl")
    authorize_url = _text(settings, "authorizeUrl") or (preset and preset.authorize_url)
    if authorize_url:
        parse_url(authorize_url, field="metadata.oauth.authorizeUrl")
    method = _text(settings, "authMethod") or (
        preset.auth_method if preset else "client_secret_basic"
    )
    if method not in AUTH_METHODS:
        raise ValidationError(
            f"metadata.oauth.authMethod must be one of {', '.join(AUTH_METHODS)}."
        )
    secret = data.get("clientSecret")
    if method != "none" and (not isinstance(secret, str) or not secret):
        raise ValidationError(
            f"data.clientSecret is required with metadata.oauth.authMethod {method} "
            "(or set authMethod to none for a public client)."
        )
    return ClientConfig(
        token_url=token_url,
        authorize_url=authorize_url or None,
        client_id=str(_text(settings, "clientId", required=True)),
        client_secret=secret if method != "none" else None,
        auth_method=method,
        scopes=_scopes(settings.get("scopes")),
        resource=_text(settings, "resource"),
        extra_authorize=preset.extra_authorize if preset else (),
    )


def validate_oauth(metadata: Mapping[str, Any], data: Mapping[str, Any]) -> None:
    """The store-time check handed to the core (a ``MetadataCheck``)."""
    client_config(metadata, data)
    status = metadata.get("oauthStatus")
    if status is not None and status != "needs_reauth":
        raise ValidationError('metadata.oauthStatus is set by the vault: only "needs_reauth".')
