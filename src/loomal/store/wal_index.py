"""Whether an SQLite database in WAL mode has changed, read from its WAL-index header.

Why: the row cache (``row_cache.py``) asks "has anything been committed since I
last looked?" on every credential read. ``PRAGMA data_version`` answers that,
but as a statement: it starts and ends a read transaction (two file-lock
system calls on a file every worker shares, and the statement machinery),
~4 µs, the largest single cost of a cached read. SQLite answers the same
question when a read transaction starts by comparing the WAL-index header at
the start of the ``-shm`` file with the copy it saw last
(https://www.sqlite.org/walformat.html, "The WAL-Index Header"): every commit
writes a new header (its change counter, last frame, salts and checksum
differ). Reading those 96 bytes (both copies) answers it in about a
microsecond, for commits by any connection or process, loomal's or not.

How it is read, and why not more simply: this process's SQLite already has
the ``-shm`` file mapped (the region at offset 0 holds the header, and stays
mapped while any of the process's connections to the database is open). We
read that memory through ``/proc/self/mem``:

- not through a descriptor of our own on the ``-shm`` file: POSIX locks belong
  to the process and the file, so closing *any* descriptor on it drops every
  lock SQLite holds there, and another process may then take the file for
  unused and reinitialise it under live connections (we shipped that once; the
  rotation crash test caught it);
- not by dereferencing the address (``ctypes``): if the mapping were ever gone,
  that would crash the process; ``pread`` returns an error instead, and the
  store falls back to ``PRAGMA data_version`` for good.

Conservative by construction: a header read in the middle of a commit differs
from the last one seen, so the cache is emptied and the row is read with a
real SELECT. A change of header without a change of data (a checkpoint
restarting the WAL) only costs one extra read. Where any of this does not hold
(not Linux, not WAL mode, no mapping found, a header that is not the
documented one, a process forked since), :func:`open_wal_index` returns None or
:meth:`WalIndex.header` falls back, and the store asks ``PRAGMA data_version``.
"""

from __future__ import annotations

import os
import sqlite3
import struct
import weakref
from collections.abc import Callable
from pathlib import Path

__all__ = ["WalIndex", "open_wal_index"]

_HEADER_BYTES = 96
"""Both copies of the 48-byte WAL-index header, one after the other."""
_WALINDEX_VERSION = 3007000
"""``iVersion``, the first field of the header, in the host's byte order."""

_open_indexes: weakref.WeakSet[WalIndex] = weakref.WeakSet()


class WalIndex:
    """The WAL-index header of one database, as this process's SQLite has it mapped."""

    __slots__ = ("__weakref__", "_address", "_fallback", "_mem")

    def __init__(self, mem: int, address: int, fallback: Callable[[], object]) -> None:
        self._mem = mem
        self._address = address
        self._fallback = fallback
        _open_indexes.add(self)

    def header(self) -> object:
        """A value that differs after every commit: both header copies as they are
        now, or once they cannot be read, the fallback's answer from then on."""
        if self._mem >= 0:
            try:
                return os.pread(self._mem, _HEADER_BYTES, self._address)
            except OSError:
                self.close()
        return self._fallback()

    def close(self) -> None:
        """Stop reading the mapping (the fallback answers). Safe at any time: the
        descriptor is on ``/proc/self/mem``, not on the database's files."""
        if self._mem >= 0:
            mem, self._mem = self._mem, -1
            os.close(mem)


def _forget_after_fork() -> None:
    """A forked child's ``/proc/self/mem`` descriptor still reads its parent."""
    for index in list(_open_indexes):
        index.close()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)


def _header_address(shm: Path) -> int | None:
    """Where this process has the start of ``shm`` mapped, if exactly once."""
    try:
        st = os.stat(shm)  # a stat, not an open: no descriptor on the file
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            lines = maps.readlines()
    except OSError:
        return None
    device = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}"
    found = []
    for line in lines:
        fields = line.split(maxsplit=5)
        if len(fields) < 6 or int(fields[2], 16) != 0 or fields[4] != str(st.st_ino):
            continue
        if fields[3] == device or fields[5].rstrip("\n") == os.path.realpath(shm):
            found.append(int(fields[0].split("-")[0], 16))
    return found[0] if len(found) == 1 else None


def open_wal_index(
    conn: sqlite3.Connection, path: Path, fallback: Callable[[], object]
) -> WalIndex | None:
    """The WAL index of the database ``conn`` has open at ``path``, or None when it
    cannot be read as documented. ``conn`` must stay open while it is used."""
    (mode,) = conn.execute("PRAGMA journal_mode").fetchone()
    if str(mode).lower() != "wal":
        return None
    conn.execute("PRAGMA data_version").fetchone()  # a read transaction: maps the -shm file
    address = _header_address(path.with_name(path.name + "-shm"))
    if address is None:
        return None
    try:
        mem = os.open("/proc/self/mem", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        header = os.pread(mem, _HEADER_BYTES, address)
    except OSError:
        os.close(mem)
        return None
    (version,) = struct.unpack_from("=I", header, 0)
    if len(header) != _HEADER_BYTES or version != _WALINDEX_VERSION or header[12] != 1:
        os.close(mem)
        return None
    return WalIndex(mem, address, fallback)
