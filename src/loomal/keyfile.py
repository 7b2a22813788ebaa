"""Master keys in a key file: :class:`KeyFileSource`, the key file as a
:class:`~loomal.core.keys.KeySource` (generated on first start of the embedded
default), and the file operations rotation and sealing need.

A key file holds one base64 key per line; the first is primary (new data keys
are wrapped with it), the others still open older rows. It may instead be
*sealed*: the same keys encrypted under a passphrase (:mod:`loomal.core.key_file_lock`),
which only the operator can open. Either is written with mode 0600, atomically,
and never logged. Commands that change a sealed file ask for its passphrase and
keep its KDF salt, so a running server that holds the derived key can follow.
"""

from __future__ import annotations

import base64
import logging
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from loomal.core.crypto import KEY_BYTES, Keyring, derive_key_id, parse_master_key
from loomal.core.key_file_lock import (
    KdfParams,
    LockedKeys,
    check_new_passphrase,
    is_sealed_key_text,
)
from loomal.errors import LoomalError, SealedError, ValidationError

__all__ = [
    "DEFAULT_KEY_FILE",
    "KeyFileSource",
    "KeyFileWatcher",
    "Passphrase",
    "add_primary_key",
    "is_sealed_key_file",
    "read_key_file",
    "read_key_ids",
    "read_keys",
    "read_sealed_keys",
    "remove_key",
    "set_passphrase",
]

log = logging.getLogger("loomal.keys")

DEFAULT_KEY_FILE = "master.key"

K = TypeVar("K")

Passphrase = Callable[[], str]
"""Asked for only when the key file turns out to be sealed."""


@dataclass(frozen=True, slots=True)
class _Seal:
    """How a sealed file was opened: rewriting with the same salt and derived
    key keeps it openable by a server that unsealed it earlier."""

    kdf: KdfParams
    kek: bytes

    def __repr__(self) -> str:
        return "_Seal(<key>)"


class KeyFileSource:
    """The master keys of a key file, followed when it changes (rotation adds and
    retires keys while servers run). ``passphrase`` opens a sealed file (asked
    for only when needed); a server has none, so its sealed file goes through
    the unseal agent instead. With ``create``, a missing file is generated."""

    def __init__(
        self, path: Path, passphrase: Passphrase | None = None, *, create: bool = False
    ) -> None:
        self.path = path
        self._passphrase = passphrase
        self.generated = False
        """True if this process generated the file (the operator must back it up)."""
        if not path.exists():
            if not create:
                raise ValidationError(
                    f"Master key file {path} does not exist; set LOOMAL_MASTER_KEY or "
                    "LOOMAL_MASTER_KEY_FILE to the key this vault was created with."
                )
            try:
                _write_text(path, _plain_text([os.urandom(KEY_BYTES)]), exclusive=True)
                self.generated = True
            except FileExistsError:  # a server started beside this one wrote it first
                pass
        if not self.generated and path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            log.warning("master key file %s is readable by others; run chmod 600 on it", path)
        self._keyring: Keyring | None = None
        self._watcher: KeyFileWatcher[Keyring] | None = None

    def __repr__(self) -> str:
        return f"KeyFileSource({str(self.path)!r})"

    @property
    def description(self) -> str:
        return str(self.path)

    def current(self) -> Keyring:
        if self._keyring is None:
            watcher = KeyFileWatcher(self.path, self._read)  # before the read: no change is missed
            self._keyring, self._watcher = self._read(self.path), watcher
        return self._keyring

    def reload(self, force: bool = False) -> bool:
        fresh = None if self._watcher is None else self._watcher.reload_if_changed(force=force)
        if fresh is None:
            return False
        self._keyring = fresh
        return True

    def key_ids(self) -> list[str]:
        return read_key_ids(self.path)

    def add_primary_key(self) -> Keyring:
        self._keyring = add_primary_key(self.path, self._passphrase)
        return self._keyring

    def remove_key(self, key_id: str) -> None:
        remove_key(self.path, key_id, self._passphrase)
        self._keyring = None

    def _read(self, path: Path) -> Keyring:
        return read_key_file(path, self._passphrase)


def _read_text(path: Path) -> str:
    try:
        return path.read_text("ascii")
    except UnicodeDecodeError:
        raise ValidationError(f"{path} is not a Loomal key file.") from None
    except OSError as exc:
        raise ValidationError(f"Could not read the key file {path}: {exc.strerror}") from None


def read_sealed_keys(path: Path) -> LockedKeys:
    """The parsed sealed key file (still encrypted)."""
    return LockedKeys.parse(_read_text(path))


def is_sealed_key_file(path: Path) -> bool:
    return path.exists() and is_sealed_key_text(_read_text(path))


def _load(path: Path, passphrase: Passphrase | None) -> tuple[list[bytes], _Seal | None]:
    text = _read_text(path)
    if not is_sealed_key_text(text):
        keys = [parse_master_key(line) for line in _key_lines(text)]
        if not keys:
            raise ValidationError(f"Master key file {path} holds no key.")
        return keys, None
    sealed = LockedKeys.parse(text)
    if passphrase is None:
        raise SealedError(
            f"Master key file {path} is sealed under a passphrase; unseal the server with "
            "`loomal admin unseal`, or start it with --unseal-passphrase-file."
        )
    kek = sealed.kdf.derive(passphrase())
    return sealed.unlock(kek), _Seal(sealed.kdf, kek)


