"""Admission control, the one place that decides whether a request may be computed: every student gets
a turn, nobody can take the server.

Each route declares its kind where it is defined (``@router.post(path, **admitted("heavy"))``, kept in
the route's ``openapi_extra``); :meth:`Policy.declare` collects them from the router, so nothing here
repeats a path. :class:`Admission` (ASGI middleware, after the origin check and the login gate) finds the
request's route and admits it before its body is read. Each client (its login session, or its address,
and the tab it names) may have at most ``per_client`` requests of the computing kinds in flight (more is a
429), and :data:`FILE_PER_CLIENT` of the file kind. The kinds:

- ``encode``, ``logpx``: drawings, computed by the routes' batchers (:mod:`explorer.app.batching`; their
  lanes in :data:`LANES`); admission bounds how many are in flight;
- ``heavy``: step 6 and "check with Pyro", one at a time (Pyro's param store is global: one lock,
  :data:`explorer.vae.svi.PYRO_LOCK`, serialises them, so one slot is the truth), a short queue;
- ``light``: the tools and the Python reference routes, ``cores`` slots;
- ``lookup``: hovers, answered on the event loop, bounded per client only;
- ``file``: what is sent as it is (the page's files, the models' files, ``map.csv``, the login form),
  throttled to :data:`FILE_BYTES_PER_S` in all (a file waits while the budget is spent);
- ``free``: the model list, the health check, a tab's goodbye, the login itself (its own limit counts
  wrong passwords).

Beyond a queue's bound, a 503. The refusal (429 or 503 with ``Retry-After``, held :attr:`Policy.refusal_hold`
seconds) and "newest wins" (:meth:`Policy.stale`) are made here too, for the routes and batchers that need
them; the page then says "the server is busy, retrying…" and retries.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import os
import re
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

from fastapi.responses import JSONResponse
from starlette.requests import HTTPConnection
from starlette.routing import Match

from explorer.app.auth import COOKIE
from explorer.app.middleware import ASGIApp, respond
from explorer.app.newest_wins import LatestRequests

ADMISSION = "x-vx-admission"  # the key of a route's kind in its openapi_extra
KINDS = ("encode", "logpx", "heavy", "light", "lookup", "file", "free")
# The routes computed by batchers (explorer.app.batching): admission takes no slot for them, but bounds how
# many may be in flight at once. Their lanes (computing threads) per batcher and process, whatever the
# core count: more lanes only contend for the process's interpreter lock. More cores: --workers.
LANES = {"encode": 2, "logpx": 2}
FILE_PER_CLIENT = 8  # files one client may be sent at once (a browser opens six connections)
FILE_BYTES_PER_S = 16e6  # bytes of files sent a second, in all (128 Mbit/s): more than a hall's wifi gives a server
PENALTY_S = 10.0  # a client refused this recently waits behind the others for a heavy slot
HEAVY_RATE, HEAVY_BURST = 0.5, 4.0  # step 6 / check with Pyro per second per login session, and its burst


class Bucket:
    """A token bucket: ``rate`` tokens a second, at most ``burst`` saved; a take may leave it in debt (a
    file's bytes are counted once it is sent), and nothing is admitted until the debt is paid."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst, self.tokens, self.at = rate, burst, burst, time.monotonic()

    def _refill(self) -> None:
        now = time.monotonic()
        self.tokens, self.at = min(self.burst, self.tokens + (now - self.at) * self.rate), now

    def take(self, n: float) -> bool:
        self._refill()
        if self.tokens < n:
            return False
        self.tokens -= n
        return True

    def level(self) -> float:
        """The tokens saved now."""
        self._refill()
        return self.tokens

    def ready(self) -> bool:
        return self.level() > 0

    def wait(self) -> float:  # seconds until it holds a token again (its debt paid), at least a millisecond
        return max(0.001, -self.level() / self.rate)

    def spend(self, n: float) -> None:
        self.tokens -= n

    def counting(self, send: Callable) -> Callable:
        """``send``, spending this bucket's tokens on the body bytes it sends."""
        async def counted(message: dict) -> None:
            if message["type"] == "http.response.body":
                self.spend(len(message.get("body", b"")))
            await send(message)
        return counted


BUSY = "the server is busy: try again in a moment"  # every 503 of a full queue says this
STALE = {"stale": True, "message": "a newer drawing from this tab was already received"}
_TAB = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def admitted(kind: str) -> dict[str, Any]:
    """A route's declaration of its kind, as keyword arguments of FastAPI's route decorators."""
    if kind not in KINDS:
        raise ValueError(f"unknown admission kind {kind!r}: one of {KINDS}")
    return {"openapi_extra": {ADMISSION: kind}}


class Policy:
    """The limits and the live counts, shared by the middleware and ``/api/health``."""

    def __init__(self, cores: int | None = None, per_client: int = 3, light_queue: int = 64,
                 heavy_queue: int = 32, encode_queue: int = 160, logpx_queue: int = 96, file_queue: int = 64,
                 wait_timeout: float = 30.0, refusal_hold: float = 0.25, latest: LatestRequests | None = None) -> None:
        cores = max(1, cores or os.cpu_count() or 1)
        self.per_client, self.wait_timeout = per_client, wait_timeout
        self.latest = latest or LatestRequests()  # each tab's newest request number ("newest wins")
        self.routes: list[tuple[Any, str]] = []  # (route, kind), from :meth:`declare`
        # A refusal is sent after this many seconds: a page waits its Retry-After (1 s or more) anyway, while
        # a script that asks again at once, ignoring it, is slowed to a few requests a second per connection
        # (20 such scripts had the server refuse ~1,000 requests a second, and an innocent stroke took 2-3x).
        self.refusal_hold = refusal_hold
        self.slots = {"light": cores, "heavy": 1}
        self.lanes = {"encode": min(cores, LANES["encode"]), "logpx": max(1, min(cores - 1, LANES["logpx"]))}
        self.queue_cap = {"light": light_queue, "heavy": heavy_queue, "encode": encode_queue, "logpx": logpx_queue,
                          "file": file_queue}
        # Rates: step 6 and the check at most HEAVY_RATE a second per login session (a burst of
        # HEAVY_BURST), and the files at most FILE_BYTES_PER_S bytes a second in all, so that scripts
        # that ask back to back are told to come back later and a student's turn comes soon.
        self.buckets: dict[str, Bucket] = {"file": Bucket(FILE_BYTES_PER_S, FILE_BYTES_PER_S)}
        self.file_line = asyncio.Lock()  # the files waiting for the budget, first come first served
        self.heavy_buckets: OrderedDict[str, Bucket] = OrderedDict()
        self.sem: dict[str, FairSlots] = {}
        self.refused_at: OrderedDict[str, float] = OrderedDict()  # when each client was last refused
        self.waiting: Counter[str] = Counter()
        self.inflight: Counter[str] = Counter()
        self.refused: Counter[int] = Counter()  # by status

    def declare(self, routes: Iterable[Any]) -> None:
        """Collect the kinds the routes declared (:func:`admitted`); a route that declared none is not ours
        (Gradio's) and passes through."""
        self.routes = [(r, r.openapi_extra[ADMISSION]) for r in routes
                       if isinstance(getattr(r, "openapi_extra", None), dict) and ADMISSION in r.openapi_extra]

    def kind_of(self, scope: dict) -> str | None:
        """The declared kind of the route ``scope`` asks for, or None."""
        for route, kind in self.routes:
            if route.matches(scope)[0] is Match.FULL:
                return kind
        return None

    def stale(self, req: Any) -> dict[str, Any] | None:
        """:data:`STALE` if ``req`` (with ``session`` and ``seq``) was overtaken by a newer request of its tab,
        else None (and it is now the tab's newest)."""
        return STALE if req.session and self.latest.is_stale(req.session, req.seq) else None

    async def refuse(self, status: int) -> None:
        """Count a refusal (429 or 503) and hold it for :attr:`refusal_hold` seconds before it is sent."""
        self.refused[status] += 1
        await asyncio.sleep(self.refusal_hold)

    async def busy(self, retry_after: int = 1) -> JSONResponse:
        """A route's own 503 (a batcher's queue is full), counted and held as the middleware's are."""
        await self.refuse(503)
        return JSONResponse({"detail": BUSY}, 503, headers={"Retry-After": str(retry_after)})

    def penalised(self, who: str) -> int:
        """1 if ``who`` was refused in the last :data:`PENALTY_S` seconds (it waits behind the others), else 0."""
        at = self.refused_at.get(who)
        return int(at is not None and time.monotonic() - at < PENALTY_S)

    def priority(self, who: str) -> float:
        """Where ``who`` waits for a slot (lower first): whoever spent the fewest step-6-or-check tokens lately
        goes first (a student asking now and then before a script asking back to back), one refused lately last."""
        b = self.heavy_buckets.get(who)
        used = 0.0 if b is None else HEAVY_BURST - b.level()
        return self.penalised(who) * 2 * HEAVY_BURST + max(0.0, used)

    def refused_client(self, who: str) -> None:
        self.refused_at[who] = time.monotonic()
        self.refused_at.move_to_end(who)
        while len(self.refused_at) > 10_000:
            self.refused_at.popitem(last=False)

    def heavy_allowed(self, who: str) -> bool:
        """Take one of ``who``'s step-6-or-check tokens; False when it has none left."""
        b = self.heavy_buckets.get(who)
        if b is None:
            b = self.heavy_buckets[who] = Bucket(HEAVY_RATE, HEAVY_BURST)
            while len(self.heavy_buckets) > 10_000:  # bounded: the least recently seen go first
                self.heavy_buckets.popitem(last=False)
        self.heavy_buckets.move_to_end(who)
        return b.take(1.0)

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

    @staticmethod
    def rate_key(client: str) -> str:
        """Whose rate: the login session (all its tabs), else the address and tab (a classroom behind one
        address is not one student)."""
        return client.split("/")[0] if client.startswith("s:") else client

    def _semaphore(self, kind: str) -> FairSlots:
        if kind not in self.p.sem:
            self.p.sem[kind] = FairSlots(self.p.slots[kind])
        return self.p.sem[kind]

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        kind = self.p.kind_of(scope) if scope["type"] == "http" else None
        if kind is None or kind == "free":
            return await self.app(scope, receive, send)
        p = self.p
        client = self.client_key(scope)
        who = self.rate_key(client)  # whose rate and penalty: made once per request
        if kind == "file":
            client = "file/" + client
        if p.inflight[client] >= (FILE_PER_CLIENT if kind == "file" else 1 if kind == "heavy" else p.per_client):
            p.refused_client(who)
            return await self._refuse(send, 429, "too many requests from this tab at once: wait for the answers")
        if kind == "heavy" and not p.heavy_allowed(who):
            p.refused_client(who)
            return await self._refuse(send, 429, "Pyro's steps and checks come at most one every two seconds: "
                                      "try again in a moment", retry_after=round(1 / HEAVY_RATE))
        if kind in p.queue_cap and p.waiting[kind] >= p.queue_cap[kind]:
            return await self._refuse(send, 503, BUSY)
        if kind == "file":  # throttled, not refused: a file waits its turn while the budget is spent
            bucket = p.buckets["file"]
            if not bucket.ready() and not await self._file_turn(bucket):
                return await self._refuse(send, 503, BUSY, retry_after=2)
            send = bucket.counting(send)
        p.inflight[client] += 1
        try:
            if kind not in p.slots:  # batched (the batcher computes) or a lookup: no slot to wait for
                p.waiting[kind] += 1
                try:
                    return await self.app(scope, receive, send)
                finally:
                    p.waiting[kind] -= 1
            await self._in_slot(kind, who, scope, receive, send)
        finally:
            p.inflight[client] -= 1
            if p.inflight[client] <= 0:
                del p.inflight[client]

    async def _file_turn(self, bucket: Bucket) -> bool:
        """Wait until the file budget allows a file, in arrival order: the first in line sleeps until the
        bucket's debt is paid, the rest wait behind it (no polling); False after ``wait_timeout``."""
        self.p.waiting["file"] += 1
        try:
            async with asyncio.timeout(self.p.wait_timeout):
                async with self.p.file_line:
                    while not bucket.ready():
                        await asyncio.sleep(bucket.wait())
            return True
        except TimeoutError:
            return False
        finally:
            self.p.waiting["file"] -= 1

    async def _refuse(self, send: Callable, status: int, detail: str, retry_after: int = 1) -> None:
        """A 429 or 503 with ``Retry-After``, sent after the policy's refusal hold."""
        await self.p.refuse(status)
        await respond(send, status, detail, [(b"retry-after", str(retry_after).encode())])

    async def _in_slot(self, kind: str, who: str, scope: dict, receive: Callable, send: Callable) -> None:
        """Wait for one of ``kind``'s slots (a 503 after ``wait_timeout``), then run the request in it."""
        p, sem = self.p, self._semaphore(kind)
        p.waiting[kind] += 1
        try:
            await asyncio.wait_for(sem.acquire(p.priority(who)), p.wait_timeout)
        except TimeoutError:
            return await self._refuse(send, 503, BUSY, retry_after=2)
        finally:
            p.waiting[kind] -= 1
        try:
            await self.app(scope, receive, send)
        finally:
            sem.release()


class FairSlots:
    """``n`` slots, granted to waiters by priority (lower first, :meth:`Policy.priority`), then in arrival
    order."""

    def __init__(self, n: int) -> None:
        self.free, self._waiters, self._order = n, [], itertools.count()

    async def acquire(self, priority: float) -> None:
        if self.free > 0 and not self._waiters:
            self.free -= 1
            return
        fut = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (priority, next(self._order), fut))
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():  # granted just as the wait timed out: pass the slot on
                self.release()
            raise

    def release(self) -> None:
        while self._waiters:
            fut = heapq.heappop(self._waiters)[2]
            if not fut.done():
                fut.set_result(None)
                return
        self.free += 1
