"""One contract between Python and the page: the page computes a drawing's forward pass itself, and Python
(``explorer.views.inference.encode_drawing``, Pyro's numbers) is its reference. The page's generator, its
preprocessing, its networks, its log p(x) and its map <-> latent mappings give what Python gives, at many
points, for every shipped model; "check with Pyro" agrees with the page; the constants are Python's."""

import base64
import hashlib
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import explorer
from explorer.app.bundle import build_file, read_container
from explorer.constants import MESSAGES, REGIONS, RNG_STREAMS, page_constants
from explorer.store.registry import read_served_model
from explorer.vae.rng import normals, philox4x32, uniforms
from explorer.views.inference import encode_drawing, log_px_drawing
from explorer.views.preprocess import BlankDrawingError, to_mnist
from explorer.views.wire import to_u8

from conftest import assert_same_answer, benchmark_module

MODELS = ["mnist-z16", "mnist-z2", "mnist-z50", "mnist-cvae-z16", "mnist-z2-beta4"]
N_POINTS = 500
N_DRAWINGS = 200


def test_the_map_file_carries_the_shared_constants():
    header, arrays = read_container(build_file(read_served_model("mnist-z2"), "map"))
    assert header["constants"] == page_constants()
    assert header["constants"]["regions"] == list(REGIONS)
    assert arrays["xy"].shape == (10_000, 2)


def test_philox_matches_its_published_answers():
    """Random123's known-answer vectors for Philox4x32-10."""
    vectors = [([0, 0, 0, 0], [0, 0], "6627e8d5 e169c58d bc57ac4c 9b00dbd8"),
               ([0xFFFFFFFF] * 4, [0xFFFFFFFF] * 2, "408f276d 41c83b0e a20bc7c6 6d5451fd"),
               ([0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344], [0xA4093822, 0x299F31D0],
                "d16cfe09 94fdcceb 5001e420 24126ea1")]
    for ctr, key, expected in vectors:
        words = philox4x32(*[np.array([c], np.uint64) for c in ctr], *key)
        assert " ".join(f"{int(w[0]):08x}" for w in words) == expected


def test_the_generators_normals_are_normal():
    z = normals(3, RNG_STREAMS["eps"], 200_000)
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01 and abs((z**3).mean()) < 0.03
    assert abs(np.mean(z > 1.959964) - 0.025) < 0.002  # the tails too
    u = uniforms(3, RNG_STREAMS["eps"], 100_000)
    assert u.min() > 0 and u.max() < 1 and abs(u.mean() - 0.5) < 0.005


@pytest.mark.browser
def test_the_pages_generator_is_pythons_bit_for_bit(page):
    got = page.evaluate("(() => { const r = window.vx.hooks.rng;"
                        " return { n: Array.from(r.normals(12345, 1, 10000, 7)),"
                        " u: Array.from(r.uniforms(2 ** 40 + 5, 3, 10000)),"
                        " i: Array.from(r.integers(9, 4, 10000, 16)) }; })()")
    assert np.array_equal(np.array(got["n"]).view(np.int64), normals(12345, 1, 10000, 7).view(np.int64))
    assert np.array_equal(np.array(got["u"]).view(np.int64), uniforms(2**40 + 5, 3, 10000).view(np.int64))
    ref_ints = np.floor(uniforms(9, 4, 10000) * 16).astype(int)
    assert got["i"] == ref_ints.tolist()


def _positions(m, rng):
    """Random map positions over the map's box widened by 15 % each way: inside, gaps and outside."""
    lo, hi = m.atlas.xy.min(0), m.atlas.xy.max(0)
    pad = 0.15 * (hi - lo)
    if m.atlas.is_latent_map:  # reach the prior's tail too
        lo, hi = np.minimum(lo - pad, -4.0), np.maximum(hi + pad, 4.0)
    else:
        lo, hi = lo - pad, hi + pad
    return rng.uniform(lo, hi, size=(N_POINTS, 2))


def in_page(page, fn: str, arg):
    """The page's async function `fn` applied to `arg`, its answer sent back as one JSON text (NaN as None):
    hundreds of answers of thousands of numbers each, which Playwright would otherwise check one by one."""
    return json.loads(page.evaluate(f"async (arg) => JSON.stringify(await ({fn})(arg))", arg))


