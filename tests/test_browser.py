"""The real app in headless Chromium: the map from its files, draw, drag, click, switch models, separate tabs,
the numbers on the page equal to Python's."""

import json
import urllib.request

import numpy as np
import pytest

from conftest import ONE, SEVEN, draw_stroke

pytestmark = pytest.mark.browser
XY = "vx.models['mnist-z16'].arrays.xy.data"  # the map positions, as the page holds them


def get_json(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.load(r)


def overlay_ink(pg):
    """Non-transparent pixels on the canvas drawn over the map (cloud, mean, prior samples)."""
    return pg.evaluate("(() => { const c = document.querySelector('[data-vx=overlay]');"
                       " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;"
                       " for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; })()")


def plot_ink(pg):
    """Coloured (not grey) pixels of the map's own canvas: the points."""
    return pg.evaluate("(() => { const c = document.querySelector('[data-vx=plot]');"
                       " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;"
                       " for (let i = 0; i < d.length; i += 4)"
                       "   if (Math.max(d[i], d[i+1], d[i+2]) - Math.min(d[i], d[i+1], d[i+2]) > 40) n++;"
                       " return n; })()")


def wait_result(pg, model=None, fresh=False):
    """The forward pass shown (of `model`); with `fresh`, a new one since :func:`mark`."""
    pg.wait_for_function(
        "([m, fresh]) => window.vx.result && window.vx.final && !window.vx.pending"
        " && (!m || window.vx.result.model === m) && (!fresh || window.vx.result !== window.__marked)",
        arg=[model, fresh], timeout=20_000)
    return pg.evaluate("window.vx.result")


def mark(pg):
    pg.evaluate("window.__marked = window.vx.result")


def test_page_loads_with_the_map_and_no_cdn(page, app_server):
    ready = [line for line in app_server.output if line.startswith("VAE explorer ready at")]
    assert ready == [f"VAE explorer ready at {app_server.url}  (model mnist-z16; Ctrl-C stops)\n"]
    assert not any("Traceback" in line for line in app_server.output)
    assert page.evaluate("window.vx.models['mnist-z16'].n") == 10_000
    assert plot_ink(page) > 5_000  # the points are drawn
    srcs = page.evaluate("Array.from(document.scripts).map(s => s.src).filter(Boolean)")
    assert srcs and all(s.startswith(app_server.url) for s in srcs), srcs  # no CDN
    assert "mnist-z16" in page.locator("[data-vx=card]").inner_text()
    assert page.locator("[data-vx=model]").input_value() == "mnist-z16"
    assert page.locator("[data-vx=legend] button").count() == 10


def test_draw_shows_posterior_samples_and_cloud(page):
    page.wait_for_selector(".vx-root[data-computes]", timeout=30_000)
    draw_stroke(page, SEVEN)
    res = wait_result(page)
    zd = len(res["loc"])
    assert zd == 16
    assert page.evaluate("vx.hooks.stats.where.at(-1)") == "page"  # a stroke's end: on the page's own thread
    # posterior panel: one marker per dimension; samples grid: K images; ELBO table with numbers
    assert page.locator("[data-vx=post] circle.vx-dot").count() == zd
    assert page.locator("[data-vx=samples] canvas").count() == res["k"] == 16
    shown, _, se = page.locator("[data-vx-num=elbo]").inner_text().split()  # "−65.72 ± 0.57": an estimate
    assert float(shown.replace("−", "-")) == pytest.approx(res["elbo"], abs=0.01)
    assert float(se) == pytest.approx(res["elbo_se"], abs=0.01)
    assert float(page.locator("[data-vx-num=loss]").inner_text()) == pytest.approx(-res["elbo"], abs=0.01)
    cloud = page.evaluate("window.vx.cloud")
    assert len(cloud["samples"]) == 16 and cloud["mean"] == pytest.approx(res["mean_xy"], abs=1e-6)
    assert overlay_ink(page) > 100  # the cloud is drawn over the map
    inked = page.evaluate("(() => { const c = document.querySelector('[data-vx=input]');"
                          " const d = c.getContext('2d').getImageData(0,0,28,28).data; let n=0;"
                          " for (let i=0;i<d.length;i+=4) if (d[i] < 128) n++; return n; })()")
    assert 20 < inked < 400
    # New ε: the same posterior, new samples, and the seed in the URL; Clear: panels and cloud empty
    mark(page)
    page.click("[data-vx=resample]")
    res2 = wait_result(page, fresh=True)
    assert res2["loc"] == res["loc"] and res2["samples_img"] != res["samples_img"] and res2["seed"] == res["seed"] + 1
    assert f"seed={res2['seed']}" in page.evaluate("location.hash")
    page.click("[data-vx=clear]")
    assert page.evaluate("window.vx.cloud") is None and overlay_ink(page) == 0
    assert page.locator("[data-vx=samples] canvas").count() == 0


def test_updates_while_drawing_without_submit(page):
    page.wait_for_selector(".vx-root[data-computes]", timeout=30_000)
    box = page.locator("[data-vx=pad]").bounding_box()
    page.mouse.move(box["x"] + 140, box["y"] + 30)
    page.mouse.down()
    for i in range(40):
        page.mouse.move(box["x"] + 140, box["y"] + 30 + i * 6)
        page.wait_for_timeout(15)
    # still holding the mouse button: the panel has already updated at least once
    page.wait_for_function("window.vx.result !== null", timeout=10_000)
    page.mouse.up()


def drag_ring(pg, steps):
    h = pg.locator("[data-vx=handle]").bounding_box()
    cx, cy = h["x"] + h["width"] / 2, h["y"] + h["height"] / 2
    pg.mouse.move(cx, cy)
    pg.mouse.down()
    images = []
    for dx, dy in steps:
        pg.mouse.move(cx + dx, cy + dy)
        images.append(pg.evaluate("Array.from(window.vx.ringImage)"))
    pg.mouse.up()
    return images


def test_drag_changes_image_and_matches_python_decoder(page, app_server):
    page.wait_for_selector(".vx-root[data-computes]", timeout=30_000)
    before = page.evaluate("Array.from(window.vx.ringImage)")
    images = drag_ring(page, [(9 * i, -5 * i) for i in range(1, 25)])[7::8]
    assert any(img != before for img in images)
    assert len({tuple(i) for i in images}) == len(images)  # it changed along the way
    x, y, img, name = page.evaluate("[vx.ring.x, vx.ring.y, Array.from(vx.ringImage), vx.model]")
    ref = get_json(f"{app_server.url}api/models/{name}/decode?x={x}&y={y}")
    assert max(abs(a - b) for a, b in zip(img, ref["image"], strict=True)) <= 1  # 1/255
    assert page.locator(".vx-region").get_attribute("data-region") == ref["region"]


def test_drag_outside_the_data_says_so(page):
    page.wait_for_selector(".vx-root[data-computes]", timeout=30_000)
    h = page.locator("[data-vx=handle]").bounding_box()
    left, top, _, _ = page.evaluate("window.vx.hooks.plotBox()")
    page.mouse.move(h["x"] + 15, h["y"] + 15)
    page.mouse.down()
    page.mouse.move(left + 8, top + 8, steps=10)  # the plot's top-left corner: no data there
    page.mouse.up()
    assert page.locator(".vx-region").get_attribute("data-region") == "outside"
    assert "outside the data" in page.locator("[data-vx=dragtxt]").inner_text()


def test_hover_and_click_a_point_show_original_and_reconstruction(page):
    page.wait_for_selector(".vx-root[data-computes]", timeout=30_000)
    i = 42
    x, y = page.evaluate(f"[{XY}[{2 * i}], {XY}[{2 * i + 1}]]")
    target = page.evaluate("([x, y]) => window.vx.hooks.toScreen(x, y)", [x, y])
    j = page.evaluate("([px, py]) => { const r = document.querySelector('[data-vx=plot]').getBoundingClientRect();"
                      " return window.vx.hooks.nearestAt(px - r.left, py - r.top); }", target)
    page.mouse.move(target[0] + 40, target[1] + 40)
    page.mouse.move(target[0], target[1], steps=4)  # as a hand: the pointer rests on the point (it shows), then clicks
    page.wait_for_function(f"document.querySelector('[data-vx=tiptxt]').textContent.startsWith('#{j},')",
                           timeout=10_000)
    assert page.locator("[data-vx=tip]").is_visible()
    page.mouse.down()
    page.mouse.up()
    page.wait_for_function("document.querySelector('[data-vx=digittxt]').textContent.includes('ring moved')",
                           timeout=10_000)
    assert f"test digit #{j}," in page.locator("[data-vx=digittxt]").inner_text()
    dark = page.evaluate("['orig','recon'].map(n => { const d = document.querySelector(`[data-vx=${n}]`)"
                         ".getContext('2d').getImageData(0,0,28,28).data; let k=0;"
                         " for (let j=0;j<d.length;j+=4) if (d[j] < 128) k++; return k; })")
    assert all(k > 15 for k in dark)
    ring = page.evaluate("[vx.ring.x, vx.ring.y]")
    xy = page.evaluate(f"[{XY}[{2 * j}], {XY}[{2 * j + 1}]]")
    assert ring == pytest.approx(xy, abs=1e-6)


def test_the_map_pans_zooms_and_hides_a_digit(page):
    page.wait_for_selector(".vx-root[data-ready]", timeout=30_000)
    v0 = page.evaluate("window.vx.hooks.view()")
    left, top, w, hgt = page.evaluate("window.vx.hooks.plotBox()")
    page.mouse.move(left + w / 2, top + hgt / 2)
    page.mouse.wheel(0, -400)  # zoom in about the pointer
    page.wait_for_timeout(100)
    v1 = page.evaluate("window.vx.hooks.view()")
    assert (v1["x1"] - v1["x0"]) < 0.8 * (v0["x1"] - v0["x0"])
    page.mouse.move(left + w / 3, top + hgt / 3)
    page.mouse.down()
    page.mouse.move(left + w / 3 + 120, top + hgt / 3 + 60, steps=5)
    page.mouse.up()
    v2 = page.evaluate("window.vx.hooks.view()")
    assert v2["x0"] < v1["x0"] and v2["y0"] > v1["y0"]  # dragged right and down: the view moved left and up
    page.mouse.dblclick(left + w / 2, top + hgt / 2)
    page.wait_for_timeout(100)
    assert page.evaluate("window.vx.hooks.view()") == pytest.approx(v0)
    ink = plot_ink(page)
    page.click("[data-vx=legend] [data-digit='1']")
    page.wait_for_timeout(100)
    assert plot_ink(page) < ink and page.locator("[data-digit='1']").get_attribute("aria-pressed") == "false"


def test_switch_checkpoint_keeps_the_drawing(page):
    page.wait_for_selector(".vx-root[data-computes]", timeout=30_000)
    draw_stroke(page, ONE)
    wait_result(page, "mnist-z16")
    page.select_option("[data-vx=model]", "mnist-z2")
    page.wait_for_selector(".vx-root[data-computes=mnist-z2]", timeout=30_000)
    res = wait_result(page, "mnist-z2")
    assert len(res["loc"]) == 2
    assert page.locator("[data-vx=post] circle.vx-dot").count() == 2
    # for a 2-D latent the map is the latent space: the mean's map position is the guide mean itself
    assert res["mean_xy"] == pytest.approx(res["loc"], abs=1e-3)
    assert "model=mnist-z2" in page.evaluate("location.hash")
    page.wait_for_function("document.querySelector('[data-vx=card]').innerText.includes('mnist-z2')", timeout=20_000)


def test_two_tabs_keep_separate_state(browser, app_server):
    ctxs = [browser.new_context(viewport={"width": 1400, "height": 1100}) for _ in range(2)]
    pages = [c.new_page() for c in ctxs]
    for p in pages:
        p.goto(app_server.url)
        p.wait_for_selector(".vx-root[data-computes]", timeout=60_000)
    draw_stroke(pages[0], SEVEN)
    a = wait_result(pages[0])
    draw_stroke(pages[1], ONE)
    b = wait_result(pages[1])
    assert a["input"] != b["input"]
    pages[0].click("[data-vx=clear]")
    assert pages[0].evaluate("window.vx.result") is None
    assert pages[1].evaluate("window.vx.result.input") == b["input"]  # untouched by the other user
    assert pages[1].locator("[data-vx=samples] canvas").count() == 16
    for c in ctxs:
        c.close()


def test_lens_numbers_on_the_page_match_python(page):
    """Draw, read the five steps' numbers from the page, recompute in Python for the same drawing and seed."""
    from explorer.store.registry import read_served_model
    from explorer.views.inference import encode_drawing, log_px_drawing

    page.wait_for_selector(".vx-root[data-computes]", timeout=30_000)
    draw_stroke(page, SEVEN)
    res = wait_result(page)
    page.wait_for_function("window.vx.logpx !== null", timeout=30_000)
    d = page.evaluate("({w: vx.drawing.width, h: vx.drawing.height, p: Array.from(vx.drawing.pixels)})")
    canvas = np.array(d["p"], np.uint8).reshape(d["h"], d["w"])
    m = read_served_model("mnist-z16")
    ref = encode_drawing(m, canvas, k=res["k"], seed=res["seed"])

    def num(name):
        return float(page.locator(f"[data-vx-num={name}]").first.inner_text().split()[0].replace("−", "-"))

    assert num("recon") == pytest.approx(ref["recon"], abs=0.01)
    assert num("kl") == pytest.approx(-ref["kl_mc"], abs=0.01)  # Trace_ELBO's Monte Carlo KL
    assert num("klmc") == pytest.approx(ref["kl_mc"], abs=0.01)
    assert num("elbo") == pytest.approx(ref["elbo"], abs=0.01)
    assert num("loss") == pytest.approx(-ref["elbo"], abs=0.01)
    assert num("kl2") == pytest.approx(ref["kl"], abs=0.01)
    assert num("active") == ref["active_dims"]
    assert num("gradloc") == pytest.approx(ref["grad_loc_norm"], rel=0.01, abs=0.01)
    logpx = log_px_drawing(m, canvas, k=1000, seed=res["seed"])["log_px"]
    assert num("logpx") == pytest.approx(logpx, abs=0.01)
    assert num("gap") == pytest.approx(logpx - ref["elbo"], abs=0.02)
    assert page.locator("[data-vx=step3] svg rect.vx-kl").count() == 16
    assert res["elbo"] == pytest.approx(ref["elbo"], abs=1e-4)


def test_prior_toggle_overlays_samples_as_python_draws_them(page):
    from explorer.store.registry import read_served_model
    from explorer.views.decoding import prior_samples

    page.wait_for_selector(".vx-root[data-computes]", timeout=30_000)
    page.check("[data-vx=prior]")
    page.wait_for_function("window.vx.hooks.lastPrior", timeout=10_000)
    assert len(page.evaluate("window.vx.priorPts")) == 16 and overlay_ink(page) > 100
    assert page.locator("[data-vx=priorimgs] canvas").count() == 16
    ours = page.evaluate("window.vx.hooks.lastPrior")
    ref = prior_samples(read_served_model("mnist-z16"), 16, seed=ours["seed"])
    np.testing.assert_array_equal(np.array(ours["z"], np.float32), np.array(ref["z"], np.float32).ravel())
    np.testing.assert_allclose(np.array(ours["xy"]), np.array(ref["xy"]), atol=1e-4)
    page.uncheck("[data-vx=prior]")
    assert page.evaluate("window.vx.priorPts") is None and overlay_ink(page) == 0


def test_label_aware_model_in_the_page(page, app_server):
    page.select_option("[data-vx=model]", "mnist-cvae-z16")
    page.wait_for_selector(".vx-root[data-computes=mnist-cvae-z16]", timeout=30_000)
    assert page.locator("[data-vx=withlabel]").is_visible() and page.locator("[data-vx=labelpick]").is_visible()
    assert not page.locator("[data-vx=nolabel]").is_visible()
    draw_stroke(page, SEVEN)
    res = wait_result(page, "mnist-cvae-z16")
    assert len(res["label_probs"]) == 10
    assert page.evaluate("vx.hooks.stats.where.at(-1)") in ("split", "worker")  # p(y|x): on the computing threads
    assert page.locator("[data-vx=labelprobs] rect").count() == 10
    assert page.locator("[data-vx=styles] canvas").count() == 10
    assert int(page.locator("[data-vx-num=label]").inner_text()) == res["label"]
    assert float(page.locator("[data-vx-num=logpy]").inner_text().replace("−", "-")) == pytest.approx(-2.30, abs=0.01)
    # the class picker decodes the ring's z as the chosen digit, equal to the Python decoder
    page.select_option("[data-vx=label]", "3")
    x, y, img = page.evaluate("[vx.ring.x, vx.ring.y, Array.from(vx.ringImage)]")
    ref = get_json(f"{app_server.url}api/models/mnist-cvae-z16/decode?x={x}&y={y}&label=3")
    assert max(abs(a - b) for a, b in zip(img, ref["image"], strict=True)) <= 1
    page.select_option("[data-vx=label]", "8")
    assert page.evaluate("Array.from(vx.ringImage)") != img
    # the plain models hide the label UI again
    page.select_option("[data-vx=model]", "mnist-z16")
    page.wait_for_selector(".vx-root[data-ready=mnist-z16]", timeout=30_000)
    assert not page.locator("[data-vx=withlabel]").is_visible() and page.locator("[data-vx=nolabel]").is_visible()
