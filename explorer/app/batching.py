"""Dynamic micro-batching: the drawings that arrive while the model is busy are computed together.

A :class:`Batcher` has a few lanes (threads that compute). A request that finds a lane free starts at
once, alone: no waiting for company, so one student's latency is what it was. Requests that arrive while
every lane is busy wait in the batcher's queue; when a lane frees, it takes all of them (up to
``max_batch``) and computes them in one pass (:func:`explorer.views.inference.encode_drawings`), so under load
the per-request overhead of torch and Python is paid once per batch instead of once per drawing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

log = logging.getLogger(__name__)


class Busy(Exception):
    """The batcher's queue holds as much work as it may: come back later."""


class Batcher:
    """Batches calls of ``compute(items) -> answers`` (one answer, or an ``Exception``, per item).

    Parameters
    ----------
    compute : runs in a worker thread, takes a list of items and returns a list as long
    lanes : how many batches may be computed at once
    max_batch : the most items one batch takes
    cost, max_cost : the work an item is (e.g. its number of samples), and the most work that may wait;
        an item that would exceed it raises :class:`Busy` (one item is always let wait in an empty queue)
    nice : how much lower than the server's other threads the lanes run, for the kernel's scheduler (Linux:
        a thread's own nice value); bulk work (log p(x) with thousands of samples) leaves the cores to the
        requests a student waits on.
    overtaken : ``overtaken(item)`` is the answer of an item that needs no work any more (its tab has sent
        a newer request: newest wins), else None. Such items are answered without work at their turn, and
        at once when the queue is full, giving their room to the newcomer instead of holding it to no use.
    """

    def __init__(self, compute: Callable[[list[Any]], list[Any]], lanes: int = 1, max_batch: int = 16,
                 name: str = "batch", cost: Callable[[Any], int] = lambda _: 1, max_cost: int | None = None,
                 overtaken: Callable[[Any], Any] | None = None, nice: int = 0) -> None:
        self.compute, self.lanes, self.max_batch = compute, max(1, lanes), max(1, max_batch)
        self.cost, self.max_cost, self.queued_cost = cost, max_cost, 0
        self.overtaken = overtaken
        self.pool = ThreadPoolExecutor(self.lanes, thread_name_prefix=name,  # the lanes' own threads
                                       initializer=_lower_priority, initargs=(nice,))
        self.queue: deque[tuple[Any, asyncio.Future]] = deque()
        self.busy = 0
        self._lanes: set[asyncio.Task] = set()  # the running lanes (kept referenced until they end)
        self.sizes: Counter[int] = Counter()  # batches computed, by size

    def stats(self) -> dict[str, Any]:
        n = sum(self.sizes.values())
        items = sum(s * c for s, c in self.sizes.items())
        return {"batches": n, "items": items, "largest": max(self.sizes, default=0), "queued": len(self.queue),
                "queued_cost": self.queued_cost, "lanes": self.lanes, "busy_lanes": self.busy}

    async def submit(self, item: Any) -> Any:
        """The answer for ``item`` (an exception raised by ``compute`` for it is raised here)."""
        cost = self.cost(item)
        if self.max_cost is not None and self.queue and self.queued_cost + cost > self.max_cost:
            self._answer_overtaken()
            if self.queue and self.queued_cost + cost > self.max_cost:
                raise Busy
        self.queued_cost += cost
        fut = asyncio.get_running_loop().create_future()
        self.queue.append((item, fut))
        if self.busy < self.lanes:
            self.busy += 1
            task = asyncio.ensure_future(self._lane())
            self._lanes.add(task)
            task.add_done_callback(self._lanes.discard)
        return await fut

    def _needs_no_work(self, item: Any, fut: asyncio.Future) -> bool:
        """True for an item nobody needs computed: its client went away, or a newer request of its tab has
        overtaken it (then answered here, with ``overtaken``'s answer)."""
        if fut.done():
            return True
        answer = None if self.overtaken is None else self.overtaken(item)
        if answer is None:
            return False
        fut.set_result(answer)
        return True

    def _answer_overtaken(self) -> None:
        """Take out of the queue, before their turn, the items that need no work."""
        keep: deque[tuple[Any, asyncio.Future]] = deque()
        for item, fut in self.queue:
            if self._needs_no_work(item, fut):
                self.queued_cost -= self.cost(item)
            else:
                keep.append((item, fut))
        self.queue = keep

    async def _lane(self) -> None:
        try:
            while self.queue:
                batch = [self.queue.popleft() for _ in range(min(self.max_batch, len(self.queue)))]
                self.queued_cost -= sum(self.cost(item) for item, _ in batch)
                batch = [(item, fut) for item, fut in batch if not self._needs_no_work(item, fut)]
                if not batch:
                    continue
                self.sizes[len(batch)] += 1
                try:
                    answers = await asyncio.get_running_loop().run_in_executor(self.pool, self.compute,
                                                                         [item for item, _ in batch])
                except Exception as exc:  # one bad batch must not lose the others' futures
                    log.exception("a batch of %d failed", len(batch))
                    answers = [exc] * len(batch)
                for (_, fut), answer in zip(batch, answers, strict=True):
                    if fut.done():
                        continue
                    if isinstance(answer, BaseException):
                        fut.set_exception(answer)
                    else:
                        fut.set_result(answer)
        finally:
            self.busy -= 1


def _lower_priority(nice: int) -> None:
    """Raise this thread's nice value by ``nice`` (where the system allows one per thread; else nothing)."""
    if nice <= 0:
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + nice)
    except (AttributeError, OSError):
        pass
