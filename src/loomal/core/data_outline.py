"""What a page may know of a credential's encrypted ``data`` without a secret value:
whether it holds a TOTP seed, how many backup codes are left, and (to a key that
may read them anyway) the names of its fields. The console decides from it which
controls to offer (a live code, *Use a backup code*, a CUSTOM form's rows)
without a ``get``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from loomal.core.types import totp_seed

__all__ = ["DataOutline"]


@dataclass(frozen=True, slots=True)
class DataOutline:
    has_totp: bool
    backup_codes_remaining: int
    field_names: tuple[str, ...] | None
    """Sorted; None when the caller may not read the credential (no vault:read)."""

    @classmethod
    def of(cls, ctype: str, data: Mapping[str, Any], *, with_names: bool) -> DataOutline:
        codes = data.get("backupCodes")
        return cls(
            has_totp=totp_seed(ctype, data) is not None,
            backup_codes_remaining=len(codes) if isinstance(codes, list) else 0,
            field_names=tuple(sorted(data)) if with_names else None,
        )
