"""Backup, restore and migrate: rows streamed from a snapshot to a file or a store.

Every path is streaming (one batch of rows in memory at a time) and every
write to a store is one transaction, committed only after the rows were
counted (and, from a file, checksummed): a refused or failed restore leaves
the target as it was.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from loomal.backup.file_format import FORMAT, FORMAT_VERSION, BackupReader, BackupWriter, Manifest
from loomal.backup.file_format import TableManifest as TablePlan
from loomal.backup.tables import TABLES, TableSpec, carried_tables, unknown_tables
from loomal.errors import ConflictError, KeyUnavailableError, ServerError, ValidationError
from loomal.store.backup_sql import (
    RowWriter,
    SnapshotReader,
    database_errors,
    describe,
    open_reader,
    open_writer,
)

__all__ = [
    "MigrateResult",
    "StoreAt",
    "backup_to_file",
    "migrate_store",
    "prepare_store",
    "restore_from_file",
]

Progress = Callable[[int], None]
DEFAULT_BATCH = 1000


@dataclass(frozen=True, slots=True)
class StoreAt:
    """A store's location (see :class:`loomal.store.backup_sql.StoreLocation`)."""

    sqlite_path: Path | None = None
    database_url: str | None = None

    def __repr__(self) -> str:  # a URL may hold a password
        return f"StoreAt({describe(self)!r})"

    @classmethod
    def of(cls, data_dir: Path, database_url: str | None) -> StoreAt:
        if database_url:
            return cls(database_url=database_url)
        return cls(sqlite_path=data_dir / "loomal.db")


def prepare_store(target: StoreAt) -> None:
    """Create the target's tables (the migrations ``loomal serve`` would apply)."""

    async def migrate() -> None:
        if target.database_url:
            from loomal.store.postgres import PostgresStore

            await (await PostgresStore.open(target.database_url)).close()
        else:
            from loomal.store.sqlite import SqliteStore

            assert target.sqlite_path is not None
            await (await SqliteStore.open(target.sqlite_path)).close()

    asyncio.run(migrate())


@dataclass(slots=True)
class _Plan:
    specs: list[TableSpec]
    tables: list[TablePlan]
    schema_version: int

    @property
    def total(self) -> int:
        return sum(t.rows for t in self.tables)


def _plan(reader: SnapshotReader, *, audit: bool) -> _Plan:
    """What to carry, with the row counts of the snapshot (for progress)."""
    present = reader.tables()
    unknown = unknown_tables(present)
    if unknown:
        raise ServerError(
            f"The store has table(s) this Loomal's backup does not know: {', '.join(unknown)}. "
            "Use the Loomal version that serves this store."
        )
    specs = [s for s in carried_tables(audit=audit) if s.name in present]
    tables = [TablePlan(s.name, reader.columns(s.name), reader.count(s.name)) for s in specs]
    return _Plan(specs, tables, reader.schema_version())


def backup_to_file(
    source: StoreAt,
    path: Path,
    *,
    audit: bool = True,
    batch_size: int = DEFAULT_BATCH,
    on_start: Callable[[int], None] | None = None,
    on_progress: Progress | None = None,
) -> Manifest:
    """One consistent snapshot of ``source`` into a new file at ``path`` (0600)."""
    reader = open_reader(source)
    try:
        plan = _plan(reader, audit=audit)
        if on_start:
            on_start(plan.total)
        writer = BackupWriter(path)
        try:
            key_ids: set[str] = set()
            for index, (spec, table) in enumerate(zip(plan.specs, plan.tables, strict=True)):
                table.rows = 0  # counted again as written
                key_at = (
                    None if spec.key_id_column is None else table.columns.index(spec.key_id_column)
                )
                for batch in reader.rows(table.name, table.columns, batch_size):
                    writer.add_rows(index, batch)
                    table.rows += len(batch)
                    if key_at is not None:
                        key_ids.update(row[key_at] for row in batch)
                    if on_progress:
                        on_progress(len(batch))
            return writer.finish(
                Manifest(
                    format=FORMAT,
                    format_version=FORMAT_VERSION,
                    schema_version=plan.schema_version,
                    created_at=datetime.now(UTC).isoformat(timespec="seconds"),
                    source=reader.dialect,
                    audit=audit,
                    key_ids=sorted(key_ids),
                    tables=plan.tables,
                    content_sha256="",
                    content_bytes=0,
                )
            )
        except BaseException:
            writer.abandon()
            raise
    finally:
        reader.close()


def check_keys(needed: Sequence[str], available: Sequence[str], where: str) -> None:
    missing = sorted(set(needed) - set(available))
    if missing:
        raise KeyUnavailableError(
            f"The backup needs master key(s) {', '.join(missing)}, which {where} does not "
            "hold: give the target the key file the backed-up servers used "
            "(--master-key-file or LOOMAL_MASTER_KEY_FILE). Nothing was restored."
        )


