"""The backup file: a header, the rows in frames, a manifest, a footer.

::

    header    two text lines: what the file is, and "LOOMAL-BACKUP 1"
    frames    each: u32 length (big-endian), then msgpack [table index, [row, ...]]
    end       u32 0
    manifest  JSON: format version, schema version, key ids needed, per table its
              columns and row count, and the SHA-256 of everything above it
    footer    u64 manifest length, SHA-256 of the manifest, "LOOMAL-BACKUP-END"

The rows are the store's own (ciphertexts, wrapped data keys, key hashes): a
backup never holds a plaintext secret nor a master key. It is written to a
temporary name (mode 0600) and renamed when complete, so a file under the
final name is always whole. Reading checks the footer, the manifest's hash,
then every frame against the contents checksum and the counts before anything
is written anywhere (:meth:`BackupReader.verify`); the rows are then read a
second time, hashed again, and a restore commits only if the hash still holds.
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import msgspec

from loomal.errors import ConflictError, ValidationError

__all__ = ["FORMAT_VERSION", "BackupReader", "BackupWriter", "Manifest", "TableManifest"]

FORMAT = "loomal-backup"
FORMAT_VERSION = 1
HEADER = (
    b"# Loomal Vault backup: rows as stored (ciphertexts only); the master key is not in it.\n"
    b"LOOMAL-BACKUP 1\n"
)
_END_MAGIC = b"LOOMAL-BACKUP-END"
_FOOTER = struct.Struct(">Q32s17s")
_FRAME = struct.Struct(">I")
_MAX_FRAME_BYTES = 256 * 1024 * 1024
_MAX_MANIFEST_BYTES = 16 * 1024 * 1024


class TableManifest(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    name: str
    columns: list[str]
    rows: int


class Manifest(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    format: str
    format_version: int
    schema_version: int
    created_at: str
    source: str
    """``sqlite`` or ``postgresql``: where the rows came from."""
    audit: bool
    key_ids: list[str]
    """Every master key a credential or the store's record names."""
    tables: list[TableManifest]
    content_sha256: str
    content_bytes: int

    def count(self, table: str) -> int:
        return next((t.rows for t in self.tables if t.name == table), 0)


class _Damaged(ValidationError):
    pass


def _damaged(path: Path, why: str) -> ValidationError:
    return _Damaged(f"The backup {path} is damaged or incomplete ({why}); nothing was restored.")


class BackupWriter:
    """Frames written as they come (bounded memory); :meth:`finish` adds the
    manifest and footer and moves the file under its name."""

    def __init__(self, path: Path) -> None:
        if path.exists():
            raise ConflictError(f"{path} already exists: give a new file name.")
        self.path = path
        self._partial = path.with_name(f".{path.name}.partial-{os.getpid()}")
        fd = os.open(self._partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._file: BinaryIO = os.fdopen(fd, "wb")
        self._hash = hashlib.sha256()
        self._bytes = 0
        self._encoder = msgspec.msgpack.Encoder()
        self._write(HEADER)

    def _write(self, data: bytes) -> None:
        self._file.write(data)
        self._hash.update(data)
        self._bytes += len(data)

    def add_rows(self, table_index: int, rows: Sequence[Sequence[Any]]) -> None:
        body = self._encoder.encode((table_index, rows))
        self._write(_FRAME.pack(len(body)) + body)

    def finish(self, manifest: Manifest) -> Manifest:
        self._write(_FRAME.pack(0))
        done = msgspec.structs.replace(
            manifest, content_sha256=self._hash.hexdigest(), content_bytes=self._bytes
        )
        text = msgspec.json.encode(done)
        self._file.write(text)
        self._file.write(_FOOTER.pack(len(text), hashlib.sha256(text).digest(), _END_MAGIC))
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self._partial, self.path)
        return done

    def abandon(self) -> None:
        self._file.close()
        self._partial.unlink(missing_ok=True)