def show(page, name):
    page.evaluate("(n) => window.vx.hooks.show(n)", name)
    page.wait_for_selector(f".vx-root[data-computes='{name}']", timeout=60_000)


@pytest.mark.browser
@pytest.mark.parametrize("name", MODELS)
def test_page_decodes_every_map_position_as_python_does(page, name):
    m = read_served_model(name)
    show(page, name)
    pts = _positions(m, np.random.default_rng(7))
    label = 3 if m.config.labels else None
    ours = in_page(page, "([p, l]) => window.vx.hooks.decodeAt(p, l)", [pts.tolist(), label])
    z, region = m.atlas.inverse(pts)
    y = None if label is None else torch.nn.functional.one_hot(torch.tensor([label]), 10).float().expand(N_POINTS, 10)
    with torch.no_grad():
        ref = to_u8(m.ckpt.vae.decode(torch.from_numpy(z), y))
    page_regions = [o["region"] for o in ours]
    assert page_regions == [REGIONS[r] for r in region]
    assert len(set(page_regions)) >= 2  # the positions reach more than one kind of place
    diff = np.abs(np.array([o["image"] for o in ours], dtype=int) - ref.astype(int))
    assert diff.max() <= 1, f"{name}: page and Python differ by {diff.max()}/255 at most"


def drawings(mnist) -> list[np.ndarray]:
    """The drawings of the contract: MNIST test digits as the pad would hold them (140 x 140 ink), the load
    tool's random strokes, and odd ones: a dot, a full canvas, thin lines, a faint scribble, a blank pad."""
    out = []
    if mnist is not None:
        imgs = (mnist.images[:150].reshape(-1, 28, 28).numpy() * 255).astype(np.uint8)
        out += [np.asarray(Image.fromarray(a).resize((140, 140), Image.Resampling.BILINEAR)) for a in imgs]
    strokes = benchmark_module("hall").strokes(40)
    out += [np.frombuffer(base64.b64decode(s), np.uint8).reshape(140, 140) for s in strokes]
    dot = np.zeros((140, 140), np.uint8)
    dot[69:72, 69:72] = 255
    vline, hline, faint = (np.zeros((140, 140), np.uint8) for _ in range(3))
    vline[10:130, 70] = 255
    hline[40, 5:135] = 200
    faint[30:110, 30:110] = np.random.default_rng(1).integers(0, 60, (80, 80))
    out += [dot, np.full((140, 140), 255, np.uint8), vline, hline, faint, np.zeros((140, 140), np.uint8)]
    rng = np.random.default_rng(5)
    while len(out) < N_DRAWINGS + 1:  # without MNIST: more random strokes
        a = np.zeros((140, 140), np.uint8)
        for _ in range(3):
            r, c = rng.integers(15, 125, 2)
            a[max(0, r - 6) : r + 6, max(0, c - 30) : c + 30] = rng.integers(120, 256)
        out.append(a)
    return out


@pytest.fixture(scope="module")
def contract_drawings(data_dir):
    from explorer.vae.data import DataMissingError, load_mnist

    try:
        mnist = load_mnist(False, data_dir, download=False)
    except DataMissingError:
        mnist = None
    return drawings(mnist)


def as_json(a: np.ndarray) -> dict:
    """A drawing as the page's hooks and the server's routes take it: width, height, base64 ink."""
    return {"width": int(a.shape[1]), "height": int(a.shape[0]), "pixels": base64.b64encode(a.tobytes()).decode()}


def options(i: int, labels: int) -> dict:
    ks = [16, 1, 2, 4, 8, 32, 64, 16]
    return {"k": ks[i % len(ks)], "seed": 7 * i + 1, "estimator": ("trace", "meanfield")[i % 2],
            "label": (i % 10 if labels and i % 3 == 0 else None)}


