"""A damaged, truncated or unreadable backup is refused before anything is written."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from loomal.backup.file_format import BackupWriter, Manifest, TableManifest
from loomal.config import ServerSettings
from tests.backup.vaults import admin, fill, key_args, serving, store_args, store_settings


@pytest.fixture
def backup_file(tmp_path: Path) -> tuple[Path, ServerSettings]:
    source = store_settings(tmp_path / "data")
    with serving(source) as served:
        fill(served, identities=1)
    file = tmp_path / "vault.backup"
    made = admin("backup", str(file), *store_args(source))
    assert made.exit_code == 0, made.output
    return file, source


def _restore_into_fresh_dir(file: Path, source: ServerSettings, tmp_path: Path) -> tuple[str, Path]:
    target = store_settings(tmp_path / "fresh", master_key_file=str(source.key_file))
    result = admin("restore", str(file), *store_args(target), *key_args(target))
    assert result.exit_code == 1, result.output
    return result.output, target.data_dir


@pytest.mark.parametrize("where", [0.1, 0.5, 0.9, -40, -3])
def test_a_flipped_byte_is_refused(
    backup_file: tuple[Path, ServerSettings], tmp_path: Path, where: float
) -> None:
    """Anywhere: the rows, the manifest, the footer."""
    file, source = backup_file
    data = bytearray(file.read_bytes())
    at = int(len(data) * where) if where > 0 else len(data) + int(where)
    data[at] ^= 0x01
    damaged = tmp_path / "damaged.backup"
    damaged.write_bytes(bytes(data))
    output, data_dir = _restore_into_fresh_dir(damaged, source, tmp_path)
    assert "damaged or incomplete" in output and "nothing was restored" in output
    assert not (data_dir / "loomal.db").exists()


@pytest.mark.parametrize("keep", [0.5, 0.99, 10])
def test_a_truncated_backup_is_refused(
    backup_file: tuple[Path, ServerSettings], tmp_path: Path, keep: float
) -> None:
    file, source = backup_file
    data = file.read_bytes()
    cut = tmp_path / "cut.backup"
    cut.write_bytes(data[: int(len(data) * keep)] if keep < 1 else data[: int(keep)])
    output, data_dir = _restore_into_fresh_dir(cut, source, tmp_path)
    assert "damaged or incomplete" in output or "not a Loomal Vault backup" in output
    assert not (data_dir / "loomal.db").exists()


def test_a_backup_needing_a_key_the_target_lacks_is_refused(
    backup_file: tuple[Path, ServerSettings], tmp_path: Path
) -> None:
    file, source = backup_file
    other_key = tmp_path / "other.key"
    other_key.write_text(base64.b64encode(os.urandom(32)).decode() + "\n")
    other_key.chmod(0o600)
    target = store_settings(tmp_path / "fresh", master_key_file=str(other_key))
    result = admin("restore", str(file), *store_args(target), *key_args(target))
    assert result.exit_code == 1
    needed = source.key_file.read_text()  # never printed: only the key id is
    assert "The backup needs master key(s) mk_" in result.output
    assert "Nothing was restored" in result.output and needed.strip() not in result.output
    assert not (target.data_dir / "loomal.db").exists()


def test_a_refused_restore_leaves_a_live_target_as_it_was(
    backup_file: tuple[Path, ServerSettings], tmp_path: Path
) -> None:
    file, source = backup_file
    before = (source.data_dir / "loomal.db").read_bytes()
    data = bytearray(file.read_bytes())
    data[len(data) // 2] ^= 0x80
    damaged = tmp_path / "damaged.backup"
    damaged.write_bytes(bytes(data))
    result = admin("restore", str(damaged), "--force", *store_args(source), *key_args(source))
    assert result.exit_code == 1 and "damaged" in result.output
    assert (source.data_dir / "loomal.db").read_bytes() == before


def test_not_a_backup(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.txt"
    bogus.write_text("hello " * 100)
    result = admin("restore", str(bogus), "--data-dir", str(tmp_path / "fresh"))
    assert result.exit_code == 1 and "is not a Loomal Vault backup" in result.output


def test_rows_the_target_refuses_are_reported_without_their_values(
    settings: ServerSettings, tmp_path: Path
) -> None:
    """A checksummed file whose rows break a constraint (an API key of no identity):
    the database's error is named by kind only, and nothing is committed."""
    file = tmp_path / "crafted.backup"
    writer = BackupWriter(file)
    columns = ["key_hash", "identity_id", "prefix", "scopes", "created_at"]
    writer.add_rows(0, [[b"h" * 32, "id_nobody", "loid-SECRETPREFIX", "[]", 1]])
    writer.finish(
        Manifest(
            format="loomal-backup", format_version=1, schema_version=1, created_at="",
            source="sqlite", audit=False, key_ids=[],
            tables=[TableManifest("api_keys", columns, 1)], content_sha256="", content_bytes=0,
        )
    )  # fmt: skip
    result = admin("restore", str(file), *store_args(settings))
    assert result.exit_code == 1
    assert "Restoring into" in result.output and "nothing was committed" in result.output
    assert "SECRETPREFIX" not in result.output and "id_nobody" not in result.output
