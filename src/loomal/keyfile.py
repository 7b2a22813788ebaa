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

from loomal.core.crypto import KEY_BYTES, Keyring, parse_master_key
from loomal.errors import ValidationError

__all__ = ["MasterKeySource", "load_keyring"]

log = logging.getLogger("loomal.keys")

DEFAULT_KEY_FILE = "master.key"


@dataclass(frozen=True, slots=True)
class MasterKeySource:
    description: str
    generated: bool = False


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
        return _read_key_file(path), MasterKeySource(str(path), generated=True)
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("master key file %s is readable by others; run chmod 600 on it", path)
    return _read_key_file(path), MasterKeySource(str(path))


def _read_key_file(path: Path) -> Keyring:
    lines = [line.strip() for line in path.read_text("ascii").splitlines()]
    keys = [parse_master_key(line) for line in lines if line and not line.startswith("#")]
    if not keys:
        raise ValidationError(f"Master key file {path} holds no key.")
    return Keyring.from_keys(*keys)


def _write_new_key_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = base64.b64encode(os.urandom(KEY_BYTES)).decode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
        handle.flush()
        os.fsync(handle.fileno())
