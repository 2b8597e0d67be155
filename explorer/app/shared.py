"""State shared by several server processes (``--workers N``): a fixed-size table in anonymous shared
memory, made before the workers are forked, guarded by one cross-process lock.

Two uses: each tab's newest request number ("newest wins", whichever process answers) and the login
sessions that were ended (a logout holds in every process). Keys are 64-bit BLAKE2 hashes of strings.
An entry is (key, value, time); a full probe window drops its least recently used entry, so the table
stays bounded whatever clients send.
"""

from __future__ import annotations

import hashlib
import mmap
import multiprocessing
import struct
import time

from explorer.app.sessions import GONE

_ENTRY = struct.Struct("<Qqd")  # key hash (0 = empty), value, last-used time (monotonic seconds)
PROBES = 16


def key_of(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little") or 1


class SharedTable:
    """A bounded hash table of ``slots`` entries in memory shared with forked children."""

    def __init__(self, slots: int = 65_536) -> None:
        self.slots = slots
        self._mem = mmap.mmap(-1, slots * _ENTRY.size)  # anonymous, MAP_SHARED: children see the same bytes
        self._lock = multiprocessing.get_context("fork").Lock()

    def _read(self, i: int) -> tuple[int, int, float]:
        return _ENTRY.unpack_from(self._mem, i * _ENTRY.size)

    def _write(self, i: int, key: int, value: int, stamp: float) -> None:
        _ENTRY.pack_into(self._mem, i * _ENTRY.size, key, value, stamp)

    def _find(self, key: int, ttl: float, now: float) -> tuple[int, bool]:
        """The slot of ``key`` (True) or the slot to put it in (False): empty, expired, else least recent."""
        start = key % self.slots
        victim, oldest = start, float("inf")
        for p in range(PROBES):
            i = (start + p) % self.slots
            k, _, stamp = self._read(i)
            if k == key and now - stamp <= ttl:
                return i, True
            if k == 0 or now - stamp > ttl:
                return i, False
            if stamp < oldest:
                victim, oldest = i, stamp
        return victim, False

    def newer_than_seen(self, text: str, value: int, ttl: float) -> bool:
        """Record ``value`` for ``text`` unless a larger one was seen; True if it was (this one is stale)."""
        key, now = key_of(text), time.monotonic()
        with self._lock:
            i, found = self._find(key, ttl, now)
            if found and self._read(i)[1] > value:
                return True
            self._write(i, key, value, now)
            return False

    def put(self, text: str, value: int, ttl: float) -> None:
        key, now = key_of(text), time.monotonic()
        with self._lock:
            i, _ = self._find(key, ttl, now)
            self._write(i, key, value, now)

    def get(self, text: str, ttl: float) -> int | None:
        key, now = key_of(text), time.monotonic()
        with self._lock:
            i, found = self._find(key, ttl, now)
            return self._read(i)[1] if found else None

    def live(self, ttl: float, but: int | None = None) -> int:
        """Entries not expired (and whose value is not ``but``)."""
        now = time.monotonic()
        with self._lock:
            return sum(1 for i in range(self.slots)
                       if (e := self._read(i))[0] and now - e[2] <= ttl and e[1] != but)


class SharedLatestRequests:
    """:class:`explorer.app.sessions.LatestRequests`'s interface over a :class:`SharedTable`."""

    def __init__(self, ttl: float = 600.0, slots: int = 65_536) -> None:
        self.ttl, self.table = ttl, SharedTable(slots)

    def is_stale(self, session: str, seq: int) -> bool:
        return self.table.newer_than_seen(session, seq, self.ttl)

    def forget(self, session: str) -> None:
        self.table.put(session, GONE, self.ttl)  # a goodbye's marker, as in LatestRequests

    def live(self) -> int:
        return self.table.live(self.ttl, but=GONE)


class SharedEnded:
    """The ended login sessions, as a set shared by the workers (an entry lasts as long as its session)."""

    def __init__(self, slots: int = 16_384, ttl: float = 13 * 3600) -> None:
        self.table, self.ttl = SharedTable(slots), ttl

    def add(self, sid: str) -> None:
        self.table.put(sid, 1, self.ttl)

    def __contains__(self, sid: str) -> bool:
        return self.table.get(sid, self.ttl) is not None
