"""Exploration tools: slerp, traversal grids and the map CSV (unit), and each tool in the browser."""

import base64
import csv
import io

import numpy as np
import pytest

from explorer.store.registry import read_served_model
from explorer.views.tools import interpolate, lerp, map_csv, slerp, traversal_grid, traverse

from conftest import ONE, SEVEN, draw_stroke, settled


@pytest.fixture(scope="module")
def z16():
    return read_served_model("mnist-z16")


def test_slerp_endpoints_norms_and_angles():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=16), rng.normal(size=16)
    t = np.linspace(0, 1, 11)
    p = slerp(a, b, t)
    np.testing.assert_allclose(p[0], a, atol=1e-9)
    np.testing.assert_allclose(p[-1], b, atol=1e-9)
    # norms interpolate linearly; the angle to a grows in equal steps
    np.testing.assert_allclose(np.linalg.norm(p, axis=1), (1 - t) * np.linalg.norm(a) + t * np.linalg.norm(b))
    ang = np.arccos(np.clip((p / np.linalg.norm(p, axis=1, keepdims=True)) @ (a / np.linalg.norm(a)), -1, 1))
    np.testing.assert_allclose(np.diff(ang), np.diff(ang)[0], atol=1e-9)
    # parallel or zero vectors fall back to the straight line
    np.testing.assert_allclose(slerp(a, 2 * a, t), lerp(a, 2 * a, t), atol=1e-9)
    np.testing.assert_allclose(slerp(np.zeros(16), b, t), lerp(np.zeros(16), b, t))


def test_traversal_grid_sets_one_dimension_per_row():
    z = np.arange(5, dtype=float)
    g = traversal_grid(z, np.array([3, 0]), steps=7, span=3)
    assert g.shape == (2, 7, 5)
    np.testing.assert_allclose(g[0, :, 3], np.linspace(-3, 3, 7))
    np.testing.assert_allclose(g[1, :, 0], np.linspace(-3, 3, 7))
    np.testing.assert_allclose(np.delete(g[0], 3, axis=1), np.tile(np.delete(z, 3), (7, 1)))


def test_traverse_orders_rows_by_kl_and_decodes(z16):
    kl = list(np.linspace(0, 1, 16))
    res = traverse(z16, [0.0] * 16, steps=9, span=3, rows=16, kl=kl)
    assert res["dims"] == list(range(15, -1, -1))
    default = traverse(z16, [0.0] * 16)
    assert default["dims"][0] == int(np.argmax(z16.atlas.kl_mean))
    import base64

    assert len(base64.b64decode(res["images"])) == 16 * 9 * 784
    with pytest.raises(ValueError):
        traverse(z16, [0.0] * 3)
    with pytest.raises(ValueError):
        traverse(z16, [float("nan")] * 16)


def test_interpolate_paths_start_and_end_at_a_and_b(z16):
    a, b = z16.atlas.loc[0].tolist(), z16.atlas.loc[1].tolist()
    res = interpolate(z16, a, b, n=10)
    for kind in ("linear", "slerp"):
        assert np.allclose(res[kind]["z"][0], a, atol=1e-4) and np.allclose(res[kind]["z"][-1], b, atol=1e-4)
        assert len(res[kind]["xy"]) == 10
    np.testing.assert_allclose(res["linear"]["xy"][0], z16.atlas.xy[0], atol=1e-2)


def test_map_csv_content(z16):
    text = map_csv(z16)
    lines = text.splitlines()
    assert lines[0].startswith("# VAE explorer map of mnist-z16")
    assert "seed 0" in lines[0] and "CC BY-SA 3.0" in lines[0]
    rows = list(csv.reader(io.StringIO("\n".join(lines[1:]))))
    assert rows[0][:4] == ["index", "label", "x", "y"] and len(rows[0]) == 4 + 2 * 16
    assert len(rows) == 10_001
    r5 = rows[6]
    assert int(r5[0]) == 5 and int(r5[1]) == int(z16.atlas.labels[5])
    assert float(r5[2]) == pytest.approx(float(z16.atlas.xy[5, 0]), abs=1e-4)
    assert float(r5[4]) == pytest.approx(float(z16.atlas.loc[5, 0]), abs=1e-4)


# ---------- in the browser ----------

@pytest.mark.browser
def test_interpolate_in_the_page(page):
    page.wait_for_selector(".vx-root[data-computes]", timeout=30_000)
    draw_stroke(page, SEVEN)
    settled(page)
    page.click("[data-vx=setA-draw]")
    page.click("[data-vx=setB-ring]")
    page.wait_for_function("window.vx.hooks.lastInterp", timeout=20_000)
    assert page.locator("[data-vx=lin] canvas").count() == 10
    assert page.locator("[data-vx=slerp] canvas").count() == 10
    assert len(page.evaluate("window.vx.paths")) == 2
    # the strips are Python's interpolation between the same two points
    a, b = page.evaluate("window.vx.result.loc"), page.evaluate("Array.from(window.vx.ringZ)")
    ref = interpolate(read_served_model("mnist-z16"), a, b, 10)
    ours = page.evaluate("window.vx.hooks.lastInterp")
    for kind, key in (("linear", "linear"), ("slerp", "slerp")):
        diff = np.abs(np.frombuffer(base64.b64decode(ref[kind]["images"]), np.uint8).astype(int) - np.array(ours[key]))
        assert diff.max() <= 1, kind
    np.testing.assert_allclose(np.array(ours["xy"][0]), np.array(ref["linear"]["xy"]), atol=1e-3)
    with page.expect_download() as dl:
        page.click("[data-vx=interp-png]")
    path = dl.value.path()
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000


