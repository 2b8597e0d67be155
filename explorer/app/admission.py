"""Admission control: every student gets a turn, nobody can take the server.

The model computations are admitted before their bodies are read. Each client (its login session, or
its address, and the tab it names) may have at most ``per_client`` of them queued or running: more is a
429. Drawings (encode, log p(x)) go to the routes' batchers (:mod:`explorer.app.batching`), which
decide how many run at once (:data:`LANES`: encodes on up to 2 lanes, log p(x) on up to ``cores - 1``
and at most 2, so a stroke always finds a core that log p(x) cannot fill); admission only bounds how many
are in flight. Other light work
(a drag check, the tools) has ``cores`` slots, heavy work (step 6's Adam steps) ``cores - 1``. Hovers are
lookups answered on the event loop, bounded per tab only. Each bound is a queue: beyond it, a 503. Both
say ``Retry-After``, and the page then says "the server is busy, retrying…" and retries.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections import Counter
from collections.abc import Callable

from starlette.requests import HTTPConnection

from explorer.app.auth import COOKIE
from explorer.app.middleware import ASGIApp, respond

_COMPUTE = re.compile(r"^/api/models/[^/]+/(encode|logpx|step|check|interpolate|traverse|prior|decode|digit/\d+|warm)$")
HEAVY = {"step", "check"}
# The routes computed by batchers (explorer.app.batching): admission takes no slot for them, but bounds how
# many may be in flight at once. Their lanes (computing threads) per batcher and process, whatever the
# core count: more lanes only contend for the process's interpreter lock. With one per core (as before)
# 200 students got a stroke p95 of 1.7-2.4 s and 7-13 % refused, on an H200 machine's 16 cores and here
# with 16 lanes on 2 cores, against 0.16 s and 0.1 % with these (README, "The GPU"). More cores: --workers.
LANES = {"encode": 2, "logpx": 2}
BUSY = "the server is busy: try again in a moment"  # every 503 of a full queue says this
LOOKUP = "digit/"  # hovers: lookups answered on the event loop, bounded per tab only
_TAB = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class Policy:
    """The limits and the live counts, shared by the middleware and ``/api/health``."""

    def __init__(self, cores: int | None = None, per_client: int = 3, light_queue: int = 64,
                 heavy_queue: int = 4, encode_queue: int = 160, logpx_queue: int = 96,
                 wait_timeout: float = 30.0, refusal_hold: float = 0.25) -> None:
        cores = max(1, cores or os.cpu_count() or 1)
        self.per_client, self.wait_timeout = per_client, wait_timeout
        # A refusal is sent after this many seconds: a page waits its Retry-After (1 s or more) anyway, while
        # a script that asks again at once, ignoring it, is slowed to a few requests a second per connection
        # (20 such scripts had the server refuse ~1,000 requests a second, and an innocent stroke took 2-3x).
        self.refusal_hold = refusal_hold
        self.slots = {"light": cores, "heavy": max(1, cores - 1)}
        self.lanes = {"encode": min(cores, LANES["encode"]), "logpx": max(1, min(cores - 1, LANES["logpx"]))}
        self.queue_cap = {"light": light_queue, "heavy": heavy_queue, "encode": encode_queue, "logpx": logpx_queue}
        self.sem: dict[str, asyncio.Semaphore] = {}
        self.waiting: Counter[str] = Counter()
        self.inflight: Counter[str] = Counter()
        self.refused: Counter[int] = Counter()  # by status

    async def refuse(self, status: int) -> None:
        """Count a refusal (429 or 503) and hold it for :attr:`refusal_hold` seconds before it is sent."""
        self.refused[status] += 1
        await asyncio.sleep(self.refusal_hold)

    def counts(self) -> dict[str, object]:
        return {"waiting": dict(self.waiting), "clients": len(self.inflight),
                "refused": {str(k): v for k, v in self.refused.items()}}


class Admission:
    """ASGI middleware in front of the compute routes (see the module docstring)."""

    def __init__(self, app: ASGIApp, policy: Policy) -> None:
        self.app, self.p = app, policy

    @staticmethod
    def client_key(scope: dict) -> str:
        """Whose request: the browser tab (the page names it in ``X-VX-Tab``) within the login session,
        else within the client's address. A client that invents tab names gains nothing past the global
        queue caps; they keep honest tabs behind one address (a classroom NAT) apart."""
        conn = HTTPConnection(scope)
        token = conn.cookies.get(COOKIE)
        base = "s:" + token.split(".")[0][:32] if token else "a:" + (scope.get("client") or ("?", 0))[0]
        tab = conn.headers.get("x-vx-tab", "")
        return f"{base}/{tab}" if _TAB.match(tab) else base

    def _semaphore(self, kind: str) -> asyncio.Semaphore:
        if kind not in self.p.sem:
            self.p.sem[kind] = asyncio.Semaphore(self.p.slots[kind])
        return self.p.sem[kind]

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        m = _COMPUTE.match(scope["path"]) if scope["type"] == "http" else None
        if m is None or m.group(1) == "warm":
            return await self.app(scope, receive, send)
        p, route = self.p, m.group(1)
        kind = route if route in LANES else "lookup" if route.startswith(LOOKUP) else \
            "heavy" if route in HEAVY else "light"
        client = self.client_key(scope)
        if p.inflight[client] >= p.per_client:
            return await self._refuse(send, 429, "too many requests from this tab at once: wait for the answers")
        if kind in p.queue_cap and p.waiting[kind] >= p.queue_cap[kind]:
            return await self._refuse(send, 503, BUSY)
        p.inflight[client] += 1
        try:
            if kind not in p.slots:  # batched (the batcher computes) or a lookup: no slot to wait for
                p.waiting[kind] += 1
                try:
                    return await self.app(scope, receive, send)
                finally:
                    p.waiting[kind] -= 1
            await self._in_slot(kind, scope, receive, send)
        finally:
            p.inflight[client] -= 1
            if p.inflight[client] <= 0:
                del p.inflight[client]

    async def _refuse(self, send: Callable, status: int, detail: str, retry_after: int = 1) -> None:
        """A 429 or 503 with ``Retry-After``, sent after the policy's refusal hold."""
        await self.p.refuse(status)
        await respond(send, status, detail, [(b"retry-after", str(retry_after).encode())])

    async def _in_slot(self, kind: str, scope: dict, receive: Callable, send: Callable) -> None:
        """Wait for one of ``kind``'s slots (a 503 after ``wait_timeout``), then run the request in it."""
        p, sem = self.p, self._semaphore(kind)
        p.waiting[kind] += 1
        try:
            await asyncio.wait_for(sem.acquire(), p.wait_timeout)
        except TimeoutError:
            return await self._refuse(send, 503, BUSY, retry_after=2)
        finally:
            p.waiting[kind] -= 1
        try:
            await self.app(scope, receive, send)
        finally:
            sem.release()
