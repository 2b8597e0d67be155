"""Slow clients cannot hold the server: uvicorn's h11 protocol with read deadlines and a connection cap.

A connection must send its request headers within ``HEADER_TIMEOUT`` seconds and its body within
``BODY_TIMEOUT`` more, or it is closed; beyond ``max_connections`` open connections, a new one is closed
at once. Uvicorn itself has a keep-alive timeout but no read deadline, so a few thousand half-open
requests (one byte at a time) would otherwise hold every file descriptor.

Uvicorn offers no supported hook for a read deadline, so this subclasses its h11 protocol (passed by
uvicorn's documented ``http=`` option, an import string, so that its own workers load it too) and uses
only the members listed in :data:`RELIES_ON`; ``tests/test_security.py`` fails at once, naming the member,
if an uvicorn release removes one.
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource

from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)

HEADER_TIMEOUT = float(os.environ.get("EXPLORER_HEADER_TIMEOUT", 10.0))  # s for the request line and headers
BODY_TIMEOUT = float(os.environ.get("EXPLORER_BODY_TIMEOUT", 30.0))  # s for a body of at most ~2 MiB


def raise_fd_limit() -> int:
    """Raise this process's open-file limit to its hard limit; return the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = 65536 if hard == resource.RLIM_INFINITY else hard
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


def connection_cap(fd_limit: int) -> int:
    """Connections to accept at most: the file descriptors less a reserve for the app's own files
    (``EXPLORER_MAX_CONNECTIONS`` sets it lower)."""
    cap = max(64, min(4096, fd_limit - 128))
    return min(cap, int(os.environ.get("EXPLORER_MAX_CONNECTIONS", cap)))


RELIES_ON = {  # what GuardedH11Protocol uses of uvicorn's H11Protocol and of its request cycle
    "protocol": ("connection_made", "data_received", "on_response_complete", "connection_lost", "connections",
                 "cycle", "transport", "loop"),
    "cycle": ("response_complete", "more_body"),
}


class GuardedH11Protocol(H11Protocol):
    """:class:`H11Protocol` with header and body read deadlines and a cap on open connections."""

    max_connections = connection_cap(raise_fd_limit())  # each process's own open-file limit, raised at import

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._guard: asyncio.TimerHandle | None = None
        self._guard_kind = ""
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            log.warning("over %d open connections: closing a new one", self.max_connections)
            transport.abort()
            return
        self._arm("headers", HEADER_TIMEOUT)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        cycle = self.cycle
        if cycle is None or cycle.response_complete:
            if self._guard_kind != "headers":  # the next request on a kept-alive connection has begun
                self._arm("headers", HEADER_TIMEOUT)
        elif cycle.more_body:
            if self._guard_kind != "body":
                self._arm("body", BODY_TIMEOUT)
        else:
            self._disarm()

    def on_response_complete(self) -> None:
        self._disarm()  # idle now: uvicorn's keep-alive timeout takes over
        super().on_response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self, kind: str, seconds: float) -> None:
        self._disarm()
        self._guard_kind = kind
        self._guard = self.loop.call_later(seconds, self._too_slow)

    def _disarm(self) -> None:
        guard = getattr(self, "_guard", None)
        if guard is not None:
            guard.cancel()
        self._guard, self._guard_kind = None, ""

    def _too_slow(self) -> None:
        log.info("closing a connection that sent its %s too slowly", self._guard_kind)
        self._guard = None
        if not self.transport.is_closing():
            self.transport.abort()