def _check_target(
    writer: RowWriter,
    target: StoreAt,
    tables: Sequence[TablePlan],
    schema_version: int,
    *,
    force: bool,
    on_replace: Callable[[dict[str, int]], None] | None,
) -> None:
    """Refuse a target of an older schema or a non-empty one (unless ``force``:
    then say what is replaced, and empty it in the same transaction)."""
    if writer.schema_version() < schema_version:
        raise ValidationError(
            f"The rows come from schema version {schema_version}, newer than this Loomal's "
            f"({writer.schema_version()}): restore with the version that made them."
        )
    present = set(writer.tables())
    for table in tables:
        if table.name not in present:
            raise ValidationError(f"{describe(target)} has no table {table.name}.")
        extra = sorted(set(table.columns) - set(writer.columns(table.name)))
        if extra:
            raise ValidationError(
                f"{describe(target)}: table {table.name} lacks column(s) {', '.join(extra)}."
            )
    held = {s.name: writer.count(s.name) for s in TABLES if s.name in present}
    held = {name: n for name, n in held.items() if n}
    if not held:
        return
    summary = ", ".join(f"{name}: {n}" for name, n in held.items())
    if not force:
        raise ConflictError(
            f"{describe(target)} is not empty ({summary}). Restore into an empty store, or "
            "pass --force to replace everything it holds.",
            reason="store_not_empty",
        )
    if on_replace:
        on_replace(held)
    for spec in reversed(TABLES):
        if spec.name in held:
            writer.delete_all(spec.name)


def _compare_counts(writer: RowWriter, tables: Sequence[TablePlan]) -> None:
    for table in tables:
        found = writer.count(table.name)
        if found != table.rows:
            raise ServerError(
                f"{table.name}: {table.rows} rows read, {found} in the target; nothing committed."
            )


def restore_from_file(
    path: Path,
    target: StoreAt,
    *,
    available_key_ids: Callable[[], Sequence[str]],
    key_source_name: str,
    force: bool = False,
    on_start: Callable[[Manifest], None] | None = None,
    on_replace: Callable[[dict[str, int]], None] | None = None,
    on_progress: Progress | None = None,
) -> Manifest:
    """Check the file whole (checksum, counts), then the keys, then the target;
    only then write, in one transaction."""
    reader = BackupReader(path)
    try:
        reader.verify()
        manifest = reader.manifest
        if manifest.key_ids:
            check_keys(manifest.key_ids, available_key_ids(), key_source_name)
        if on_start:
            on_start(manifest)
        prepare_store(target)
        with database_errors(target, "Restoring into"):
            _write_file_rows(
                reader, target, force=force, on_replace=on_replace, on_progress=on_progress
            )
        return manifest
    finally:
        reader.close()


def _write_file_rows(
    reader: BackupReader,
    target: StoreAt,
    *,
    force: bool,
    on_replace: Callable[[dict[str, int]], None] | None,
    on_progress: Progress | None,
) -> None:
    manifest = reader.manifest
    writer = open_writer(target)
    try:
        _check_target(
            writer,
            target,
            manifest.tables,
            manifest.schema_version,
            force=force,
            on_replace=on_replace,
        )
        for table, rows in reader.frames():  # checksummed again as it is read
            writer.insert(table.name, table.columns, rows)
            if on_progress:
                on_progress(len(rows))
        _compare_counts(writer, manifest.tables)
        writer.commit()
    finally:
        writer.close()


@dataclass(frozen=True, slots=True)
class MigrateResult:
    tables: list[tuple[str, int, int]]
    """(table, rows read from the snapshot, rows in the target after commit)."""
    key_ids: list[str]


def migrate_store(
    source: StoreAt,
    target: StoreAt,
    *,
    audit: bool = True,
    force: bool = False,
    batch_size: int = DEFAULT_BATCH,
    on_start: Callable[[int], None] | None = None,
    on_replace: Callable[[dict[str, int]], None] | None = None,
    on_progress: Progress | None = None,
) -> MigrateResult:
    """Backup and restore in one stream: a snapshot of ``source`` into ``target``."""
    with database_errors(target, "Migrating into"):
        return _migrate(
            source,
            target,
            audit=audit,
            force=force,
            batch_size=batch_size,
            on_start=on_start,
            on_replace=on_replace,
            on_progress=on_progress,
        )


def _migrate(
    source: StoreAt,
    target: StoreAt,
    *,
    audit: bool,
    force: bool,
    batch_size: int,
    on_start: Callable[[int], None] | None,
    on_replace: Callable[[dict[str, int]], None] | None,
    on_progress: Progress | None,
) -> MigrateResult:
    reader = open_reader(source)
    try:
        plan = _plan(reader, audit=audit)
        if on_start:
            on_start(plan.total)
        prepare_store(target)
        writer = open_writer(target)
        key_ids: set[str] = set()
        try:
            _check_target(
                writer, target, plan.tables, plan.schema_version, force=force, on_replace=on_replace
            )
            for spec, table in zip(plan.specs, plan.tables, strict=True):
                key_at = (
                    None if spec.key_id_column is None else table.columns.index(spec.key_id_column)
                )
                for batch in reader.rows(table.name, table.columns, batch_size):
                    writer.insert(table.name, table.columns, batch)
                    if key_at is not None:
                        key_ids.update(row[key_at] for row in batch)
                    if on_progress:
                        on_progress(len(batch))
            _compare_counts(writer, plan.tables)
            writer.commit()
        finally:
            writer.close()
    finally:
        reader.close()
    check = open_reader(target)
    try:
        counts = [(t.name, t.rows, check.count(t.name)) for t in plan.tables]
    finally:
        check.close()
    return MigrateResult(tables=counts, key_ids=sorted(key_ids))
