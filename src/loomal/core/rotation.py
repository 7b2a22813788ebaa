"""Master-key rotation: re-wrap every data key under the primary master key.

Only the wrapped data keys change; ciphertexts are not re-encrypted. Each row
is swapped only if it is still at the version and key id that was read, so a
concurrent write (which wraps a fresh data key itself) always wins; rows left
under an old key are picked up by the next pass. Interrupted, it is simply
run again: it works from what the store still holds under old keys.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from loomal.core.crypto import Keyring
from loomal.core.store import CredentialRow, Store
from loomal.errors import ServerError

__all__ = ["rewrap_to_primary"]

_STALL_LIMIT = 100


async def rewrap_to_primary(
    store: Store,
    keyring: Keyring,
    *,
    batch_size: int = 500,
    max_batches: int | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> int:
    """Re-wrap until no row is left under another key; returns how many rows moved."""
    moved_total = 0
    batches = 0
    stalls = 0
    while max_batches is None or batches < max_batches:
        rows = await store.rows_wrapped_by_other_keys(
            key_id=keyring.primary_key_id, limit=batch_size
        )
        if not rows:
            break
        results = await asyncio.gather(*(_rewrap(store, keyring, row) for row in rows))
        moved = sum(results)
        moved_total += moved
        batches += 1
        if on_progress is not None:
            on_progress(moved)
        if moved == 0:  # every row changed under us: let the writers finish, then retry
            stalls += 1
            if stalls > _STALL_LIMIT:
                raise ServerError("Rotation cannot make progress; retry when writes are quieter.")
            await asyncio.sleep(0.1)
    await store.add_key_wraps(counts=keyring.take_wrap_counts())
    return moved_total


async def _rewrap(store: Store, keyring: Keyring, row: CredentialRow) -> bool:
    sealed = keyring.rewrap(row.sealed(), row.binding())
    return await store.replace_wrapped_key(
        credential_id=row.credential_id,
        version=row.version,
        old_key_id=row.key_id,
        key_id=sealed.key_id,
        wrapped_key=sealed.wrapped_key,
    )
