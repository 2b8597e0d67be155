"""The page without the server: a drawing sends no request, the loaded page keeps working when the server
goes away (and reopens through its service worker), the static export works from a plain static server,
the URL holds a shareable state, and damaged files are refused in one line."""

import json
import subprocess
import sys
import time
import urllib.request

import pytest

from conftest import SEVEN, AppProcess, draw_stroke, free_port, run_cli, settled

pytestmark = pytest.mark.browser


def lens_filled(pg):
    """Steps 1-5 of the lens show this drawing's numbers."""
    assert pg.locator("[data-vx=post] circle.vx-dot").count() == len(pg.evaluate("vx.result.loc"))
    assert pg.locator("[data-vx=step3] svg rect.vx-kl").count() == len(pg.evaluate("vx.result.loc"))
    assert "minus the binary cross-entropy" in pg.locator("[data-vx=step4]").inner_text()
    elbo = float(pg.locator("[data-vx-num=elbo]").inner_text().split()[0].replace("−", "-"))
    assert elbo == pytest.approx(pg.evaluate("vx.result.elbo"), abs=0.01)
    assert "NaN" not in pg.locator(".vx-lens").inner_text()


def drag(pg, n=50):
    h = pg.locator("[data-vx=handle]").bounding_box()
    cx, cy = h["x"] + h["width"] / 2, h["y"] + h["height"] / 2
    pg.mouse.move(cx, cy)
    pg.mouse.down()
    for i in range(n):
        pg.mouse.move(cx + 3 * i, cy - 2 * i)
    pg.mouse.up()


def test_a_drawing_and_50_drags_send_no_compute_request(browser, app_server):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = ctx.new_page()
    pg.goto(app_server.url)
    pg.wait_for_selector(".vx-root[data-computes]", timeout=60_000)
    sent = []
    pg.on("request", lambda r: sent.append(r.url))
    draw_stroke(pg, SEVEN)
    settled(pg)
    pg.wait_for_function("window.vx.logpx !== null", timeout=30_000)
    drag(pg, 50)
    pg.check("[data-vx=prior]")
    pg.wait_for_function("window.vx.hooks.lastPrior", timeout=10_000)
    compute = [u for u in sent if "/api/" in u and not u.endswith("/api/health")]
    assert compute == [], compute
    assert len(pg.evaluate("vx.hooks.stats.drag")) >= 45  # every drag was decoded in the page
    ctx.close()


def test_the_loaded_page_works_when_the_server_goes_away_and_comes_back(browser):
    app = AppProcess()
    port = app.port
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = ctx.new_page()
    try:
        pg.goto(app.url)
        pg.wait_for_selector(".vx-root[data-computes]", timeout=60_000)
        pg.wait_for_function("window.vx.server === 'up'", timeout=30_000)
    finally:
        app.stop()
    pg.wait_for_function("window.vx.server === 'down'", timeout=35_000)
    draw_stroke(pg, SEVEN)  # a new drawing, with no server: steps 1-5 in the page
    settled(pg)
    lens_filled(pg)
    pg.wait_for_function("window.vx.logpx !== null", timeout=30_000)
    drag(pg, 10)
    pg.click("[data-vx=trav-draw]")
    pg.wait_for_function("window.vx.hooks.lastTraverse", timeout=20_000)
    pg.click("[data-vx=setA-ring]")
    pg.click("[data-vx=setB-draw]")
    pg.wait_for_function("window.vx.hooks.lastInterp", timeout=20_000)
    assert pg.locator("[data-vx=lin] canvas").count() == 10
    assert pg.locator("[data-vx=step1]").is_disabled() and pg.locator("[data-vx=check]").is_disabled()
    assert "working offline" in pg.locator("[data-vx=status]").inner_text()
    back = AppProcess(port=port)  # the server comes back: so do its steps
    try:
        pg.wait_for_function("window.vx.server === 'up'", timeout=30_000)
        assert not pg.locator("[data-vx=step1]").is_disabled()
        pg.click("[data-vx=check]")
        pg.wait_for_function("window.vx.hooks.lastCheck", timeout=30_000)
    finally:
        back.stop()
        ctx.close()


