"""A credential's history and recoverable delete: the rules, in one place.

- Every write (store, edit, restore, undelete, a backup-code pop) keeps the row
  it wrote as a version, in the same transaction; the newest ``max_versions``
  stay (the current one included), older ones are destroyed with their data keys.
- A version is sealed exactly as the current row was (its binding holds its
  version number), so a version row moved onto another number fails to open.
- A restore writes the old version's data as a new version. Backup codes
  already handed out stay used: a code in the current ``usedBackupCodes`` never
  comes back into ``backupCodes``, whatever the restored version held; an OAuth
  token family rotated since stays the current one (a provider that sees a used
  refresh token again revokes the whole family).
- A delete hides the credential at once and leaves a tombstone; the name is free.
  An undelete brings the latest version back (409 ``name_in_use`` if the name was
  taken since; ``as_name`` restores it under another name); destroy removes every
  version now; tombstones older than the retention are destroyed by
  :func:`destroy_expired_deletions`, which the server runs periodically.

:class:`CredentialHistory` is a mixin of :class:`~loomal.core.service.VaultService`
(it uses the service's audited calls, sealing and limits).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec

from loomal.core.crypto import Binding, Keyring
from loomal.core.models import Credential, StoreResponse
from loomal.core.ports import CredentialRow, KeyLedger, Store, VersionedCredentialStore
from loomal.core.principals import Principal, Scope
from loomal.core.timestamps import from_micros, to_micros
from loomal.core.types import redact_totp_seed, validate_credential_name
from loomal.core.version_models import (
    CredentialVersion,
    DeletedCredential,
    DeletedList,
    VersionList,
)
from loomal.core.version_store import DeletionNote, TombstoneRow, VersionNote, VersionRow
from loomal.errors import ConflictError, IntegrityError, NotFoundError, ValidationError

if TYPE_CHECKING:
    from loomal.core.audit import AuditedCall
    from loomal.core.keys import KeyManager

__all__ = [
    "DEFAULT_DELETED_RETENTION_DAYS",
    "DEFAULT_MAX_VERSIONS",
    "CredentialHistory",
    "destroy_expired_deletions",
    "restored_data",
    "rewrap_versions_to_primary",
    "run_deleted_retention",
    "writer_of",
]

log = logging.getLogger("loomal.vault")

DEFAULT_MAX_VERSIONS = 10
DEFAULT_DELETED_RETENTION_DAYS = 30.0
_DAY_MICROS = 86_400_000_000
_DESTROY_BATCH = 500

_json_decode = msgspec.json.Decoder(dict[str, Any]).decode
_json_encode = msgspec.json.Encoder().encode


def writer_of(principal: Principal) -> str:
    """Who a history shows as the writer: the key's label and prefix, never the key."""
    if principal.key_label:
        return f"{principal.key_label} ({principal.key_prefix})"
    return principal.key_prefix or "unknown"


def restored_data(restored: dict[str, Any], current: dict[str, Any] | None) -> dict[str, Any]:
    """``restored`` as it may come back: every backup code used by now (in the
    current ``usedBackupCodes`` or the restored one) stays used, and the current
    OAuth refresh and access tokens stay when the restored ones were rotated away
    (the restored ``expiresAt`` may then be early, which costs one refresh)."""
    data = dict(restored)
    used = list(data.get("usedBackupCodes", []))
    for code in (current or {}).get("usedBackupCodes", []):
        if code not in used:
            used.append(code)
    if "backupCodes" in data or used:
        data["backupCodes"] = [c for c in data.get("backupCodes", []) if c not in used]
    if used:
        data["usedBackupCodes"] = used
    live = (current or {}).get("refreshToken")
    if live and data.get("refreshToken") != live:  # rotated away since: keep the live family
        data["refreshToken"] = live
        if "accessToken" in (current or {}):
            data["accessToken"] = (current or {})["accessToken"]
    return data


