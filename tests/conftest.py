"""Shared fixtures and helpers: a clean Pyro param store, MNIST when present, the CLI and the real app
in subprocesses, headless Chromium, drawings."""

from __future__ import annotations

import base64
import importlib.util
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import numpy as np
import pyro
import pytest
import torch

from explorer.vae.data import DataMissingError, load_mnist, resolve_data_dir

ROOT = Path(__file__).resolve().parent.parent


def _data_dir() -> Path:
    env = os.environ.get("EXPLORER_DATA_DIR")
    if env:
        return Path(env)
    shared = ROOT.parent / "shared" / "data"  # this workplace keeps MNIST beside the checkout
    return shared if (shared / "MNIST" / "raw").is_dir() else resolve_data_dir()


class PickleBomb:
    """Unpickling this creates the file ``marker``: proof that a loader ran code it should not have."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture(autouse=True)
def _clean_param_store():
    pyro.clear_param_store()
    yield
    pyro.clear_param_store()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return _data_dir()


@pytest.fixture(scope="session")
def mnist_test(data_dir):
    try:
        return load_mnist(False, data_dir, download=False)
    except DataMissingError as exc:
        pytest.skip(f"MNIST test set not found, test skipped: {exc}")


@pytest.fixture(scope="session")
def mnist_train(data_dir):
    try:
        return load_mnist(True, data_dir, download=False)
    except DataMissingError as exc:
        pytest.skip(f"MNIST training set not found, test skipped: {exc}")


@pytest.fixture
def digits() -> torch.Tensor:
    """A small deterministic batch of grey 'images' in [0, 1], shape (8, 784), no data needed."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(8, 784, generator=g)
    x[x < 0.6] = 0.0
    return x


def seven_canvas() -> np.ndarray:
    """A drawn 7 on a 280 x 280 canvas, uint8 ink."""
    a = np.zeros((280, 280), dtype=np.uint8)
    a[50:70, 60:220] = 255  # top bar
    for i in range(170):
        r, c = 60 + i, 215 - int(i * 0.55)
        a[r : r + 18, c - 9 : c + 9] = 255
    return a


def varied_drawings() -> list[np.ndarray]:
    """Eight different drawings: the seven (280 x 280), and seven of the load tool's strokes (140 x 140)."""
    strokes = benchmark_module("hall").strokes(7)
    return [seven_canvas()] + [np.frombuffer(base64.b64decode(p), np.uint8).reshape(140, 140) for p in strokes]


ANSWER_IMAGES = {"input", "mean_img", "samples_img", "styles", "image", "images"}  # base64 bytes or lists
ROUNDED = {"pixel_nats": 1e-3}  # sent to 3 decimals: a rounding flip is one unit


def assert_same_answer(got: dict, ref: dict, nats: float, rtol: float) -> None:
    """Two answers of the app are the same: every field present in both; words, counts and the random
    numbers (eps) exact; images within one grey level; every other number within ``nats`` and ``rtol``."""
    assert got.keys() == ref.keys()
    for key, a in ref.items():
        b = got[key]
        if key in ANSWER_IMAGES:
            x, y = (np.frombuffer(base64.b64decode(v), np.uint8).astype(int) if isinstance(v, str)
                    else np.asarray(v, int) for v in (a, b))
            assert x.shape == y.shape and np.abs(x - y).max() <= 1, key
        elif key == "eps" or isinstance(a, str | int | bool) or a is None:
            assert a == b, key
        elif isinstance(a, float) and np.isnan(a):
            assert np.isnan(b), key
        else:
            np.testing.assert_allclose(np.asarray(b, float), np.asarray(a, float), rtol=rtol,
                                       atol=nats + ROUNDED.get(key, 0), err_msg=key)


def bar_drawing(fill: int = 255) -> str:
    """A 40 x 40 drawing, a vertical bar of ink ``fill``, as base64 bytes (what a route takes as pixels)."""
    ink = np.zeros((40, 40), np.uint8)
    ink[5:35, 18:22] = fill
    return base64.b64encode(ink.tobytes()).decode()


def run_cli(*args: str, env: dict | None = None, timeout: int = 300, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """``python -m explorer ARGS`` in a subprocess; its output captured."""
    return subprocess.run([sys.executable, "-m", "explorer", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


def benchmark_module(name: str) -> ModuleType:
    """A script of ``benchmarks/`` imported as a module (the tests run its small configurations)."""
    spec = importlib.util.spec_from_file_location(f"benchmarks_{name}", ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------- the real app in a subprocess, and headless Chromium (Debian's) ----------

CHROMIUM = os.environ.get("EXPLORER_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
SHOTS = ROOT / "artifacts" / "screenshots"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppProcess:
    """``python -m explorer`` on a free loopback port; stopped at teardown."""

    def __init__(self, *args: str, env: dict | None = None, port: int | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        cmd = [sys.executable, "-m", "explorer", "--no-browser", "--port", str(self.port), *args]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env={**os.environ, **(env or {})})
        self.output: list[str] = []
        deadline = time.time() + 120
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line and self.proc.poll() is not None:
                raise RuntimeError("app exited early:\n" + "".join(self.output))
            self.output.append(line)
            if line.startswith("VAE explorer ready at http"):
                return
        self.stop()
        raise RuntimeError("app did not start in 120 s:\n" + "".join(self.output))

    def read_until(self, prefix: str, timeout: float) -> str:
        """Read the app's output (into ``self.output``) up to a line starting with ``prefix``; that line."""
        import select

        deadline = time.time() + timeout
        while time.time() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if not ready:
                continue
            line = self.proc.stdout.readline()
            if not line:
                break
            self.output.append(line)
            if line.startswith(prefix):
                return line
        raise AssertionError(f"no line starting with {prefix!r} in {timeout} s; got:\n{''.join(self.output)}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture(scope="session")
def app_server():
    app = AppProcess()
    yield app
    app.stop()


@pytest.fixture(scope="session")
def browser():
    pw_sync = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium): browser test skipped")
    with pw_sync.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, app_server, request):
    """A fresh browser context (its own session) on the app, ready; screenshot saved at the end."""
    ctx = browser.new_context(viewport={"width": 1600, "height": 1200})
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(app_server.url)
    pg.wait_for_selector(".vx-root[data-ready]", timeout=60_000)
    pg.js_errors = errors
    yield pg
    SHOTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(SHOTS / f"{request.node.name}.png"), full_page=True)
    ctx.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def settled(pg, cond="true", timeout=30_000):
    """Wait until the page shows the forward pass of a finished stroke, nothing pending, and the JS ``cond``;
    the result (the page's answer, the keys of Python's encode_drawing)."""
    pg.wait_for_function(f"window.vx.result && window.vx.final && !window.vx.pending && ({cond})", timeout=timeout)
    return pg.evaluate("window.vx.result")


def draw_stroke(pg, points, selector="[data-vx=pad]"):
    """Draw a polyline on the pad; points in canvas pixels (0..280)."""
    box = pg.locator(selector).bounding_box()
    sx, sy = box["width"] / 280, box["height"] / 280
    x0, y0 = points[0]
    pg.mouse.move(box["x"] + x0 * sx, box["y"] + y0 * sy)
    pg.mouse.down()
    for x, y in points[1:]:
        pg.mouse.move(box["x"] + x * sx, box["y"] + y * sy, steps=3)
    pg.mouse.up()


SEVEN = [(70, 60), (210, 60), (180, 130), (150, 200), (125, 250)]
ONE = [(140, 40), (140, 250)]
