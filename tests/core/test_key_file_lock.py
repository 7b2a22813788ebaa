"""Master keys sealed under a passphrase: the file format, tampering, and the key file
commands that keep a sealed file sealed."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import msgspec
import pytest

from loomal.core.crypto import derive_key_id
from loomal.core.key_file_lock import KdfParams, LockedKeys
from loomal.errors import AuthenticationError, SealedError, ValidationError
from loomal.keyfile import (
    add_primary_key,
    is_sealed_key_file,
    read_key_file,
    read_key_ids,
    read_keys,
    remove_key,
    set_passphrase,
)

PASSPHRASE = "correct horse battery staple"
FAST = {"time_cost": 1, "memory_kib": 64, "parallelism": 1}  # tests only; files use RFC 9106


def fast_kdf() -> KdfParams:
    return KdfParams(salt=os.urandom(16), **FAST)


def sealed_text(keys: list[bytes], passphrase: str = PASSPHRASE) -> str:
    kdf = fast_kdf()
    return LockedKeys.lock(keys, kdf, kdf.derive(passphrase)).to_text()


def open_text(text: str, passphrase: str = PASSPHRASE) -> list[bytes]:
    sealed = LockedKeys.parse(text)
    return sealed.unlock(sealed.kdf.derive(passphrase))


def test_round_trip_and_the_file_holds_no_key() -> None:
    keys = [os.urandom(32), os.urandom(32)]
    text = sealed_text(keys)
    assert open_text(text) == keys
    for key in keys:
        assert base64.b64encode(key).decode() not in text
        assert key.hex() not in text
    assert LockedKeys.parse(text).key_ids == tuple(derive_key_id(k) for k in keys)
    assert repr(LockedKeys.parse(text)) == f"LockedKeys(key_ids={[derive_key_id(k) for k in keys]})"


def test_the_same_keys_sealed_twice_share_nothing() -> None:
    keys = [os.urandom(32)]
    one, two = (msgspec.json.decode(sealed_text(keys).splitlines()[1]) for _ in range(2))
    assert one["kdf"]["salt"] != two["kdf"]["salt"]
    assert one["nonce"] != two["nonce"]
    assert one["ciphertext"] != two["ciphertext"]


def test_wrong_passphrase_is_refused_without_echoing_either() -> None:
    text = sealed_text([os.urandom(32)])
    with pytest.raises(AuthenticationError) as caught:
        open_text(text, "correct horse battery stapler")
    assert caught.value.code == "wrong_passphrase"
    assert "stapl" not in str(caught.value) and "stapl" not in repr(caught.value)


def _flip_b64(value: str) -> str:
    raw = bytearray(base64.b64decode(value))
    raw[len(raw) // 2] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


MUTATIONS = {
    "salt": lambda f: f["kdf"].update(salt=_flip_b64(f["kdf"]["salt"])),
    "timeCost": lambda f: f["kdf"].update(timeCost=2),
    "memoryKiB": lambda f: f["kdf"].update(memoryKiB=128),
    "parallelism": lambda f: f["kdf"].update(parallelism=2),
    "nonce": lambda f: f.update(nonce=_flip_b64(f["nonce"])),
    "ciphertext": lambda f: f.update(ciphertext=_flip_b64(f["ciphertext"])),
    "key id order": lambda f: f["keyIds"].reverse(),
    "key id swapped": lambda f: f["keyIds"].__setitem__(0, derive_key_id(os.urandom(32))),
}


@pytest.mark.parametrize("field", MUTATIONS)
def test_any_changed_field_fails_to_open(field: str) -> None:
    text = sealed_text([os.urandom(32), os.urandom(32)])
    header, body = text.splitlines()
    parsed = msgspec.json.decode(body)
    MUTATIONS[field](parsed)
    forged = header + "\n" + msgspec.json.encode(parsed).decode() + "\n"
    with pytest.raises(AuthenticationError, match="Wrong passphrase"):
        open_text(forged)


@pytest.mark.parametrize(
    "kdf",
    [
        {"memoryKiB": 2**40},
        {"timeCost": 10_000},
        {"parallelism": 0},
        {"algorithm": "scrypt"},
        {"salt": "c2hvcnQ="},
    ],
)
def test_forged_costs_are_refused_before_any_derivation(kdf: dict[str, object]) -> None:
    _header, body = sealed_text([os.urandom(32)]).splitlines()
    parsed = msgspec.json.decode(body)
    parsed["kdf"].update(kdf)
    with pytest.raises(ValidationError):
        LockedKeys.parse(msgspec.json.encode(parsed).decode())


@pytest.mark.parametrize(
    "text",
    ["", "{", '{"format": "other"}', "# comment only\n", '{"format":"loomal-sealed-keys"}'],
)
def test_malformed_files_get_a_clear_error(text: str) -> None:
    with pytest.raises(ValidationError, match="sealed key file"):
        LockedKeys.parse(text)


def test_truncated_ciphertext_is_refused() -> None:
    _header, body = sealed_text([os.urandom(32)]).splitlines()
    parsed = msgspec.json.decode(body)
    parsed["ciphertext"] = base64.b64encode(base64.b64decode(parsed["ciphertext"])[:-1]).decode()
    with pytest.raises(ValidationError, match="truncated"):
        LockedKeys.parse(msgspec.json.encode(parsed).decode())


# -- the key file commands on a sealed file -------------------------------------------


def test_sealing_a_plain_key_file_keeps_its_keys_and_hides_them(
    tmp_path: Path, cheap_argon2: None
) -> None:
    path = tmp_path / "master.key"
    keys = [os.urandom(32), os.urandom(32)]
    path.write_text("".join(base64.b64encode(k).decode() + "\n" for k in keys))
    assert not is_sealed_key_file(path)
    ids = set_passphrase(path, PASSPHRASE)
    assert is_sealed_key_file(path)
    assert ids == [derive_key_id(k) for k in keys]
    assert path.stat().st_mode & 0o777 == 0o600
    raw = path.read_bytes()
    assert all(base64.b64encode(k) not in raw and k not in raw for k in keys)
    assert read_keys(path, lambda: PASSPHRASE) == keys
    assert read_key_ids(path) == ids  # key-status needs no passphrase
    with pytest.raises(SealedError, match="sealed under a passphrase"):
        read_key_file(path)  # a server given the file without the passphrase refuses


def test_a_new_sealed_file_is_never_written_in_plain(tmp_path: Path) -> None:
    path = tmp_path / "data" / "master.key"
    (key_id,) = set_passphrase(path, PASSPHRASE)
    assert is_sealed_key_file(path)
    assert read_key_file(path, lambda: PASSPHRASE).primary_key_id == key_id
    assert sorted(p.name for p in path.parent.iterdir()) == ["master.key"]  # no temp file left
    kdf = LockedKeys.parse(path.read_text()).kdf  # RFC 9106's second recommendation
    assert (kdf.time_cost, kdf.memory_kib, kdf.parallelism) == (3, 64 * 1024, 4)


def test_rotation_keeps_the_file_sealed_and_openable_by_the_same_derived_key(
    tmp_path: Path, cheap_argon2: None
) -> None:
    path = tmp_path / "master.key"
    set_passphrase(path, PASSPHRASE)
    before = LockedKeys.parse(path.read_text())
    kek = before.kdf.derive(PASSPHRASE)  # what a running server holds after its unseal
    keyring = add_primary_key(path, lambda: PASSPHRASE)
    after = LockedKeys.parse(path.read_text())
    assert after.kdf == before.kdf
    assert after.nonce != before.nonce
    assert [derive_key_id(k) for k in after.unlock(kek)] == [
        keyring.primary_key_id,
        *before.key_ids,
    ]
    remove_key(path, before.key_ids[0], lambda: PASSPHRASE)
    assert [derive_key_id(k) for k in LockedKeys.parse(path.read_text()).unlock(kek)] == [
        keyring.primary_key_id
    ]


def test_changing_the_passphrase_needs_the_old_one(tmp_path: Path, cheap_argon2: None) -> None:
    path = tmp_path / "master.key"
    (key_id,) = set_passphrase(path, PASSPHRASE)
    with pytest.raises(AuthenticationError):
        set_passphrase(path, "a brand new passphrase", lambda: "not the passphrase")
    assert set_passphrase(path, "a brand new passphrase", lambda: PASSPHRASE) == [key_id]
    with pytest.raises(AuthenticationError):
        read_keys(path, lambda: PASSPHRASE)
    assert derive_key_id(read_keys(path, lambda: "a brand new passphrase")[0]) == key_id


def test_short_passphrases_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="at least 12 characters"):
        set_passphrase(tmp_path / "master.key", "hunter2")
    assert not (tmp_path / "master.key").exists()
