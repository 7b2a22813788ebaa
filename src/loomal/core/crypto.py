"""Envelope encryption: per-credential data keys wrapped by a master-key keyring.

With core/key_file_lock.py (master keys under a passphrase), the only module that
touches cryptographic primitives. Bytes in, bytes out: where keys come from,
how often they wrapped and when they change belong to :mod:`loomal.core.keys`.
Layout of one sealed credential (all stored in the credential's row):

    key_id       id of the master key that wrapped the data key
    wrapped_key  nonce(12) || AES-256-GCM(master, data_key, aad=wrap binding)
    nonce        0x02 || 12 random bytes (format 2; a row sealed before it: the 12 bytes)
    ciphertext   AES-256-GCM(data_key, plaintext, aad=data binding) incl. 16-byte tag

The data binding is (identity id, credential id, name, version, type, expiry,
SHA-256 of the metadata); the wrap binding is (master key id, identity id,
credential id, name, version). So a ciphertext copied onto another row, to
another identity or under another version fails to open; so does a row whose
type, expiry or metadata was changed in the database (metadata decides where a
brokered request may send the secret, and type whether a TOTP seed is shown);
and rotation can re-wrap a data key under a new master key without touching the
ciphertext. Every failure to open is one opaque :class:`~loomal.errors.IntegrityError`.

Format 1 (rows sealed before type, expiry and metadata were bound) still opens,
with its own binding: an AAD is authenticated, so a format-2 ciphertext never
opens under format 1's. Storing a credential again seals it as format 2.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Mapping

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from loomal.errors import IntegrityError, ValidationError

__all__ = [
    "KEY_BYTES",
    "Binding",
    "Keyring",
    "SealedData",
    "derive_key_id",
    "parse_master_key",
]

KEY_BYTES = 32
NONCE_BYTES = 12
_DATA_CONTEXT = "loomal.data.v1"
_DATA_CONTEXT_2 = "loomal.data.v2"
_FORMAT_2 = b"\x02"
_WRAP_CONTEXT = "loomal.wrap.v1"


class Binding(msgspec.Struct, frozen=True):
    """What a ciphertext is bound to; any difference on open is an integrity error.

    Binding and SealedData are frozen msgspec Structs (not frozen dataclasses,
    ~1 us each to build) because every read builds both."""

    identity_id: str
    credential_id: str
    name: str
    version: int
    type: str
    metadata_json: bytes
    expires_at: int | None

    def __repr__(self) -> str:
        return f"Binding(credential_id={self.credential_id!r}, version={self.version})"

    def data_aad(self) -> bytes:
        return msgspec.json.encode(
            [
                _DATA_CONTEXT_2,
                self.identity_id,
                self.credential_id,
                self.name,
                self.version,
                self.type,
                self.expires_at,
                hashlib.sha256(self.metadata_json).hexdigest(),
            ]
        )

    def format_1_data_aad(self) -> bytes:
        """A row sealed before type, expiry and metadata were bound."""
        return msgspec.json.encode(
            [_DATA_CONTEXT, self.identity_id, self.credential_id, self.name, self.version]
        )

    def wrap_aad(self, key_id: str) -> bytes:
        return msgspec.json.encode(
            [_WRAP_CONTEXT, key_id, self.identity_id, self.credential_id, self.name, self.version]
        )


class SealedData(msgspec.Struct, frozen=True):
    key_id: str
    wrapped_key: bytes
    nonce: bytes
    ciphertext: bytes

    def __repr__(self) -> str:
        return f"SealedData(key_id={self.key_id!r}, ciphertext=<{len(self.ciphertext)} bytes>)"


def derive_key_id(key: bytes) -> str:
    """A public fingerprint of a master key: identifies it, reveals nothing usable."""
    return "mk_" + hashlib.sha256(b"loomal.key-id.v1\x00" + key).hexdigest()[:16]


def parse_master_key(text: str | bytes) -> bytes:
    """Decode a base64 master key and check it is exactly 32 bytes."""
    raw = text.strip() if isinstance(text, bytes) else text.strip().encode()
    try:
        key = base64.b64decode(raw, validate=True)
    except ValueError:
        key = b""
    if len(key) != KEY_BYTES:
        raise ValidationError("The master key must be 32 bytes, base64-encoded.")
    return key


class Keyring:
    """Master keys by id; new data keys are wrapped by the primary one.

    Keys are checked in the constructor (Fernet's rule): a wrong-sized key
    never gets as far as a request.
    """

    def __init__(self, keys: Mapping[str, bytes], primary: str) -> None:
        if primary not in keys:
            raise ValueError("the primary key id must be one of the keys")
        for key in keys.values():
            if len(key) != KEY_BYTES:
                raise ValueError("master keys must be 32 bytes")
        self._aeads = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self._key_ids = frozenset(self._aeads)
        self.primary_key_id = primary

    @classmethod
    def from_keys(cls, *keys: bytes) -> Keyring:
        """A keyring whose first key is primary; ids are derived from the keys."""
        ids = [derive_key_id(k) for k in keys]
        return cls(dict(zip(ids, keys, strict=True)), ids[0])

    @property
    def key_ids(self) -> frozenset[str]:
        return self._key_ids

    def __repr__(self) -> str:
        return f"Keyring(primary={self.primary_key_id!r}, keys={sorted(self._aeads)!r})"

    def encrypt(self, plaintext: bytes, binding: Binding) -> SealedData:
        """Encrypt under a fresh data key and wrap that key with the primary master key."""
        data_key = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = AESGCM(data_key).encrypt(nonce, plaintext, binding.data_aad())
        return SealedData(
            key_id=self.primary_key_id,
            wrapped_key=self._wrap(data_key, binding, self.primary_key_id),
            nonce=_FORMAT_2 + nonce,
            ciphertext=ciphertext,
        )

    def decrypt(self, sealed: SealedData, binding: Binding) -> bytes:
        data_key = self._unwrap(sealed, binding)
        stored = sealed.nonce
        if len(stored) == NONCE_BYTES + 1 and stored[:1] == _FORMAT_2:
            nonce, aad = stored[1:], binding.data_aad()
        elif len(stored) == NONCE_BYTES:
            nonce, aad = stored, binding.format_1_data_aad()
        else:
            raise IntegrityError()
        try:
            return AESGCM(data_key).decrypt(nonce, sealed.ciphertext, aad)
        except (InvalidTag, ValueError, TypeError):
            raise IntegrityError() from None

    def rewrap(self, sealed: SealedData, binding: Binding) -> SealedData:
        """Re-wrap the data key under the primary key; the ciphertext is untouched."""
        data_key = self._unwrap(sealed, binding)
        return SealedData(
            key_id=self.primary_key_id,
            wrapped_key=self._wrap(data_key, binding, self.primary_key_id),
            nonce=sealed.nonce,
            ciphertext=sealed.ciphertext,
        )

    def _wrap(self, data_key: bytes, binding: Binding, key_id: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aeads[key_id].encrypt(nonce, data_key, binding.wrap_aad(key_id))

    def _unwrap(self, sealed: SealedData, binding: Binding) -> bytes:
        aead = self._aeads.get(sealed.key_id)
        if aead is None or len(sealed.wrapped_key) != NONCE_BYTES + KEY_BYTES + 16:
            raise IntegrityError()
        nonce, body = sealed.wrapped_key[:NONCE_BYTES], sealed.wrapped_key[NONCE_BYTES:]
        try:
            return aead.decrypt(nonce, body, binding.wrap_aad(sealed.key_id))
        except (InvalidTag, ValueError, TypeError):
            raise IntegrityError() from None
