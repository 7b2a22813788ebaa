"""Check-and-set for writes: what a store requires of the credential it replaces.

HTTP carries it in ``If-Match`` / ``If-None-Match`` (the official clients send fixed
bodies, so a precondition can only travel in headers); the console's edit form
carries the version it was opened at. The version is the credential's own counter
(1 when created, one more per write), sent back as ``ETag: "<version>"``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from loomal.errors import BadRequestError, PreconditionFailedError

__all__ = ["WritePrecondition"]

_ETAG = re.compile(r'\s*"([0-9]{1,18})"\s*')


@dataclass(frozen=True, slots=True)
class WritePrecondition:
    """``versions``: the current version must be one of these (``If-Match: "3"``);
    ``must_exist``: ``If-Match: *``; ``must_not_exist``: ``If-None-Match: *`` (create only)."""

    versions: frozenset[int] | None = None
    must_exist: bool = False
    must_not_exist: bool = False

    @classmethod
    def from_headers(cls, if_match: str | None, if_none_match: str | None) -> WritePrecondition:
        """Parse the two headers (strong entity tags only: a version is exact)."""
        precondition = cls()
        if if_match is not None:
            if if_match.strip() == "*":
                precondition = cls(must_exist=True)
            else:
                precondition = cls(versions=_versions(if_match, "If-Match"))
        if if_none_match is not None:
            if if_none_match.strip() != "*":
                raise BadRequestError(
                    'If-None-Match on a store must be "*" (create only).',
                    reason="bad_precondition",
                )
            if precondition.must_exist or precondition.versions is not None:
                raise BadRequestError(
                    "Send If-Match or If-None-Match, not both.", reason="bad_precondition"
                )
            precondition = cls(must_not_exist=True)
        return precondition

    def check(self, name: str, current: int | None) -> None:
        """Refuse (412 ``version_conflict``) unless the credential's ``current`` version
        (None: no such credential) is what was asked for."""
        if self.must_not_exist and current is not None:
            raise PreconditionFailedError(
                f"{name!r} exists already (version {current}); this store was create-only.",
                reason="exists",
            )
        if (self.must_exist or self.versions is not None) and current is None:
            raise PreconditionFailedError(
                f"No credential named {name!r} to replace.", reason="not_found"
            )
        if self.versions is not None and current not in self.versions:
            expected = ", ".join(str(v) for v in sorted(self.versions))
            raise PreconditionFailedError(
                f"{name!r} is at version {current}, not {expected}: it changed since it was read.",
                reason="changed",
            )


def _versions(header: str, field: str) -> frozenset[int]:
    versions = set()
    for part in header.split(","):
        found = _ETAG.fullmatch(part)
        if found is None:
            raise BadRequestError(
                f'{field} must be "*" or quoted versions as ETag gives them, e.g. "3".',
                reason="bad_precondition",
            )
        versions.add(int(found.group(1)))
    return frozenset(versions)
