"""Fairness under hammering: an innocent student's requests while N scripts hammer one route.

    python benchmarks/hammer.py [--clients 20] [--seconds 20] [--route all] [--model mnist-z2] [--runs 1]

Starts the app with a class login on a free loopback port. The innocent student logs in and sends what the
page still asks the server for: "check with Pyro" and step 6 on a drawing (alternately, one every 2 s),
first quiet, then while ``--clients`` scripts hammer one route back to back (closed loop, ignoring
Retry-After, as a hostile script would): ``map.csv`` (the map as CSV), ``logpx`` (log p(x), k = 5,000),
``step`` (step 6), ``bundle`` (the model's largest file) or ``login`` (wrong passwords). It prints, per
route, the innocent's p50 and p95 quiet and hammered, their ratio (the target: p95 within 2x of quiet),
and how the hammering requests were answered. Loopback only, bounded in count and time; the hammering
clients run in a process of their own, on the server's two cores. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from conftest import AppProcess  # noqa: E402

ROUTES = ("map.csv", "logpx", "step", "bundle", "login")
AUTH = ("class", "hall-password")
GAP = 2.0  # s between the innocent's requests: a student presses step 6 or "check with Pyro" now and then


def drawing() -> dict:
    ink = np.zeros((140, 140), np.uint8)
    ink[20:120, 60:75] = 255
    return {"width": 140, "height": 140, "pixels": base64.b64encode(ink.tobytes()).decode(), "seed": 3}


def logged_in(url: str, tab: str) -> httpx.Client:
    c = httpx.Client(base_url=url, timeout=60, headers={"X-VX-Tab": tab, "Origin": url})
    r = c.post("/login", data={"username": AUTH[0], "password": AUTH[1]})
    if r.status_code != 303:
        raise RuntimeError(f"login failed: {r.status_code}")
    return c


def innocent_requests(c: httpx.Client, model: str, n: int) -> list[float]:
    """``n`` of the page's server requests (check with Pyro, then step 6, alternately): milliseconds each."""
    body, z = drawing(), [[0.1 * i, -0.1 * i] for i in range(16)]
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        if i % 2:
            r = c.post(f"/api/models/{model}/step", json={**body, "steps": 1})
        else:
            r = c.post(f"/api/models/{model}/check", json={**body, "z": z, "k": 16})
        r.raise_for_status()
        out.append((time.perf_counter() - t0) * 1000)
        time.sleep(GAP)
    return out


def hammer(url: str, model: str, route: str, clients: int, seconds: float) -> tuple[Counter, list[threading.Thread]]:
    """``clients`` scripts sending ``route`` back to back for ``seconds``, started in a process of their own
    (so that they do not share the interpreter with the innocent student's client), and the status codes
    they get, filled in once the returned thread has been joined."""
    codes: Counter = Counter()
    proc = subprocess.Popen([sys.executable, __file__, "--scripts", route, "--url", url, "--model", model,
                             "--clients", str(clients), "--seconds", str(seconds)], stdout=subprocess.PIPE, text=True)

    def wait() -> None:
        out, _ = proc.communicate(timeout=seconds + 120)
        codes.update({int(k): v for k, v in json.loads(out.strip().splitlines()[-1]).items()})

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.5)  # the scripts logged in and under way
    return codes, [waiter]


def scripts(url: str, model: str, route: str, clients: int, seconds: float) -> Counter:
    """``clients`` threads sending ``route`` back to back for ``seconds``: the status codes they got."""
    codes: Counter = Counter()
    stop = time.time() + seconds
    big = None
    if route == "bundle":  # the model's largest file, as a first visit fetches it
        c = logged_in(url, "probe")
        entry = next(m for m in c.get("/vx/models.json").json()["models"] if m["name"] == model)
        big = "/vx/" + entry["files"][max(entry["bytes"], key=entry["bytes"].get)]
        c.close()

    def one(i: int) -> None:
        body = drawing()
        h = (httpx.Client(base_url=url, timeout=60, headers={"Origin": url}) if route == "login"
             else logged_in(url, f"h{i}"))
        try:
            while time.time() < stop:
                if route == "map.csv":
                    r = h.get(f"/api/models/{model}/map.csv", headers={"Accept-Encoding": "identity"})
                elif route == "logpx":
                    r = h.post(f"/api/models/{model}/logpx", json={**body, "k": 5000})
                elif route == "step":
                    r = h.post(f"/api/models/{model}/step", json={**body, "steps": 1})
                elif route == "bundle":
                    r = h.get(big, headers={"Accept-Encoding": "identity"})
                else:
                    r = h.post("/login", data={"username": AUTH[0], "password": "wrong"})
                codes[r.status_code] += 1
        finally:
            h.close()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return codes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--route", choices=[*ROUTES, "all"], default="all")
    ap.add_argument("--model", default="mnist-z2")
    ap.add_argument("--runs", type=int, default=1, help="runs per route (the ratios' range is over them)")
    ap.add_argument("--scripts", choices=ROUTES, help=argparse.SUPPRESS)  # the hammering process itself
    ap.add_argument("--url", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.scripts:
        print(json.dumps(scripts(args.url, args.model, args.scripts, args.clients, args.seconds)), flush=True)
        return
    clients, seconds = min(args.clients, 100), min(args.seconds, 60)
    routes = ROUTES if args.route == "all" else (args.route,)
    app = AppProcess("--checkpoint", args.model, "--auth", ":".join(AUTH))
    try:
        innocent = logged_in(app.url.rstrip("/"), "innocent")
        innocent_requests(innocent, args.model, 6)  # warm-up, not counted
        for route in routes:
            ratios = []
            for _ in range(max(1, args.runs)):
                quiet = innocent_requests(innocent, args.model, 10)
                codes, threads = hammer(app.url.rstrip("/"), args.model, route, clients, seconds)
                time.sleep(1.0)  # the hammering under way
                loaded = innocent_requests(innocent, args.model, max(8, int((seconds - 2) / (GAP + 0.05))))
                for t in threads:
                    t.join()
                q95, l95 = float(np.percentile(quiet, 95)), float(np.percentile(loaded, 95))
                ratios.append(l95 / q95)
                print(f"{route:8s} quiet p50 {np.median(quiet):6.1f} p95 {q95:6.1f} ms | {clients} hammering: "
                      f"p50 {np.median(loaded):6.1f} p95 {l95:6.1f} ms (p95 x{l95 / q95:.2f}) | "
                      f"hammering answered {dict(sorted(codes.items()))}", flush=True)
                time.sleep(2.0)  # let the server drain before the next quiet measurement
            if len(ratios) > 1:
                print(f"{route:8s} p95 ratio over {len(ratios)} runs: median {statistics.median(ratios):.2f}, "
                      f"range {min(ratios):.2f}-{max(ratios):.2f}")
    finally:
        app.stop()


if __name__ == "__main__":
    main()
