"""Wire shapes of a credential's history and of deleted credentials (msgspec
Structs, defined once: routes, OpenAPI, the SDK and the console use them). None
holds a secret: a version's data is read as a :class:`~loomal.core.models.Credential`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from msgspec import Meta

__all__ = ["CredentialVersion", "DeletedCredential", "DeletedList", "VersionList"]

WRITE_KINDS = "store, edit, restore, undelete, backup_code"


class CredentialVersion(msgspec.Struct, rename="camel", kw_only=True):
    """One kept version: when, by whom, how; never its data."""

    version: int
    written_at: datetime
    written_by: Annotated[
        str | None,
        Meta(description="The writing key's label and prefix, or console-link; never a key"),
    ]
    kind: Annotated[str, Meta(description=f"How it was written: {WRITE_KINDS}")]
    type: str
    current: Annotated[bool, Meta(description="Whether this is the credential's current version")]

    @property
    def writtenAt(self) -> datetime:
        return self.written_at

    @property
    def writtenBy(self) -> str | None:
        return self.written_by


class VersionList(msgspec.Struct, rename="camel"):
    """A credential's kept versions, newest first."""

    name: str
    credential_id: str
    versions: list[CredentialVersion]

    @property
    def credentialId(self) -> str:
        return self.credential_id


class DeletedCredential(msgspec.Struct, rename="camel", kw_only=True):
    """A deleted credential that can still be undeleted."""

    credential_id: str
    name: str
    type: str
    version: Annotated[int, Meta(description="The version an undelete brings back")]
    deleted_at: datetime
    deleted_by: str | None
    recoverable_until: Annotated[
        datetime, Meta(description="When the maintenance loop destroys it for good")
    ]
    name_in_use: Annotated[
        bool,
        Meta(description="Whether a credential holds the name now (undelete it with ?as=)"),
    ]

    @property
    def credentialId(self) -> str:
        return self.credential_id

    @property
    def deletedAt(self) -> datetime:
        return self.deleted_at

    @property
    def recoverableUntil(self) -> datetime:
        return self.recoverable_until


class DeletedList(msgspec.Struct, rename="camel"):
    """``GET /v0/vault?deleted=true``: most recently deleted first."""

    deleted: list[DeletedCredential]
    count: int