class BackupReader:
    """A backup file, checked before it is trusted (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._file: BinaryIO = path.open("rb")
        except OSError as exc:
            raise ValidationError(f"Could not read the backup {path}: {exc.strerror}.") from None
        self.manifest = self._read_manifest()

    def close(self) -> None:
        self._file.close()

    def _read_manifest(self) -> Manifest:
        size = os.fstat(self._file.fileno()).st_size
        if size < len(HEADER) + _FOOTER.size:
            raise _damaged(self.path, "too short to be a backup")
        self._file.seek(0)
        if self._file.read(len(HEADER)) != HEADER:
            raise ValidationError(f"{self.path} is not a Loomal Vault backup (format 1).")
        self._file.seek(size - _FOOTER.size)
        length, digest, magic = _FOOTER.unpack(self._file.read(_FOOTER.size))
        if magic != _END_MAGIC:
            raise _damaged(self.path, "its end is missing: truncated?")
        if length > min(_MAX_MANIFEST_BYTES, size - _FOOTER.size - len(HEADER)):
            raise _damaged(self.path, "manifest length out of range")
        self._content_end = size - _FOOTER.size - length
        self._file.seek(self._content_end)
        text = self._file.read(length)
        if hashlib.sha256(text).digest() != digest:
            raise _damaged(self.path, "the manifest does not match its checksum")
        try:
            manifest = msgspec.json.decode(text, type=Manifest)
        except msgspec.DecodeError:
            raise _damaged(self.path, "unreadable manifest") from None
        if manifest.format != FORMAT or manifest.format_version != FORMAT_VERSION:
            raise ValidationError(
                f"{self.path} is a backup in format {manifest.format_version}; this Loomal "
                f"reads format {FORMAT_VERSION}."
            )
        if manifest.content_bytes != self._content_end:
            raise _damaged(self.path, "its length does not match the manifest")
        return manifest

    def verify(self) -> None:
        """Read every frame: checksum, structure and counts; raises on any difference."""
        for _ in self.frames():
            pass

    def frames(self) -> Iterator[tuple[TableManifest, list[list[Any]]]]:
        """Each frame's table and rows, in file order; the checksum and counts are
        checked when the last frame has been read (a consumer commits only after)."""
        manifest, path = self.manifest, self.path
        digest = hashlib.sha256()
        self._file.seek(0)
        position = 0

        def take(n: int) -> bytes:
            nonlocal position
            if position + n > self._content_end:
                raise _damaged(path, "a frame runs past the end of the rows")
            data = self._file.read(n)
            if len(data) != n:
                raise _damaged(path, "truncated")
            digest.update(data)
            position += n
            return data

        take(len(HEADER))
        counts = [0] * len(manifest.tables)
        decoder = msgspec.msgpack.Decoder(tuple[int, list[list[Any]]])
        while True:
            (length,) = _FRAME.unpack(take(_FRAME.size))
            if length == 0:
                break
            if length > _MAX_FRAME_BYTES:
                raise _damaged(path, "frame length out of range")
            try:
                index, rows = decoder.decode(take(length))
            except msgspec.DecodeError:
                raise _damaged(path, "an unreadable frame") from None
            if not 0 <= index < len(manifest.tables):
                raise _damaged(path, "a frame names no table")
            table = manifest.tables[index]
            if any(len(row) != len(table.columns) for row in rows):
                raise _damaged(path, f"a row of {table.name} has the wrong number of columns")
            counts[index] += len(rows)
            yield table, rows
        if position != self._content_end:
            raise _damaged(path, "bytes after the last frame")
        if digest.hexdigest() != manifest.content_sha256:
            raise _damaged(path, "the rows do not match the checksum")
        for table, count in zip(manifest.tables, counts, strict=True):
            if count != table.rows:
                raise _damaged(path, f"{table.name}: {count} rows, the manifest says {table.rows}")
