"""The page's speed in headless Chromium (Debian's) and the server's share of a hall. Figures are printed
(p50 / p95, ranges over runs); nothing is asserted.

    python benchmarks/bench_app.py [--checkpoint mnist-z16] [--strokes 60] [--drags 200] [--students 200]

Measures, on this machine, against one server started here (warm: every figure after a warm-up):
* a first visit with an empty cache: the bytes moved (Chrome DevTools' encoded sizes, by kind), and
  navigation start -> map drawn, and -> networks ready (every drawing computed in the page), over
  ``--visits`` fresh browser contexts;
* a reload (the browser's cache): navigation start -> map drawn;
* a drag: the pointer event -> the next frame after the page painted the decoder's image;
* the end of a stroke -> every panel rendered (lens, samples, cloud), the forward pass's time where it
  ran (the page's own thread; a conditional model's, the two workers) and the panels' rendering; then
  log p(x) (k = 1,000, in the page's second worker). Each stroke is drawn as a hand does (24 moves 4-24 ms
  apart, ~0.35 s), and the next one once the lens shows log p(x);
* Interpolate (two strips of 10) and Traverse (16 x 9), click -> images shown;
* the server's CPU for a hall of ``--students`` browsers' remaining traffic, open loop, each browser
  from an address of its own on loopback (127.0.x.y) with its tab's name, as a hall's laptops are: their
  page loads (each fetches what a real first visit fetched, and keeps the live run's event stream open),
  step 6 and "check with Pyro" at a lecture's rate, and each tab's health check; the generator's lag is
  reported.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from conftest import CHROMIUM, CHROMIUM_FLAGS, SEVEN, draw_stroke, free_port  # noqa: E402


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def line(name, values, unit="ms", target=""):
    if not values:
        print(f"{name:52s} (no values)")
        return
    print(f"{name:52s} n={len(values):4d}  p50 {pct(values, .5):8.1f} {unit}  p95 {pct(values, .95):8.1f} {unit}"
          f"  {target}")


def start_server(checkpoint: str, device: str = "auto") -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "explorer", "--no-browser", "--port", str(port), "--checkpoint",
                             checkpoint, "--device", device], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    for out in proc.stdout:
        if out.startswith("VAE explorer ready at"):
            break
    return proc, f"http://127.0.0.1:{port}/"


def first_visits(browser, url: str, visits: int) -> list[str]:
    """Fresh contexts (empty caches): bytes moved and the times to the map and to the networks."""
    sizes, maps, computes, urls = [], [], [], []
    for i in range(visits + 1):
        # no service worker: it would serve the page's later fetches itself, out of the page's sight
        ctx = browser.new_context(viewport={"width": 1600, "height": 1200}, service_workers="block")
        page = ctx.new_page()
        cdp = ctx.new_cdp_session(page)
        cdp.send("Network.enable")
        got: dict[str, dict] = {}
        def seen(e, got=got):
            got.setdefault(e["requestId"], {}).update(url=e["response"]["url"])

        def done(e, got=got):
            got.setdefault(e["requestId"], {}).update(n=e["encodedDataLength"])

        cdp.on("Network.responseReceived", seen)
        cdp.on("Network.loadingFinished", done)
        page.goto(url)
        page.wait_for_selector(".vx-root[data-computes]", timeout=60_000)
        page.wait_for_timeout(1500)  # what else a first visit fetches (the service worker's cache fill is its own)
        t_map = page.evaluate("vx.hooks.stats.readyAt")
        by_kind: dict[str, int] = {}
        for r in got.values():
            u = r.get("url", "")
            kind = ("model files" if "/vx/data/" in u else "the page's modules and CSS" if "/vx/app/" in u
                    else "Gradio's shell" if "/assets/" in u or "/static/" in u or u.rstrip("/") == url.rstrip("/")
                    else "other")
            by_kind[kind] = by_kind.get(kind, 0) + r.get("n", 0)
        if i:  # the first visit warms the server's caches (compressed files are made on first use)
            sizes.append(by_kind)
            maps.append(t_map)
            computes.append(page.evaluate("vx.hooks.stats.computesAt"))
        else:
            urls = sorted({r["url"] for r in got.values() if r.get("url", "").startswith(url)})
        ctx.close()
    total = [sum(s.values()) / 1e6 for s in sizes]
    print(f"{'first visit: bytes moved (encoded)':52s} {min(total):.2f}-{max(total):.2f} MB over {len(total)}"
          " visits  (target <= 2.5 MB)")
    for kind in sorted(sizes[0]):
        print(f"{'  ' + kind:52s} {statistics.median(s.get(kind, 0) for s in sizes) / 1e6:.3f} MB")
    line("first visit (cold cache): navigation -> map drawn", maps, target="(target <= 1500 ms)")
    line("first visit: navigation -> networks ready", computes)
    return urls


def in_page(browser, url: str, args) -> None:
    page = browser.new_page(viewport={"width": 1600, "height": 1200})
    page.goto(url)
    page.wait_for_selector(".vx-root[data-computes]", timeout=60_000)
    loads = []
    for _ in range(6):
        page.reload()
        page.wait_for_selector(".vx-root[data-ready]", timeout=60_000)
        loads.append(page.evaluate("vx.hooks.stats.readyAt"))
        page.wait_for_selector(".vx-root[data-computes]", timeout=60_000)
    line("reload (the browser's cache): navigation -> map drawn", loads[1:], target="(target <= 800 ms)")

    rng = random.Random(0)
    page.evaluate("vx.hooks.stats.drag = []")
    h = page.locator("[data-vx=handle]").bounding_box()
    cx, cy = h["x"] + h["width"] / 2, h["y"] + h["height"] / 2
    page.mouse.move(cx, cy)
    page.mouse.down()
    for i in range(args.drags):
        dx = 180 * ((i % 100) / 100 - 0.5)
        page.mouse.move(cx + dx, cy + 0.6 * dx)
        page.wait_for_timeout(rng.uniform(4, 24))  # a hand: not in step with the screen's frames
    page.mouse.up()
    page.wait_for_timeout(100)
    line("drag -> decoded image shown (moves at 4-24 ms gaps)", page.evaluate("vx.hooks.stats.drag")[5:],
         target="(target p50 <= 16, p95 <= 33)")

    for name in [args.checkpoint, *args.also]:
        page.evaluate("(n) => vx.hooks.show(n)", name)
        page.wait_for_selector(f".vx-root[data-computes='{name}']", timeout=60_000)
        page.evaluate("vx.hooks.stats.panel = []; vx.hooks.stats.compute = []; vx.hooks.stats.where = [];"
                      " vx.hooks.stats.parts = []; vx.hooks.stats.waits = []; vx.hooks.stats.render = [];"
                      " vx.hooks.stats.logpx = []")
        box = page.locator("[data-vx=pad]").bounding_box()
        for s in range(args.strokes + 5):
            x = box["x"] + 60 + (s * 23) % 160
            page.mouse.move(x, box["y"] + 40)
            page.mouse.down()
            for j in range(1, 25):  # a hand's stroke: ~0.35 s, with the live updates it brings
                page.mouse.move(x + j, box["y"] + 40 + 8 * j)
                page.wait_for_timeout(rng.uniform(4, 24))
            page.mouse.up()
            page.wait_for_function(f"vx.hooks.stats.panel.length >= {s + 1}", timeout=20_000)
            page.wait_for_function("vx.logpx !== null", timeout=20_000)  # a person looks at the lens, then
            page.wait_for_timeout(300)                                  # draws the next stroke
            if s % 8 == 7:
                page.click("[data-vx=clear]")
        stats = page.evaluate("vx.hooks.stats")
        line(f"{name}: end of stroke -> every panel rendered (K={page.evaluate('vx.k')})", stats["panel"][5:],
             target="(target p95 <= 16 ms)")
        where = stats["where"][5:]
        for w, what in [("page", "on the page's own thread"), ("worker", "whole in one worker"),
                        ("split", "split between the two workers, answers back")]:
            ms = [c for c, h in zip(stats["compute"][5:], where, strict=True) if h == w]
            if ms:
                line(f"{name}:   of which the forward pass {what}", ms, target=f"({len(ms)} of {len(where)} strokes)")
        split = [p for p, h in zip(stats["parts"][5:], where, strict=True) if h == "split"]
        if split:
            line(f"{name}:     split: the values' thread (steps 1-5)", [p[0] for p in split])
            line(f"{name}:     split: the gradients' thread (step 2)", [p[1] for p in split])
            waits = [w for w in stats["waits"][5:] if w]
            line(f"{name}:     messages: the later thread's wait to start", [w[0] for w in waits])
            line(f"{name}:     messages: the later answer's wait for the page's thread", [w[1] for w in waits])
        line(f"{name}:   and the panels' rendering", stats["render"][5:])
        line(f"{name}: log p(x), k = 1,000, in the page's worker", stats["logpx"][1:])

    page.evaluate("(n) => vx.hooks.show(n)", args.checkpoint)
    page.wait_for_selector(f".vx-root[data-computes='{args.checkpoint}']", timeout=60_000)
    draw_stroke(page, SEVEN)
    page.wait_for_function("vx.result && vx.final && !vx.pending", timeout=20_000)
    page.click("[data-vx=setA-draw]")
    page.click("[data-vx=setB-ring]")
    for _ in range(args.tool_clicks):
        page.click("[data-vx=interp]")
        page.wait_for_timeout(120)
        page.click("[data-vx=trav-draw]")
        page.wait_for_timeout(250)
    page.wait_for_timeout(300)
    st = page.evaluate("vx.hooks.stats")
    line("Interpolate: click -> 2 x 10 images shown", st["interpolate"])
    line("Traverse: click -> 16 x 9 images shown", st["traverse"])
    page.close()


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


async def hall(url: str, pid: int, students: int, seconds: float, page_urls: list[str], step_every: float,
               health_every: float) -> None:
    """The server's CPU while `students` browsers compute in their pages, open loop (sends keep to their
    schedule): first their page loads (each fetches what a real first visit fetched, spread over 30 s), then
    a lecture's steady state for `seconds`: each student's step 6 and a "check with Pyro" every `step_every`
    seconds on average, and each tab's health check every `health_every` seconds."""
    import base64

    import httpx
    import numpy as np

    a = np.zeros((140, 140), np.uint8)
    a[30:110, 60:75] = 255
    body = {"width": 140, "height": 140, "pixels": base64.b64encode(a.tobytes()).decode(), "seed": 1, "k": 16}
    rng = random.Random(1)

    def browser(i: int) -> httpx.AsyncClient:
        """Student i's browser: an address of its own on loopback (127.0.1.x, 127.0.2.x, ...: a hall's
        laptops each have one) and a tab name, as the page sends it."""
        transport = httpx.AsyncHTTPTransport(local_address=f"127.0.{1 + i // 250}.{1 + i % 250}")
        return httpx.AsyncClient(base_url=url, timeout=60, transport=transport,
                                 headers={"accept-encoding": "br, gzip", "x-vx-tab": f"tab{i}"})

    tabs = [browser(i) for i in range(students)]
    try:
        z = (await tabs[0].post("api/models/mnist-z16/encode", json=body)).json()["z"]

        streams: list[asyncio.Task] = []
        files = [u for u in page_urls if "/api/live/stream" not in u]
        stream = next((u for u in page_urls if "/api/live/stream" in u), None)

        async def hold_stream(c):
            """The page keeps the live run's event stream open for as long as the tab is (one keep-alive
            comment every 15 s when no run is going)."""
            async with c.stream("GET", stream, timeout=None) as r:
                async for _ in r.aiter_raw():
                    pass

        async def load_page(c):
            status = max([(await c.get(u)).status_code for u in files])
            if stream:
                streams.append(asyncio.create_task(hold_stream(c)))
            return status

        async def step(c):
            return (await c.post("api/models/mnist-z16/step", json={**body, "steps": 1, "lr": 1e-4})).status_code

        async def check(c):
            return (await c.post("api/models/mnist-z16/check", json={**body, "z": z})).status_code

        async def health(c):
            return (await c.get("api/health")).status_code

        async def phase(plan: list[tuple[float, str, object]], length: float) -> tuple[float, dict, dict, list]:
            lags, codes, lat = [], {}, {}
            t_start, cpu0 = time.perf_counter(), cpu_seconds(pid)

            async def at(t, what, fn):
                await asyncio.sleep(max(0.0, t_start + t - time.perf_counter()))
                lags.append(time.perf_counter() - (t_start + t))
                t0 = time.perf_counter()
                try:
                    status = await fn()
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                codes[status] = codes.get(status, 0) + 1
                lat.setdefault(what, []).append((time.perf_counter() - t0) * 1000)

            await asyncio.gather(*(at(t, what, fn) for t, what, fn in plan))
            await asyncio.sleep(max(0.0, t_start + length - time.perf_counter()))
            return cpu_seconds(pid) - cpu0, codes, lat, lags

        for _ in range(2):  # warm-up, outside every figure: torch's and Pyro's first calls cost seconds
            assert await step(tabs[0]) == 200 and await check(tabs[0]) == 200
        loads = [(rng.uniform(0, 30), "page load", partial(load_page, c)) for c in tabs]
        used, codes, lat, lags = await phase(loads, 30)
        print(f"hall of {students}: their first visits ({len(files)} files each, over 30 s, and the live run's"
              f" event stream held open) cost the server"
              f" {used:.1f} CPU-s, {1000 * used / students:.0f} CPU-ms a student, once; answers {codes}")
        line("  page load (all its files, one after the other)", lat["page load"])
        plan = []
        for c in tabs:
            t = rng.expovariate(1 / step_every)
            while t < seconds:
                plan += [(t, "step 6", partial(step, c)), (t + 5, "check with Pyro", partial(check, c))]
                t += rng.expovariate(1 / step_every)
            beats = np.arange(rng.uniform(0, health_every), seconds, health_every)
            plan += [(t, "health", partial(health, c)) for t in beats]
        used, codes, lat, lags2 = await phase(plan, seconds)
        print(f"hall of {students}, then {seconds:.0f} s of the lecture (step 6 and a check every {step_every:.0f} s a"
              f" student, health every {health_every:.0f} s a tab): the server used {100 * used / seconds:.1f} % of one"
              f" core (target <= 10 %); answers {codes}")
        for what, v in lat.items():
            line(f"  {what}", v)
        line("  the generator's lag (send time - scheduled time)", [x * 1000 for x in lags + lags2])
    finally:
        for t in streams:
            t.cancel()
        await asyncio.gather(*streams, return_exceptions=True)
        for c in tabs:
            await c.aclose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default="mnist-z16")
    ap.add_argument("--also", nargs="*", default=["mnist-cvae-z16"], help="other models whose strokes are timed")
    ap.add_argument("--drags", type=int, default=200, help="pointer moves while dragging the ring")
    ap.add_argument("--strokes", type=int, default=40, help="strokes drawn on the pad, per model")
    ap.add_argument("--tool-clicks", type=int, default=20, help="clicks on Interpolate and on Traverse")
    ap.add_argument("--visits", type=int, default=5, help="first visits timed (after one that warms the server)")
    ap.add_argument("--students", type=int, default=200, help="browsers in the simulated hall (0: skip)")
    ap.add_argument("--seconds", type=float, default=90.0, help="the hall's length")
    ap.add_argument("--hall-only", action="store_true", help="only the hall (after one first visit, for its files)")
    ap.add_argument("--step-every", type=float, default=300.0,
                    help="seconds between a student's presses of step 6 (and of 'check with Pyro'), on average")
    ap.add_argument("--device", default="auto", help="the server's device (auto: the GPU where there is one)")
    ap.add_argument("--save-page-urls", type=Path, metavar="FILE",
                    help="write the paths a first visit fetched to FILE (for --page-urls where there is no Chromium)")
    ap.add_argument("--page-urls", type=Path, metavar="FILE",
                    help="with --hall-only: the hall's page loads fetch the paths in FILE, and no browser is started")
    args = ap.parse_args()
    if args.page_urls and not args.hall_only:
        ap.error("--page-urls goes with --hall-only (the page's own figures need Chromium)")

    proc, url = start_server(args.checkpoint, args.device)
    pw = None
    try:
        if args.page_urls:
            page_urls = [url + p for p in args.page_urls.read_text().split()]
        else:
            from playwright.sync_api import sync_playwright

            pw = sync_playwright().start()
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            page_urls = first_visits(browser, url, 1 if args.hall_only else args.visits)
            if args.save_page_urls:
                args.save_page_urls.write_text("".join(u.removeprefix(url) + "\n" for u in page_urls))
            if not args.hall_only:
                in_page(browser, url, args)
            browser.close()
        if args.students:
            import threading

            health_every = 15.0  # the page's own interval (static/js/api.js)
            # in a thread of its own: Playwright's event loop runs in this one
            t = threading.Thread(target=lambda: asyncio.run(hall(url, proc.pid, args.students, args.seconds, page_urls,
                                                                  args.step_every, health_every)))
            t.start()
            t.join()
    finally:
        if pw:
            pw.stop()
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
