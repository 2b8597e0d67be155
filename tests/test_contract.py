"""One contract between Python and the page: the page's decoder, its map -> latent mapping and its
preprocessing of a drawing give what Python gives, and the constants it uses are Python's."""

import base64
import json

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from explorer.app.bundle import make_bundle
from explorer.constants import REGIONS, page_constants
from explorer.preprocess import to_mnist
from explorer.registry import load_model
from explorer.wire import to_u8

from conftest import SEVEN, draw_stroke

MODELS = ["mnist-z16", "mnist-z2", "mnist-z50", "mnist-cvae-z16"]
N_POINTS = 500


def test_the_bundle_carries_the_shared_constants():
    blob = make_bundle(load_model("mnist-z2"))
    n = int.from_bytes(blob[:4], "little")
    header = json.loads(blob[4 : 4 + n])
    assert header["constants"] == page_constants()
    assert header["constants"]["regions"] == list(REGIONS)


def _positions(m, rng):
    """Random map positions over the map's box widened by 15 % each way: inside, gaps and outside."""
    lo, hi = m.atlas.xy.min(0), m.atlas.xy.max(0)
    pad = 0.15 * (hi - lo)
    if m.atlas.is_latent_map:  # reach the prior's tail too
        lo, hi = np.minimum(lo - pad, -4.0), np.maximum(hi + pad, 4.0)
    else:
        lo, hi = lo - pad, hi + pad
    return rng.uniform(lo, hi, size=(N_POINTS, 2))


@pytest.mark.browser
@pytest.mark.parametrize("name", MODELS)
def test_page_decodes_every_map_position_as_python_does(page, name):
    m = load_model(name)
    page.evaluate("(n) => window.vx.hooks.show(n)", name)
    page.wait_for_selector(f".vx-root[data-ready='{name}']", timeout=30_000)
    pts = _positions(m, np.random.default_rng(7))
    label = 3 if m.config.labels else None
    ours = page.evaluate("([p, l]) => window.vx.hooks.decodeAt(p, l)", [pts.tolist(), label])
    z, region = m.atlas.inverse(pts)
    y = None if label is None else torch.nn.functional.one_hot(torch.tensor([label]), 10).float().expand(N_POINTS, 10)
    with torch.no_grad():
        ref = to_u8(m.ckpt.vae.decode(torch.from_numpy(z), y))
    page_regions = [o["region"] for o in ours]
    assert page_regions == [REGIONS[r] for r in region]
    assert len(set(page_regions)) >= 2  # the positions reach more than one kind of place
    diff = np.abs(np.array([o["image"] for o in ours], dtype=int) - ref.astype(int))
    assert diff.max() <= 1, f"{name}: page and Python differ by {diff.max()}/255 at most"


def render_strokes(points, size=280, width=20, send=140):
    """The page's pad in Python: a polyline of round-capped width-``width`` ink on ``size`` px,
    smoothed down to ``send`` px (as the page sends it), ink 0..255."""
    img = Image.new("L", (size, size), 0)
    d = ImageDraw.Draw(img)
    d.line([tuple(p) for p in points], fill=255, width=width, joint="curve")
    r = width / 2
    for x, y in (points[0], points[-1]):
        d.ellipse([x - r, y - r, x + r, y + r], fill=255)
    return np.asarray(img.resize((send, send), Image.Resampling.BOX))


@pytest.mark.browser
def test_page_preprocesses_a_drawing_as_python_does(page):
    draw_stroke(page, SEVEN)
    page.wait_for_function("window.vx.lastEncode !== null && !window.vx.inflight", timeout=20_000)
    body = json.loads(page.evaluate("window.vx.lastEncodeBody"))
    sent = np.frombuffer(base64.b64decode(body["pixels"]), np.uint8).reshape(body["height"], body["width"])
    ours = render_strokes(SEVEN, send=body["width"])
    assert body["width"] == page_constants()["send_size"]
    assert np.abs(sent.astype(int) - ours.astype(int)).mean() < 4  # the same ink, up to anti-aliasing
    a, b = to_mnist(sent), to_mnist(ours)
    assert np.abs(a - b).mean() < 0.02 and np.abs(a - b).max() < 0.35
    server = np.frombuffer(base64.b64decode(page.evaluate("window.vx.lastEncode.input")), np.uint8).reshape(28, 28)
    assert np.abs(server / 255.0 - a).max() <= 0.5 / 255 + 1e-6  # the server's 28 x 28 is Python's of what was sent
