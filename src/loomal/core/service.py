"""VaultService: every vault use case, and the only place their rules live.

Adapters (HTTP routes, MCP tools, CLI commands) authenticate, then call one
method here. Scope checks, validation, expiry, encryption and the backup-code
rules are all below.

``lastUsedAt`` is updated by every retrieval without a durable commit on the
read path (see ``core/write_behind.py``).
"""

from __future__ import annotations

import functools
import logging
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec

from loomal.core.audit import AuditedCall, AuditLog
from loomal.core.crypto import Binding
from loomal.core.data_outline import DataOutline
from loomal.core.edits import CredentialEdit
from loomal.core.keys import KeyManager
from loomal.core.models import (
    AuditEntry,
    AuditPage,
    Credential,
    CredentialList,
    CredentialSummary,
    OAuthState,
    StoreRequest,
    StoreResponse,
    TotpBackupResponse,
    TotpResponse,
)
from loomal.core.oauth_tokens import VAULT_HELD_FIELDS, LiveTokens, is_refreshable, oauth_state
from loomal.core.ports import CredentialListing, CredentialRow, VersionedCredentialStore
from loomal.core.preconditions import WritePrecondition
from loomal.core.principals import Principal, Scope
from loomal.core.request_rules import validate_request_rules, validate_reveal
from loomal.core.reveals import Reveals, holds_reveal
from loomal.core.timestamps import from_micros, parse_iso8601, to_micros
from loomal.core.totp import TotpParameters, seed_secret_and_parameters, totp_code
from loomal.core.totp_cache import CurrentCode, CurrentCodes
from loomal.core.types import (
    CredentialType,
    decode_name_cursor,
    encode_name_cursor,
    parse_credential_type,
    redact_totp_seed,
    totp_seed,
    validate_credential_name,
    validate_data,
    validate_metadata,
)
from loomal.core.versions import (
    DEFAULT_DELETED_RETENTION_DAYS,
    DEFAULT_MAX_VERSIONS,
    CredentialHistory,
)
from loomal.core.write_behind import WriteBehind
from loomal.errors import (
    BadRequestError,
    ExpiredError,
    IntegrityError,
    NotFoundError,
    ValidationError,
)

__all__ = ["MetadataCheck", "UsableCredential", "VaultService"]

log = logging.getLogger("loomal.vault")

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
AUDIT_SCAN = 2000
"""Audit events an audit_log call filtered by outcome or credential reads at most."""

_json_decode = msgspec.json.Decoder(dict[str, Any]).decode
_json_encode = msgspec.json.Encoder().encode

MetadataCheck = Callable[[Mapping[str, Any], Mapping[str, Any]], None]
"""A rule on a credential's ``metadata`` (and its ``data``) that another part owns
(the broker's ``allowedHosts``, ``inject``, ``baseUrl``), run when it is stored:
raises ValidationError. Given to the service, so the core imports none of them."""


@dataclass(frozen=True, slots=True)
class UsableCredential:
    """A decrypted credential on its way into a brokered request; masked in repr."""

    credential_id: str
    type: str
    metadata: Mapping[str, Any]
    data: Mapping[str, Any]

    def __repr__(self) -> str:
        return f"UsableCredential({self.credential_id}, {self.type}, data='***')"


