"""A person's edit of a stored credential: only the fields they changed change.

A store replaces the whole credential, so an editor that stores what it shows
loses every field it has no input for. An edit names its changes instead, and
:meth:`VaultService.edit_credential` applies them to the stored credential inside
the write transaction: the stored secret is opened there and never handed to the
editor, so an edit form needs no read of the secret (no ``get`` in the audit log,
no ``lastUsedAt``), and a secret field the person left blank keeps its value,
a TOTP seed included.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CredentialEdit"]


@dataclass(frozen=True, slots=True)
class CredentialEdit:
    """``set_*`` replace or add fields, ``remove_*`` drop them; every other field,
    in ``data`` and ``metadata``, stays as stored. The expiry changes only with
    ``change_expiry`` (then ``expires_at`` None removes it)."""

    set_data: Mapping[str, Any] = field(default_factory=dict)
    remove_data: frozenset[str] = frozenset()
    set_metadata: Mapping[str, Any] = field(default_factory=dict)
    remove_metadata: frozenset[str] = frozenset()
    change_expiry: bool = False
    expires_at: str | None = None

    def __repr__(self) -> str:
        return (
            f"CredentialEdit(set_data={sorted(self.set_data)!r}, "
            f"remove_data={sorted(self.remove_data)!r}, "
            f"set_metadata={sorted(self.set_metadata)!r}, "
            f"remove_metadata={sorted(self.remove_metadata)!r}, "
            f"change_expiry={self.change_expiry!r})"
        )

    @property
    def changes_nothing(self) -> bool:
        return not (
            self.set_data
            or self.remove_data
            or self.set_metadata
            or self.remove_metadata
            or self.change_expiry
        )

    def applied_to_data(self, stored: Mapping[str, Any]) -> dict[str, Any]:
        return _applied(stored, self.set_data, self.remove_data)

    def applied_to_metadata(self, stored: Mapping[str, Any]) -> dict[str, Any]:
        return _applied(stored, self.set_metadata, self.remove_metadata)


def _applied(
    stored: Mapping[str, Any], changes: Mapping[str, Any], removed: frozenset[str]
) -> dict[str, Any]:
    result = {k: v for k, v in stored.items() if k not in removed}
    result.update(changes)
    return result