class CredentialHistory:
    """The history use cases of the vault service (versions, restore, undelete, destroy)."""

    if TYPE_CHECKING:
        _store: VersionedCredentialStore
        _keys: KeyManager
        _clock: Callable[[], float]
        _max_credentials: int | None
        max_versions: int
        deleted_retention_days: float

        def _call(
            self,
            principal: Principal,
            action: str,
            name: str | None,
            *,
            durable: bool = False,
            detail: Callable[[], str] | None = None,
        ) -> AuditedCall: ...

        def _open(self, row: CredentialRow) -> dict[str, Any]: ...

        async def _revealable(
            self,
            principal: Principal,
            row: CredentialRow,
            what: str,
            approval_id: str | None,
            reason: str | None,
        ) -> None: ...

    def version_note(
        self, principal: Principal, kind: str, revives: str | None = None
    ) -> VersionNote:
        return VersionNote(
            kind=kind,
            written_by=writer_of(principal),
            written_at=to_micros(self._clock()),
            keep=self.max_versions,
            revives=revives,
        )

    def deletion_note(self, principal: Principal) -> DeletionNote:
        return DeletionNote(deleted_at=to_micros(self._clock()), deleted_by=writer_of(principal))

    async def list_versions(self, principal: Principal, name: str) -> VersionList:
        """The kept versions of ``name``, newest first; metadata only (vault:use)."""
        async with self._call(principal, "list", name):
            principal.require(Scope.USE)
            current = await self._current(principal, name)
            rows = await self._store.list_versions(
                identity_id=principal.identity_id, credential_id=current.credential_id
            )
            return VersionList(
                name=name,
                credential_id=current.credential_id,
                versions=[_version_entry(r, current.version) for r in rows],
            )

    async def get_version(
        self,
        principal: Principal,
        name: str,
        version: int,
        *,
        approval_id: str | None = None,
        reason: str | None = None,
    ) -> Credential:
        """Version ``version`` of ``name`` with its data (vault:read); a TOTP seed reads
        as a pointer to /totp, as in a plain read. The current version's
        ``reveal: "approval"`` holds an agent's read of any kept one."""
        async with self._call(principal, "get", name):
            principal.require(Scope.READ)
            current = await self._current(principal, name)
            kept = await self._kept(principal, current, version)
            await self._revealable(principal, current, f"version:{version}", approval_id, reason)
            data = self._open_version(kept)
            has_totp = redact_totp_seed(kept.type, data)
            now = to_micros(self._clock())
            return Credential(
                credential_id=kept.credential_id,
                name=kept.name,
                type=kept.type,
                metadata=_json_decode(kept.metadata_json),
                expires_at=None if kept.expires_at is None else from_micros(kept.expires_at),
                created_at=from_micros(current.created_at),
                updated_at=from_micros(kept.written_at),
                last_rotated_at=None,
                last_used_at=None,
                version=kept.version,
                expired=kept.expires_at is not None and kept.expires_at <= now,
                has_totp=has_totp,
                data=data,
            )

    async def restore_version(self, principal: Principal, name: str, version: int) -> StoreResponse:
        """Make version ``version`` current again, as a new version (vault:write)."""
        async with self._call(principal, "restore_version", name, durable=True) as audit:
            principal.require(Scope.WRITE)
            current = await self._current(principal, name)
            kept = await self._kept(principal, current, version)
            old = self._open_version(kept)

            def change(existing: CredentialRow | None) -> tuple[CredentialRow, CredentialRow]:
                if existing is None or existing.credential_id != kept.credential_id:
                    raise _not_found(name)
                data = restored_data(old, self._open(existing))
                row = self._sealed_row(
                    kept, data, existing, name=name, version=existing.version + 1
                )
                return row, row

            row = await self._store.modify_credential(
                identity_id=principal.identity_id,
                name=name,
                change=change,
                audit=audit,
                version_note=self.version_note(principal, "restore"),
            )
            return _response(row)

    async def list_deleted(self, principal: Principal) -> DeletedList:
        """Deleted credentials that can still be undeleted (metadata only)."""
        async with self._call(principal, "list", None):
            principal.require(Scope.USE)
            rows = await self._store.list_deleted(identity_id=principal.identity_id)
            retention = int(self.deleted_retention_days * _DAY_MICROS)
            entries = []
            for row in rows:
                taken = await self._store.get_credential(
                    identity_id=principal.identity_id, name=row.name
                )
                entries.append(_deleted_entry(row, retention, taken is not None))
            return DeletedList(deleted=entries, count=len(entries))

    async def undelete_credential(
        self, principal: Principal, name: str, as_name: str | None = None
    ) -> StoreResponse:
        """Bring back the most recently deleted ``name`` (under ``as_name`` if given)
        as a new version; 409 ``name_in_use`` if that name holds a credential now."""
        target = as_name or name
        async with self._call(principal, "undelete", target, durable=True) as audit:
            principal.require(Scope.WRITE)
            validate_credential_name(name)
            validate_credential_name(target)
            tomb = await self._store.find_deleted(identity_id=principal.identity_id, name=name)
            if tomb is None:
                raise NotFoundError(f"No deleted credential named {name!r} can be recovered.")
            kept = await self._store.get_version(
                identity_id=principal.identity_id,
                credential_id=tomb.credential_id,
                version=tomb.version,
            )
            if kept is None:
                raise NotFoundError(f"No deleted credential named {name!r} can be recovered.")
            data = self._open_version(kept)

            def change(existing: CredentialRow | None) -> tuple[CredentialRow, CredentialRow]:
                if existing is not None:
                    raise ConflictError(
                        f"A credential named {target!r} exists now; undelete under another "
                        "name (?as=NAME, --as NAME) or delete it first.",
                        code="name_in_use",
                    )
                row = self._sealed_row(
                    kept,
                    data,
                    None,
                    name=target,
                    version=tomb.version + 1,
                    created_at=tomb.created_at,
                )
                return row, row

            row = await self._store.modify_credential(
                identity_id=principal.identity_id,
                name=target,
                change=change,
                audit=audit,
                max_credentials=self._max_credentials,
                version_note=self.version_note(principal, "undelete", revives=tomb.credential_id),
            )
            return _response(row)

    async def destroy_credential(self, principal: Principal, name: str) -> int:
        """Remove ``name`` (current or deleted) and every version of it now."""
        async with self._call(principal, "destroy", name, durable=True) as audit:
            principal.require(Scope.WRITE)
            validate_credential_name(name)
            destroyed = await self._store.destroy_credential(
                identity_id=principal.identity_id, name=name, audit=audit
            )
            if not destroyed:
                raise _not_found(name)
            return destroyed

    # -- helpers ------------------------------------------------------------------

    async def _current(self, principal: Principal, name: str) -> CredentialRow:
        validate_credential_name(name)
        row = await self._store.get_credential(identity_id=principal.identity_id, name=name)
        if row is None:
            raise _not_found(name)
        return row

    async def _kept(self, principal: Principal, current: CredentialRow, version: int) -> VersionRow:
        if version < 1:
            raise ValidationError("version must be a positive integer.")
        kept = await self._store.get_version(
            identity_id=principal.identity_id,
            credential_id=current.credential_id,
            version=version,
        )
        if kept is None:
            raise NotFoundError(
                f"{current.name!r} has no version {version} kept (see its versions).",
                reason="no_such_version",
            )
        return kept

    def _open_version(self, kept: VersionRow) -> dict[str, Any]:
        return _json_decode(self._keys.decrypt(kept.sealed(), kept.binding()))

    def _sealed_row(
        self,
        kept: VersionRow,
        data: dict[str, Any],
        existing: CredentialRow | None,
        *,
        name: str,
        version: int,
        created_at: int | None = None,
    ) -> CredentialRow:
        now = to_micros(self._clock())
        binding = Binding(
            kept.identity_id,
            kept.credential_id,
            name,
            version,
            kept.type,
            kept.metadata_json,
            kept.expires_at,
        )
        return CredentialRow.from_sealed(
            self._keys.encrypt(_json_encode(data), binding),
            binding,
            created_at=existing.created_at if existing is not None else (created_at or now),
            updated_at=now,
            last_used_at=None if existing is None else existing.last_used_at,
            last_rotated_at=now,
        )