class VaultService(CredentialHistory):
    def __init__(
        self,
        store: VersionedCredentialStore,
        keys: KeyManager,
        *,
        clock: Callable[[], float] = time.time,
        max_credentials_per_identity: int | None = None,
        audit: AuditLog,
        metadata_checks: Sequence[MetadataCheck] = (),
        max_versions: int = DEFAULT_MAX_VERSIONS,
        deleted_retention_days: float = DEFAULT_DELETED_RETENTION_DAYS,
        type_checks: Mapping[str, MetadataCheck] | None = None,
        live_tokens: LiveTokens | None = None,
        reveals: Reveals | None = None,
    ) -> None:
        self._store = store
        self.reveals = reveals
        """Holds an agent's read of a ``reveal: "approval"`` credential for a person
        (``core/reveals.py``); None: the flag is not enforced (tests of the vault alone)."""
        self.max_versions = max_versions
        """Versions of a credential kept, the current one included (see core/versions.py)."""
        self.deleted_retention_days = deleted_retention_days
        self.live_tokens = live_tokens
        """Refreshes an OAUTH credential's access token before it is handed out
        (``loomal.oauth.refresh``, set in ``runtime.py``); None: stored tokens as they are."""
        self._metadata_checks = tuple(metadata_checks)
        self._type_checks = dict(type_checks or {})
        """Checks of one credential type (OAUTH: ``metadata.oauth``), by type name."""
        self._audit = audit
        self._keys = keys
        self._clock = clock
        self._max_credentials = max_credentials_per_identity
        self._codes = CurrentCodes()
        self.last_used: WriteBehind[str, int] = WriteBehind(
            max, lambda noted: store.record_last_used(last_used=noted)
        )
        """Retrievals not yet written: credential id -> when (``lastUsedAt``); the
        runtime flushes it."""

    # -- the use cases (what adapters call) -----------------------------------------
    #
    # Each runs inside ``self._call``: audited (its outcome, and a refused attempt on a
    # name other identities hold, in their logs too) and refused while sealed.

    async def store_credential(
        self,
        principal: Principal,
        name: str,
        request: StoreRequest,
        precondition: WritePrecondition | None = None,
    ) -> tuple[StoreResponse, bool]:
        """Create or overwrite ``name``; returns the response and whether it was created.

        Overwriting keeps ``credentialId`` and ``createdAt`` and seals the new
        data under a fresh data key and the next version number. A
        ``precondition`` is checked against the row inside the write transaction.
        """
        async with self._call(principal, "store", name, durable=True) as audit:
            principal.require(Scope.WRITE)
            validate_credential_name(name)
            ctype = parse_credential_type(request.type)
            data = validate_data(ctype, request.data)
            has_totp = totp_seed(ctype, data) is not None
            metadata = validate_metadata(ctype, request.metadata, has_totp=has_totp)
            self._check_metadata(ctype, metadata, data)
            expires_at = (
                None
                if request.expires_at is None
                else parse_iso8601(request.expires_at, field="expiresAt")
            )
            metadata_json = _json_encode(metadata)

            def change(
                existing: CredentialRow | None,
            ) -> tuple[CredentialRow, tuple[CredentialRow, bool]]:
                if precondition is not None:
                    precondition.check(name, None if existing is None else existing.version)
                row = self._next_row(
                    principal, name, ctype, data, metadata_json, expires_at, existing
                )
                return row, (row, existing is None)

            row, created = await self._store.modify_credential(
                identity_id=principal.identity_id,
                name=name,
                change=change,
                audit=audit,
                max_credentials=self._max_credentials,
                version_note=self.version_note(principal, "store"),
            )
            return _store_response(row, metadata), created

    async def edit_credential(
        self,
        principal: Principal,
        name: str,
        edit: CredentialEdit,
        precondition: WritePrecondition | None = None,
    ) -> StoreResponse:
        """Apply ``edit`` to the stored credential: a store of what it names, every
        other field kept as stored (see :mod:`loomal.core.edits`).

        The stored data is opened inside the write transaction and never returned,
        so an edit is audited as the ``store`` it is, never as a ``get``, and does
        not touch ``lastUsedAt``. ``precondition`` (the version the editor saw) is
        checked in the same transaction.
        """
        async with self._call(principal, "store", name, durable=True) as audit:
            principal.require(Scope.WRITE)
            validate_credential_name(name)
            expires_at = (
                None
                if edit.expires_at is None
                else parse_iso8601(edit.expires_at, field="expiresAt")
            )

            def change(
                existing: CredentialRow | None,
            ) -> tuple[CredentialRow, tuple[CredentialRow, dict[str, Any]]]:
                if precondition is not None:
                    precondition.check(name, None if existing is None else existing.version)
                if existing is None:
                    raise _not_found(name)
                ctype = parse_credential_type(existing.type)
                data = validate_data(ctype, edit.applied_to_data(self._open(existing)))
                has_totp = totp_seed(ctype, data) is not None
                metadata = validate_metadata(
                    ctype, edit.applied_to_metadata(_stored_metadata(existing)), has_totp=has_totp
                )
                self._check_metadata(ctype, metadata, data)
                expiry = expires_at if edit.change_expiry else existing.expires_at
                row = self._next_row(
                    principal, name, ctype, data, _json_encode(metadata), expiry, existing
                )
                return row, (row, metadata)

            row, metadata = await self._store.modify_credential(
                identity_id=principal.identity_id,
                name=name,
                change=change,
                audit=audit,
                version_note=self.version_note(principal, "edit"),
            )
            return _store_response(row, metadata)

    async def outline(self, principal: Principal, name: str) -> DataOutline:
        """What a page may know of a credential's ``data`` without a secret value
        (see :class:`DataOutline`). Reading it is not a use of the secret: no ``get``
        event (it is audited as a ``list`` of that credential), no ``lastUsedAt``.
        Needs vault:use; field names only with vault:read. An expired credential
        answers too, since it may be edited."""
        async with self._call(principal, "list", name):
            principal.require(Scope.USE)
            validate_credential_name(name)
            row = await self._store.get_credential(identity_id=principal.identity_id, name=name)
            if row is None:
                raise _not_found(name)
            return DataOutline.of(
                row.type, self._open(row), with_names=Scope.READ in principal.scopes
            )

    async def get_credential(
        self,
        principal: Principal,
        name: str,
        *,
        approval_id: str | None = None,
        reason: str | None = None,
    ) -> Credential:
        """The credential with decrypted data; a TOTP seed reads as a pointer to /totp.
        ``approval_id``/``reason``: for a credential marked ``reveal: "approval"``."""
        async with self._call(principal, "get", name):
            row = await self._readable_row(principal, name)
            await self._revealable(principal, row, "data", approval_id, reason)
            row = await self._live_row(principal, row)
            data = self._open(row)
            has_totp = redact_totp_seed(row.type, data)
            if is_refreshable(row):
                for field in VAULT_HELD_FIELDS:
                    data.pop(field, None)
            last_used_at = self._note_use(row)
            return Credential(
                credential_id=row.credential_id,
                name=row.name,
                type=row.type,
                metadata=_stored_metadata(row),
                expires_at=_opt_time(row.expires_at),
                created_at=from_micros(row.created_at),
                updated_at=from_micros(row.updated_at),
                last_rotated_at=_opt_time(row.last_rotated_at),
                last_used_at=from_micros(max(last_used_at, row.last_used_at or 0)),
                version=row.version,
                expired=False,  # an expired credential answers 410 before this
                has_totp=has_totp,
                data=data,
            )

    async def totp(
        self,
        principal: Principal,
        name: str,
        *,
        approval_id: str | None = None,
        reason: str | None = None,
    ) -> TotpResponse:
        """The current TOTP code and how long it stays valid (any type carrying a seed).
        A code is as good as the seed for its 30 seconds, so ``reveal: "approval"``
        holds it too (one approval: one code)."""
        async with self._call(principal, "totp", name):
            row = await self._readable_row(principal, name, Scope.USE)  # a code, never the seed
            await self._revealable(principal, row, "totp", approval_id, reason)
            at = self._clock()
            current = self._codes.get(row, at)
            if current is None:
                data = self._open(row)
                seed = _require_totp(row, data)
                secret, params = seed_secret_and_parameters(
                    seed, _totp_parameters(row.metadata_json)
                )
                code = totp_code(secret, at=at, params=params)
                current = CurrentCode(
                    code.code, code.period, code.expires_at, len(data.get("backupCodes", []))
                )
                self._codes.put(row, current)
            self._note_use(row)
            return TotpResponse(
                code=current.code,
                remaining=current.seconds_remaining(at),
                backup_codes_remaining=current.backup_codes_remaining,
                period=current.period,
                expires_at=from_micros(current.expires_at * 1_000_000),
            )

    async def totp_use_backup(self, principal: Principal, name: str) -> TotpBackupResponse:
        """Atomically move the first unused backup code to ``usedBackupCodes`` and return it.

        Runs in one write transaction holding the row, so concurrent callers on
        any number of processes never receive the same code and none is lost.
        """
        async with self._call(principal, "totp_use_backup", name, durable=True) as audit:
            principal.require(Scope.WRITE)
            validate_credential_name(name)

            def change(
                existing: CredentialRow | None,
            ) -> tuple[CredentialRow, TotpBackupResponse]:
                if existing is None:
                    raise _not_found(name)
                now = to_micros(self._clock())
                self._check_fresh(existing, now)
                data = self._open(existing)
                _require_totp(existing, data)
                codes: list[str] = list(data.get("backupCodes", []))
                if not codes:
                    raise BadRequestError(
                        f"{name!r} has no unused backup codes left.", reason="no_backup_codes"
                    )
                code = codes.pop(0)
                data["backupCodes"] = codes
                data["usedBackupCodes"] = [*data.get("usedBackupCodes", []), code]
                binding = msgspec.structs.replace(existing.binding(), version=existing.version + 1)
                row = CredentialRow.from_sealed(
                    self._keys.encrypt(_json_encode(data), binding),
                    binding,
                    created_at=existing.created_at,
                    updated_at=now,
                    last_used_at=now,
                    last_rotated_at=existing.last_rotated_at,
                )
                left = len(codes)
                return row, TotpBackupResponse(
                    code=code, remaining=left, backup_codes_remaining=left
                )

            return await self._store.modify_credential(
                identity_id=principal.identity_id,
                name=name,
                change=change,
                audit=audit,
                version_note=self.version_note(principal, "backup_code"),
            )

    async def list_credentials(
        self, principal: Principal, *, limit: int | None = None, cursor: str | None = None
    ) -> CredentialList:
        """Summaries ordered by name, never any field of ``data``: every one without
        ``limit``, else one page and ``nextCursor``."""
        async with self._call(principal, "list", None):
            principal.require(Scope.USE)  # metadata only: vault:use may see what it can use
            if limit is not None and not 1 <= limit <= MAX_PAGE_SIZE:
                raise ValidationError(f"limit must be between 1 and {MAX_PAGE_SIZE}.")
            after = decode_name_cursor(cursor)
            if limit is None:  # every credential, read in pages so no query grows unbounded
                summaries: list[CredentialSummary] = []
                while True:
                    rows = await self._store.list_credentials(
                        identity_id=principal.identity_id, after_name=after, limit=MAX_PAGE_SIZE
                    )
                    summaries += self._summaries(rows)
                    if len(rows) < MAX_PAGE_SIZE:
                        return CredentialList(credentials=summaries, count=len(summaries))
                    after = rows[-1].name
            rows = await self._store.list_credentials(
                identity_id=principal.identity_id, after_name=after, limit=limit + 1
            )
            page = self._summaries(rows[:limit])
            next_cursor = encode_name_cursor(page[-1].name) if len(rows) > limit else None
            return CredentialList(credentials=page, count=len(page), next_cursor=next_cursor)

    async def delete_credential(self, principal: Principal, name: str) -> None:
        """Hide ``name`` at once, recoverable for ``deleted_retention_days`` (see
        :meth:`undelete_credential`, :meth:`destroy_credential`)."""
        async with self._call(principal, "delete", name, durable=True) as audit:
            principal.require(Scope.WRITE)
            validate_credential_name(name)
            deleted = await self._store.delete_credential(
                identity_id=principal.identity_id,
                name=name,
                audit=audit,
                deletion=self.deletion_note(principal),
            )
            if not deleted:
                raise _not_found(name)

    async def audit_log(
        self,
        principal: Principal,
        *,
        limit: int = DEFAULT_PAGE_SIZE,
        cursor: str | None = None,
        action: str | None = None,
        outcome: str | None = None,
        credential_name: str | None = None,
    ) -> AuditPage:
        """This identity's audit events, newest first (its own calls, and other
        identities' refused attempts on names it holds). No event holds a secret, so
        vault:use may read it.

        Filters: ``action``; ``outcome`` (``ok``, an error code, or ``failed`` for
        every outcome but ok); ``credential_name``. The store filters by action;
        the others are matched here over at most :data:`AUDIT_SCAN` events a call,
        so a page may hold fewer than ``limit`` events and still a ``nextCursor``
        (and at most ``2 * limit - 1``: whole pages are read).
        """
        principal.require(Scope.USE)
        if outcome is None and credential_name is None:
            return await self._audit.page(
                identity_id=principal.identity_id, action=action, cursor=cursor, limit=limit
            )

        def wanted(event: AuditEntry) -> bool:
            if credential_name is not None and event.credential_name != credential_name:
                return False
            if outcome == "failed":
                return event.outcome != "ok"
            return outcome is None or event.outcome == outcome

        found: list[AuditEntry] = []
        scanned = 0
        while True:
            page = await self._audit.page(
                identity_id=principal.identity_id, action=action, cursor=cursor, limit=limit
            )
            found += [event for event in page.events if wanted(event)]
            scanned += len(page.events)
            cursor = page.next_cursor
            if cursor is None or len(found) >= limit or scanned >= AUDIT_SCAN:
                return AuditPage(events=found, next_cursor=cursor)

    # -- use without reveal (the broker's side of a credential) ------------------

    async def open_for_use(self, principal: Principal, name: str) -> UsableCredential:
        """The decrypted credential for a brokered request: vault:use is enough,
        since the broker never hands the data back. Call it inside the broker's own
        audited call (its refusals are that call's outcome)."""
        row = await self._live_row(principal, await self._readable_row(principal, name, Scope.USE))
        return UsableCredential(
            credential_id=row.credential_id,
            type=row.type,
            metadata=_stored_metadata(row),
            data=self._open(row),
        )

    # -- OAuth: live tokens ---------------------------------------------------------

    async def oauth_refresh(self, principal: Principal, name: str) -> OAuthState:
        """Refresh the access token now, whatever its expiry (vault:use: the token is
        not returned); the refresh itself is audited as ``oauth_refresh``."""
        async with self._call(principal, "oauth_refresh", name):
            row = await self._readable_row(principal, name, Scope.USE)
            if self.live_tokens is None or not is_refreshable(row):
                raise BadRequestError(
                    f"{name!r} is not a refreshable OAUTH credential (no metadata.oauth).",
                    reason="not_refreshable",
                )
            row = await self.live_tokens.live(principal, row, force=True)
            return oauth_state(row, self._clock())

    async def oauth_status(self, principal: Principal, name: str) -> OAuthState:
        """Whether the credential's token is live, expired or needs a person; no refresh."""
        async with self._call(principal, "list", name):
            row = await self._readable_row(principal, name, Scope.USE)
            return oauth_state(row, self._clock())

    async def _live_row(self, principal: Principal, row: CredentialRow) -> CredentialRow:
        if self.live_tokens is None or row.type != "OAUTH":
            return row
        return await self.live_tokens.live(principal, row)

    async def _revealable(
        self,
        principal: Principal,
        row: CredentialRow,
        what: str,
        approval_id: str | None,
        reason: str | None,
    ) -> None:
        """Return when the read may go on; a 202 (or why the approval cannot be used)
        for an agent reading a ``reveal: "approval"`` credential. Free for any other
        credential: decided from the row in hand."""
        if self.reveals is None or not holds_reveal(row.metadata_json):
            return
        suffix = {"data": "", "totp": "/totp"}.get(what, f"?version={what.rsplit(':', 1)[-1]}")
        await self.reveals.admit(
            principal,
            credential_id=row.credential_id,
            name=row.name,
            what=what,
            path=f"/v0/vault/{row.name}{suffix}",
            approval_id=approval_id,
            reason=reason,
        )

    def note_use(self, credential: UsableCredential) -> None:
        """``lastUsedAt`` of a credential the broker used (written behind)."""
        self.last_used.note(credential.credential_id, to_micros(self._clock()))

    def _check_metadata(
        self, ctype: CredentialType, metadata: Mapping[str, Any], data: Mapping[str, Any]
    ) -> None:
        type_check = self._type_checks.get(ctype.value)
        if type_check is not None:
            type_check(metadata, data)
        if "rules" in metadata:
            validate_request_rules(metadata["rules"])
        if "reveal" in metadata:
            validate_reveal(metadata["reveal"])
        for check in self._metadata_checks:
            check(metadata, data)

    # -- helpers ---------------------------------------------------------------

    @property
    def sealed(self) -> bool:
        """Whether the master keys are sealed now (metrics; no forced reload: the
        maintenance tick adopts an unseal within a second)."""
        return self._keys.sealed

    def sealed_now(self) -> bool:
        """Whether the master keys are sealed, asking the key source again first when
        they are, as a request does (the source throttles such checks): health must
        say "serving" as soon as `loomal admin unseal` has said so."""
        if self._keys.sealed:
            self._keys.refresh(force=True)
        return self._keys.sealed

    def _call(
        self,
        principal: Principal,
        action: str,
        name: str | None,
        *,
        durable: bool = False,
        detail: Callable[[], str] | None = None,
    ) -> AuditedCall:
        """One use case: audited, and refused while the master keys are sealed, even
        those that need no key (list, delete): a sealed vault serves nothing."""
        return self._audit.call(
            principal,
            action,
            name,
            durable=durable,
            detail=detail,
            guard=self._keys.require_unsealed,
        )

    async def _readable_row(
        self, principal: Principal, name: str, scope: Scope = Scope.READ
    ) -> CredentialRow:
        principal.require(scope)
        validate_credential_name(name)
        row = await self._store.get_credential(identity_id=principal.identity_id, name=name)
        if row is None:
            raise _not_found(name)
        self._check_fresh(row, to_micros(self._clock()))
        return row

    def _next_row(
        self,
        principal: Principal,
        name: str,
        ctype: CredentialType,
        data: dict[str, Any],
        metadata_json: bytes,
        expires_at: int | None,
        existing: CredentialRow | None,
    ) -> CredentialRow:
        """The row a store writes: a new credential, or the next version of
        ``existing`` (its id, creation and last use kept; ``lastRotatedAt`` moved
        when ``data`` changes), sealed under a fresh data key."""
        now = to_micros(self._clock())
        if existing is None:  # the store has checked the limit in this transaction
            credential_id, created_at, version = _new_credential_id(), now, 1
            last_used = last_rotated = None
        else:
            credential_id = existing.credential_id
            created_at, last_used = existing.created_at, existing.last_used_at
            version = existing.version + 1
            last_rotated = existing.last_rotated_at
            if self._data_changed(existing, data):
                last_rotated = now
        binding = Binding(
            principal.identity_id,
            credential_id,
            name,
            version,
            ctype.value,
            metadata_json,
            expires_at,
        )
        return CredentialRow.from_sealed(
            self._keys.encrypt(_json_encode(data), binding),
            binding,
            created_at=created_at,
            updated_at=now,
            last_used_at=last_used,
            last_rotated_at=last_rotated,
        )

    def _check_fresh(self, row: CredentialRow, now: int) -> None:
        if row.expires_at is not None and row.expires_at <= now:
            raise ExpiredError(
                f"{row.name!r} expired at {from_micros(row.expires_at):%Y-%m-%dT%H:%M:%SZ}."
            )

    def _open(self, row: CredentialRow) -> dict[str, Any]:
        try:
            return _json_decode(self._keys.decrypt(row.sealed(), row.binding()))
        except IntegrityError:
            log.error("integrity check failed for credential %s", row.credential_id)
            raise
        except msgspec.DecodeError:
            log.error("integrity check failed for credential %s (bad plaintext)", row.credential_id)
            raise IntegrityError() from None

    def _note_use(self, row: CredentialRow) -> int:
        now = to_micros(self._clock())
        self.last_used.note(row.credential_id, now)
        return now

    def _data_changed(self, existing: CredentialRow, data: dict[str, Any]) -> bool:
        """Whether an overwrite changes ``data`` (and so rotates the credential).
        A stored row that no longer opens counts as changed."""
        try:
            return self._open(existing) != data
        except IntegrityError:
            return True

    def _summaries(self, rows: Sequence[CredentialListing]) -> list[CredentialSummary]:
        """One instant for the whole page, so every row's ``expired`` is judged alike;
        about 1 µs per row (a 100-row page builds 100 of these)."""
        now = to_micros(self._clock())
        noted_use = self.last_used.get
        summaries = []
        for row in rows:
            noted = noted_use(row.credential_id)
            last_used = row.last_used_at if noted is None else max(noted, row.last_used_at or 0)
            expires = row.expires_at
            summaries.append(
                CredentialSummary(
                    credential_id=row.credential_id,
                    name=row.name,
                    type=row.type,
                    metadata=_stored_metadata(row),
                    expires_at=None if expires is None else from_micros(expires),
                    created_at=from_micros(row.created_at),
                    updated_at=from_micros(row.updated_at),
                    last_rotated_at=_opt_time(row.last_rotated_at),
                    last_used_at=from_micros(last_used) if last_used else None,
                    version=row.version,
                    expired=expires is not None and expires <= now,
                )
            )
        return summaries


