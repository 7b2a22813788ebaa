"""Rows sealed in storage format 1 (before type, expiry and metadata were bound)
still read, and are sealed again as format 2 when a server opens the store."""

from __future__ import annotations

import dataclasses
import os

import msgspec
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from loomal.config import ServerSettings
from loomal.core.crypto import Binding, SealedData, derive_key_id
from loomal.core.models import StoreRequest
from loomal.core.ports import CredentialRow
from loomal.core.principals import Principal
from loomal.errors import IntegrityError
from loomal.runtime import RunningVault, open_vault

KEY = os.urandom(32)
SECRET = {"key": "sk_live_Zq8v_format_one"}


def seal_format_1(plaintext: bytes, binding: Binding) -> SealedData:
    """What Loomal 0.1 wrote: a bare 12-byte nonce, the data bound to (identity,
    credential, name, version) only."""
    data_key, nonce, wrap_nonce = os.urandom(32), os.urandom(12), os.urandom(12)
    key_id = derive_key_id(KEY)
    return SealedData(
        key_id=key_id,
        wrapped_key=wrap_nonce
        + AESGCM(KEY).encrypt(wrap_nonce, data_key, binding.wrap_aad(key_id)),
        nonce=nonce,
        ciphertext=AESGCM(data_key).encrypt(nonce, plaintext, binding.format_1_data_aad()),
    )


async def store_in_format_1(vault: RunningVault, who: Principal, name: str) -> None:
    request = StoreRequest(type="API_KEY", data=SECRET, metadata={"allowedHosts": ["a.com"]})
    await vault.service.store_credential(who, name, request)

    def to_format_1(existing: CredentialRow | None) -> tuple[CredentialRow, None]:
        assert existing is not None
        sealed = seal_format_1(msgspec.json.encode(SECRET), existing.binding())
        return msgspec.structs.replace(
            existing,
            key_id=sealed.key_id,
            wrapped_key=sealed.wrapped_key,
            nonce=sealed.nonce,
            ciphertext=sealed.ciphertext,
        ), None

    await vault.store.modify_credential(
        identity_id=who.identity_id,
        name=name,
        change=to_format_1,
    )


async def test_format_1_rows_read_and_are_resealed_at_the_next_open(
    settings: ServerSettings,
) -> None:
    settings = dataclasses.replace(settings, master_key=KEY)
    vault = await open_vault(settings)
    try:
        created = await vault.identities.create_identity(
            "agent", scopes=["vault:read", "vault:write"]
        )
        who = await vault.identities.authenticate(f"Bearer {created.api_key}")
        for name in ("old-1", "old-2"):
            await store_in_format_1(vault, who, name)
        (old,) = [
            r for r in await vault.store.rows_sealed_in_format_1(limit=10) if r.name == "old-1"
        ]
        assert len(old.nonce) == 12
        assert (await vault.service.get_credential(who, "old-1")).data == SECRET  # still reads
    finally:
        await vault.close()

    reopened = await open_vault(settings)
    try:
        assert await reopened.store.rows_sealed_in_format_1(limit=10) == []
        for name in ("old-1", "old-2"):
            row = await reopened.store.get_credential(identity_id=who.identity_id, name=name)
            assert row is not None and len(row.nonce) == 13 and row.version == old.version
            assert (await reopened.service.get_credential(who, name)).data == SECRET
        # now bound: metadata edited behind the server's back no longer reads
        row = await reopened.store.get_credential(identity_id=who.identity_id, name="old-1")
        assert row is not None
        tampered = msgspec.structs.replace(row, metadata_json=b'{"allowedHosts":["b.com"]}')
        with pytest.raises(IntegrityError):
            reopened.keys.decrypt(tampered.sealed(), tampered.binding())
    finally:
        await reopened.close()
