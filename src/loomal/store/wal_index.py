"""Whether an SQLite database in WAL mode has changed, read from its WAL-index header.

Why: the row cache (``row_cache.py``) asks "has anything been committed since I
last looked?" on every credential read. ``PRAGMA data_version`` answers that,
but as a statement: it starts and ends a read transaction (two file-lock
system calls and the statement machinery), ~4 µs, the largest single cost of a
cached read. SQLite itself answers the same question when a read transaction
starts by comparing the WAL-index header in the ``-shm`` file with the copy it
saw last (https://www.sqlite.org/walformat.html, "The WAL-Index Header"): every
commit writes a new header (its change counter, last frame, salts and checksum
differ), and only a commit does. Reading those 96 bytes (both copies of the
header) from a read-only memory map answers the question in a fraction of a
microsecond, for commits by any connection or process, loomal's or not.

Conservative by construction: a header read in the middle of a commit differs
from the last one seen, so the cache is emptied and the row is read with a
real SELECT. A change of header without a change of data (a checkpoint
restarting the WAL) only costs one extra read.

Only while the connection that opened the ``-shm`` file stays open: SQLite
never truncates or deletes that file while a connection to the database holds
it, so the mapping stays valid; :meth:`WalIndex.close` is called before that
connection closes. Where any of this does not hold (not WAL mode, no ``-shm``
file, a header that is not the documented one), :func:`open_wal_index`
returns None and the store keeps asking ``PRAGMA data_version``.
"""

from __future__ import annotations

import mmap
import os
import sqlite3
import struct
import sys
from pathlib import Path

__all__ = ["WalIndex", "open_wal_index"]

_HEADER_BYTES = 48
"""One copy of the WAL-index header; the file holds two, one after the other."""
_WALINDEX_VERSION = 3007000
"""``iVersion``, the first field of the header, in the host's byte order."""


class WalIndex:
    """A read-only view of the two WAL-index header copies of one database."""

    __slots__ = ("_map",)

    def __init__(self, mapped: mmap.mmap) -> None:
        self._map = mapped

    def header(self) -> bytes:
        """Both copies of the header as they are now: different bytes, a commit since."""
        return self._map[: 2 * _HEADER_BYTES]

    def close(self) -> None:
        self._map.close()


def open_wal_index(conn: sqlite3.Connection, path: Path) -> WalIndex | None:
    """The WAL index of the database ``conn`` has open at ``path``, or None when it
    cannot be read as documented. ``conn`` must stay open while it is used."""
    if sys.platform == "win32":  # the -shm file is locked there, not only advised
        return None
    (mode,) = conn.execute("PRAGMA journal_mode").fetchone()
    if str(mode).lower() != "wal":
        return None
    conn.execute("PRAGMA data_version").fetchone()  # a read transaction: opens the -shm file
    try:
        fd = os.open(path.with_name(path.name + "-shm"), os.O_RDONLY)
    except OSError:
        return None
    try:
        if os.fstat(fd).st_size < 2 * _HEADER_BYTES:
            return None
        mapped = mmap.mmap(fd, 2 * _HEADER_BYTES, access=mmap.ACCESS_READ)
    except (OSError, ValueError):
        return None
    finally:
        os.close(fd)
    (version,) = struct.unpack_from("=I", mapped, 0)
    initialised = mapped[12]
    if version != _WALINDEX_VERSION or initialised != 1:
        mapped.close()
        return None
    return WalIndex(mapped)