def test_the_page_reopens_offline_from_its_service_worker(browser):
    app = AppProcess()
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = ctx.new_page()
    try:
        pg.goto(app.url)
        pg.wait_for_selector(".vx-root[data-computes]", timeout=60_000)
        pg.wait_for_function("navigator.serviceWorker.controller !== null || (async () => {"
                             " await navigator.serviceWorker.ready; return true; })()", timeout=30_000)
        pg.reload()  # now controlled by the service worker, which has cached the page and the default model
        pg.wait_for_selector(".vx-root[data-computes]", timeout=60_000)
        assert pg.evaluate("navigator.serviceWorker.controller !== null")
    finally:
        app.stop()
    pg.reload()  # the server is gone: the page opens from the cache
    pg.wait_for_selector(".vx-root[data-computes]", timeout=60_000)
    draw_stroke(pg, SEVEN)
    settled(pg)
    lens_filled(pg)
    ctx.close()


@pytest.fixture(scope="module")
def static_site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site") / "explorer"
    done = run_cli("export", str(out), "--checkpoint", "mnist-z16", "--checkpoint", "mnist-cvae-z16")
    assert done.returncode == 0, done.stderr
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", "-d", str(out.parent), "-b", "127.0.0.1",
                               str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/explorer/index.html", timeout=2)
            break
        except OSError:
            time.sleep(0.2)
    yield f"http://127.0.0.1:{port}/explorer/", out  # served from a sub-folder, as a course page would be
    server.terminate()


def test_the_static_export_works_from_a_plain_static_server(browser, static_site):
    url, out = static_site
    models = json.loads((out / "vx" / "models.json").read_text())
    assert models["server"] is False and [m["name"] for m in models["models"]] == ["mnist-z16", "mnist-cvae-z16"]
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = ctx.new_page()
    sent, errors = [], []
    pg.on("request", lambda r: sent.append(r.url))
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(url)
    pg.wait_for_selector(".vx-root[data-computes]", timeout=60_000)
    draw_stroke(pg, SEVEN)
    settled(pg)
    lens_filled(pg)
    drag(pg, 20)
    assert pg.evaluate("vx.ringImage.some((v) => v > 0)")
    assert "static copy" in pg.locator("[data-vx=step-server]").inner_text()
    assert pg.locator("[data-vx=step1]").is_disabled() and pg.locator("[data-vx=check]").is_disabled()
    assert not pg.locator("[data-vx=csv]").is_visible()
    pg.select_option("[data-vx=model]", "mnist-cvae-z16")
    settled(pg, "window.vx.result.model === 'mnist-cvae-z16'")
    assert [u for u in sent if "/api/" in u] == [] and errors == []
    ctx.close()


def test_a_link_opens_its_state_and_the_state_round_trips(browser, app_server):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = ctx.new_page()
    pg.goto(app_server.url + "#model=mnist-cvae-z16&seed=5&k=32&est=meanfield&y=3&slide=4")
    pg.wait_for_selector(".vx-root[data-computes=mnist-cvae-z16]", timeout=60_000)
    state = pg.evaluate("({m: vx.model, s: vx.seed, k: vx.k, e: vx.estimator, y: vx.observed, slide: vx.slide})")
    assert state == {"m": "mnist-cvae-z16", "s": 5, "k": 32, "e": "meanfield", "y": 3, "slide": 4}
    assert pg.locator(".vx-present").count() == 1 and pg.locator("[data-vx=panelname]").inner_text().startswith("4/")
    assert pg.locator("[data-vx=estimator]").input_value() == "meanfield"
    assert pg.locator("[data-vx=k]").input_value() == "32"
    pg.keyboard.press("PageDown")
    pg.keyboard.press("Escape")
    pg.click("[data-vx=resample]")
    link = pg.evaluate("location.href")
    assert "seed=6" in link and "slide" not in link
    other = ctx.new_page()
    other.goto(link)
    other.wait_for_selector(".vx-root[data-computes=mnist-cvae-z16]", timeout=60_000)
    assert other.evaluate("({m: vx.model, s: vx.seed, k: vx.k, e: vx.estimator, y: vx.observed, slide: vx.slide})") \
        == {**state, "s": 6, "slide": None}
    ctx.close()


