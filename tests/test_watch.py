"""Watching it learn, in Chromium and over HTTP: the timeline (slider, play, the ring at each moment), what
the KL term does (three trainings side by side), and the live run (the lecturer starts, everyone watches,
a student is refused)."""

import base64
import json
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
import torch

from explorer.app.answers import LiveState
from explorer.store.registry import read_served_model
from explorer.vae.config import PRESETS
from explorer.vae.model import VAE
from explorer.vae.runtime import set_seed
from explorer.views.wire import to_u8

from conftest import ROOT, AppProcess

pytestmark = pytest.mark.browser


def show(page, name):
    page.evaluate("(n) => window.vx.hooks.show(n)", name)
    page.wait_for_selector(f".vx-root[data-computes='{name}']", timeout=60_000)


def at_moment(page, t):
    """Wait until the map shows moment ``t`` (its points arrived where the timeline puts them)."""
    page.wait_for_function(
        "(t) => { const S = window.vx, tl = S.timeline; if (!tl || S.moment !== t) return false;"
        " const a = S.hooks.scatter.xy, b = tl.xy[t]; if (a.length !== b.length) return false;"
        " for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false; return true; }", arg=t, timeout=20_000)


def test_the_timeline_moves_the_map_and_decodes_the_ring_with_each_moment(page):
    """Opened on mnist-z2: fetched only then; the slider's first moment moves every point, its last is the
    shipped map to the bit; the ring at one map position shows the untrained decoder at the first moment and
    the shipped one at the last, each as Python decodes it (within one grey level); play runs to the end."""
    asked = []
    page.on("request", lambda r: asked.append(r.url))
    show(page, "mnist-z2")
    assert not any(".timeline." in u for u in asked)  # not part of a visit
    m = read_served_model("mnist-z2")
    page.click("[data-vx=tl-open]")
    at_moment(page, 0)
    assert any(".timeline." in u for u in asked)
    n = page.evaluate("window.vx.timeline.moments.length")
    first = np.array(page.evaluate("Array.from(window.vx.hooks.scatter.xy)")).reshape(-1, 2)
    assert np.linalg.norm(first - m.atlas.xy, axis=1).mean() > 0.5  # the untrained guide: another map
    assert first.std(0).max() < 0.5 * m.atlas.xy.std(0).min()  # ...one blob of initialisation

    node_xy = page.evaluate("[window.vx.timeline.gridXy[2 * 100], window.vx.timeline.gridXy[2 * 100 + 1]]")
    page.evaluate("([x, y]) => window.vx.hooks.ringTo(x, y)", node_xy)
    assert page.evaluate("window.vx.hooks.ringNode") == 100
    untrained_img = np.array(page.evaluate("Array.from(window.vx.ringImage)"))
    set_seed(0)  # train's seed: the untrained model of step 0
    fresh = VAE(PRESETS["mnist-z2"].model).eval()
    with torch.no_grad():
        want0 = to_u8(fresh.decode(torch.tensor([node_xy], dtype=torch.float32)))[0].astype(int)
        want1 = to_u8(m.ckpt.vae.decode(torch.tensor([node_xy], dtype=torch.float32)))[0].astype(int)
    assert np.abs(untrained_img - want0).max() <= 1

    page.focus("[data-vx=tl-slider]")
    page.keyboard.press("End")
    at_moment(page, n - 1)
    last = np.array(page.evaluate("Array.from(window.vx.hooks.scatter.xy)")).reshape(-1, 2)
    np.testing.assert_array_equal(last, m.atlas.xy)  # the shipped map, to the bit
    trained_img = np.array(page.evaluate("Array.from(window.vx.ringImage)"))
    assert np.abs(trained_img - want1).max() <= 1
    assert np.abs(trained_img - untrained_img).max() > 100  # noise, then a digit
    assert "the trained model" in page.locator("[data-vx=tl-label]").inner_text()

    page.click("[data-vx=tl-play]")  # from the last moment: starts over, and runs through
    page.wait_for_function(f"window.vx.hooks.playedTo === {n - 1} && !window.vx.playing", timeout=60_000)
    frames = page.evaluate("window.vx.hooks.stats.frames")
    assert len(frames) >= n - 1 and all(f["frames"] >= 5 for f in frames)  # animated, not jumped
    page.click("[data-vx=tl-close]")
    page.wait_for_function("window.vx.timeline === null && window.vx.ringNode === null", timeout=10_000)


def test_the_presenters_clicker_steps_through_the_moments(page):
    show(page, "mnist-z2")
    page.click("[data-vx=present]")
    titles = page.evaluate("Array.from(document.querySelectorAll('[data-slide]')).filter((p) => !p.hidden"
                           " && !p.closest('[hidden]')).map((p) => p.dataset.slide)")
    page.evaluate("(n) => window.vx.hooks.slides.open(n)", titles.index("watch it learn") + 1)
    at_moment(page, 0)  # the slide opens the timeline at its first moment
    page.keyboard.press("PageDown")
    at_moment(page, 1)  # the clicker steps the moment, not the slide
    assert page.evaluate("window.vx.slide") == titles.index("watch it learn") + 1
    page.keyboard.press("Escape")