def _key_lines(text: str) -> list[str]:
    lines = [line.strip() for line in text.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def read_keys(path: Path, passphrase: Passphrase | None = None) -> list[bytes]:
    """The raw master keys, primary first (a sealed file needs ``passphrase``)."""
    return _load(path, passphrase)[0]


def read_key_file(path: Path, passphrase: Passphrase | None = None) -> Keyring:
    """The keyring a key file holds (first key primary)."""
    return Keyring.from_keys(*read_keys(path, passphrase))


def read_key_ids(path: Path) -> list[str]:
    """The key ids, primary first, of either kind of file (no passphrase needed)."""
    text = _read_text(path)
    if is_sealed_key_text(text):
        return list(LockedKeys.parse(text).key_ids)
    return [derive_key_id(parse_master_key(line)) for line in _key_lines(text)]


def _plain_text(keys: list[bytes]) -> str:
    return "".join(base64.b64encode(key).decode() + "\n" for key in keys)


def _write_keys(path: Path, keys: list[bytes], seal: _Seal | None) -> None:
    if seal is None:
        _write_text(path, _plain_text(keys))
    else:
        _write_text(path, LockedKeys.lock(keys, seal.kdf, seal.kek).to_text())


def _write_text(path: Path, text: str, *, exclusive: bool = False) -> None:
    """Write atomically (temp file, fsync, rename): a crash leaves the old file or the new.
    ``exclusive``: only if ``path`` does not exist (else FileExistsError, nothing
    changed); the file appears whole, so a process reading it never sees it half written."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    target = path.with_name(f"{path.name}.{os.getpid()}.tmp" if exclusive else path.name + ".tmp")
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    if exclusive:
        try:
            os.link(target, path)  # fails if path exists: never replaces a key file
        finally:
            target.unlink()
    else:
        os.replace(target, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def add_primary_key(path: Path, passphrase: Passphrase | None = None) -> Keyring:
    """Put a new random key first in the file (the old ones stay, to open old rows)."""
    keys, seal = _load(path, passphrase)
    keys = [os.urandom(KEY_BYTES), *keys]
    _write_keys(path, keys, seal)
    return Keyring.from_keys(*keys)


def remove_key(path: Path, key_id: str, passphrase: Passphrase | None = None) -> None:
    """Drop ``key_id`` from the file; whether it may go is the KeyManager's to decide."""
    keys, seal = _load(path, passphrase)
    ids = [derive_key_id(key) for key in keys]
    if key_id not in ids:
        raise ValidationError(f"{key_id} is not in {path}.")
    _write_keys(path, [key for key, kid in zip(keys, ids, strict=True) if kid != key_id], seal)


def set_passphrase(
    path: Path, new_passphrase: str, current_passphrase: Passphrase | None = None
) -> list[str]:
    """Seal the key file under ``new_passphrase``: a plain file is converted, a sealed
    one re-sealed under a fresh salt, and a missing one created with a new key, so
    that no plain copy of it ever touches the disk. Returns the key ids."""
    check_new_passphrase(new_passphrase)
    keys = read_keys(path, current_passphrase) if path.exists() else [os.urandom(KEY_BYTES)]
    kdf = KdfParams.new()
    sealed = LockedKeys.lock(keys, kdf, kdf.derive(new_passphrase))
    _write_text(path, sealed.to_text(), exclusive=not path.exists())
    return list(sealed.key_ids)


class KeyFileWatcher(Generic[K]):
    """Re-reads a key file when it changes (rotation adds and retires keys while
    servers run); a stat per check, a read only on change. ``read`` turns the
    file into keys: a keyring for a server, or the raw keys for the unseal agent,
    which opens the sealed file with the key derived at its unseal."""

    def __init__(self, path: Path, read: Callable[[Path], K]) -> None:
        self.path = path
        self._read = read
        self._seen = self._signature()

    def _signature(self) -> tuple[int, int, int]:
        stat_result = self.path.stat()
        return (stat_result.st_ino, stat_result.st_mtime_ns, stat_result.st_size)

    def reload_if_changed(self, *, force: bool = False) -> K | None:
        try:
            signature = self._signature()
        except OSError:
            return None  # removed or mid-rename: keep the keys held
        if signature == self._seen and not force:
            return None
        self._seen = signature  # a file we cannot use is reported once, not every second
        try:
            return self._read(self.path)
        except LoomalError as exc:
            log.error(
                "could not reload master key file %s (%s); keeping the keys held: %s",
                self.path,
                type(exc).__name__,
                _RELOAD_HINTS.get(exc.code, "fix it"),
            )
            return None


_RELOAD_HINTS = {
    "sealed": "restart the server to unseal it",
    "wrong_passphrase": "unseal again with the file's new passphrase",
}