def assert_forward_is_pythons(page, name, picks, whole: bool = False) -> int:
    """The page's answers for `picks` (drawings) equal encode_drawing's with the same seeds: numbers within
    1e-4 relative or 1e-3 nats, images within one grey level, eps and the labels exactly; a drawing that
    cannot be encoded gets the same message. Each is computed where a stroke's end is (the page's own
    thread; both workers for a conditional model), or with `whole` on one worker, as a live update is.
    How many answers were compared."""
    m = read_served_model(name)
    items = [{"drawing": as_json(a), "opts": options(i, m.config.labels), "whole": whole} for i, a in enumerate(picks)]
    ours = in_page(page, "(items) => window.vx.hooks.forwardAll(items)", items)
    assert len(ours) == len(items)
    compared = 0
    for a, item, got in zip(picks, items, ours, strict=True):
        o = item["opts"]
        try:
            ref = encode_drawing(m, a, o["k"], o["seed"], o["label"], o["estimator"])
        except BlankDrawingError as exc:
            assert got == {"error": "blank", "message": str(exc)} and str(exc) == MESSAGES["blank"]
            continue
        got = {k: (float("nan") if v is None and isinstance(ref.get(k), float) else v) for k, v in got.items()}
        assert_same_answer(got, ref, nats=1e-3, rtol=1e-4)
        compared += 1
    return compared


@pytest.mark.browser
@pytest.mark.parametrize("name", MODELS)
def test_the_pages_forward_pass_is_pythons_on_hundreds_of_drawings(page, name, contract_drawings):
    """Every field of the page's answer equals encode_drawing's, computed in the WebAssembly kernels."""
    show(page, name)
    assert page.evaluate("window.vx.hooks.useKernels(true)") is True  # this Chromium runs WebAssembly SIMD
    assert len(contract_drawings) >= N_DRAWINGS
    assert assert_forward_is_pythons(page, name, contract_drawings) >= N_DRAWINGS


def test_the_shipped_kernels_are_assembled_from_their_source():
    """kernels.js carries the WebAssembly of kernels.wat as it is now (build.sh writes both lines)."""
    wasm_dir = Path(explorer.__file__).parent / "app" / "wasm"
    js = (wasm_dir.parent / "static" / "js" / "kernels.js").read_text()
    sha = re.search(r'SOURCE_SHA256 = "([0-9a-f]{64})"', js).group(1)
    assert sha == hashlib.sha256((wasm_dir / "kernels.wat").read_bytes()).hexdigest(), (
        "kernels.wat changed since kernels.js was built: run explorer/app/wasm/build.sh"
    )
    module = base64.b64decode(re.search(r'WASM_BASE64 = "([A-Za-z0-9+/=]+)"', js).group(1))
    assert module[:8] == b"\0asm\x01\0\0\0"  # a WebAssembly module, version 1


@pytest.mark.browser
@pytest.mark.parametrize("name", ["mnist-z16", "mnist-cvae-z16"])
def test_the_plain_javascript_path_is_pythons_too(page, name, contract_drawings):
    """Where a browser cannot run the kernels, nn.js and geometry.js compute in JavaScript: the same answers
    (the forward pass here and in the workers, and the drag's decoder on the main thread)."""
    show(page, name)
    assert page.evaluate("window.vx.hooks.useKernels(false)") is False
    assert assert_forward_is_pythons(page, name, contract_drawings[::5]) >= N_DRAWINGS // 5
    m = read_served_model(name)
    pts = _positions(m, np.random.default_rng(11))[:100]
    label = 3 if m.config.labels else None
    ours = in_page(page, "([p, l]) => window.vx.hooks.decodeAt(p, l)", [pts.tolist(), label])
    z, _ = m.atlas.inverse(pts)
    y = None if label is None else torch.nn.functional.one_hot(torch.tensor([label]), 10).float().expand(len(pts), 10)
    with torch.no_grad():
        ref = to_u8(m.ckpt.vae.decode(torch.from_numpy(z), y))
    assert np.abs(np.array([o["image"] for o in ours], dtype=int) - ref.astype(int)).max() <= 1


@pytest.mark.browser
@pytest.mark.parametrize("name", MODELS)
def test_one_thread_computing_the_whole_forward_pass_gives_pythons_answers_too(page, name, contract_drawings):
    """A live update (and a conditional model's stroke end while the second worker is busy) runs the forward
    pass whole on one worker thread: the same answers as Python's."""
    show(page, name)
    assert page.evaluate("window.vx.hooks.useKernels(true)") is True
    assert assert_forward_is_pythons(page, name, contract_drawings[::10], whole=True) >= N_DRAWINGS // 10