async def rewrap_versions_to_primary(
    store: KeyLedger, keyring: Keyring, *, batch_size: int = 500
) -> tuple[int, list[VersionRow]]:
    """Re-wrap every kept version's data key under the keyring's primary (a master-key
    rotation's second half: the current rows are done by :mod:`loomal.core.rotation`).
    A version that no longer opens is left as it is and returned; one that changed
    meanwhile (pruned, destroyed) is simply skipped. Returns (moved, unreadable)."""
    primary = keyring.primary_key_id
    moved, unreadable = 0, []
    after: tuple[str, int] | None = None
    while rows := await store.versions_wrapped_by_other_keys(
        key_id=primary, after=after, limit=batch_size
    ):
        after = (rows[-1].credential_id, rows[-1].version)
        for row in rows:
            try:
                sealed = keyring.rewrap(row.sealed(), row.binding())
            except IntegrityError:
                unreadable.append(row)
                continue
            moved += await store.replace_version_wrapped_key(
                credential_id=row.credential_id,
                version=row.version,
                old_key_id=row.key_id,
                key_id=sealed.key_id,
                wrapped_key=sealed.wrapped_key,
            )
    if moved:
        await store.add_key_wraps(counts={primary: moved})
    return moved, unreadable


async def destroy_expired_deletions(store: Store, *, now: float, retention_days: float) -> int:
    """Destroy every tombstoned credential deleted more than ``retention_days`` before
    ``now`` (in batches, each one short transaction); how many."""
    before = to_micros(now) - int(retention_days * _DAY_MICROS)
    total = 0
    while True:
        removed = await store.destroy_deleted_before(before=before, limit=_DESTROY_BATCH)
        total += removed
        if removed < _DESTROY_BATCH:
            return total


