"""Play N simulated clients against the app's compute routes for a while (closed loop).

    python benchmarks/load.py [--users 50] [--seconds 60] [--url http://127.0.0.1:PORT/]

Loopback only, bounded in users (<= 200), time (<= 600 s) and requests. Without --url it starts
its own server (``python -m explorer``) on a free loopback port and watches that process's memory.
The page computes its drawings itself; these clients are scripts and notebooks using the routes that
stay on the server (the Python reference of the page's numbers). Each loads the model list and the
model's files once, then repeats at human pace: a stroke (two live encodes, the final encode, then
log p(x)), three hovers (test digits), a pause.
Prints per-route latency p50/p95, errors, "newest wins" answers, the server's memory after a warm-up
(up to 10 s of load, not counted) and at the end, sampled along the way, and its live-session count.
Exit status 1 if any request failed.
"""

from __future__ import annotations

import argparse
import base64
import ipaddress
import random
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlparse

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


def stroke_canvas(rng: np.random.Generator, size: int = 140) -> str:
    """A random 'digit': a few thick line segments, as the page sends it (ink 0..255, base64)."""
    a = np.zeros((size, size), np.uint8)
    pts = rng.integers(25, size - 25, size=(rng.integers(2, 5), 2))
    for (r0, c0), (r1, c1) in zip(pts[:-1], pts[1:], strict=True):
        for t in np.linspace(0, 1, 60):
            r, c = int(r0 + t * (r1 - r0)), int(c0 + t * (c1 - c0))
            a[max(0, r - 5) : r + 5, max(0, c - 5) : c + 5] = 255
    return base64.b64encode(a.tobytes()).decode()


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class Stats:
    def __init__(self) -> None:
        self.lat: dict[str, list[float]] = defaultdict(list)
        self.errors: list[str] = []
        self.stale = 0
        self.lock = threading.Lock()

    def add(self, route: str, seconds: float) -> None:
        with self.lock:
            self.lat[route].append(seconds * 1000)

    def fail(self, what: str) -> None:
        with self.lock:
            self.errors.append(what)


STROKES = [stroke_canvas(np.random.default_rng(i)) for i in range(32)]  # drawn once, not per request


def user(url: str, model: str, deadline: float, seed: int, stats: Stats, max_requests: int) -> None:
    rng = random.Random(seed)
    session = f"load-{seed}"
    seq = 0
    sent = 0
    with httpx.Client(base_url=url, timeout=30, headers={"X-VX-Tab": session}) as c:

        def call(route: str, method: str, path: str, **kw):
            nonlocal sent
            sent += 1
            t0 = time.perf_counter()
            try:
                r = c.request(method, path, **kw)
            except httpx.HTTPError as exc:
                stats.fail(f"{route}: {type(exc).__name__}")
                return None
            stats.add(route, time.perf_counter() - t0)
            if r.status_code >= 400:
                stats.fail(f"{route}: HTTP {r.status_code}")
                return None
            return r

        call("models", "GET", "/api/models")
        listing = call("site", "GET", "/vx/models.json")
        if listing is not None:
            for path in next(m for m in listing.json()["models"] if m["name"] == model)["files"].values():
                call("model files", "GET", f"/vx/{path}")
        time.sleep(rng.uniform(0, 2))  # students do not all start in the same millisecond
        while time.time() < deadline and sent < max_requests:
            pixels = rng.choice(STROKES)
            body = {"width": 140, "height": 140, "pixels": pixels, "k": 16, "seed": seq, "session": session}
            for _ in range(2):  # live updates while the pen moves
                seq += 1
                r = call("encode (live)", "POST", f"/api/models/{model}/encode", json={**body, "seq": seq})
                if r is not None and r.json().get("stale"):
                    stats.stale += 1
                time.sleep(0.25)
            seq += 1
            call("encode (stroke end)", "POST", f"/api/models/{model}/encode", json={**body, "seq": seq})
            call("logpx", "POST", f"/api/models/{model}/logpx", json={**body, "seq": seq, "k": 1000})
            for _ in range(3):  # dragging: the page decodes; hovering fetches a test digit
                call("digit (hover)", "GET", f"/api/models/{model}/digit/{rng.randrange(10_000)}")
                time.sleep(0.5)
            time.sleep(rng.uniform(0.5, 1.5))
        c.post("/api/bye", json={"session": session})


