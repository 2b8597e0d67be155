"""The lecture, in Chromium: presenter mode on a projector, the lens's steps 6 and (d), the z2 warning,
honest states with the server down, exports that reproduce, a phone's screen."""

import base64
import json
from pathlib import Path

import pytest

from conftest import SEVEN, AppProcess, draw_stroke, settled

pytestmark = pytest.mark.browser

SMALLEST_TEXT = """(root) => {
  let least = 1e9, where = '';
  const visible = (e) => { const r = e.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && getComputedStyle(e).visibility !== 'hidden'; };
  for (const e of root.querySelectorAll('*')) {
    if (!visible(e)) continue;
    const own = Array.from(e.childNodes).some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own) continue;
    let px = parseFloat(getComputedStyle(e).fontSize);
    const m = e instanceof SVGElement ? e.getScreenCTM() : null;
    if (m) px *= Math.hypot(m.a, m.b);  // SVG text is scaled (and maybe turned) with its box
    if (px < least) { least = px; where = e.tagName + ' ' + e.textContent.trim().slice(0, 30); }
  }
  return [least, where];
}"""


def drawn(pg):
    pg.wait_for_selector(".vx-root[data-computes]", timeout=60_000)
    draw_stroke(pg, SEVEN)
    return settled(pg)


@pytest.mark.parametrize("size", [(1280, 720), (1920, 1080)])
def test_presenter_mode_fits_a_projector_and_steps_with_a_clicker(browser, app_server, size):
    w, h = size
    ctx = browser.new_context(viewport={"width": w, "height": h})
    pg = ctx.new_page()
    pg.goto(app_server.url)
    pg.wait_for_selector(".vx-root[data-ready]", timeout=60_000)
    drawn(pg)
    pg.click("[data-vx=step1]")
    pg.wait_for_function("window.vx.hooks.lastStep", timeout=30_000)
    pg.click("[data-vx=present]")
    names = []
    n = int(pg.locator("[data-vx=panelname]").inner_text().split("/")[1].split()[0])
    assert n >= 9
    for i in range(n):
        name = pg.locator("[data-vx=panelname]").inner_text()
        assert name.startswith(f"{i + 1}/{n}"), name
        names.append(name)
        slide = pg.evaluate("(() => { const e = document.querySelector('.vx-shown');"
                            " const r = e.getBoundingClientRect(); return {l: r.left, t: r.top, r: r.right,"
                            " b: r.bottom, sh: e.scrollHeight, ch: e.clientHeight,"
                            " text: e.innerText.trim().length}; })()")
        assert slide["l"] >= 0 and slide["t"] >= 0 and slide["r"] <= w and slide["b"] <= h, (name, slide)
        assert slide["sh"] <= slide["ch"] + 1, f"{name} needs scrolling at {w}x{h}"
        assert slide["text"] > 20, f"{name} is empty"
        assert f"slide={i + 1}" in pg.evaluate("location.hash") or i == 0  # the slide is in the link
        m = pg.locator("[data-vx=mapwrap]").bounding_box()
        assert m["x"] + m["width"] <= slide["l"] + 1 and m["y"] + m["height"] <= h  # side by side, on screen
        least, where = pg.evaluate(SMALLEST_TEXT, pg.locator(".vx-shown").element_handle())
        assert least >= 17.5, f"{name}: {where} is {least:.1f} px"
        key = ["PageDown", "ArrowRight", "Space"][i % 3]
        pg.keyboard.press(key)
        presses, seen = 1, set()
        while "watch it learn" in name and pg.locator("[data-vx=panelname]").inner_text() == name and presses < 60:
            seen.add(pg.evaluate("window.vx.moment"))  # on this slide the clicker steps through the moments first
            pg.keyboard.press(key)
            presses += 1
        if "watch it learn" in name:  # every moment, in turn, then the next slide
            got = sorted(seen - {None})
            assert len(got) >= 10 and got == list(range(got[0], got[-1] + 1)) and got[0] <= 1, seen
    assert pg.locator("[data-vx=panelname]").inner_text().startswith(f"1/{n}")  # round the loop
    pg.keyboard.press("PageUp")
    assert pg.locator("[data-vx=panelname]").inner_text().startswith(f"{n}/{n}")
    pg.keyboard.press("ArrowLeft")
    assert pg.locator("[data-vx=panelname]").inner_text().startswith(f"{n - 1}/{n}")
    least, where = pg.evaluate(SMALLEST_TEXT, pg.locator(".vx-toolbar").element_handle())
    assert least >= 17.5, where
    assert any("6 backprop" in x for x in names) and any("5 ELBO" in x for x in names)
    ctx.close()