def test_an_invalid_link_falls_back_to_the_defaults_with_a_note(browser, app_server):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = ctx.new_page()
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(app_server.url + "#model=no-such-model&seed=-4&k=7&est=magic&slide=99")
    pg.wait_for_selector(".vx-root[data-computes=mnist-z16]", timeout=60_000)
    assert pg.evaluate("({s: vx.seed, k: vx.k, e: vx.estimator})") == {"s": 1, "k": 16, "e": "trace"}
    note = pg.locator("[data-vx=status]").inner_text()
    assert "not valid here" in note and "model=no-such-model" in note and errors == []
    pg.evaluate("location.hash = '#slide=99'")  # a link followed in the open page
    pg.wait_for_function("window.vx.slide === 1", timeout=10_000)
    assert "slide 99" in pg.locator("[data-vx=status]").inner_text()
    fresh = ctx.new_page()
    fresh.goto(app_server.url + "?again#slide=99")
    fresh.wait_for_selector(".vx-root[data-computes]", timeout=60_000)
    assert fresh.evaluate("vx.slide") == 1 and "slide 99" in fresh.locator("[data-vx=status]").inner_text()
    ctx.close()


def test_a_damaged_file_is_fetched_again_once_then_refused_in_one_line(browser, app_server):
    # no service worker here: the damage is done by the test's route, which sees the page's own requests only
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000}, service_workers="block")
    pg = ctx.new_page()
    hits = {"n": 0}

    def damage_once(route):
        hits["n"] += 1
        body = route.fetch().body()
        route.fulfill(body=body[: len(body) // 2] if hits["n"] == 1 else body, content_type="application/octet-stream")

    pg.route("**/vx/data/mnist-z16.net.*", damage_once)
    statuses = []
    pg.expose_function("seeStatus", lambda key: statuses.append(key))
    pg.add_init_script("new MutationObserver(() => { const s = document.querySelector('[data-vx=status]');"
                       " if (s) window.seeStatus(s.dataset.key || ''); })"
                       ".observe(document, {subtree: true, childList: true, attributes: true, characterData: true});")
    pg.goto(app_server.url)
    pg.wait_for_selector(".vx-root[data-computes]", timeout=60_000)  # the second copy was whole
    assert hits["n"] == 2 and "corrupt" in statuses
    draw_stroke(pg, SEVEN)
    settled(pg)

    bad = ctx.new_page()
    bad.route("**/vx/data/mnist-z16.atlas.*", lambda route: route.fulfill(body=b"VXB1" + b"\x00" * 64))
    bad.goto(app_server.url)
    bad.wait_for_function("document.querySelector('[data-vx=status]')?.dataset.key === 'failed'", timeout=60_000)
    line = bad.locator("[data-vx=status]").inner_text()
    assert "the atlas of mnist-z16 could not be read" in line and "\n" not in line
    assert bad.locator(".vx-root").get_attribute("data-computes") is None
    assert "NaN" not in bad.locator(".vx-root").inner_text()
    ctx.close()


def test_the_export_refuses_a_folder_that_is_not_empty(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    done = run_cli("export", str(tmp_path), "--checkpoint", "mnist-z2")
    assert done.returncode == 2 and "not empty" in done.stderr and "--force" in done.stderr
    assert "Traceback" not in done.stderr and (tmp_path / "notes.txt").read_text() == "mine"
    done = run_cli("export", str(tmp_path), "--checkpoint", "mnist-z2", "--force")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "index.html").exists() and (tmp_path / "notes.txt").exists()


def test_the_page_is_an_installable_app(app_server):
    with urllib.request.urlopen(app_server.url + "manifest.webmanifest", timeout=10) as r:
        manifest = json.load(r)
    assert manifest["display"] == "standalone" and manifest["start_url"] == "./"
    sizes = set()
    for icon in manifest["icons"]:
        with urllib.request.urlopen(app_server.url + icon["src"], timeout=10) as r:
            data = r.read()
            assert r.headers["Content-Type"] == "image/png" and data[:8] == b"\x89PNG\r\n\x1a\n"
        sizes.add(icon["sizes"])
    assert {"192x192", "512x512"} <= sizes
    with urllib.request.urlopen(app_server.url, timeout=10) as r:
        assert 'rel="manifest"' in r.read().decode()
