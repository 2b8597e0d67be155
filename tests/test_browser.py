"""The real app in headless Chromium: draw, drag, click, switch models, separate sessions."""

import json
import urllib.request

import pytest

from conftest import ONE, SEVEN, draw_stroke

pytestmark = pytest.mark.browser


def get_json(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.load(r)


def overlay_ink(pg):
    """Non-transparent pixels on the canvas drawn over the map (cloud, mean, prior samples)."""
    return pg.evaluate("(() => { const c = document.querySelector('[data-vx=overlay]');"
                       " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;"
                       " for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; })()")


def wait_encoded(pg, model=None, seq_before=0):
    pg.wait_for_function(
        "([m, s]) => window.vx.lastEncode && window.vx.seq > s && !window.vx.inflight"
        " && (!m || window.vx.lastEncode.model === m)", arg=[model, seq_before], timeout=20_000)
    return pg.evaluate("window.vx.lastEncode")


def test_page_loads_offline_with_the_map(page, app_server):
    ready = [line for line in app_server.output if line.startswith("VAE explorer ready at")]
    assert ready == [f"VAE explorer ready at {app_server.url}  (model mnist-z16; Ctrl-C stops)\n"]
    assert not any("Traceback" in line for line in app_server.output)
    n = page.evaluate("document.querySelector('[data-vx=map]').data.slice(0, 10).reduce((a, t) => a + t.x.length, 0)")
    assert n == 10_000
    assert page.evaluate("typeof Plotly") == "object"
    srcs = page.evaluate("Array.from(document.scripts).map(s => s.src).filter(Boolean)")
    assert all(s.startswith(app_server.url) for s in srcs), srcs  # no CDN
    assert "mnist-z16" in page.locator("[data-vx=card]").inner_text()
    assert page.locator("[data-vx=model]").input_value() == "mnist-z16"


def test_draw_shows_posterior_samples_and_cloud(page):
    draw_stroke(page, SEVEN)
    res = wait_encoded(page)
    zd = len(res["loc"])
    assert zd == 16
    # posterior panel: one marker per dimension; samples grid: K images; ELBO table with numbers
    assert page.locator("[data-vx=post] circle.vx-dot").count() == zd
    assert page.locator("[data-vx=samples] canvas").count() == res["k"] == 16
    shown, _, se = page.locator("[data-vx-num=elbo]").inner_text().split()  # "−65.72 ± 0.57": an estimate
    assert float(shown) == pytest.approx(res["elbo"], abs=0.01) and float(se) == pytest.approx(res["elbo_se"], abs=0.01)
    assert float(page.locator("[data-vx-num=loss]").inner_text()) == pytest.approx(-res["elbo"], abs=0.01)
    cloud = page.evaluate("window.vx.cloud")
    assert len(cloud["samples"]) == 16 and cloud["mean"] == pytest.approx(res["mean_xy"], abs=1e-6)
    assert overlay_ink(page) > 100  # the cloud is drawn over the map
    # the 28x28 input panel shows what the server preprocessed
    inked = page.evaluate("(() => { const c = document.querySelector('[data-vx=input]');"
                          " const d = c.getContext('2d').getImageData(0,0,28,28).data; let n=0;"
                          " for (let i=0;i<d.length;i+=4) if (d[i] < 128) n++; return n; })()")
    assert 20 < inked < 400
    # Resample: same posterior, new samples; Clear: panels and cloud empty
    seq = page.evaluate("window.vx.seq")
    page.click("[data-vx=resample]")
    res2 = wait_encoded(page, seq_before=seq)
    assert res2["loc"] == res["loc"] and res2["samples_img"] != res["samples_img"] and res2["seed"] == res["seed"] + 1
    page.click("[data-vx=clear]")
    assert page.evaluate("window.vx.cloud") is None and overlay_ink(page) == 0
    assert page.locator("[data-vx=samples] canvas").count() == 0


def test_updates_while_drawing_without_submit(page):
    box = page.locator("[data-vx=pad]").bounding_box()
    page.mouse.move(box["x"] + 140, box["y"] + 30)
    page.mouse.down()
    for i in range(40):
        page.mouse.move(box["x"] + 140, box["y"] + 30 + i * 6)
        page.wait_for_timeout(15)
    # still holding the mouse button: the panel has already updated at least once
    page.wait_for_function("window.vx.lastEncode !== null", timeout=10_000)
    page.mouse.up()


def test_drag_changes_image_and_matches_python_decoder(page, app_server):
    h = page.locator("[data-vx=handle]").bounding_box()
    cx, cy = h["x"] + h["width"] / 2, h["y"] + h["height"] / 2
    before = page.evaluate("Array.from(window.vx.dragImage)")
    page.mouse.move(cx, cy)
    page.mouse.down()
    images = []
    for i in range(1, 25):
        page.mouse.move(cx + 9 * i, cy - 5 * i)
        if i % 8 == 0:
            images.append(page.evaluate("Array.from(window.vx.dragImage)"))
    page.mouse.up()
    assert any(img != before for img in images)
    assert len({tuple(i) for i in images}) == len(images)  # it changed along the way
    x, y, img, name = page.evaluate("[vx.handle.x, vx.handle.y, Array.from(vx.dragImage), vx.name]")
    ref = get_json(f"{app_server.url}api/models/{name}/decode?x={x}&y={y}")
    assert max(abs(a - b) for a, b in zip(img, ref["image"], strict=True)) <= 1  # 1/255
    region = page.locator(".vx-region").get_attribute("data-region")
    assert region == ref["region"]


def test_drag_outside_the_data_says_so(page):
    h = page.locator("[data-vx=handle]").bounding_box()
    mapbox = page.locator("[data-vx=mapwrap]").bounding_box()
    page.mouse.move(h["x"] + 15, h["y"] + 15)
    page.mouse.down()
    page.mouse.move(mapbox["x"] + 60, mapbox["y"] + 20, steps=10)  # top-left corner: no data there
    page.mouse.up()
    assert page.locator(".vx-region").get_attribute("data-region") == "outside"
    assert "outside the data" in page.locator("[data-vx=dragtxt]").inner_text()


def test_click_a_point_shows_original_and_reconstruction(page):
    i = 42
    xy = page.evaluate(f"[vx.model.arrays.xy.data[{2 * i}], vx.model.arrays.xy.data[{2 * i + 1}]]")
    px = page.evaluate(
        "([x, y]) => { const fl = document.querySelector('[data-vx=map]')._fullLayout;"
        " const b = document.querySelector('[data-vx=map]').getBoundingClientRect();"
        " return [b.left + fl.xaxis._offset + fl.xaxis.c2p(x), b.top + fl.yaxis._offset + fl.yaxis.c2p(y)]; }", xy)
    page.mouse.move(px[0] + 40, px[1] + 40)
    page.mouse.move(px[0], px[1], steps=4)  # as a hand: the pointer rests on the point (it shows), then clicks
    page.wait_for_function(f"document.querySelector('[data-vx=digittxt]').textContent.includes('#{i},')",
                           timeout=10_000)
    page.mouse.down()
    page.mouse.up()
    page.wait_for_function("document.querySelector('[data-vx=digittxt]').textContent.includes('ring moved')",
                           timeout=10_000)
    text = page.locator("[data-vx=digittxt]").inner_text()
    assert "test digit #" in text
    dark = page.evaluate("['orig','recon'].map(n => { const d = document.querySelector(`[data-vx=${n}]`)"
                         ".getContext('2d').getImageData(0,0,28,28).data; let k=0;"
                         " for (let j=0;j<d.length;j+=4) if (d[j] < 128) k++; return k; })")
    assert all(k > 15 for k in dark)


def test_switch_checkpoint_keeps_the_drawing(page):
    draw_stroke(page, ONE)
    wait_encoded(page, "mnist-z16")
    page.select_option("[data-vx=model]", "mnist-z2")
    page.wait_for_selector(".vx-root[data-ready=mnist-z2]", timeout=30_000)
    res = wait_encoded(page, "mnist-z2")
    assert len(res["loc"]) == 2
    assert page.locator("[data-vx=post] circle.vx-dot").count() == 2
    # for a 2-D latent the map is the latent space: the mean's map position is the guide mean itself
    assert res["mean_xy"] == pytest.approx(res["loc"], abs=1e-3)
    assert "z₁" in page.evaluate("document.querySelector('[data-vx=map]').layout.xaxis.title.text")
    page.wait_for_function("document.querySelector('[data-vx=card]').innerText.includes('mnist-z2')", timeout=20_000)


def test_two_sessions_keep_separate_state(browser, app_server):
    ctxs = [browser.new_context(viewport={"width": 1400, "height": 1100}) for _ in range(2)]
    pages = [c.new_page() for c in ctxs]
    for p in pages:
        p.goto(app_server.url)
        p.wait_for_selector(".vx-root[data-ready]", timeout=60_000)
    draw_stroke(pages[0], SEVEN)
    wait_encoded(pages[0])
    draw_stroke(pages[1], ONE)
    b = wait_encoded(pages[1])
    a = pages[0].evaluate("window.vx.lastEncode")
    assert a["input"] != b["input"]
    pages[0].click("[data-vx=clear]")
    assert pages[0].evaluate("window.vx.lastEncode") is None
    assert pages[1].evaluate("window.vx.lastEncode.input") == b["input"]  # untouched by the other user
    assert pages[1].locator("[data-vx=samples] canvas").count() == 16
    for c in ctxs:
        c.close()


def test_lens_numbers_on_the_page_match_python(page):
    """Draw, read the five steps' numbers from the page, recompute in Python for the same input and seed."""
    import base64

    import numpy as np

    from explorer.inference import encode_drawing, log_px_drawing
    from explorer.registry import load_model

    draw_stroke(page, SEVEN)
    res = wait_encoded(page)
    page.wait_for_selector("[data-vx-num=logpx][data-state=done]", timeout=20_000)
    body = json.loads(page.evaluate("window.vx.lastBody"))
    canvas = np.frombuffer(base64.b64decode(body["pixels"]), np.uint8).reshape(body["height"], body["width"])
    ref = encode_drawing(load_model("mnist-z16"), canvas, k=body["k"], seed=body["seed"])

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
    logpx = log_px_drawing(load_model("mnist-z16"), canvas, k=1000, seed=body["seed"])["log_px"]
    assert num("logpx") == pytest.approx(logpx, abs=0.01)
    assert num("gap") == pytest.approx(logpx - ref["elbo"], abs=0.02)
    assert page.locator("[data-vx=step3] svg rect.vx-kl").count() == 16
    assert res["elbo"] == pytest.approx(ref["elbo"], abs=1e-6)


def test_prior_toggle_overlays_samples(page):
    page.check("[data-vx=prior]")
    page.wait_for_function("window.vx.lastPrior !== null", timeout=10_000)
    assert len(page.evaluate("window.vx.priorPts")) == 16 and overlay_ink(page) > 100
    assert page.locator("[data-vx=priorimgs] canvas").count() == 16
    page.uncheck("[data-vx=prior]")
    assert page.evaluate("window.vx.priorPts") is None and overlay_ink(page) == 0


def test_label_aware_model_in_the_page(page, app_server):
    page.select_option("[data-vx=model]", "mnist-cvae-z16")
    page.wait_for_selector(".vx-root[data-ready=mnist-cvae-z16]", timeout=30_000)
    assert page.locator("[data-vx=withlabel]").is_visible() and page.locator("[data-vx=labelpick]").is_visible()
    assert not page.locator("[data-vx=nolabel]").is_visible()
    draw_stroke(page, SEVEN)
    res = wait_encoded(page, "mnist-cvae-z16")
    page.wait_for_function("!window.vx.inflight", timeout=20_000)
    res = page.evaluate("window.vx.lastEncode")
    assert len(res["label_probs"]) == 10
    assert page.locator("[data-vx=labelprobs] rect").count() == 10
    assert page.locator("[data-vx=styles] canvas").count() == 10
    assert int(page.locator("[data-vx-num=label]").inner_text()) == res["label"]
    assert float(page.locator("[data-vx-num=logpy]").inner_text().replace("−", "-")) == pytest.approx(-2.30, abs=0.01)
    # the class picker decodes the ring's z as the chosen digit, equal to the Python decoder
    page.select_option("[data-vx=label]", "3")
    x, y, img = page.evaluate("[vx.handle.x, vx.handle.y, Array.from(vx.dragImage)]")
    ref = get_json(f"{app_server.url}api/models/mnist-cvae-z16/decode?x={x}&y={y}&label=3")
    assert max(abs(a - b) for a, b in zip(img, ref["image"], strict=True)) <= 1
    page.select_option("[data-vx=label]", "8")
    assert page.evaluate("Array.from(vx.dragImage)") != img
    # the plain models hide the label UI again
    page.select_option("[data-vx=model]", "mnist-z16")
    page.wait_for_selector(".vx-root[data-ready=mnist-z16]", timeout=30_000)
    assert not page.locator("[data-vx=withlabel]").is_visible() and page.locator("[data-vx=nolabel]").is_visible()