def pct(v: list[float], q: float) -> float:
    v = sorted(v)
    return v[min(len(v) - 1, int(round(q * (len(v) - 1))))] if v else float("nan")


def run(users: int, seconds: float, url: str | None, model: str = "mnist-z16") -> dict:
    users, seconds = min(users, 200), min(seconds, 600)
    proc = None
    if url is None:
        from conftest import free_port

        port = free_port()
        url = f"http://127.0.0.1:{port}/"
        proc = subprocess.Popen([sys.executable, "-m", "explorer", "--no-browser", "--port", str(port),
                                 "--checkpoint", model], cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        for line in proc.stdout:
            if line.startswith("VAE explorer ready at http"):
                break
    host = urlparse(url).hostname or ""
    if host != "localhost" and not ipaddress.ip_address(host).is_loopback:
        raise SystemExit(f"refusing to load {host}: loopback addresses only")
    stats = Stats()
    try:
        with httpx.Client(base_url=url, timeout=30) as c:
            c.get("/api/models")  # every shipped model loaded, as after the first visitor
            c.get("/vx/models.json")  # the models' files built
            def rss() -> float:
                return rss_mb(proc.pid) if proc else c.get("/api/health").json()["rss_mb"]

            warmup = min(10.0, seconds / 6)  # threads, allocator arenas and caches settle first
            deadline = time.time() + warmup + seconds
            threads = [threading.Thread(target=user, args=(url, model, deadline, i, stats, 10_000))
                       for i in range(users)]
            for t in threads:
                t.start()
            time.sleep(warmup)
            t0 = time.time()
            samples = [rss()]
            while any(t.is_alive() for t in threads) and time.time() < deadline + 120:
                time.sleep(min(5.0, max(0.5, seconds / 12)))
                samples.append(rss())
            for t in threads:
                t.join(timeout=1)
            elapsed = time.time() - t0
            rss0, rss1 = samples[0], samples[-1]
            health = c.get("/api/health").json()
    finally:
        if proc:
            proc.terminate()
            proc.wait(10)
    total = sum(len(v) for v in stats.lat.values())
    return {"users": users, "seconds": round(elapsed, 1), "requests": total, "errors": stats.errors,
            "stale": stats.stale, "lat": stats.lat, "rss_start": rss0, "rss_end": rss1, "rss_samples": samples,
            "sessions_after": health["sessions"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--url", default=None, help="an app already running on loopback (default: start one)")
    ap.add_argument("--model", default="mnist-z16")
    args = ap.parse_args()
    res = run(args.users, args.seconds, args.url, args.model)
    print(f"{res['users']} users for {res['seconds']} s (after the warm-up): {res['requests']} requests, "
          f"{len(res['errors'])} errors, {res['stale']} answered 'newer drawing already received'")
    for route, v in sorted(res["lat"].items()):
        print(f"  {route:22s} n={len(v):6d}  p50 {pct(v, .5):7.1f} ms  p95 {pct(v, .95):7.1f} ms")
    print("  drag                   decoded in the page: no server request while dragging")
    print(f"server memory after warm-up: {res['rss_start']:.0f} MiB, at the end: {res['rss_end']:.0f} MiB "
          f"(growth {res['rss_end'] - res['rss_start']:+.0f} MiB; samples "
          f"{', '.join(f'{v:.0f}' for v in res['rss_samples'])}); live sessions after: {res['sessions_after']}")
    for e in sorted(set(res["errors"]))[:10]:
        print("  error:", e, f"(x{res['errors'].count(e)})")
    raise SystemExit(1 if res["errors"] else 0)


if __name__ == "__main__":
    main()