def test_what_the_kl_does_shows_three_trainings_and_says_which_is_the_vae(page):
    show(page, "mnist-z2-beta4")
    sample = page.locator("[data-snippet=sample]").first.inner_text()
    assert sample.startswith("with poutine.scale(scale=4):")  # the line that makes it differ, shown
    page.click("[data-vx=kl-open]")
    page.wait_for_function("window.vx.hooks.klReady", timeout=60_000)
    card = page.locator("[data-vx=klcard]")
    assert "This is the VAE" in card.locator("[data-kl=mnist-z2]").inner_text()
    assert "poutine.mask(mask=False)" in card.locator("[data-kl=mnist-z2-ae]").inner_text()
    priors = page.evaluate("window.vx.hooks.klPrior")
    for name in ("mnist-z2", "mnist-z2-beta4", "mnist-z2-ae"):
        m = read_served_model(name)
        shown = card.locator(f"[data-vx-kl-elbo='{name}']").inner_text()
        assert shown.startswith(f"{m.record['test_elbo']:.2f}")
        z = torch.tensor(priors[name]["z"], dtype=torch.float32).reshape(-1, 2)
        with torch.no_grad():
            want = to_u8(m.ckpt.vae.decode(z)).astype(int).ravel()
        assert np.abs(np.array(priors[name]["images"]) - want).max() <= 1, name
    ae, vae = read_served_model("mnist-z2-ae").summary(), read_served_model("mnist-z2").summary()
    assert ae["test_kl"] > 20 * vae["test_kl"] and ae["test_recon"] > vae["test_recon"]


# ---------- the live run ----------

def _call(url, method="GET", body=None, headers=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={
        "Content-Type": "application/json", "Origin": url.split("/api/")[0], **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def test_a_live_run_started_by_the_lecturer_streams_to_every_watcher(browser, app_server):
    """Without --auth the lecturer is a browser on the machine itself: it starts a run; a second browser
    context receives its updates as they come (at least 5 in 15 s here); a request a proxy forwarded is a
    student's: 403."""
    api = app_server.url + "api/live"
    status, body = _call(api + "/start", "POST", {"steps": 200}, {"X-Forwarded-For": "10.0.0.7"})
    assert status == 403 and "lecturer" in body["detail"]
    pages = []
    for _ in range(2):
        ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
        pg = ctx.new_page()
        pg.goto(app_server.url)
        pg.wait_for_selector(".vx-root[data-ready]", timeout=60_000)
        pages.append(pg)
    lecturer, student = pages
    for pg in pages:
        pg.wait_for_function("window.vx.hooks.live && window.vx.hooks.live.source", timeout=30_000)
    assert lecturer.locator("[data-vx=live-start]").is_visible()
    try:
        lecturer.select_option("[data-vx=live-steps]", "3000")
        t0 = time.time()
        lecturer.click("[data-vx=live-start]")
        student.wait_for_function("(window.vx.hooks.live.received || 0) >= 6", timeout=15_000)  # 5 after the first
        assert time.time() - t0 < 15
        ups = student.evaluate("window.vx.hooks.live.updates")
        assert ups[-1]["step"] > ups[0]["step"] and ups[-1]["steps"] == 3000
        assert student.evaluate("window.vx.hooks.live.xy.length") == 2 * 2000  # the live map moves
        status, body = _call(api + "/start", "POST", {"steps": 100})
        assert status == 409 and "a live run is going" in body["detail"]
    finally:
        lecturer.click("[data-vx=live-stop]")
    student.wait_for_function("window.vx.hooks.live.updates.some((u) => u.state === 'stopped')", timeout=20_000)
    for pg in pages:
        pg.context.close()


def test_live_runs_belong_to_the_lecturer_login_and_are_bounded(tmp_path):
    """With --auth, a logged-in student is refused (403) and the --lecturer login starts a run; absurd
    settings are refused with their ranges (422); stopping the server mid-run leaves the checkpoints as they
    were; without MNIST, one line says where it looked."""
    import httpx

    ckpts = ROOT / "checkpoints"
    before = {p.name: p.stat().st_mtime_ns for p in ckpts.iterdir()}
    app = AppProcess("--auth", "class:room42", "--lecturer", "prof:chalk")
    prof = {"Authorization": "Basic " + base64.b64encode(b"prof:chalk").decode()}
    wrong = {"Authorization": "Basic " + base64.b64encode(b"prof:chalk!").decode()}
    try:
        with httpx.Client(base_url=app.url, timeout=60) as c:
            assert c.post("/api/live/start", json={"steps": 100}, headers=prof).status_code == 401  # log in first
            assert c.post("/login", data={"username": "class", "password": "room42"}).status_code == 303
            assert c.post("/api/live/start", json={"steps": 100}).status_code == 403  # a student
            assert c.post("/api/live/start", json={"steps": 100}, headers=wrong).status_code == 403
            assert c.post("/api/live/stop").status_code == 403
            r = c.post("/api/live/start", json={"steps": 10**9, "lr": 5.0, "batch": 0}, headers=prof)
            assert r.status_code == 422
            for text in ("steps must be an integer in 10..5000", "lr must be a number in 1e-05..0.01", "batch"):
                assert text in r.json()["detail"]
            me = c.get("/api/live").json()
            assert me["lecturer"] is False and "--lecturer" in me["how"]
            r = c.post("/api/live/start", json={"steps": 4000, "subset": 2000}, headers=prof)
            assert r.status_code == 202 and r.json()["running"]
            time.sleep(3)
            during = LiveState.model_validate(c.get("/api/live").json())  # every field declared
            assert during.run is not None and during.run.settings.steps == 4000
            assert during.updates and during.updates[-1].state == "running" and during.updates[-1].xy
    finally:
        app.stop()  # mid-run
    after = {p.name: p.stat().st_mtime_ns for p in ckpts.iterdir()}
    assert after == before  # a live run never writes a file

    nowhere = tmp_path / "no-mnist"
    app = AppProcess(env={"EXPLORER_DATA_DIR": str(nowhere)})
    try:
        r = httpx.post(app.url + "api/live/start", json={"steps": 100}, timeout=60)
        assert r.status_code == 503 and str(nowhere) in r.json()["detail"] and "\n" not in r.json()["detail"]
    finally:
        app.stop()