@pytest.mark.browser
def test_traverse_in_the_page(page):
    page.wait_for_selector(".vx-root[data-computes]", timeout=30_000)
    draw_stroke(page, ONE)
    res = settled(page)
    page.click("[data-vx=trav-draw]")
    page.wait_for_function("window.vx.hooks.lastTraverse", timeout=20_000)
    assert page.locator("[data-vx=trav] canvas").count() == 16 * 9
    ours = page.evaluate("window.vx.hooks.lastTraverse")
    kl = res["kl_dims"]
    assert [kl[d] for d in ours["dims"]] == sorted(kl, reverse=True)
    ref = traverse(read_served_model("mnist-z16"), res["loc"], kl=kl)
    assert ref["dims"] == ours["dims"] and ref["values"] == pytest.approx(ours["values"])
    diff = np.abs(np.frombuffer(base64.b64decode(ref["images"]), np.uint8).astype(int) - np.array(ours["images"]))
    assert diff.max() <= 1


@pytest.mark.browser
def test_export_csv_and_samples_png(page):
    with page.expect_download() as dl:
        page.click("[data-vx=csv]")
    text = dl.value.path().read_text()
    rows = list(csv.reader(io.StringIO("\n".join(text.splitlines()[1:]))))
    assert len(rows) == 10_001 and rows[0][:4] == ["index", "label", "x", "y"]
    page.wait_for_selector(".vx-root[data-computes]", timeout=30_000)
    draw_stroke(page, SEVEN)
    settled(page)
    with page.expect_download() as dl:
        page.click("[data-vx=samples-png]")
    assert "seed" in dl.value.suggested_filename
    assert dl.value.path().read_bytes()[:4] == b"\x89PNG"


@pytest.mark.browser
def test_every_image_grid_saves_a_png(page):
    page.wait_for_selector(".vx-root[data-computes]", timeout=30_000)
    page.check("[data-vx=prior]")
    page.wait_for_function("window.vx.hooks.lastPrior", timeout=10_000)
    with page.expect_download() as dl:
        page.click("[data-vx=prior-png]")
    assert "seed" in dl.value.suggested_filename and dl.value.path().read_bytes()[:4] == b"\x89PNG"
    page.click("[data-vx=trav-ring]")
    page.wait_for_function("window.vx.hooks.lastTraverse", timeout=20_000)
    with page.expect_download() as dl:
        page.click("[data-vx=trav-png]")
    assert dl.value.path().read_bytes()[:4] == b"\x89PNG"


@pytest.mark.browser
def test_models_side_by_side(page):
    page.wait_for_selector("[data-vx=models-table] tr >> nth=3", timeout=20_000)
    table = page.locator("[data-vx=models-table]").inner_text()
    for name in ("mnist-z2", "mnist-z16", "mnist-z50"):
        assert name in table
    page.wait_for_selector(".vx-root[data-computes]", timeout=30_000)
    draw_stroke(page, SEVEN)
    mine = settled(page)
    page.select_option("[data-vx=compare]", "mnist-z50")
    page.wait_for_function("window.vx.hooks.lastCompare && window.vx.hooks.lastCompare.model === 'mnist-z50'",
                           timeout=30_000)
    a = float(page.locator("[data-vx-num=cmp-elbo-a]").inner_text().replace("−", "-"))
    b = float(page.locator("[data-vx-num=cmp-elbo-b]").inner_text().replace("−", "-"))
    other = page.evaluate("window.vx.hooks.lastCompare")
    assert other["input"] == mine["input"]  # both sides are of one drawing
    assert a == pytest.approx(mine["elbo"], abs=0.01) and b == pytest.approx(other["elbo"], abs=0.01)
    d = page.evaluate("({w: vx.drawing.width, h: vx.drawing.height, p: Array.from(vx.drawing.pixels)})")
    from explorer.views.inference import encode_drawing

    ref = encode_drawing(read_served_model("mnist-z50"), np.array(d["p"], np.uint8).reshape(d["h"], d["w"]),
                         mine["k"], mine["seed"])
    assert other["elbo"] == pytest.approx(ref["elbo"], abs=1e-3)


@pytest.mark.browser
def test_presenter_mode_shows_map_and_one_panel(page):
    count = ("Array.from(document.querySelectorAll('[data-slide]'))"
             ".filter(c => c.getBoundingClientRect().height > 0).length")
    page.click("[data-vx=present]")
    assert page.evaluate(count) == 1
    assert page.locator("[data-vx=plot]").is_visible()
    size = page.evaluate("parseFloat(getComputedStyle(document.querySelector('.vx-root')).fontSize)")
    assert size >= 20
    first = page.locator("[data-vx=panelname]").inner_text()
    page.click("[data-vx=nextpanel]")
    assert page.locator("[data-vx=panelname]").inner_text() != first
    page.click("[data-vx=present]")
    assert page.evaluate(count) > 5
