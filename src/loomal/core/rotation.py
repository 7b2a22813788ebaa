"""Master-key rotation: re-wrap every data key under the primary master key.

Only the wrapped data keys change; ciphertexts are not re-encrypted. Each row
is swapped only if it is still at the version and key id that was read, so a
concurrent write (which wraps a fresh data key itself) always wins; rows left
under an old key are picked up by the next pass. Interrupted, it is simply
run again: it works from what the store still holds under old keys. A row
whose data key fails its integrity check is reported and skipped, so one
tampered row never keeps the others under a key about to be retired.

:class:`loomal.core.keys.KeyManager` decides when to rotate; this is the loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import msgspec

from loomal.core.crypto import Keyring
from loomal.core.store import CredentialRow, Store
from loomal.core.versions import rewrap_versions_to_primary
from loomal.errors import IntegrityError, ServerError

__all__ = [
    "ADOPTION_WAIT_SECONDS",
    "RotationResult",
    "RotationSkipped",
    "reseal_format_1",
    "rewrap_all",
    "rewrap_to_primary",
]

log = logging.getLogger("loomal.keys")

ADOPTION_WAIT_SECONDS = 2.0
"""Servers re-read the key file once a second (--usage-flush-seconds): after this,
no server still wraps new data keys with the old primary."""
_STALL_LIMIT = 100


class RotationSkipped(msgspec.Struct, rename="camel"):
    """``--if-wraps-over``: the primary has not wrapped enough to rotate."""

    key_id: str
    wraps: int
    threshold: int


class RotationResult(msgspec.Struct, rename="camel"):
    primary_key_id: str
    moved: int
    resumed: bool
    unreadable: list[str]
    """``identity/credential`` names of rows that failed their integrity check and
    stay under their old key (never any of their data)."""


async def rewrap_all(
    store: Store,
    keyring: Keyring,
    *,
    batch_size: int,
    max_batches: int | None,
    on_progress: Callable[[int], None] | None,
) -> tuple[int, list[str]]:
    """Re-wrap everything (or ``max_batches``), then once more after servers had
    time to adopt the new key: a write in that window still used the old one.
    Returns the rows moved and the names of the unreadable ones."""
    bad: dict[str, CredentialRow] = {}

    def note(row: CredentialRow) -> None:
        bad[row.credential_id] = row

    moved = 0
    for number, limit in enumerate([max_batches] if max_batches is not None else [None, None]):
        if number:
            await asyncio.sleep(ADOPTION_WAIT_SECONDS)
        moved += await rewrap_to_primary(
            store,
            keyring,
            batch_size=batch_size,
            max_batches=limit,
            on_progress=on_progress,
            on_unreadable=note,
        )
    # kept versions too, so that a retired key leaves no history unreadable
    _, unreadable_versions = await rewrap_versions_to_primary(store, keyring, batch_size=batch_size)
    if not bad and not unreadable_versions:
        return moved, []
    owners = {i.identity_id: i.name for i, _ in await store.list_identities()}
    names = {f"{owners.get(r.identity_id, '?')}/{r.name}" for r in bad.values()}
    names |= {f"{owners.get(v.identity_id, '?')}/{v.name}@{v.version}" for v in unreadable_versions}
    return moved, sorted(names)


async def rewrap_to_primary(
    store: Store,
    keyring: Keyring,
    *,
    batch_size: int = 500,
    max_batches: int | None = None,
    on_progress: Callable[[int], None] | None = None,
    on_unreadable: Callable[[CredentialRow], None] | None = None,
) -> int:
    """Re-wrap until no readable row is left under another key; returns how many rows moved.

    Each pass walks the rows under other keys in credential-id order; another
    pass follows only if some row changed under us. Unreadable rows go to
    ``on_unreadable`` (logged by id if None), once per call.
    """
    primary = keyring.primary_key_id
    moved_total = batches = stalls = wraps = 0
    unreadable: set[str] = set()
    after: str | None = None
    lost = moved_in_pass = 0
    while max_batches is None or batches < max_batches:
        rows = await store.rows_wrapped_by_other_keys(key_id=primary, after=after, limit=batch_size)
        if not rows:
            if lost == 0:
                break
            if moved_in_pass == 0:  # every row changed under us: let the writers finish
                stalls += 1
                if stalls > _STALL_LIMIT:
                    raise ServerError(
                        "Rotation cannot make progress; retry when writes are quieter."
                    )
                await asyncio.sleep(0.1)
            after, lost, moved_in_pass = None, 0, 0
            continue
        after = rows[-1].credential_id
        todo = [row for row in rows if row.credential_id not in unreadable]
        results = await asyncio.gather(*(_rewrap(store, keyring, row) for row in todo))
        moved = 0
        for row, result in zip(todo, results, strict=True):
            if result is None:
                unreadable.add(row.credential_id)
                _report_unreadable(row, on_unreadable)
                continue
            wraps += 1
            if result:
                moved += 1
            else:
                lost += 1
        moved_total += moved
        moved_in_pass += moved
        batches += 1
        if on_progress is not None:
            on_progress(moved)
    if wraps:
        await store.add_key_wraps(counts={primary: wraps})
    return moved_total


def _report_unreadable(
    row: CredentialRow, on_unreadable: Callable[[CredentialRow], None] | None
) -> None:
    if on_unreadable is not None:
        on_unreadable(row)
    else:
        log.error("rotation skipped credential %s: its integrity check failed", row.credential_id)


async def _rewrap(store: Store, keyring: Keyring, row: CredentialRow) -> bool | None:
    """True if moved, False if the row changed under us, None if it cannot be opened."""
    try:
        sealed = keyring.rewrap(row.sealed(), row.binding())
    except IntegrityError:
        return None
    return await store.replace_wrapped_key(
        credential_id=row.credential_id,
        version=row.version,
        old_key_id=row.key_id,
        key_id=sealed.key_id,
        wrapped_key=sealed.wrapped_key,
    )


async def reseal_format_1(store: Store, keyring: Keyring, *, batch_size: int = 500) -> int:
    """Seal every format-1 row again as format 2 (type, expiry and metadata bound,
    see :mod:`loomal.core.crypto`): same plaintext, version and binding, a fresh
    data key. Run when a server opens the store with its keys; a concurrent write
    wins (it sealed the row as format 2 itself). Rows that do not open (tampered,
    or under a key not held) are logged by id and left. Returns how many moved."""
    moved = wraps = 0
    after: str | None = None
    while rows := await store.rows_sealed_in_format_1(after=after, limit=batch_size):
        after = rows[-1].credential_id
        for row in rows:
            try:
                sealed = keyring.seal(keyring.open(row.sealed(), row.binding()), row.binding())
            except IntegrityError:
                log.error("credential %s did not open; left in storage format 1", row.credential_id)
                continue
            wraps += 1
            moved += await store.replace_sealed(
                credential_id=row.credential_id,
                version=row.version,
                old_nonce=row.nonce,
                sealed=sealed,
            )
    if wraps:
        await store.add_key_wraps(counts={keyring.primary_key_id: wraps})
    if moved:
        log.info("sealed %d credential(s) again in storage format 2", moved)
    return moved