def test_backprop_step_and_the_chosen_label_in_the_page(page):
    drawn(page)
    page.click("[data-vx=step1]")
    page.wait_for_function("window.vx.hooks.lastStep && window.vx.hooks.lastStep.steps === 1", timeout=30_000)
    res = page.evaluate("window.vx.hooks.lastStep")
    shown = page.locator("[data-vx-num=steploss]").inner_text()
    assert f"{res['losses'][0]:.2f}" in shown and f"{res['losses'][1]:.2f}" in shown
    # PyTorch's BCE clamps log p at -100 where Pyro clamps p at float32's eps: a few hundredths of a nat
    assert float(page.locator("[data-vx-num=torchloss]").inner_text()) == pytest.approx(res["losses"][0], abs=0.1)
    # (d) on a plain model: the label site explained, and a way to the model that observes it
    assert page.locator("[data-vx=nolabel]").is_visible()
    page.click("[data-vx=tolabel]")
    page.wait_for_selector(".vx-root[data-computes=mnist-cvae-z16]", timeout=30_000)
    settled(page, "window.vx.result.model === 'mnist-cvae-z16'")
    page.select_option("[data-vx=observed]", "3")
    settled(page, "window.vx.result.label === 3")
    assert "y=3" in page.evaluate("location.hash")
    assert "observes the y you chose, 3" in page.locator("[data-vx=labelprobs]").inner_text()
    assert "OneHotCategorical(probs=x.new_full" in page.locator("[data-vx=labelcard] code").inner_text()


def test_estimator_switch_and_new_eps_show_monte_carlo_as_such(page):
    trace = drawn(page)
    assert trace["estimator"] == "trace" and "Monte Carlo" in page.locator("[data-vx=step3]").inner_text()
    assert "±" in page.locator("[data-vx-num=elbo]").inner_text()
    page.select_option("[data-vx=estimator]", "meanfield")
    mf = settled(page, "window.vx.result.estimator === 'meanfield'")
    assert "est=meanfield" in page.evaluate("location.hash")
    assert mf["elbo"] == pytest.approx(mf["recon"] - mf["kl"], abs=1e-3) and mf["elbo"] != trace["elbo"]
    assert "TraceMeanField_ELBO" in page.locator("code[data-snippet=loss]").inner_text()
    for _ in range(2):
        seed = page.evaluate("window.vx.result.seed")
        page.click("[data-vx=neweps]")
        settled(page, f"window.vx.result.seed === {seed + 1}")
    assert "over 3 draws of ε" in page.locator("[data-vx=spread]").inner_text()
    page.wait_for_function("window.vx.logpx !== null", timeout=30_000)
    assert "ESS" in page.locator("[data-vx-num=logpx]").inner_text()


def test_z2_warns_in_the_prior_tail(page):
    page.select_option("[data-vx=model]", "mnist-z2")
    page.wait_for_selector(".vx-root[data-computes=mnist-z2]", timeout=30_000)
    h = page.locator("[data-vx=handle]").bounding_box()
    corner = page.evaluate("window.vx.hooks.toScreen(4.5, 4.5)")
    page.mouse.move(h["x"] + h["width"] / 2, h["y"] + h["height"] / 2)
    page.mouse.down()
    page.mouse.move(corner[0], corner[1], steps=8)
    assert page.locator(".vx-region").get_attribute("data-region") == "tail"
    assert "prior's tail (|z| > 3)" in page.locator("[data-vx=dragtxt]").inner_text()
    left, top, w, hgt = page.evaluate("window.vx.hooks.plotBox()")
    page.mouse.move(left + w + 200, top - 200, steps=8)  # far off the plot: the ring stays on it
    page.mouse.up()
    ring = page.locator("[data-vx=handle]").bounding_box()
    cx, cy = ring["x"] + ring["width"] / 2, ring["y"] + ring["height"] / 2
    assert left - 1 <= cx <= left + w + 1 and top - 1 <= cy <= top + hgt + 1


