"""Where the master keys come from: ``LOOMAL_MASTER_KEY``, a key file, or a new
key file generated on first start of the embedded default.

A key file holds one base64 key per line; the first is primary (new data keys
are wrapped with it), the others still open older rows. The file is written
with mode 0600 and never logged.
"""

from __future__ import annotations

import base64
import logging
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from loomal.core.crypto import KEY_BYTES, Keyring, derive_key_id, parse_master_key
from loomal.errors import ValidationError

__all__ = [
    "KeyFileWatcher",
    "MasterKeySource",
    "add_primary_key",
    "load_keyring",
    "read_key_file",
    "remove_key",
]

log = logging.getLogger("loomal.keys")

DEFAULT_KEY_FILE = "master.key"


@dataclass(frozen=True, slots=True)
class MasterKeySource:
    description: str
    generated: bool = False
    path: Path | None = None
    """The key file, when keys come from one (rotation needs it)."""


def load_keyring(
    *,
    data_dir: Path,
    key_file: Path | None,
    env: Mapping[str, str] | None = None,
    create: bool,
) -> tuple[Keyring, MasterKeySource]:
    env = os.environ if env is None else env
    if env.get("LOOMAL_MASTER_KEY"):
        return Keyring.from_keys(parse_master_key(env["LOOMAL_MASTER_KEY"])), MasterKeySource(
            "LOOMAL_MASTER_KEY"
        )
    path = key_file or data_dir / DEFAULT_KEY_FILE
    if not path.exists():
        if key_file is not None or not create:
            raise ValidationError(
                f"Master key file {path} does not exist; set LOOMAL_MASTER_KEY or "
                "LOOMAL_MASTER_KEY_FILE to the key this vault was created with."
            )
        _write_new_key_file(path)
        return read_key_file(path), MasterKeySource(str(path), generated=True, path=path)
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("master key file %s is readable by others; run chmod 600 on it", path)
    return read_key_file(path), MasterKeySource(str(path), path=path)


def _read_keys(path: Path) -> list[bytes]:
    lines = [line.strip() for line in path.read_text("ascii").splitlines()]
    keys = [parse_master_key(line) for line in lines if line and not line.startswith("#")]
    if not keys:
        raise ValidationError(f"Master key file {path} holds no key.")
    return keys


def read_key_file(path: Path) -> Keyring:
    """The keyring a key file holds (first key primary)."""
    return Keyring.from_keys(*_read_keys(path))


def _write_keys(path: Path, keys: list[bytes], *, exclusive: bool = False) -> None:
    """Write atomically (temp file, fsync, rename): a crash leaves the old file or the new."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    text = "".join(base64.b64encode(key).decode() + "\n" for key in keys)
    if exclusive:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        target = path
    else:
        target = path.with_name(path.name + ".tmp")
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    if target != path:
        os.replace(target, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _write_new_key_file(path: Path) -> None:
    _write_keys(path, [os.urandom(KEY_BYTES)], exclusive=True)


def add_primary_key(path: Path) -> Keyring:
    """Put a new random key first in the file (the old ones stay, to open old rows)."""
    _write_keys(path, [os.urandom(KEY_BYTES), *_read_keys(path)])
    return read_key_file(path)


def remove_key(path: Path, key_id: str) -> Keyring:
    keyring = read_key_file(path)
    if key_id == keyring.primary_key_id:
        raise ValidationError(f"{key_id} is the primary key; rotate to a new key first.")
    keys = [k for k in _read_keys(path) if derive_key_id(k) != key_id]
    if len(keys) == len(_read_keys(path)):
        raise ValidationError(f"{key_id} is not in {path}.")
    _write_keys(path, keys)
    return read_key_file(path)


class KeyFileWatcher:
    """Re-reads a key file when it changes (rotation adds and retires keys while
    servers run); a stat per check, a read only on change."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen = self._signature()

    def _signature(self) -> tuple[int, int, int]:
        stat_result = self.path.stat()
        return (stat_result.st_ino, stat_result.st_mtime_ns, stat_result.st_size)

    def reload_if_changed(self, *, force: bool = False) -> Keyring | None:
        try:
            signature = self._signature()
            if signature == self._seen and not force:
                return None
            keyring = read_key_file(self.path)
        except (OSError, ValidationError) as exc:
            log.error("could not reload master key file %s: %s", self.path, type(exc).__name__)
            return None
        self._seen = signature
        return keyring
