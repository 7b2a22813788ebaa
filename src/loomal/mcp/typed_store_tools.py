"""The official server's typed store tools, with its names and arguments:
``vault_storeApiKey``, ``vault_storeCard``, ``vault_storeShippingAddress``.

Each builds the body the SDKs' helpers (``store_api_key``, ``store_card``,
``store_shipping_address``) build, with those helpers, and stores it like
``vault_store``. One difference from the official server: ``vault_storeApiKey``
does not copy the first characters of the secret into ``metadata.prefix``
(metadata is plaintext, shown by every list).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult
from pydantic import Field

from loomal.client._base import Call, calls
from loomal.core.models import StoreRequest, StoreResponse
from loomal.core.principals import Scope
from loomal.mcp.backends import VaultBackend
from loomal.mcp.toolkit import DESTRUCTIVE_IDEMPOTENT, Name, ToolSpec

__all__ = ["TYPED_STORE_TOOLS", "CallVault", "VaultAction", "typed_store_tools"]

VaultAction = Callable[[VaultBackend], Awaitable[Any]]
CallVault = Callable[[Context, VaultAction], Awaitable[CallToolResult]]
"""Runs one action against the vault for a tool call (the tools module's ``call``)."""

ExpiresAt = Annotated[str | None, Field(description="Expiry date (ISO 8601)")]

TYPED_STORE_TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        "vault.storeApiKey", "Store an API key", StoreResponse, DESTRUCTIVE_IDEMPOTENT, Scope.WRITE
    ),
    ToolSpec("vault.storeCard", "Store a card", StoreResponse, DESTRUCTIVE_IDEMPOTENT, Scope.WRITE),
    ToolSpec(
        "vault.storeShippingAddress",
        "Store a shipping address",
        StoreResponse,
        DESTRUCTIVE_IDEMPOTENT,
        Scope.WRITE,
    ),
)


def _store_request(call: Call[StoreResponse]) -> StoreRequest:
    """The body an SDK store helper built, as the core takes it."""
    return StoreRequest(
        type=call.json["type"],
        data=call.json["data"],
        metadata=call.json.get("metadata"),
        expires_at=call.json.get("expiresAt"),
    )


def typed_store_tools(call: CallVault) -> dict[str, Callable[..., Any]]:
    """The three tools' functions, by dotted name, calling the vault through ``call``."""

    async def vault_storeApiKey(
        name: Name,
        secret: Annotated[str, Field(description="The API key / secret")],
        ctx: Context,
        clientId: Annotated[
            str | None, Field(description="OAuth client ID (omit for single-secret keys)")
        ] = None,
        expiresAt: ExpiresAt = None,
    ) -> CallToolResult:
        """Store an API_KEY credential: just secret for a single key (e.g. sk_live_...),
        or clientId and secret for OAuth-style client credentials (the clientId is also
        put in metadata, shown by {vault_list}). Overwrites a credential of this name."""
        pair = {"clientId": clientId, "secret": secret} if clientId else secret
        request = _store_request(calls.store_api_key(name, pair, None, expiresAt))
        return await call(ctx, lambda b: b.store(name, request))

    async def vault_storeCard(
        name: Name,
        cardholder: Annotated[str, Field(description="Cardholder name")],
        number: Annotated[str, Field(description="Card number")],
        expMonth: Annotated[str, Field(description="Expiration month (MM)")],
        expYear: Annotated[str, Field(description="Expiration year (YYYY)")],
        cvc: Annotated[str, Field(description="CVC / CVV")],
        ctx: Context,
        zip: Annotated[  # noqa: A002 - the official server's argument
            str | None, Field(description="Billing ZIP / postal code")
        ] = None,
        brand: Annotated[
            str | None, Field(description="Card brand (Visa, ...), stored in metadata for display")
        ] = None,
        expiresAt: ExpiresAt = None,
    ) -> CallToolResult:
        """Store a payment card as an encrypted credential (CARD; metadata gets last4 of the
        number, and brand). Password-manager-style storage: the vault never charges the
        card. Overwrites a credential of this name."""
        card = {"cardholder": cardholder, "number": number, "expMonth": expMonth}
        card |= {"expYear": expYear, "cvc": cvc} | ({"zip": zip} if zip else {})
        metadata = {"brand": brand} if brand else None
        request = _store_request(calls.store_card(name, card, metadata, expiresAt))
        return await call(ctx, lambda b: b.store(name, request))

    async def vault_storeShippingAddress(
        name: Name,
        recipient: Annotated[str, Field(description="Recipient name")],
        line1: Annotated[str, Field(description="Address line 1")],
        city: Annotated[str, Field(description="City")],
        state: Annotated[str, Field(description="State / region")],
        postcode: Annotated[str, Field(description="Postcode / ZIP")],
        country: Annotated[str, Field(description="Country code (ISO 3166-1 alpha-2, e.g. 'US')")],
        ctx: Context,
        line2: Annotated[str | None, Field(description="Address line 2")] = None,
        phone: Annotated[str | None, Field(description="Phone number")] = None,
    ) -> CallToolResult:
        """Store a shipping / mailing address as an encrypted credential
        (SHIPPING_ADDRESS; the recipient is data.name). Overwrites a credential of this
        name."""
        address = {"name": recipient, "line1": line1, "city": city, "state": state}
        address |= {"postcode": postcode, "country": country.upper()}
        address |= ({"line2": line2} if line2 else {}) | ({"phone": phone} if phone else {})
        request = _store_request(calls.store_shipping_address(name, address))
        return await call(ctx, lambda b: b.store(name, request))

    return {
        "vault.storeApiKey": vault_storeApiKey,
        "vault.storeCard": vault_storeCard,
        "vault.storeShippingAddress": vault_storeShippingAddress,
    }