@functools.lru_cache(maxsize=4096)
def _totp_parameters(metadata_json: bytes) -> TotpParameters:
    """Parsed once per distinct metadata (checked when stored; holds no secret)."""
    try:
        metadata = _json_decode(metadata_json)
    except msgspec.DecodeError:  # a damaged row: the defaults, as _stored_metadata shows it
        metadata = {}
    return TotpParameters.from_metadata(metadata)


def _new_credential_id() -> str:
    return "cred_" + secrets.token_hex(12)


def _not_found(name: str) -> NotFoundError:
    return NotFoundError(f"No credential named {name!r}.")


def _require_totp(row: CredentialRow, data: dict[str, Any]) -> str:
    seed = totp_seed(row.type, data)
    if seed is None:
        raise BadRequestError(
            f"{row.name!r} has no TOTP seed (data.totp, or a TOTP credential's data.secret).",
            reason="not_totp",
        )
    return seed


def _stored_metadata(row: CredentialListing) -> dict[str, Any]:
    """A row's metadata; one that no longer decodes (a damaged or hand-edited row)
    shows as ``{}`` and is logged, so one bad row never fails a list."""
    try:
        return _json_decode(row.metadata_json)
    except msgspec.DecodeError:
        log.warning("credential %s has unreadable metadata; shown as {}", row.credential_id)
        return {}


def _opt_time(micros: int | None) -> datetime | None:
    return None if micros is None else from_micros(micros)


def _store_response(row: CredentialRow, metadata: dict[str, Any]) -> StoreResponse:
    return StoreResponse(
        credential_id=row.credential_id,
        type=row.type,
        name=row.name,
        metadata=metadata,
        expires_at=_opt_time(row.expires_at),
        created_at=from_micros(row.created_at),
        updated_at=from_micros(row.updated_at),
        last_rotated_at=_opt_time(row.last_rotated_at),
        version=row.version,
    )
