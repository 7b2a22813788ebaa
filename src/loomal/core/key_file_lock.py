"""Master keys sealed under a passphrase: Argon2id derives a key-encryption key,
AES-256-GCM encrypts the master keys with it.

A sealed key file is text, so an operator can see what it is::

    # Loomal Vault master keys, sealed under a passphrase (Argon2id, AES-256-GCM).
    {"format": "loomal-sealed-keys", "version": 1, "kdf": {...}, "keyIds": [...],
     "nonce": "...", "ciphertext": "..."}

The key ids stay readable (they are public fingerprints, already stored beside
every credential), so ``key-status`` works without the passphrase. Everything
else a reader could change is bound into the ciphertext's associated data:
the format, the KDF parameters and salt, and the key ids. A wrong passphrase
and a changed byte look the same: the keys do not open.

The KDF's cost is read from the file, and a file is untrusted input, so costs
are bounded: a forged file cannot make the server allocate a terabyte.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass

import msgspec
from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from loomal.core.crypto import KEY_BYTES, NONCE_BYTES, derive_key_id
from loomal.errors import AuthenticationError, ValidationError

__all__ = [
    "MIN_PASSPHRASE_CHARS",
    "KdfParams",
    "LockedKeys",
    "check_new_passphrase",
    "is_sealed_key_text",
]

FORMAT = "loomal-sealed-keys"
FORMAT_VERSION = 1
HEADER = "# Loomal Vault master keys, sealed under a passphrase (Argon2id, AES-256-GCM).\n"
MIN_PASSPHRASE_CHARS = 12
_SALT_BYTES = 16
_AAD_CONTEXT = "loomal.sealed-keys.v1"

# RFC 9106, section 4, second recommended option: t=3, 64 MiB, 4 lanes.
DEFAULT_TIME_COST = 3
DEFAULT_MEMORY_KIB = 64 * 1024
DEFAULT_PARALLELISM = 4
_MAX_TIME_COST = 64
_MAX_MEMORY_KIB = 4 * 1024 * 1024
_MAX_PARALLELISM = 64


class _Kdf(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    algorithm: str
    time_cost: int
    memory_kib: int = msgspec.field(name="memoryKiB")
    parallelism: int
    salt: str


class _File(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    format: str
    version: int
    kdf: _Kdf
    key_ids: list[str]
    nonce: str
    ciphertext: str


@dataclass(frozen=True, slots=True)
class KdfParams:
    """Argon2id parameters and salt: what turns a passphrase into a 256-bit key."""

    salt: bytes
    time_cost: int = DEFAULT_TIME_COST
    memory_kib: int = DEFAULT_MEMORY_KIB
    parallelism: int = DEFAULT_PARALLELISM

    @classmethod
    def new(cls) -> KdfParams:
        return cls(salt=os.urandom(_SALT_BYTES))

    def __post_init__(self) -> None:
        if not (
            len(self.salt) >= _SALT_BYTES
            and 1 <= self.time_cost <= _MAX_TIME_COST
            and 1 <= self.parallelism <= _MAX_PARALLELISM
            and 8 * self.parallelism <= self.memory_kib <= _MAX_MEMORY_KIB
        ):
            raise ValidationError("The sealed key file's Argon2id parameters are out of range.")

    def derive(self, passphrase: str) -> bytes:
        """The key-encryption key (about 0.2 s and 64 MiB with the defaults, by design)."""
        return hash_secret_raw(
            secret=passphrase.encode("utf-8"),
            salt=self.salt,
            time_cost=self.time_cost,
            memory_cost=self.memory_kib,
            parallelism=self.parallelism,
            hash_len=KEY_BYTES,
            type=Type.ID,
        )

    def _describe(self) -> _Kdf:
        return _Kdf(
            algorithm="argon2id",
            time_cost=self.time_cost,
            memory_kib=self.memory_kib,
            parallelism=self.parallelism,
            salt=_b64(self.salt),
        )


@dataclass(frozen=True, slots=True)
class LockedKeys:
    """The master keys (primary first), encrypted; the parsed form of a sealed key file."""

    kdf: KdfParams
    key_ids: tuple[str, ...]
    nonce: bytes
    ciphertext: bytes

    def __repr__(self) -> str:
        return f"LockedKeys(key_ids={list(self.key_ids)!r})"

    @classmethod
    def lock(cls, keys: list[bytes], kdf: KdfParams, kek: bytes) -> LockedKeys:
        """Encrypt ``keys`` under ``kek`` (from ``kdf.derive``) with a fresh nonce."""
        if not keys or any(len(key) != KEY_BYTES for key in keys):
            raise ValueError("master keys must be 32 bytes each, at least one")
        key_ids = tuple(derive_key_id(key) for key in keys)
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = AESGCM(kek).encrypt(nonce, b"".join(keys), _aad(kdf, key_ids))
        return cls(kdf=kdf, key_ids=key_ids, nonce=nonce, ciphertext=ciphertext)

    def unlock(self, kek: bytes) -> list[bytes]:
        """The master keys; a wrong passphrase or any changed byte raises the same error."""
        try:
            plain = AESGCM(kek).decrypt(self.nonce, self.ciphertext, _aad(self.kdf, self.key_ids))
        except InvalidTag:
            raise AuthenticationError(
                "Wrong passphrase (or the sealed key file was altered).", code="wrong_passphrase"
            ) from None
        keys = [plain[i : i + KEY_BYTES] for i in range(0, len(plain), KEY_BYTES)]
        if tuple(derive_key_id(key) for key in keys) != self.key_ids:  # pragma: no cover - AEAD
            raise AuthenticationError("The sealed key file was altered.", code="wrong_passphrase")
        return keys

    def to_text(self) -> str:
        body = _File(
            format=FORMAT,
            version=FORMAT_VERSION,
            kdf=self.kdf._describe(),
            key_ids=list(self.key_ids),
            nonce=_b64(self.nonce),
            ciphertext=_b64(self.ciphertext),
        )
        return HEADER + msgspec.json.encode(body).decode() + "\n"

    @classmethod
    def parse(cls, text: str) -> LockedKeys:
        body = "".join(line for line in text.splitlines() if not line.startswith("#"))
        try:
            parsed = msgspec.json.decode(body, type=_File)
            if parsed.format != FORMAT or parsed.version != FORMAT_VERSION:
                raise ValueError
            if parsed.kdf.algorithm != "argon2id" or not parsed.key_ids:
                raise ValueError
            kdf = KdfParams(
                salt=_unb64(parsed.kdf.salt),
                time_cost=parsed.kdf.time_cost,
                memory_kib=parsed.kdf.memory_kib,
                parallelism=parsed.kdf.parallelism,
            )
            nonce, ciphertext = _unb64(parsed.nonce), _unb64(parsed.ciphertext)
        except (msgspec.DecodeError, ValueError, binascii.Error):
            raise ValidationError(
                "The sealed key file is not in Loomal's format (version 1)."
            ) from None
        if len(nonce) != NONCE_BYTES or len(ciphertext) != KEY_BYTES * len(parsed.key_ids) + 16:
            raise ValidationError("The sealed key file is truncated or altered.")
        return cls(kdf=kdf, key_ids=tuple(parsed.key_ids), nonce=nonce, ciphertext=ciphertext)


def is_sealed_key_text(text: str) -> bool:
    """Whether a key file's text is a sealed file (else: base64 keys, one per line)."""
    return any(line.lstrip().startswith("{") for line in text.splitlines())


def check_new_passphrase(passphrase: str) -> None:
    if len(passphrase) < MIN_PASSPHRASE_CHARS:
        raise ValidationError(
            f"The passphrase must be at least {MIN_PASSPHRASE_CHARS} characters long."
        )


def _aad(kdf: KdfParams, key_ids: tuple[str, ...]) -> bytes:
    return msgspec.json.encode(
        [
            _AAD_CONTEXT,
            kdf.time_cost,
            kdf.memory_kib,
            kdf.parallelism,
            _b64(kdf.salt),
            list(key_ids),
        ]
    )


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)