def test_exports_carry_their_labels_and_the_drawing(page):
    from io import BytesIO

    import numpy as np
    from PIL import Image

    res = drawn(page)
    page.click("[data-vx=trav-draw]")
    page.wait_for_function("window.vx.hooks.lastTraverse", timeout=20_000)
    with page.expect_download() as dl:
        page.click("[data-vx=trav-png]")
    img = np.asarray(Image.open(BytesIO(Path(dl.value.path()).read_bytes())).convert("L"))
    assert img.shape[1] >= 110 + 9 * 60 and (img[:, :100] < 128).sum() > 200  # a label column beside the rows
    assert dl.value.suggested_filename == "traversal-mnist-z16.png"
    with page.expect_download() as dl:
        page.click("[data-vx=save-drawing]")
    assert dl.value.suggested_filename == f"drawing-mnist-z16-seed{res['seed']}.png"
    drawing = Image.open(dl.value.path())
    assert drawing.size == (280, 280) and (np.asarray(drawing.convert("L")) < 128).sum() > 500  # the ink itself
    record = json.loads(drawing.text["vx-drawing"])
    assert record["model"] == "mnist-z16" and record["seed"] == res["seed"] and len(record["input_28x28"]) == 784
    assert record["input_28x28"] == res["input"]
    assert record["sent"]["width"] == 140
    # what it carries reproduces the page's numbers in Python: the same input, the same eps, the same ELBO
    import explorer

    again = explorer.reproduce(dl.value.path())
    assert list(base64.b64decode(again["input"])) == res["input"]
    assert again["eps"] == res["eps"]  # the shared generator, bit for bit
    for key in ("elbo", "elbo_se", "recon", "kl", "kl_mc"):
        assert again[key] == pytest.approx(res[key], rel=1e-5, abs=1e-4), key


def test_server_down_is_shown_and_a_failed_switch_reverts(browser):
    app = AppProcess("--checkpoint", "mnist-z2")
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = ctx.new_page()
    try:
        pg.goto(app.url)
        pg.wait_for_selector(".vx-root[data-computes]", timeout=60_000)
        pg.wait_for_function("window.vx.server === 'up'", timeout=30_000)
        assert not pg.locator("[data-vx=step1]").is_disabled()
    finally:
        app.stop()
    # one clear line, and what needs the server says so; the drawing itself goes on in the page
    pg.wait_for_function("document.querySelector('[data-vx=status]').dataset.key === 'offline'", timeout=35_000)
    assert "working offline" in pg.locator("[data-vx=status]").inner_text()
    assert pg.locator("[data-vx=step1]").is_disabled() and pg.locator("[data-vx=check]").is_disabled()
    assert "not reachable" in pg.locator("[data-vx=step-server]").inner_text()
    draw_stroke(pg, SEVEN)
    settled(pg)
    # a model whose files never arrived cannot be shown: the selector goes back
    pg.select_option("[data-vx=model]", "mnist-z16")
    pg.wait_for_function("document.querySelector('[data-vx=status]').textContent.includes('cannot load mnist-z16')",
                         timeout=40_000)
    assert pg.locator("[data-vx=model]").input_value() == "mnist-z2"
    ctx.close()


def test_a_phone_sees_one_column_with_nothing_clipped(browser, app_server):
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    pg = ctx.new_page()
    pg.goto(app_server.url)
    pg.wait_for_selector(".vx-root[data-ready]", timeout=60_000)
    over = pg.evaluate("Array.from(document.querySelectorAll('.vx-root *')).filter((e) => {"
                       " const r = e.getBoundingClientRect(); return r.width > 0 && r.right > window.innerWidth + 1; })"
                       ".map((e) => e.tagName + '.' + e.className + ' ' + (e.dataset.vx || '')).slice(0, 5)")
    assert over == []
    assert pg.evaluate("document.documentElement.scrollWidth") <= 391
    pg.screenshot(path="artifacts/screenshots/phone-390x844.png", full_page=False)
    ctx.close()
