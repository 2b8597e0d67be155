"""An innocent student's strokes while N clients hammer the most expensive route (log p(x), k = 5000).

    python benchmarks/hammer.py [--clients 20] [--seconds 15] [--model mnist-z2]

Starts the app on a free loopback port, times 30 strokes (encode) when quiet, then 30 while the
hammering clients send log p(x) requests back to back (closed loop, ignoring Retry-After, as a hostile
script would), and prints the innocent's p50/p95 both times, /api/health's latency under load, and how
the hammering requests were answered. Loopback only, bounded in count and time. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import base64
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--model", default="mnist-z2")
    args = ap.parse_args()
    clients, seconds = min(args.clients, 100), min(args.seconds, 120)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = subprocess.Popen([sys.executable, "-m", "explorer", "--no-browser", "--port", str(port), "--checkpoint",
                            args.model], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in app.stdout:
        if line.startswith("VAE explorer ready at"):
            break
    url = f"http://127.0.0.1:{port}"
    ink = np.zeros((140, 140), np.uint8)
    ink[20:120, 60:75] = 255
    body = {"width": 140, "height": 140, "pixels": base64.b64encode(ink.tobytes()).decode()}
    try:
        innocent = httpx.Client(base_url=url, timeout=60, headers={"X-VX-Tab": "innocent"})

        def strokes(n: int) -> list[float]:
            out = []
            for i in range(n):
                t0 = time.perf_counter()
                innocent.post(f"/api/models/{args.model}/encode", json={**body, "seed": i}).raise_for_status()
                out.append((time.perf_counter() - t0) * 1000)
                time.sleep(0.2)
            return out

        strokes(5)  # warm-up, not counted
        quiet = strokes(30)
        stop, codes = time.time() + seconds, Counter()

        def hammer(i: int) -> None:
            with httpx.Client(base_url=url, timeout=60, headers={"X-VX-Tab": f"h{i}"}) as h:
                while time.time() < stop:
                    codes[h.post(f"/api/models/{args.model}/logpx", json={**body, "k": 5000}).status_code] += 1

        threads = [threading.Thread(target=hammer, args=(i,)) for i in range(clients)]
        for t in threads:
            t.start()
        time.sleep(2)
        t0 = time.perf_counter()
        innocent.get("/api/health").raise_for_status()
        health = (time.perf_counter() - t0) * 1000
        loaded = strokes(30)
        for t in threads:
            t.join()
        p = lambda v, q: float(np.percentile(v, q))  # noqa: E731
        print(f"innocent stroke, quiet:            p50 {p(quiet, 50):6.1f} ms  p95 {p(quiet, 95):6.1f} ms")
        print(f"innocent stroke, {clients} hammering:     p50 {p(loaded, 50):6.1f} ms  p95 {p(loaded, 95):6.1f} ms"
              f"  (x{p(loaded, 50) / p(quiet, 50):.2f} at p50)")
        print(f"/api/health under load:            {health:.1f} ms")
        print(f"hammering requests answered:       {dict(sorted(codes.items()))}")
    finally:
        app.terminate()
        app.wait(10)


if __name__ == "__main__":
    main()
