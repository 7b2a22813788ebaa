"""Envelope encryption: round trip, binding, tamper evidence, rotation by re-wrap."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from msgspec.structs import replace

from loomal.core.crypto import Binding, Keyring, SealedData, parse_master_key
from loomal.errors import IntegrityError, ValidationError

BINDING = Binding("id_a", "cred_1", "stripe", 1, "API_KEY", b'{"allowedHosts":["a.com"]}', None)
SECRET = b'{"key":"sk_live_abc123..."}'


@pytest.fixture
def keyring() -> Keyring:
    return Keyring.from_keys(os.urandom(32))


def test_round_trip(keyring: Keyring) -> None:
    assert keyring.decrypt(keyring.encrypt(SECRET, BINDING), BINDING) == SECRET


def test_same_plaintext_twice_gives_different_ciphertexts_and_keys(keyring: Keyring) -> None:
    a, b = keyring.encrypt(SECRET, BINDING), keyring.encrypt(SECRET, BINDING)
    assert a.ciphertext != b.ciphertext
    assert a.nonce != b.nonce
    assert a.wrapped_key != b.wrapped_key
    assert SECRET not in a.ciphertext


def _vector(name: str) -> tuple[Keyring, SealedData, dict[str, Any]]:
    vector: dict[str, Any] = json.loads((Path(__file__).parent / "vectors" / name).read_text())
    keyring = Keyring.from_keys(base64.b64decode(vector["master_key"]))
    assert keyring.primary_key_id == vector["key_id"]
    sealed = SealedData(
        vector["key_id"],
        bytes.fromhex(vector["wrapped_key"]),
        bytes.fromhex(vector["nonce"]),
        bytes.fromhex(vector["ciphertext"]),
    )
    return keyring, sealed, vector


def test_stored_format_2_still_opens_and_binds_type_expiry_and_metadata() -> None:
    keyring, sealed, vector = _vector("envelope_v2.json")
    binding = Binding(
        **{**vector["binding"], "metadata_json": vector["binding"]["metadata_json"].encode()}
    )
    assert keyring.decrypt(sealed, binding) == vector["plaintext"].encode()
    for edited in (
        replace(binding, type="CUSTOM"),
        replace(binding, expires_at=None),
        replace(binding, metadata_json=b'{"allowedHosts":["attacker.example"]}'),
    ):
        with pytest.raises(IntegrityError):
            keyring.decrypt(sealed, edited)
    with pytest.raises(IntegrityError):  # presented as format 1: its binding is not format 2's
        keyring.decrypt(replace(sealed, nonce=sealed.nonce[1:]), binding)


def test_stored_format_1_still_opens() -> None:
    """Sealed before type, expiry and metadata were bound: those do not take part."""
    keyring, sealed, vector = _vector("envelope_v1.json")
    binding = Binding(**vector["binding"], type="API_KEY", metadata_json=b"{}", expires_at=None)
    assert keyring.decrypt(sealed, binding) == vector["plaintext"].encode()
    with pytest.raises(IntegrityError):
        keyring.decrypt(sealed, replace(binding, name="github"))


@pytest.mark.parametrize("field", ["wrapped_key", "nonce", "ciphertext"])
def test_every_flipped_byte_of_every_field_is_detected(keyring: Keyring, field: str) -> None:
    sealed = keyring.encrypt(SECRET, BINDING)
    original: bytes = getattr(sealed, field)
    for index in range(len(original)):
        flipped = bytearray(original)
        flipped[index] ^= 0x01
        with pytest.raises(IntegrityError):
            keyring.decrypt(replace(sealed, **{field: bytes(flipped)}), BINDING)


@pytest.mark.parametrize(
    "other",
    [
        replace(BINDING, identity_id="id_b"),
        replace(BINDING, credential_id="cred_2"),
        replace(BINDING, name="github"),
        replace(BINDING, version=2),
        replace(BINDING, version=0),
        replace(BINDING, type="CUSTOM"),
        replace(BINDING, expires_at=1),
        replace(BINDING, metadata_json=b'{"allowedHosts":["b.com"]}'),
    ],
)
def test_ciphertext_moved_to_another_binding_fails(keyring: Keyring, other: Binding) -> None:
    with pytest.raises(IntegrityError):
        keyring.decrypt(keyring.encrypt(SECRET, BINDING), other)


def test_key_id_is_bound_and_unknown_keys_fail(keyring: Keyring) -> None:
    sealed = keyring.encrypt(SECRET, BINDING)
    with pytest.raises(IntegrityError):
        keyring.decrypt(replace(sealed, key_id="mk_0000000000000000"), BINDING)
    with pytest.raises(IntegrityError):
        Keyring.from_keys(os.urandom(32)).decrypt(sealed, BINDING)


def test_rewrap_moves_to_new_primary_without_touching_ciphertext(keyring: Keyring) -> None:
    old_key = os.urandom(32)
    old = Keyring.from_keys(old_key)
    sealed = old.encrypt(SECRET, BINDING)
    rotated = Keyring.from_keys(os.urandom(32), old_key)
    rewrapped = rotated.rewrap(sealed, BINDING)
    assert rewrapped.key_id == rotated.primary_key_id != sealed.key_id
    assert (rewrapped.nonce, rewrapped.ciphertext) == (sealed.nonce, sealed.ciphertext)
    assert rotated.decrypt(rewrapped, BINDING) == SECRET
    assert rotated.decrypt(sealed, BINDING) == SECRET  # not-yet-rewrapped rows still open


def test_integrity_error_says_nothing_of_the_data(keyring: Keyring) -> None:
    sealed = keyring.encrypt(SECRET, BINDING)
    with pytest.raises(IntegrityError) as info:
        keyring.decrypt(replace(sealed, ciphertext=sealed.ciphertext[:-1] + b"\0"), BINDING)
    assert "sk_live" not in str(info.value) and "sk_live" not in repr(info.value)
    assert "sk_live" not in repr(sealed)


@pytest.mark.parametrize("text", ["", "short", base64.b64encode(b"x" * 31).decode(), "!" * 44])
def test_master_key_must_be_32_bytes_of_base64(text: str) -> None:
    with pytest.raises(ValidationError):
        parse_master_key(text)


def test_keyring_checks_keys_in_constructor() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        Keyring({"mk_x": b"short"}, "mk_x")


@settings(max_examples=200, deadline=None)
@given(
    plaintext=st.binary(max_size=512),
    field=st.sampled_from(["wrapped_key", "nonce", "ciphertext"]),
    position=st.integers(min_value=0),
    mask=st.integers(min_value=1, max_value=255),
)
def test_property_round_trip_and_any_mutation_fails(
    plaintext: bytes, field: str, position: int, mask: int
) -> None:
    keyring = Keyring.from_keys(bytes(32))
    sealed = keyring.encrypt(plaintext, BINDING)
    assert keyring.decrypt(sealed, BINDING) == plaintext
    value = bytearray(getattr(sealed, field))
    value[position % len(value)] ^= mask
    with pytest.raises(IntegrityError):
        keyring.decrypt(replace(sealed, **{field: bytes(value)}), BINDING)


def test_100000_seals_never_repeat_a_nonce(keyring: Keyring) -> None:
    nonces: set[bytes] = set()
    for _ in range(100_000):
        sealed = keyring.encrypt(b"x", BINDING)
        nonces.add(sealed.nonce)
        nonces.add(sealed.wrapped_key[:12])
    assert len(nonces) == 200_000