async def run_deleted_retention(
    store: Store,
    retention_days: float,
    *,
    clock: Callable[[], float],
    interval: float = 3600.0,
    first_after: float = 30.0,
) -> None:
    """Destroy expired deletions every ``interval`` seconds until cancelled (every
    worker may run it: destroying what another destroyed is a no-op)."""
    await asyncio.sleep(first_after)
    while True:
        try:
            removed = await destroy_expired_deletions(
                store, now=clock(), retention_days=retention_days
            )
            if removed:
                log.info(
                    "destroyed %d credentials deleted over %g days ago", removed, retention_days
                )
        except Exception as exc:  # keep serving; the next run retries
            log.error("could not destroy expired deletions: %s", type(exc).__name__)
        await asyncio.sleep(interval)


def _not_found(name: str) -> NotFoundError:
    return NotFoundError(f"No credential named {name!r}.")


def _version_entry(row: VersionRow, current: int) -> CredentialVersion:
    return CredentialVersion(
        version=row.version,
        written_at=from_micros(row.written_at),
        written_by=row.written_by,
        kind=row.write_kind,
        type=row.type,
        current=row.version == current,
    )


def _deleted_entry(row: TombstoneRow, retention: int, taken: bool) -> DeletedCredential:
    return DeletedCredential(
        credential_id=row.credential_id,
        name=row.name,
        type=row.type,
        version=row.version,
        deleted_at=from_micros(row.deleted_at),
        deleted_by=row.deleted_by,
        recoverable_until=from_micros(row.deleted_at + retention),
        name_in_use=taken,
    )


def _response(row: CredentialRow) -> StoreResponse:
    return StoreResponse(
        credential_id=row.credential_id,
        type=row.type,
        name=row.name,
        metadata=_json_decode(row.metadata_json),
        expires_at=None if row.expires_at is None else from_micros(row.expires_at),
        created_at=from_micros(row.created_at),
        updated_at=from_micros(row.updated_at),
        last_rotated_at=None if row.last_rotated_at is None else from_micros(row.last_rotated_at),
        version=row.version,
    )
