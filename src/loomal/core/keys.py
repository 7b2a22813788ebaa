"""Master keys: where they come from, hot reload, wrap counts, status, rotation, retirement.

A :class:`KeySource` says what the keys are now: ``LOOMAL_MASTER_KEY`` (a
:class:`StaticKeySource`), a key file (:class:`loomal.keyfile.KeyFileSource`)
or, for a worker whose key file is sealed, its parent's unseal agent
(:class:`loomal.unseal_agent.AgentKeySource`). Sources that read files or
sockets live outside core and only implement the protocol.

The :class:`KeyManager` is the one owner of every rule about master keys:

* the keys a server holds, swapped in when the source changes (rotation adds a
  primary, an unseal brings keys, a seal takes them away) and re-read at once
  when a row names a key the server has not seen yet;
* how many data keys each master key has wrapped (AES-GCM under one key is
  bounded at 2^32 random nonces), written in batches, with a warning at half;
* the store's own key: recorded at its first start (the first server to record
  wins), so a server with other keys refuses to start instead of writing rows
  the others cannot read, and a row under a key the server lacks answers 503
  ``key_unavailable`` rather than an integrity error;
* status, rotation and retirement, which the CLI only parses, calls and prints.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import msgspec

from loomal.core.crypto import Binding, Keyring, SealedData
from loomal.core.rotation import RotationResult, RotationSkipped, rewrap_all
from loomal.core.store import Store
from loomal.core.timestamps import to_micros
from loomal.errors import KeyUnavailableError, SealedError, ValidationError

__all__ = [
    "WRAP_WARNING",
    "KeyManager",
    "KeySource",
    "KeyStatus",
    "KeyStatusReport",
    "RotatableKeySource",
    "RotationResult",
    "RotationSkipped",
    "StaticKeySource",
    "verify_store_keys",
]

log = logging.getLogger("loomal.keys")

WRAP_WARNING = 2**31
"""Warn (key-status, server log) from here: half of the 2^32 random-nonce bound."""

_SEALED = "The vault is sealed: its operator must unseal it (loomal admin unseal)."


class KeySource(Protocol):
    """Where a process's master keys come from."""

    @property
    def description(self) -> str:
        """Where the keys come from, for messages (never a key)."""
        ...

    def current(self) -> Keyring | None:
        """The keys as they are now; None while sealed (no key is held)."""
        ...

    def reload(self, force: bool = False) -> bool:
        """Re-read the keys if they changed (``force``: look again even if they
        seem unchanged); True if :meth:`current` now answers differently."""
        ...

    def key_ids(self) -> list[str]:
        """The key ids, primary first, without opening anything (no passphrase)."""
        ...


@runtime_checkable
class RotatableKeySource(KeySource, Protocol):
    """A source that rotation can rewrite (a key file)."""

    def add_primary_key(self) -> Keyring:
        """Put a new random key first; the old ones stay to open older rows."""
        ...

    def remove_key(self, key_id: str) -> None: ...


class StaticKeySource:
    """Keys given once at start (``LOOMAL_MASTER_KEY``): they never change while
    the process runs, and rotation cannot rewrite them."""

    def __init__(self, keyring: Keyring, description: str = "LOOMAL_MASTER_KEY") -> None:
        self._keyring = keyring
        self.description = description

    def __repr__(self) -> str:
        return f"StaticKeySource({self.description!r})"

    def current(self) -> Keyring:
        return self._keyring

    def reload(self, force: bool = False) -> bool:
        return False

    def key_ids(self) -> list[str]:
        return ordered_key_ids(self._keyring)


def ordered_key_ids(keyring: Keyring) -> list[str]:
    """Primary first, then the others in a stable order."""
    primary = keyring.primary_key_id
    return [primary, *sorted(keyring.key_ids - {primary})]


class KeyStatus(msgspec.Struct, rename="camel"):
    key_id: str
    primary: bool
    credentials: int
    """Credentials whose data key this key wraps now."""
    wraps: int
    """Data keys it has ever wrapped (writes and re-wraps)."""
    rotate_soon: bool
    retirable: bool


class KeyStatusReport(msgspec.Struct, rename="camel"):
    keys: list[KeyStatus]
    missing_keys: list[str]
    """Keys that wrap credentials but are not in the source."""


