"""What watching it learn costs: building a timeline, and the page's frame rate while the map moves.
Figures are printed (medians and ranges over runs); nothing is asserted.

    python benchmarks/bench_timeline.py [--checkpoint mnist-z16] [--builds 1] [--plays 3]

* the snapshots: the time of one moment (``Recorder.take``: the 10,000 test digits' guide means, the test
  ELBO and its terms, the compacted decoder), against the checkpoint's recorded training time;
* the build, ``atlas NAME --timeline`` (AlignedUMAP over the moments, the decoder's images on the map's grid
  at each moment), on a copy of the checkpoint, its snapshots and MNIST (needs
  ``<checkpoint>.snapshots.npz``: ``python -m explorer train --preset mnist-z16 --snapshots 12 --out F``),
  ``--builds`` times;
* the animation in headless Chromium: the timeline played ``--plays`` times (the first is a warm-up, left
  out), each moment's move of the 10,000 points as frames per second, and one redraw of the map.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from conftest import CHROMIUM, CHROMIUM_FLAGS, AppProcess  # noqa: E402


def spread(values: list[float]) -> str:
    return f"median {statistics.median(values):.2f}, range {min(values):.2f}-{max(values):.2f} (n={len(values)})"


def snapshot_cost(name: str, takes: int = 5) -> None:
    import torch

    from explorer.store.registry import read_served_model
    from explorer.store.snapshots import Recorder
    from explorer.vae.data import load_mnist

    m = read_served_model(name)
    vae = m.ckpt.vae
    test = load_mnist(False)
    rec = Recorder(12, 1000, test.images, None, 100, 0)
    rec.take(vae, 0)  # warm-up
    seconds = []
    for i in range(takes):
        t0 = time.perf_counter()
        rec.take(vae, i + 1)
        seconds.append(time.perf_counter() - t0)
    trained = sum(h.get("seconds", 0.0) for h in m.record.get("history", []))
    print(f"one snapshot of {name} (torch threads {torch.get_num_threads()}): {spread(seconds)} s; 12 of them: "
          f"{12 * statistics.median(seconds):.1f} s against {trained:.0f} s of recorded training "
          f"({100 * 12 * statistics.median(seconds) / max(trained, 1e-9):.1f} %)")


def build_cost(name: str, builds: int) -> None:
    from explorer.store.checkpoint import checkpoint_dir
    from explorer.store.timeline_build import build_timeline

    src = checkpoint_dir() / f"{name}.safetensors"
    snaps = src.with_name(f"{name}.snapshots.npz")
    if not snaps.exists():
        print(f"the build: skipped, {snaps} is not there (train with --snapshots 12 to make it)")
        return
    seconds = []
    for _ in range(builds):
        with tempfile.TemporaryDirectory() as tmp:
            for p in (src, snaps):
                shutil.copy(p, Path(tmp) / p.name)
            t0 = time.perf_counter()
            build_timeline(Path(tmp) / src.name, progress=False)
            seconds.append(time.perf_counter() - t0)
    print(f"atlas {name} --timeline (AlignedUMAP of 12 x 10,000, grid images): {spread(seconds)} s")


def frame_rate(name: str, plays: int) -> None:
    from playwright.sync_api import sync_playwright

    app = AppProcess("--checkpoint", name)
    try:
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            pg = b.new_page(viewport={"width": 1600, "height": 1000})
            pg.goto(app.url)
            pg.wait_for_selector(".vx-root[data-computes]", timeout=60_000)
            pg.click("[data-vx=tl-open]")
            pg.wait_for_function("window.vx.moment === 0", timeout=60_000)
            fps, redraw = [], []
            for run in range(plays):
                pg.evaluate("window.vx.hooks.stats.frames = []; window.vx.hooks.playedTo = undefined")
                pg.click("[data-vx=tl-play]")
                pg.wait_for_function("window.vx.hooks.playedTo !== undefined && !window.vx.playing", timeout=120_000)
                moves = pg.evaluate("window.vx.hooks.stats.frames")
                ms = pg.evaluate("(() => { const s = window.vx.hooks.scatter, t0 = performance.now();"
                                 " for (let i = 0; i < 30; i++) s.draw(); return (performance.now() - t0) / 30; })()")
                if run:  # the first play warms up
                    fps += [1000 * f["frames"] / f["ms"] for f in moves if f["ms"] > 300]
                    redraw.append(ms)
            n = pg.evaluate("window.vx.hooks.scatter.xy.length / 2")
            print(f"the map moving ({n:.0f} points, headless Chromium, {plays - 1} plays after a warm-up): "
                  f"{spread(fps)} frames/s; one redraw {spread(redraw)} ms")
            b.close()
    finally:
        app.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", default="mnist-z16")
    ap.add_argument("--builds", type=int, default=1, help="timeline builds to time (each takes minutes)")
    ap.add_argument("--plays", type=int, default=3, help="plays of the timeline in Chromium (the first warms up)")
    a = ap.parse_args()
    snapshot_cost(a.checkpoint)
    if a.builds > 0:
        build_cost(a.checkpoint, a.builds)
    frame_rate(a.checkpoint, max(2, a.plays))


if __name__ == "__main__":
    main()
