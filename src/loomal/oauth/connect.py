"""The connect flow: a person authorises the vault at the provider, and the vault
stores the tokens, without any agent ever seeing the client secret.

``start`` (vault:write) builds the provider's authorization URL: authorization
code with PKCE (S256), a ``state`` of 256 random bits that is single-use, bound
to the identity and the credential name, and accepted for
:data:`CONNECT_SECONDS`. Only the state's hash is stored, beside the pending
settings (the PKCE verifier, the client settings, maybe a client secret) sealed
under the master key and bound to that hash, so a row moved to another state or
identity does not open. ``finish`` (the callback, ``GET /v0/oauth/callback``)
removes the state *before* anything else (a replay finds nothing), exchanges the
code at the token endpoint (through the broker's transport and egress policy)
and stores the credential as that identity. The redirect URI is the server's
public URL (``--public-url``) + ``/v0/oauth/callback``.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import msgspec

from loomal.core.crypto import Binding, SealedData
from loomal.core.identity import Principal, Scope
from loomal.core.keys import KeyManager
from loomal.core.models import ConnectRequest, ConnectStarted, StoreRequest
from loomal.core.oauth_store import ConnectState
from loomal.core.oauth_tokens import stored_metadata
from loomal.core.service import VaultService
from loomal.core.store import Store
from loomal.core.timestamps import from_micros, to_micros
from loomal.core.types import validate_credential_name
from loomal.errors import BadRequestError, IntegrityError, ServiceUnavailableError, ValidationError
from loomal.oauth.presets import client_config
from loomal.oauth.token_client import GrantRefused, ProviderUnavailable, TokenClient

__all__ = ["CALLBACK_PATH", "CONNECT_SECONDS", "ConnectFlow", "ConnectRequest", "ConnectStarted"]

CONNECT_SECONDS = 600
CALLBACK_PATH = "/v0/oauth/callback"

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(dict[str, Any]).decode


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def _state_hash(state: str) -> bytes:
    return hashlib.sha256(b"loomal.oauth-state.v1\x00" + state.encode("utf-8", "replace")).digest()


def _binding(identity_id: str, name: str, state_hash: bytes, expires_at: int) -> Binding:
    return Binding(
        identity_id,
        "oauth-connect",
        name,
        0,
        "OAUTH_CONNECT",
        state_hash.hex().encode(),
        expires_at,
    )


class ConnectFlow:
    def __init__(
        self,
        store: Store,
        keys: KeyManager,
        service: VaultService,
        client: TokenClient,
        *,
        public_url: str,
        clock: Callable[[], float],
    ) -> None:
        self._store, self._keys, self._service, self._client = store, keys, service, client
        self.redirect_uri = public_url.rstrip("/") + CALLBACK_PATH
        self._clock = clock

    async def start(
        self, principal: Principal, name: str, request: ConnectRequest
    ) -> ConnectStarted:
        principal.require(Scope.WRITE)
        validate_credential_name(name)
        self._keys.require_unsealed()
        metadata, data = await self._settings(principal, name, request)
        config = client_config(metadata, data)
        if config is None:
            raise ValidationError(
                "clientId is required (and a provider, or tokenUrl and authorizeUrl)."
            )
        if config.authorize_url is None:
            raise ValidationError(
                "metadata.oauth.authorizeUrl is required unless metadata.provider names a "
                "known provider."
            )
        state, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(48)
        now = self._clock()
        expires_at = to_micros(now + CONNECT_SECONDS)
        state_hash = _state_hash(state)
        pending = {"metadata": metadata, "data": data, "verifier": verifier}
        sealed = self._keys.seal(
            _encode(pending), _binding(principal.identity_id, name, state_hash, expires_at)
        )
        await self._store.add_connect_state(
            state=ConnectState(
                state_hash, principal.identity_id, name, msgspec.msgpack.encode(sealed), expires_at
            ),
            now=to_micros(now),
        )
        query = {
            "response_type": "code",
            "client_id": config.client_id,
            "redirect_uri": self.redirect_uri,
            "state": state,
            "code_challenge": s256(verifier),
            "code_challenge_method": "S256",
            **({"scope": " ".join(config.scopes)} if config.scopes else {}),
            **({"resource": config.resource} if config.resource else {}),
            **dict(config.extra_authorize),
        }
        joiner = "&" if "?" in config.authorize_url else "?"
        return ConnectStarted(
            authorize_url=f"{config.authorize_url}{joiner}{urlencode(query)}",
            redirect_uri=self.redirect_uri,
            expires_at=from_micros(expires_at),
        )

    async def finish(self, state: str, code: str | None, error: str | None = None) -> str:
        """Exchange ``code`` and store the tokens; returns the credential's name."""
        found = await self._store.pop_connect_state(state_hash=_state_hash(state))
        if found is None:
            raise BadRequestError(
                "This connect link is unknown or was used already; start again.",
                reason="bad_state",
            )
        if found.expires_at <= to_micros(self._clock()):
            raise BadRequestError(
                "This connect link expired (10 minutes); start again.", reason="state_expired"
            )
        binding = _binding(found.identity_id, found.credential_name, found.state_hash,
                           found.expires_at)  # fmt: skip
        try:
            sealed = msgspec.msgpack.decode(found.pending, type=SealedData)
            pending = _decode(self._keys.open(sealed, binding))
        except msgspec.DecodeError:
            raise IntegrityError() from None
        if error is not None or not code:
            raise BadRequestError(
                "The provider did not authorise the vault (the person declined, or the "
                "request was refused); start again.",
                reason="access_denied",
            )
        metadata, data = pending["metadata"], pending["data"]
        config = client_config(metadata, data)
        assert config is not None  # checked when the flow started
        try:
            tokens = await self._client.exchange_code(
                config, code, pending["verifier"], self.redirect_uri
            )
        except GrantRefused as refused:
            raise BadRequestError(
                f"The provider refused the authorization code ({refused.code or 'refused'}); "
                "start again.",
                reason="code_refused",
            ) from None
        except ProviderUnavailable:
            raise ServiceUnavailableError(
                "The provider's token endpoint did not answer; start again later.",
                reason="provider_unavailable",
            ) from None
        data = {**data, "accessToken": tokens.access_token}
        if tokens.refresh_token:
            data["refreshToken"] = tokens.refresh_token
        metadata = {k: v for k, v in metadata.items() if k not in ("oauthStatus", "expiresAt")}
        if tokens.expires_in is not None:
            expiry = from_micros(to_micros(self._clock() + tokens.expires_in))
            metadata["expiresAt"] = f"{expiry:%Y-%m-%dT%H:%M:%SZ}"
        # written as the identity that started the flow (it held vault:write then)
        acting = Principal(found.identity_id, "oauth-connect", frozenset({Scope.WRITE}))
        request = StoreRequest(type="OAUTH", data=data, metadata=metadata)
        await self._service.store_credential(acting, found.credential_name, request)
        return found.credential_name

    async def _settings(
        self, principal: Principal, name: str, request: ConnectRequest
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The metadata and data to connect with: the stored credential's (an
        existing OAUTH credential), overridden by what the request names."""
        metadata: dict[str, Any] = {}
        data: dict[str, Any] = {}
        row = await self._store.get_credential(identity_id=principal.identity_id, name=name)
        if row is not None and row.type == "OAUTH":
            metadata = stored_metadata(row)
            secret = _decode(self._keys.open(row.sealed(), row.binding())).get("clientSecret")
            if secret:
                data["clientSecret"] = secret
        oauth = dict(metadata.get("oauth") or {})
        for field, value in (
            ("clientId", request.client_id),
            ("tokenUrl", request.token_url),
            ("authorizeUrl", request.authorize_url),
            ("authMethod", request.auth_method),
            ("scopes", request.scopes),
            ("resource", request.resource),
        ):
            if value is not None:
                oauth[field] = value
        metadata["oauth"] = oauth
        if request.provider is not None:
            metadata["provider"] = request.provider
        if request.client_secret is not None:
            data["clientSecret"] = request.client_secret
        return metadata, data