class KeyManager:
    """The master keys of one process over one store; see the module docstring."""

    def __init__(
        self, source: KeySource, store: Store, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.source = source
        self._store = store
        self._clock = clock
        self._keyring: Keyring | None = None
        self._loaded = False
        self._wraps: dict[str, int] = {}
        self._wraps_lock = threading.Lock()  # seals run on the store's writer thread too
        self._warned = False

    def __repr__(self) -> str:
        return f"KeyManager(source={self.source!r}, sealed={self.sealed})"

    # -- the keys held, hot-swapped ---------------------------------------------------

    @property
    def keyring(self) -> Keyring | None:
        """The keys held now (None while sealed); read from the source on first use."""
        if not self._loaded:
            self._keyring, self._loaded = self.source.current(), True
        return self._keyring

    @property
    def sealed(self) -> bool:
        return self.keyring is None

    def refresh(self, *, force: bool = False) -> bool:
        """Adopt the source's keys if they changed; True if they did."""
        if not self.source.reload(force):
            return False
        self._keyring, self._loaded = self.source.current(), True
        self._warned = False
        return True

    def require_unsealed(self) -> Keyring:
        """The keys, or SealedError. A sealed server asks its source again first
        (unsealed a moment ago? the source throttles such forced checks)."""
        if self.keyring is None:
            self.refresh(force=True)
        return self._held()

    def _held(self) -> Keyring:
        keyring = self.keyring
        if keyring is None:
            raise SealedError(_SEALED)
        return keyring

    # -- crypto through the held keys, counting wraps --------------------------------

    def seal(self, plaintext: bytes, binding: Binding) -> SealedData:
        sealed = self._held().seal(plaintext, binding)
        self._count_wrap(sealed.key_id)
        return sealed

    def open(self, sealed: SealedData, binding: Binding) -> bytes:
        """Decrypt; a row under a key not held is re-checked against the source
        (rewrapped by a rotation we have not seen yet) before KeyUnavailableError."""
        keyring = self._held()
        if sealed.key_id not in keyring.key_ids:
            self.refresh(force=True)
            keyring = self._held()
            if sealed.key_id not in keyring.key_ids:
                raise KeyUnavailableError(
                    f"This credential is wrapped by master key {sealed.key_id}, which this "
                    "server does not hold: give it the key file of the server that wrote it."
                )
        return keyring.open(sealed, binding)

    def _count_wrap(self, key_id: str) -> None:
        with self._wraps_lock:
            self._wraps[key_id] = self._wraps.get(key_id, 0) + 1

    async def flush_wrap_counts(self) -> None:
        """Add the wraps made since the last flush to the store's counts; warn once
        per key when the primary nears its bound."""
        with self._wraps_lock:
            counts, self._wraps = self._wraps, {}
        if not counts:
            return
        try:
            await self._store.add_key_wraps(counts=counts)
        except Exception:
            with self._wraps_lock:
                for key_id, n in counts.items():
                    self._wraps[key_id] = self._wraps.get(key_id, 0) + n
            raise
        keyring = self._keyring
        primary = None if keyring is None else keyring.primary_key_id
        if primary in counts and not self._warned:
            total = (await self._store.key_wraps()).get(primary or "", 0)
            if total >= WRAP_WARNING:
                self._warned = True
                log.warning(
                    "master key %s has wrapped %d data keys; rotate it (loomal admin "
                    "rotate-master-key) well before 2^32",
                    primary,
                    total,
                )

    # -- the store's key -------------------------------------------------------------

    async def check_store(self) -> None:
        """Refuse to serve with keys that cannot read this store (see
        :func:`verify_store_keys`); a sealed process is checked at its unseal."""
        keyring = self.keyring
        if keyring is not None:
            await verify_store_keys(
                self._store, ordered_key_ids(keyring), self.source.description, clock=self._clock
            )

    # -- operator commands -------------------------------------------------------------

    async def status(self) -> KeyStatusReport:
        """Each key of the source with its credentials and wraps (no passphrase needed)."""
        key_ids = self.source.key_ids()
        primary = key_ids[0]
        counts = await self._store.count_by_key_id()
        wraps = await self._store.key_wraps()
        recorded = await self._store.recorded_master_key()
        keys = [
            KeyStatus(
                key_id=key_id,
                primary=key_id == primary,
                credentials=counts.get(key_id, 0),
                wraps=wraps.get(key_id, 0),
                rotate_soon=wraps.get(key_id, 0) >= WRAP_WARNING,
                retirable=key_id not in (primary, recorded) and counts.get(key_id, 0) == 0,
            )
            for key_id in [primary, *sorted(set(key_ids) - {primary})]
        ]
        return KeyStatusReport(keys=keys, missing_keys=sorted(set(counts) - set(key_ids)))

    async def rotate(
        self,
        *,
        batch_size: int = 500,
        max_batches: int | None = None,
        if_wraps_over: int | None = None,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> RotationResult | RotationSkipped:
        """Make a new primary key and re-wrap every data key under it, or resume an
        unfinished rotation. Rows that fail their integrity check are skipped and
        named in the result; every other row is rotated.

        ``if_wraps_over``: rotate only if the primary has wrapped more than this
        many data keys (or a rotation is unfinished). ``on_progress(moved, total)``.
        """
        source = self._rotatable()
        counts = await self._store.count_by_key_id()
        if if_wraps_over is not None:
            primary_id = source.key_ids()[0]  # no passphrase needed to decide
            wrapped = (await self._store.key_wraps()).get(primary_id, 0)
            if wrapped <= if_wraps_over and not set(counts) - {primary_id}:
                return RotationSkipped(key_id=primary_id, wraps=wrapped, threshold=if_wraps_over)
        await self.check_store()
        keyring = self._held()
        pending = sum(n for key_id, n in counts.items() if key_id != keyring.primary_key_id)
        recorded = await self._store.recorded_master_key()  # moved last: unfinished if not
        resumed = pending > 0 or recorded != keyring.primary_key_id
        if not resumed:  # everything is under the primary: start a new rotation
            keyring = source.add_primary_key()
            self._keyring, self._loaded = keyring, True
            pending = sum(counts.values())
        # From here servers that start need the new key; the old one stays in the file.
        await self._store.move_master_key(key_id=keyring.primary_key_id, at=self._now())
        moved, unreadable = await rewrap_all(
            self._store,
            keyring,
            batch_size=batch_size,
            max_batches=max_batches,
            on_progress=None if on_progress is None else lambda n: on_progress(n, pending),
        )
        return RotationResult(
            primary_key_id=keyring.primary_key_id,
            moved=moved,
            resumed=resumed,
            unreadable=unreadable,
        )

    async def retire(self, key_id: str) -> None:
        """Remove a key from the source once nothing needs it any more."""
        source = self._rotatable()
        if key_id == source.key_ids()[0]:
            raise ValidationError(f"{key_id} is the primary key; rotate to a new key first.")
        in_use = (await self._store.count_by_key_id()).get(key_id, 0)
        if in_use:
            raise ValidationError(
                f"{key_id} still wraps {in_use} credential(s); run rotate-master-key to finish."
            )
        kept = (await self._store.count_versions_by_key_id()).get(key_id, 0)
        if kept:
            raise ValidationError(
                f"{key_id} still wraps {kept} kept version(s); run rotate-master-key to finish."
            )
        if key_id == await self._store.recorded_master_key():
            raise ValidationError(
                f"{key_id} is the key this store recorded; run rotate-master-key to finish."
            )
        source.remove_key(key_id)
        self._loaded = False  # read again (with the file's passphrase) if needed

    def _rotatable(self) -> RotatableKeySource:
        if not isinstance(self.source, RotatableKeySource):
            raise ValidationError(
                f"The master key comes from {self.source.description}, which rotation cannot "
                "rewrite. Move the key into a file (LOOMAL_MASTER_KEY_FILE) first."
            )
        return self.source

    def _now(self) -> int:
        return to_micros(self._clock())


async def verify_store_keys(
    store: Store, key_ids: Sequence[str], where: str, *, clock: Callable[[], float] = time.time
) -> None:
    """Refuse keys (``key_ids``, primary first, from ``where``) that lack one the
    store's credentials are wrapped by, or the key the store recorded at its first
    start; an unrecorded store records this primary (atomically: the first wins)."""
    held = set(key_ids)
    missing = await store.master_key_ids() - held
    if missing:
        raise ValidationError(
            "This store holds credentials wrapped by master key(s) "
            f"{', '.join(sorted(missing))}, which the configured key ({where}) does not "
            "include. Set LOOMAL_MASTER_KEY or LOOMAL_MASTER_KEY_FILE to the right key."
        )
    recorded = await store.claim_master_key(key_id=key_ids[0], at=to_micros(clock()))
    if recorded not in held:
        raise ValidationError(
            f"This store's master key is {recorded} (recorded when its first server started), "
            f"which the configured key ({where}) does not include: another server uses this "
            "store with other keys. Give this server their key file (LOOMAL_MASTER_KEY_FILE) "
            "or key (LOOMAL_MASTER_KEY)."
        )
