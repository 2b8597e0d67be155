"""The class login: one username and password for the room, one session per browser.

The lecturer starts the app with ``--auth user:password``. A student logs in at ``/login`` and gets a
session cookie of their own; logging out ends only that session. Wrong passwords are limited per
client address (429 with Retry-After). The check is exact and takes the same time whatever the guess.

:meth:`Login.user` is the one check: :mod:`explorer.app.middleware` runs it before any request body is
read, Gradio gets it as its documented ``auth_dependency`` hook, and the ``/api`` routes depend on it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
import time
from collections import OrderedDict, deque
from typing import Any

from starlette.requests import HTTPConnection

COOKIE = "vx-session"


class Login:
    """Checks passwords, issues and ends sessions.

    A session token is ``sid.expiry.signature`` (HMAC-SHA256 with a key made at start, or given), so any
    process that holds the key can check it; an ended session's ``sid`` is listed until it would have
    expired (:func:`ended_store`: this process's memory, or a SQLite file that several processes share).
    """

    def __init__(self, username: str, password: str, ttl: float = 12 * 3600, max_failures: int = 5,
                 window: float = 60.0, key: bytes | None = None, ended: Any = None) -> None:
        self.username = username
        self._password = password.encode()
        self._user = username.encode()
        self.ttl, self.max_failures, self.window = ttl, max_failures, window
        self._key = key or session_key()
        self._ended = ended if ended is not None else ended_store()  # shared by processes through SQLite
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    # ----- passwords -----
    def verify(self, username: str, password: str) -> bool:
        """Exact and constant-time: both compared in full, whatever matches."""
        user_ok = hmac.compare_digest(username.encode(), self._user)
        pass_ok = hmac.compare_digest(password.encode(), self._password)
        return user_ok & pass_ok

    def retry_after(self, client: str) -> int:
        """Seconds until ``client`` may try again (0: now)."""
        now = time.monotonic()
        with self._lock:
            fails = self._failures.get(client)
            while fails and now - fails[0] > self.window:
                fails.popleft()
            if not fails or len(fails) < self.max_failures:
                return 0
            return max(1, int(self.window - (now - fails[0])) + 1)

    def failed(self, client: str) -> None:
        with self._lock:
            self._failures.setdefault(client, deque(maxlen=self.max_failures)).append(time.monotonic())
            self._failures.move_to_end(client)
            while len(self._failures) > 10_000:  # bounded: the oldest clients go first
                self._failures.popitem(last=False)

    # ----- sessions -----
    def new_session(self) -> str:
        sid, expiry = secrets.token_urlsafe(18), int(time.time() + self.ttl)
        return f"{sid}.{expiry}.{self._sign(sid, expiry)}"

    def end(self, token: str | None) -> None:
        parsed = self._parse(token)
        if parsed:
            self._ended.add(parsed[0])

    def user(self, request: HTTPConnection) -> str | None:
        """The logged-in user of ``request``, or None (Gradio's ``auth_dependency`` signature)."""
        parsed = self._parse(request.cookies.get(COOKIE))
        if parsed is None or parsed[1] < time.time() or parsed[0] in self._ended:
            return None
        return self.username

    def _sign(self, sid: str, expiry: int) -> str:
        return hmac.new(self._key, f"{sid}.{expiry}".encode(), hashlib.sha256).hexdigest()

    def _parse(self, token: str | None) -> tuple[str, int] | None:
        if not token or len(token) > 200:
            return None
        parts = token.split(".")
        if len(parts) != 3 or not parts[1].isdigit():
            return None
        sid, expiry, sig = parts[0], int(parts[1]), parts[2]
        if not hmac.compare_digest(sig, self._sign(sid, expiry)):
            return None
        return sid, expiry


def session_key() -> bytes:
    """The key that signs session cookies: from ``EXPLORER_SESSION_KEY`` (the same on every machine behind
    one load balancer, so that any of them accepts a session), else made at random at start."""
    text = os.environ.get("EXPLORER_SESSION_KEY")
    return hashlib.sha256(text.encode()).digest() if text else secrets.token_bytes(32)


def parse_auth(text: str | None, flag: str = "--auth") -> tuple[str, str] | None:
    """``USER:PASSWORD`` -> (user, password), taken exactly as given (spaces are characters too)."""
    if not text:
        return None
    user, sep, password = text.partition(":")
    if not sep or not user or not password:
        raise ValueError(f"{flag} takes USER:PASSWORD (both non-empty)")
    return user, password


def ended_store(path: str | None = None) -> _Ended | SqliteEnded:
    """Where ended sessions are listed: the SQLite file ``path`` (default ``$EXPLORER_SESSIONS_DB``), which
    every process that opens it shares, else this process's memory."""
    path = path or os.environ.get("EXPLORER_SESSIONS_DB")
    return SqliteEnded(path) if path else _Ended()


class SqliteEnded:
    """Ended sessions in a SQLite file (Python's ``sqlite3``): the revocation list of the signed sessions,
    shared by every server process that opens the same file (several workers, or several servers on one
    machine). Each entry is dropped when its session would have expired anyway, so the file stays small."""

    def __init__(self, path: str, ttl: float = 13 * 3600) -> None:
        import sqlite3

        self.path, self.ttl, self._lock = path, ttl, threading.Lock()
        self._db = sqlite3.connect(path, timeout=5.0, check_same_thread=False, isolation_level=None)
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")  # readers never wait for a writer
            self._db.execute("CREATE TABLE IF NOT EXISTS ended (sid TEXT PRIMARY KEY, at REAL NOT NULL)")

    def add(self, sid: str) -> None:
        now = time.time()
        with self._lock:
            self._db.execute("DELETE FROM ended WHERE at < ?", (now - self.ttl,))
            self._db.execute("INSERT OR REPLACE INTO ended (sid, at) VALUES (?, ?)", (sid, now))

    def __contains__(self, sid: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM ended WHERE sid = ?", (sid,)).fetchone() is not None


class _Ended:
    """Ended sessions of one process, each forgotten when it would have expired anyway."""

    def __init__(self, ttl: float = 13 * 3600) -> None:
        self.ttl, self._ended, self._lock = ttl, {}, threading.Lock()

    def add(self, sid: str) -> None:
        with self._lock:
            now = time.time()
            self._ended = {s: t for s, t in self._ended.items() if now - t < self.ttl}
            self._ended[sid] = now

    def __contains__(self, sid: str) -> bool:
        return sid in self._ended
