"""An open-loop lecture hall: N students drawing on one server, whether or not it has answered.

    python benchmarks/hall.py --users 50 --seconds 60 [--warmup 10] [--auth] [--model mnist-z16]

Each student's strokes arrive as a Poisson process (mean gap ``--stroke-gap`` s). A stroke is what the
page sends: live encodes every 200 ms while the pen moves (3), the end-of-stroke encode, and, when that
answers, log p(x); each student also hovers test digits (a Poisson process, mean gap 2 s). Sends keep to
their schedule whether or not earlier answers have come (open loop), so queueing shows and "newest wins"
is exercised: overtaken live encodes are answered "stale". With ``--auth`` every student logs in first.

The hall starts once the server has built the model (its health answer names the model's device), so
neither start-up nor torch's import falls into it. Printed, for the measured window only (the warm-up
excluded from every figure): per-route p50/p95/p99, answered / stale / refused (429, 503) / errors, the
generator's own send lag (how late it sent against its schedule: if that is large, the generator is the
bottleneck and the figures are void), the CPU used by the server, by the generator, by anything else on
the machine and by its host (steal: a VM's cores taken away; this and the generator's lag say whether
the machine was quiet), and the server's memory at the start and end of the window. Loopback only;
bounded in users (<= 400) and time.
Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import ipaddress
import json
import os
import random
import socket
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from urllib.parse import urlencode, urlparse

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
AUTH = ("hall", "benchmark-password")


def strokes(n: int = 32) -> list[str]:
    """Drawn strokes on a 140 x 140 canvas (what the page sends), base64 ink."""
    out = []
    for i in range(n):
        rng = np.random.default_rng(i)
        a = np.zeros((140, 140), np.uint8)
        pts = rng.integers(20, 120, size=(4, 2))
        for (r0, c0), (r1, c1) in zip(pts[:-1], pts[1:], strict=True):
            for t in np.linspace(0, 1, 60):
                r, c = int(r0 + t * (r1 - r0)), int(c0 + t * (c1 - c0))
                a[max(0, r - 5) : r + 5, max(0, c - 5) : c + 5] = 255
        out.append(base64.b64encode(a.tobytes()).decode())
    return out


def tree(pid: int) -> list[int]:
    """A process and its descendants (the server's worker and log p(x) processes), Linux."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in os.listdir(f"/proc/{p}/task"):
            with open(f"/proc/{p}/task/{task}/children") as f:
                todo += [int(c) for c in f.read().split()]
    return out


def cpu_seconds(pid: int, children: bool = False) -> float:
    """User + system CPU time so far of a process (with ``children``: and its descendants), seconds."""
    total = 0
    for p in tree(pid) if children else [pid]:
        with open(f"/proc/{p}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def machine_seconds() -> tuple[float, float]:
    """CPU seconds so far of the whole machine, all cores: (busy, stolen by the host), Linux's /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    busy = v[0] + v[1] + v[2] + v[5] + v[6]  # user, nice, system, irq, softirq (guest time is inside user)
    steal = v[7] if len(v) > 7 else 0
    return busy / os.sysconf("SC_CLK_TCK"), steal / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its descendants, MiB."""
    total = 0.0
    for p in tree(pid):
        with open(f"/proc/{p}/status") as f:
            total += next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmRSS:"))
    return total


class Tally:
    def __init__(self, start: float, end: float) -> None:
        self.start, self.end = start, end
        self.lat: dict[str, list[float]] = defaultdict(list)
        self.outcome: Counter[str] = Counter()
        self.lag: list[float] = []
        self.errors: Counter[str] = Counter()

    def counted(self, t: float) -> bool:
        return self.start <= t < self.end


class RawResponse:
    def __init__(self, status_code: int, body: bytes) -> None:
        self.status_code, self.body = status_code, body

    def json(self) -> object:
        return json.loads(self.body)


class RawError(Exception):
    """A connection failed (reset, closed mid-answer, timed out)."""


class RawClient:
    """A minimal HTTP/1.1 keep-alive client on asyncio streams (``--client raw``): the same requests as
    httpx's at a fraction of its CPU, so that a generator sharing the server's cores takes less of them.
    Idle connections are given up after 4 s, before the server closes them (5 s)."""

    def __init__(self, url: str, headers: dict[str, str], timeout: float = 60, keepalive: float = 4.0) -> None:
        u = urlparse(url)
        self.host, self.port, self.timeout, self.keepalive = u.hostname, u.port or 80, timeout, keepalive
        self.headers = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []
        self.cookie = ""

    async def __aenter__(self) -> RawClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        for _, w, _ in self.idle:
            w.close()

    async def post(self, path: str, **kw) -> RawResponse:
        return await self.request("POST", path, **kw)

    async def request(self, method: str, path: str, json: dict | None = None,
                      data: dict | None = None) -> RawResponse:
        body, ctype = b"", ""
        if json is not None:
            body, ctype = _json_bytes(json), "Content-Type: application/json\r\n"
        elif data is not None:
            body, ctype = urlencode(data).encode(), "Content-Type: application/x-www-form-urlencoded\r\n"
        now = time.monotonic()
        while self.idle and now - self.idle[-1][2] > self.keepalive:  # the most recently used is last
            self.idle.pop()[1].close()
        r, w = (self.idle.pop()[:2]) if self.idle else await asyncio.open_connection(self.host, self.port)
        cookie = f"Cookie: {self.cookie}\r\n" if self.cookie else ""
        w.write(f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{self.headers}{cookie}{ctype}"
                f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        try:
            status_line = await asyncio.wait_for(r.readline(), self.timeout)
            if not status_line:
                raise RawError("closed")
            headers = {}
            while (line := await r.readline()) not in (b"\r\n", b""):
                k, _, v = line.decode("latin-1").partition(":")
                headers[k.strip().lower()] = v.strip()
            answer = await asyncio.wait_for(r.readexactly(int(headers.get("content-length", "0"))), self.timeout)
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
            w.close()
            raise RawError(type(exc).__name__) from None
        if "set-cookie" in headers:
            self.cookie = headers["set-cookie"].split(";", 1)[0]
        if headers.get("connection", "").lower() == "close":
            w.close()
        else:
            self.idle.append((r, w, time.monotonic()))
        return RawResponse(int(status_line.split()[1]), answer)


def _json_bytes(obj: dict) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


async def send(client: httpx.AsyncClient | RawClient, tally: Tally, route: str, scheduled: float, method: str,
               path: str, **kw) -> dict | None:
    now = time.perf_counter()
    counted = tally.counted(scheduled)
    if counted:
        tally.lag.append((now - scheduled) * 1000)
    try:
        r = await client.request(method, path, **kw)
    except (httpx.HTTPError, RawError) as exc:
        if counted:
            tally.errors[f"{route}: {type(exc).__name__}"] += 1
        return None
    ms = (time.perf_counter() - now) * 1000
    if r.status_code in (429, 503):
        if counted:
            tally.outcome[f"{route} refused {r.status_code}"] += 1
        return None
    if r.status_code >= 400:
        if counted:
            tally.errors[f"{route}: HTTP {r.status_code}"] += 1
        return None
    body = r.json()
    if counted:
        if isinstance(body, dict) and body.get("stale"):
            tally.outcome[f"{route} stale"] += 1
        else:
            tally.outcome[f"{route} answered"] += 1
            tally.lat[route].append(ms)
    return body


async def student(i: int, url: str, model: str, tally: Tally, stop: float, gap: float, auth: bool,
                  pictures: list[str], raw: bool = False) -> None:
    rng = random.Random(i)
    session = f"hall-{i}"
    tasks: set[asyncio.Task] = set()
    # An idle connection is given up after 4 s, before the server closes it (5 s): reusing one the server is
    # closing fails in flight, which a browser retries silently and httpx reports as an error.
    limits = httpx.Limits(max_connections=20, max_keepalive_connections=20, keepalive_expiry=4.0)
    client = RawClient(url, {"X-VX-Tab": session}) if raw else \
        httpx.AsyncClient(base_url=url, timeout=60, limits=limits, headers={"X-VX-Tab": session})
    async with client as c:
        if auth:
            r = await c.post("/login", data={"username": AUTH[0], "password": AUTH[1]})
            if r.status_code != 303:
                tally.errors[f"login: HTTP {r.status_code}"] += 1
                return
        seq = 0
        t = time.perf_counter() + rng.uniform(0, gap)
        hover = time.perf_counter() + rng.expovariate(1 / 2.0)

        def launch(coro) -> None:
            task = asyncio.ensure_future(coro)
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        async def final(body: dict, when: float) -> None:
            res = await send(c, tally, "encode (stroke end)", when, "POST", f"/api/models/{model}/encode", json=body)
            if res is not None and not res.get("stale"):
                await send(c, tally, "logpx", time.perf_counter(), "POST", f"/api/models/{model}/logpx",
                           json={**body, "k": 1000})

        while t < stop:
            while hover < t and hover < stop:  # hovers between strokes
                await asyncio.sleep(max(0.0, hover - time.perf_counter()))
                launch(send(c, tally, "digit (hover)", hover, "GET",
                            f"/api/models/{model}/digit/{rng.randrange(10_000)}"))
                hover += rng.expovariate(1 / 2.0)
            pixels = rng.choice(pictures)
            base = {"width": 140, "height": 140, "pixels": pixels, "k": 16, "seed": seq, "session": session}
            for j in range(4):
                when = t + 0.2 * j
                await asyncio.sleep(max(0.0, when - time.perf_counter()))
                seq += 1
                body = {**base, "seq": seq}
                if j < 3:
                    launch(send(c, tally, "encode (live)", when, "POST", f"/api/models/{model}/encode", json=body))
                else:
                    launch(final(body, when))
            t += 0.6 + rng.expovariate(1 / gap)
        if tasks:
            await asyncio.wait(tasks, timeout=30)


async def hall(url: str, users: int, seconds: float, warmup: float, model: str, gap: float, auth: bool,
               pid: int | None, raw: bool = False) -> dict:
    pictures = strokes()
    t0 = time.perf_counter()
    tally = Tally(t0 + warmup, t0 + warmup + seconds)

    async def reading_at(when: float) -> tuple[float, float, float, float, float]:
        await asyncio.sleep(max(0.0, when - time.perf_counter()))
        mine, (busy, steal) = cpu_seconds(os.getpid()), machine_seconds()
        if not pid:
            return float("nan"), float("nan"), mine, busy, steal
        return rss_mb(pid), cpu_seconds(pid, children=True), mine, busy, steal

    # the memory and CPU of the server's processes (its workers and log p(x) processes included), the
    # generator's own CPU and the whole machine's, at the start and the end of the measured window
    read = [asyncio.ensure_future(reading_at(tally.start)), asyncio.ensure_future(reading_at(tally.end))]
    await asyncio.gather(*(student(i, url, model, tally, tally.end, gap, auth, pictures, raw) for i in range(users)))
    (rss0, cpu0, gen0, busy0, steal0), (rss1, cpu1, gen1, busy1, steal1) = [await r for r in read]
    server, generator = (cpu1 - cpu0) / seconds, (gen1 - gen0) / seconds
    return {"tally": tally, "rss": [rss0, rss1], "server_cores": server, "generator_cores": generator,
            # what else ran: the machine's busy cores less the server's and the generator's (nan with --url)
            "other_cores": (busy1 - busy0) / seconds - server - generator,
            "steal_cores": (steal1 - steal0) / seconds}


def pct(v: list[float], q: float) -> float:
    return float(np.percentile(v, q)) if v else float("nan")


def _devices(url: str, auth: bool) -> str:
    """Where the server's models ran, from its health answer (logged in first when the server asks)."""
    try:
        with httpx.Client(base_url=url, timeout=10) as c:
            if auth:
                c.post("/login", data={"username": AUTH[0], "password": AUTH[1]})
            return str(c.get("/api/health").raise_for_status().json().get("devices", "not reported"))
    except (httpx.HTTPError, ValueError) as exc:
        return f"unknown ({type(exc).__name__})"


def _wait_built(url: str, auth: bool, model: str, limit: float = 180.0) -> float:
    """Wait until the server has built ``model`` (its health answer names the model's device), so that
    neither the start-up nor the model's build (torch's import) falls into the warm-up. Seconds waited."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < limit:
        if model in _devices(url, auth):
            return time.perf_counter() - t0
        time.sleep(0.5)
    raise SystemExit(f"the server did not build {model} within {limit:.0f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--warmup", type=float, default=10)
    ap.add_argument("--stroke-gap", type=float, default=8.0, help="mean seconds between a student's strokes")
    ap.add_argument("--model", default="mnist-z16")
    ap.add_argument("--auth", action="store_true", help="serve with --auth and log every student in")
    ap.add_argument("--url", default=None, help="a running server on loopback (default: start one)")
    ap.add_argument("--workers", type=int, default=1, help="server processes (the started server's --workers)")
    ap.add_argument("--device", default="auto", help="the started server's --device: auto, cpu, cuda, cuda:N")
    ap.add_argument("--client", choices=("httpx", "raw"), default="httpx",
                    help="the students' HTTP client: httpx, or a minimal one on asyncio streams that costs the "
                         "shared cores less CPU per request")
    args = ap.parse_args()
    users, seconds, warmup = min(args.users, 400), min(args.seconds, 600), min(args.warmup, 120)
    proc = None
    url = args.url
    if url is None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        cmd = [sys.executable, "-m", "explorer", "--no-browser", "--port", str(port), "--checkpoint", args.model]
        if args.auth:
            cmd += ["--auth", ":".join(AUTH)]
        cmd += ["--workers", str(max(1, min(args.workers, 8))), "--device", args.device]
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for line in proc.stdout:
            if line.startswith("VAE explorer ready at"):
                break
        url = f"http://127.0.0.1:{port}"
    host = urlparse(url).hostname or ""
    if host != "localhost" and not ipaddress.ip_address(host).is_loopback:
        raise SystemExit(f"refusing to load {host}: loopback addresses only")
    try:
        waited = _wait_built(url, args.auth, args.model)
        print(f"model {args.model} built {waited:.1f} s after the server was ready; the hall starts now", flush=True)
        res = asyncio.run(hall(url, users, seconds, warmup, args.model, args.stroke_gap, args.auth,
                               proc.pid if proc else None, raw=args.client == "raw"))
        served_on = _devices(url, args.auth)
    finally:
        if proc:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
    t = res["tally"]
    print(f"{users} students, open loop, strokes every {args.stroke_gap:g} s on average (Poisson), "
          f"{seconds:g} s measured after a {warmup:g} s warm-up{', logged in' if args.auth else ''}, "
          f"{args.client} client")
    print(f"  models ran on: {served_on}")
    for route in sorted(t.lat):
        v = t.lat[route]
        print(f"  {route:22s} n={len(v):6d}  p50 {pct(v, 50):7.1f} ms  p95 {pct(v, 95):7.1f} ms  "
              f"p99 {pct(v, 99):7.1f} ms")
    total = sum(t.outcome.values()) + sum(t.errors.values())
    refused = sum(v for k, v in t.outcome.items() if "refused" in k)
    print(f"  outcomes: {dict(sorted(t.outcome.items()))}")
    print(f"  refused {refused} of {total} ({refused / max(1, total):.2%}); errors {sum(t.errors.values())}: "
          f"{dict(t.errors)}")
    print(f"  generator send lag: p50 {pct(t.lag, 50):.1f} ms, p95 {pct(t.lag, 95):.1f} ms, "
          f"max {max(t.lag or [0]):.1f} ms")
    other = "n/a" if np.isnan(res["other_cores"]) else f"{max(0.0, res['other_cores']):.2f}"  # n/a with --url
    print(f"  CPU over the window: server {res['server_cores']:.2f} cores, generator {res['generator_cores']:.2f} "
          f"cores (of {os.cpu_count()}); anything else on the machine {other} cores, "
          f"taken by its host (steal, where the VM reports it) {res['steal_cores']:.2f} cores")
    print(f"  server memory: {res['rss'][0]:.0f} MiB at the window's start, {res['rss'][1]:.0f} MiB at its end "
          f"({res['rss'][1] - res['rss'][0]:+.0f} MiB)")


if __name__ == "__main__":
    main()