@pytest.mark.browser
@pytest.mark.parametrize("name", MODELS)
def test_the_pages_preprocessing_and_log_px_are_pythons(page, name, contract_drawings):
    m = read_served_model(name)
    show(page, name)
    picks = [a for a in contract_drawings[::25] if a.any()]
    items = [as_json(a) for a in picks]
    xs = page.evaluate("(items) => items.map((d) => window.vx.hooks.toMnist(d))", items)
    for a, x in zip(picks, xs, strict=True):
        np.testing.assert_array_equal(np.array(x, np.float32), to_mnist(a).ravel())  # float32, bit for bit
    label = 4 if m.config.labels else None
    lps = page.evaluate("async ([items, l]) => { const out = [];"  # one after the other: a newer one cancels an older
                        " for (const [i, d] of items.slice(0, 3).entries())"
                        "   out.push(await window.vx.hooks.logpx(d, {k: 1000, seed: i + 2, label: l})); return out; }",
                        [items, label])
    for i, (a, lp) in enumerate(zip(picks[:3], lps, strict=True)):
        ref = log_px_drawing(m, a, 1000, i + 2, label=label)
        assert lp["log_px"] == pytest.approx(ref["log_px"], abs=1e-3)
        assert lp["log_px_se"] == pytest.approx(ref["log_px_se"], rel=1e-3, abs=1e-4)
        assert lp["ess"] == pytest.approx(ref["ess"], rel=1e-3)


@pytest.mark.browser
@pytest.mark.parametrize("name", [*MODELS, "mnist-z2-ae"])
def test_check_with_pyro_agrees_with_the_page(page, name):
    """The page's "check with Pyro": the server runs Pyro's ELBO on the drawing at the page's z; its figures
    equal the page's within float32 rounding, for both estimators."""
    from conftest import SEVEN, draw_stroke

    show(page, name)
    draw_stroke(page, SEVEN)
    for estimator in ("trace", "meanfield"):
        page.select_option("[data-vx=estimator]", estimator)
        page.wait_for_function(f"vx.result && vx.final && !vx.pending && vx.result.estimator === '{estimator}'"
                               f" && vx.result.model === '{name}'", timeout=20_000)
        page.evaluate("window.vx.hooks.lastCheck = null")
        page.click("[data-vx=check]")
        page.wait_for_function("window.vx.hooks.lastCheck", timeout=30_000)
        check = page.evaluate("window.vx.hooks.lastCheck")
        res, py = check["page"], check["py"]
        assert py["k"] == res["k"] and py["estimator"] == estimator
        assert py["elbo"] == pytest.approx(res["elbo"], abs=1e-3)
        # Pyro's loss is minus the objective: the ELBO for a VAE, reconstruction - w KL for a KL weighted w
        np.testing.assert_allclose(-np.array(py["losses"]), res["objective_samples"], atol=1e-3, rtol=1e-5)
        assert py["objective"] == pytest.approx(res["objective"], abs=1e-3)
        if res["kl_weight"] != 1:
            assert abs(res["objective"] - res["elbo"]) > 0.1  # the weighted loss is not -ELBO
            w = 0.0 if name.endswith("-ae") else 4.0
            kl = res["kl_mc"] if estimator == "trace" else res["kl"]
            assert res["objective"] == pytest.approx(res["recon"] - w * kl, abs=1e-6)
        assert py["recon"] == pytest.approx(res["recon"], abs=1e-3)
        assert py["kl_mc"] == pytest.approx(res["kl_mc"], abs=1e-3)
        assert py["kl"] == pytest.approx(res["kl"], abs=1e-3)
        assert list(base64.b64decode(py["input"])) == res["input"]
        gap = float(page.locator("[data-vx-num=gap-max]").inner_text().replace("−", "-"))
        assert 0 <= gap < 1e-3 and math.isfinite(gap)
    assert json.loads(json.dumps(py))["pyro"]
