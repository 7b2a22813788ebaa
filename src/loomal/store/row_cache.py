"""Credential rows kept in memory for as long as the database file is unchanged.

Why: a credential read (and a TOTP code) is one indexed SELECT of fifteen
columns, the largest single cost of the hot path after the network. Agents read
the same few credentials over and over, and writes are rare, so each worker
keeps the rows it has read and asks SQLite one cheaper question per request:
has any connection (this process's writer thread, another worker, the CLI)
committed since the last ask? The WAL-index header answers it from memory
(``wal_index.py``); where it cannot be read, ``PRAGMA data_version``. Any
change empties the whole cache, so a read never answers from a row older than
the last commit it could have seen: the same guarantee as the SELECT, without
tracking which row a change touched.

What is cached is the stored row: ciphertext and wrapped key, exactly what the
database file holds. No plaintext is ever cached.
"""

from __future__ import annotations

from collections.abc import Callable

from loomal.core.ports import CredentialRow

__all__ = ["RowCache"]


class RowCache:
    def __init__(self, data_version: Callable[[], object], *, limit: int = 10_000) -> None:
        """``data_version()``: a value that differs after every commit (equal values:
        nothing committed in between)."""
        self._data_version = data_version
        self._limit = limit
        self._version: object = None
        self._rows: dict[tuple[str, str], CredentialRow | None] = {}

    def get(
        self, key: tuple[str, str], read: Callable[[], CredentialRow | None]
    ) -> CredentialRow | None:
        """The row under ``key`` (None: there is none), from memory while nothing was
        committed since it was read, else from ``read()``."""
        version = self._data_version()
        if version == self._version:
            try:
                return self._rows[key]
            except KeyError:
                pass
        else:
            self._rows.clear()
            self._version = version
        row = read()  # at least as new as ``version``: a later commit changes it again
        if len(self._rows) >= self._limit:
            self._rows.clear()
        self._rows[key] = row
        return row
