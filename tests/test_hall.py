"""A lecture hall's hostile students, one test per way they took the old server down (issue: serving a
hall safely). Real servers on free loopback ports, real HTTP; the XSS test in Chromium."""

import contextlib
import json
import os
import shutil
import socket
import sys
import threading
import time
import tracemalloc
import zipfile

import httpx
import numpy as np
import pytest
import torch

from conftest import ROOT, SEVEN, AppProcess, bar_drawing, draw_stroke, run_cli, settled

CK = ROOT / "checkpoints"
AUTH = ("prof", "s3cret")


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmRSS:"))


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def raw(port: int, data: bytes, read: bool = True, timeout: float = 10) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        return s.recv(65536) if read else b""


@contextlib.contextmanager
def logged_in(app: AppProcess):
    with httpx.Client(base_url=app.url, timeout=30) as c:
        assert c.post("/login", data={"username": AUTH[0], "password": AUTH[1]}).status_code == 303
        yield c


@pytest.fixture(scope="module")
def hall():
    app = AppProcess("--auth", ":".join(AUTH), "--checkpoint", "mnist-z2",
                     env={"EXPLORER_HEADER_TIMEOUT": "2", "EXPLORER_MAX_CONNECTIONS": "100"})
    yield app
    app.stop()


# 1. Memory: no body is read before the login check, and none past the limit on any route.
def test_1_a_huge_body_is_refused_before_it_is_read(hall):
    before = rss_mb(hall.proc.pid)
    head = (b"POST /gradio_api/queue/join HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 300000000\r\n\r\n")
    assert raw(hall.port, head + b"{" * 65536).split(b" ")[1] in (b"401", b"413")
    with logged_in(hall) as c:
        r = c.post("/gradio_api/queue/join", content=b"[" * (3 * 1024 * 1024),
                   headers={"content-type": "application/json"})
        assert r.status_code == 413
    assert rss_mb(hall.proc.pid) - before < 50


# 2. Logout ends only the session that logs out; a link cannot log anyone out.
def test_2_one_students_logout_ends_only_their_session(hall):
    with logged_in(hall) as a, logged_in(hall) as b:
        assert a.get("/logout").status_code == 200 and a.get("/api/models").status_code == 200  # a form, not a logout
        r = a.post("/logout", headers={"Origin": "http://evil.example"})
        assert r.status_code == 403 and a.get("/api/models").status_code == 200  # another site's form: refused
        assert a.post("/logout", headers={"Origin": hall.url.rstrip("/")}).status_code == 303
        assert a.get("/api/models").status_code == 401
        assert b.get("/api/models").status_code == 200  # the other student carries on


# 3. Passwords: exact, and limited per client.
def test_3_passwords_are_exact_and_wrong_ones_are_limited():
    app = AppProcess("--auth", ":".join(AUTH), "--checkpoint", "mnist-z2")
    try:
        with httpx.Client(base_url=app.url, timeout=30) as c:
            assert c.post("/login", data={"username": "prof", "password": " s3cret "}).status_code == 401
            assert c.post("/login", data={"username": " prof", "password": "s3cret"}).status_code == 401
            for _ in range(3):
                assert c.post("/login", data={"username": "prof", "password": "guess"}).status_code == 401
            r = c.post("/login", data={"username": "prof", "password": "s3cret"})
            assert r.status_code == 429 and 1 <= int(r.headers["retry-after"]) <= 61
    finally:
        app.stop()


# 4. Fairness: 20 clients hammering the most expensive route leave an innocent student's strokes within 3x.
def test_4_hammering_clients_are_refused_and_an_innocent_student_carries_on():
    app = AppProcess("--checkpoint", "mnist-z2")
    try:
        body = {"width": 40, "height": 40, "pixels": bar_drawing()}
        innocent = httpx.Client(base_url=app.url, timeout=30, headers={"X-VX-Tab": "innocent"})

        def strokes(n):
            out = []
            for i in range(n):
                t0 = time.perf_counter()
                assert innocent.post("/api/models/mnist-z2/encode", json={**body, "seed": i}).status_code == 200
                out.append(time.perf_counter() - t0)
                time.sleep(0.1)
            return float(np.median(out))

        strokes(5)  # warm
        quiet = strokes(20)
        stop, codes = time.time() + 12, []

        def hammer(i):
            with httpx.Client(base_url=app.url, timeout=60, headers={"X-VX-Tab": f"h{i}"}) as h:
                while time.time() < stop:
                    r = h.post("/api/models/mnist-z2/logpx", json={**body, "k": 5000})
                    codes.append((r.status_code, r.headers.get("retry-after")))

        threads = [threading.Thread(target=hammer, args=(i,)) for i in range(20)]
        for t in threads:
            t.start()
        time.sleep(1.5)
        t0 = time.perf_counter()
        health = innocent.get("/api/health")
        health_s = time.perf_counter() - t0
        loaded = strokes(20)
        for t in threads:
            t.join()
        busy = [c for c in codes if c[0] in (429, 503)]
        assert all(ra for _, ra in busy), "refused without a Retry-After"
        # On a CPU the 20 hammerers overrun log p(x)'s work budget and are told to come back later; a GPU
        # answers them as fast as they ask (an H200: 0 refused), and then none need be.
        assert busy or torch.cuda.is_available(), "no one was told to come back later"
        assert not [c for c in codes if c[0] not in (200, 429, 503)]
        assert health.status_code == 200 and health_s < 1.0
        assert loaded <= 3 * quiet + 0.03, f"innocent stroke p50 {loaded * 1000:.0f} ms vs quiet {quiet * 1000:.0f} ms"
        with httpx.Client(base_url=app.url, timeout=30) as c:
            t0 = time.perf_counter()
            first = c.get("/api/models/mnist-z2/map.csv").text
            t1 = time.perf_counter()
            assert c.get("/api/models/mnist-z2/map.csv").text == first
            assert time.perf_counter() - t1 < (t1 - t0) + 0.05  # computed once, then served as it is
    finally:
        app.stop()


# 4b. Fairness on every route a script can hammer: the innocent student's server requests (check with Pyro,
# step 6) carry on, and the hammering scripts are told to come back later. benchmarks/hammer.py prints the
# figures against the target (p95 within 2x of quiet); this row holds a looser line, 3x the median.
@pytest.fixture(scope="module")
def class_app():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import hammer

    app = AppProcess("--checkpoint", "mnist-z2", "--auth", ":".join(hammer.AUTH))
    yield app, hammer
    app.stop()


@pytest.mark.parametrize("route", ["map.csv", "logpx", "step", "bundle", "login"])
def test_4_every_hammered_route_leaves_the_innocent_students_requests_served(class_app, route):
    app, hammer = class_app
    url = app.url.rstrip("/")
    innocent = hammer.logged_in(url, "innocent")
    hammer.innocent_requests(innocent, "mnist-z2", 2)  # warm
    quiet = hammer.innocent_requests(innocent, "mnist-z2", 4)
    t0 = time.monotonic()
    codes, threads = hammer.hammer(url, "mnist-z2", route, 20, 10.0)
    time.sleep(1.0)
    loaded = hammer.innocent_requests(innocent, "mnist-z2", 4)  # each raises unless answered 200
    for t in threads:
        t.join()
    ran = time.monotonic() - t0  # until the last script's last file was sent
    innocent.close()
    refused = codes[429] + codes[503]
    assert set(codes) <= {200, 401, 429, 503}, codes
    if route in ("map.csv", "bundle"):  # files are throttled to the byte budget: the scripts got no more
        from explorer.app.admission import FILE_BYTES_PER_S

        c = hammer.logged_in(url, "size")
        entry = next(m for m in c.get("/vx/models.json").json()["models"] if m["name"] == "mnist-z2")
        size = (len(c.get("/api/models/mnist-z2/map.csv", headers={"Accept-Encoding": "identity"}).content)
                if route == "map.csv" else max(entry["bytes"].values()))
        c.close()
        # the budget over the whole run (a file asked for in the scripts' 10 s may wait in line and be sent
        # after them, at the budget's rate), its burst of one second, and the 20 files admitted together
        assert codes[200] * size <= FILE_BYTES_PER_S * (ran + 1.0) + 20 * size, (codes, size, ran)
    else:
        assert refused > 0, codes  # the scripts were told to come back later
    assert np.median(loaded) <= 3 * np.median(quiet) + 50, (route, quiet, loaded)
    time.sleep(2.0)  # the server drains before the next row


# 5. Slow clients: read deadlines and a connection cap.
def test_5_half_open_requests_cannot_hold_the_server(hall):
    base = fds(hall.proc.pid)
    socks = []
    for _ in range(150):  # more than the cap of 100, each sending half a request line
        s = socket.create_connection(("127.0.0.1", hall.port), timeout=5)
        s.sendall(b"GET /api/mod")
        socks.append(s)
    time.sleep(0.5)
    assert fds(hall.proc.pid) <= base + 110  # the cap holds: the rest were closed at once
    time.sleep(2.5)  # past the 2 s header deadline of this server
    closed = 0
    for s in socks:
        try:
            closed += s.recv(10) == b""
        except OSError:
            closed += 1
        s.close()
    assert closed == 150
    assert fds(hall.proc.pid) <= base + 5
    with httpx.Client(base_url=hall.url, timeout=10) as c:
        assert c.get("/api/models").status_code == 401  # still serving


def test_5_the_deadlines_use_only_what_uvicorns_h11_protocol_still_has():
    """explorer.app.connections subclasses uvicorn's h11 protocol (uvicorn has no read deadline of its own):
    an uvicorn release that drops a member it relies on fails here, by name, before any hall notices."""
    import inspect

    from uvicorn.protocols.http.h11_impl import H11Protocol, RequestResponseCycle

    from explorer.app.connections import RELIES_ON, GuardedH11Protocol

    source = inspect.getsource(H11Protocol) + inspect.getsource(RequestResponseCycle)
    for kind, names in RELIES_ON.items():
        for name in names:
            assert f"def {name}(" in source or f"self.{name} =" in source or f"self.{name}:" in source, (
                f"uvicorn's h11 {kind} has no {name!r} any more: explorer.app.connections needs a new way in")
    import re

    ours = inspect.getsource(GuardedH11Protocol)
    used = {n for n in re.findall(r"self\.(\w+)", ours) if not n.startswith("_") and n != "max_connections"}
    used |= {n for n in re.findall(r"def (\w+)\(", ours) if not n.startswith("_")}
    assert used <= set(RELIES_ON["protocol"]), "GuardedH11Protocol uses a member RELIES_ON does not list"
    assert set(re.findall(r"\bcycle\.(\w+)", ours)) <= set(RELIES_ON["cycle"])


# 6. Text stays text: a hostile checkpoint's name and record reach the page as text.
@pytest.mark.browser
def test_6_html_in_checkpoint_names_and_records_stays_text(browser, tmp_path):
    evil = "<img src=x onerror=window.__pwned=1>"
    shutil.copy(CK / "mnist-z2.safetensors", tmp_path / f"{evil}.safetensors")
    shutil.copy(CK / "mnist-z2.atlas.npz", tmp_path / f"{evil}.atlas.npz")
    shutil.copy(CK / "mnist-z2.safetensors", tmp_path / "main.safetensors")
    shutil.copy(CK / "mnist-z2.atlas.npz", tmp_path / "main.atlas.npz")
    _rewrite_record(CK / "mnist-z2.safetensors", tmp_path / "<b>broken.safetensors", epochs=evil)
    shutil.copy(CK / "mnist-z2.atlas.npz", tmp_path / "<b>broken.atlas.npz")
    app = AppProcess("--checkpoint", str(tmp_path / "main.safetensors"), env={"EXPLORER_CHECKPOINTS": str(tmp_path)})
    try:
        ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
        pg = ctx.new_page()
        pg.goto(app.url)
        pg.wait_for_selector(".vx-root[data-ready]", timeout=60_000)
        pg.select_option("[data-vx=model]", evil)
        pg.wait_for_function("(n) => document.querySelector('.vx-root').dataset.ready === n", arg=evil, timeout=30_000)
        assert pg.evaluate("window.__pwned") is None
        assert pg.locator("img[src=x]").count() == 0 and pg.locator("b:text('broken')").count() == 0
        assert pg.evaluate("document.body.innerHTML.includes('<img src=\"x\"')") is False
        assert evil in pg.locator("[data-vx=modeltable]").inner_text()  # shown, as text
        assert "<b>broken: unavailable" in pg.locator("[data-vx=modeltable]").inner_text()
        assert evil in pg.locator("[data-vx=card]").inner_text()
        ctx.close()
    finally:
        app.stop()


def _rewrite_record(src, dst, **fields):
    from safetensors import safe_open
    from safetensors.numpy import load_file, save_file

    with safe_open(str(src), "numpy") as f:
        meta = dict(f.metadata())
    record = json.loads(meta["record"])
    record.update(fields)
    meta["record"] = json.dumps(record)
    save_file(load_file(str(src)), str(dst), metadata=meta)


# 7. Cross-origin: nothing readable or triggerable from another site, and the page cannot be framed.
def test_7_other_origins_get_nothing(hall):
    evil = {"Origin": "http://evil.example"}
    with logged_in(hall) as c:
        pre = c.options("/api/models/mnist-z2/encode", headers={**evil, "Access-Control-Request-Method": "POST"})
        assert "access-control-allow-origin" not in pre.headers
        assert "access-control-allow-credentials" not in pre.headers
        for path in ("/config", "/api/models", "/gradio_api/info"):
            assert "access-control-allow-origin" not in c.get(path, headers=evil).headers, path
        body = {"width": 40, "height": 40, "pixels": bar_drawing()}
        r = c.post("/api/models/mnist-z2/encode", json=body, headers=evil)
        assert r.status_code == 403
        page = c.get("/")
        csp = page.headers["content-security-policy"]
        assert "frame-ancestors 'self'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp.split(
            "style-src")[0]  # no inline script but the page's own, by hash
        assert page.headers["x-content-type-options"] == "nosniff" and page.headers["referrer-policy"] == "same-origin"


# 8. Bad input that used to reach a 500.
def test_8_bad_input_ends_in_a_4xx(hall):
    with logged_in(hall) as c:
        for literal in (b"NaN", b"Infinity", b"-Infinity"):
            body = b'{"a": [0, ' + literal + b'], "b": [1, 1]}'
            r = c.post("/api/models/mnist-z2/interpolate", content=body, headers={"content-type": "application/json"})
            assert r.status_code == 422, (literal, r.status_code, r.text)
        assert c.get("/api/models/mnist-z2/decode?x=1e308&y=0").status_code == 422

        def chunks():
            for _ in range(40):
                yield b" " * 100_000

        r = c.post("/api/models/mnist-z2/encode", content=chunks(), headers={"content-type": "application/json"})
        assert r.status_code == 413
    assert not any("Traceback" in line for line in hall.output)


# 9. Files at start-up: one line naming the file, never a traceback; a broken file spares the others.
def _atlas_variant(tmp_path, name, mutate):
    shutil.copy(CK / "mnist-z2.safetensors", tmp_path / f"{name}.safetensors")
    with np.load(CK / "mnist-z2.atlas.npz", allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(str(arrays.pop("meta")))
    meta = mutate(arrays, meta)
    np.savez_compressed(tmp_path / f"{name}.atlas.npz", meta=np.array(json.dumps(meta)), **arrays)
    return tmp_path / f"{name}.safetensors"


ATLAS_BREAKS = {
    "meta-list": lambda a, m: [m],
    "no-gap-edge": lambda a, m: {k: v for k, v in m.items() if k != "gap_edge"},
    "float-triangles": lambda a, m: (a.__setitem__("triangles", a["triangles"].astype(np.float32)), m)[1],
    "few-labels": lambda a, m: (a.__setitem__("labels", a["labels"][:10]), m)[1],
    "few-kl": lambda a, m: (a.__setitem__("kl_mean", a["kl_mean"][:1]), m)[1],
}


@pytest.mark.parametrize("name", sorted(ATLAS_BREAKS))
def test_9_a_malformed_atlas_is_one_line(tmp_path, name):
    ck = _atlas_variant(tmp_path, name, ATLAS_BREAKS[name])
    res = run_cli("--checkpoint", str(ck), "--no-browser", "--port", "1")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.count("\n") == 1 and f"{name}.atlas.npz" in res.stderr, res.stderr


# Named ids: older pytest names a parameter by its text, and 200k characters in PYTEST_CURRENT_TEST make the
# CLI's environment too long to start (seen on the GPU machine's pytest).
@pytest.mark.parametrize("record", ['{"test_elbo": {"a": 1}}', '{"test_elbo": "-99"}', "[" * 100_000 + "]" * 100_000],
                         ids=["elbo-object", "elbo-string", "nested-100k"])
def test_9_a_malformed_record_is_one_line(tmp_path, record):
    from safetensors import safe_open
    from safetensors.numpy import load_file, save_file

    with safe_open(str(CK / "mnist-z2.safetensors"), "numpy") as f:
        meta = dict(f.metadata())
    meta["record"] = record
    save_file(load_file(str(CK / "mnist-z2.safetensors")), str(tmp_path / "odd.safetensors"), metadata=meta)
    res = run_cli("--checkpoint", str(tmp_path / "odd.safetensors"), "--no-browser", "--port", "1")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.count("\n") == 1 and "odd.safetensors" in res.stderr, res.stderr


def test_9_a_zip_bomb_atlas_is_refused_unread(tmp_path):
    from explorer.store.atlas import AtlasError, load_atlas

    bomb = tmp_path / "bomb.atlas.npz"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf, zf.open("loc.npy", "w", force_zip64=True) as f:
        block = bytes(16 * 1024 * 1024)
        for _ in range(40):  # 640 MB of zeros, a few MB on disk
            f.write(block)
    assert bomb.stat().st_size < 5 * 1024 * 1024
    tracemalloc.start()
    with pytest.raises(AtlasError, match="decompress"):
        load_atlas(bomb)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 20 * 1024 * 1024


def test_9_a_broken_file_in_the_folder_spares_the_other_models(tmp_path):
    for n in ("mnist-z2", "mnist-z16"):
        shutil.copy(CK / f"{n}.safetensors", tmp_path)
        shutil.copy(CK / f"{n}.atlas.npz", tmp_path)
    _atlas_variant(tmp_path, "broken", ATLAS_BREAKS["meta-list"])
    app = AppProcess("--checkpoint", str(tmp_path / "mnist-z2.safetensors"),
                     env={"EXPLORER_CHECKPOINTS": str(tmp_path)})
    try:
        with httpx.Client(base_url=app.url, timeout=30) as c:
            r = c.get("/api/models")
            assert r.status_code == 200
            by = {m["name"]: m for m in r.json()["models"]}
            assert "broken.atlas.npz" in by["broken"]["error"] and "error" not in by["mnist-z16"]
            listing = {m["name"]: m for m in c.get("/vx/models.json").json()["models"]}
            assert "broken.atlas.npz" in listing["broken"]["error"] and "files" not in listing["broken"]
            assert c.get("/vx/" + listing["mnist-z16"]["files"]["net"]).status_code == 200
            assert c.get("/api/models/broken/decode?x=0&y=0").status_code == 503
    finally:
        app.stop()


# 10. Routes the page does not need are off, or behind the login.
def test_10_routes_the_page_does_not_need(hall):
    with httpx.Client(base_url=hall.url, timeout=30) as anon:
        for path in ("/openapi.json", "/gradio_api/heartbeat/abc", "/gradio_api/startup-events", "/gradio_api/info",
                     "/config"):
            assert anon.get(path).status_code in (401, 404), path
    with logged_in(hall) as c:
        r = c.post("/gradio_api/upload", files={"files": ("a.bin", b"x" * 1000)})
        assert r.status_code == 404
        assert c.get("/openapi.json").status_code == 404 and c.get("/docs").status_code == 404


# The lecturer's path: two students log in, draw and drag; one logs out; the other carries on.
@pytest.mark.browser
def test_lecturers_path_two_tabs_and_one_logout(browser, hall):
    tabs = []
    for _ in range(2):
        ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
        pg = ctx.new_page()
        pg.goto(hall.url)
        pg.fill("input[name=username]", AUTH[0])
        pg.fill("input[name=password]", AUTH[1])
        pg.click("button[type=submit]")
        pg.wait_for_selector(".vx-root[data-computes]", timeout=60_000)
        draw_stroke(pg, SEVEN)
        settled(pg)
        tabs.append((ctx, pg))
    (ctx_a, a), (ctx_b, b) = tabs
    a.goto(hall.url + "logout")
    a.click("button[type=submit]")
    a.wait_for_url("**/login")
    b.click("[data-vx=resample]")
    settled(b, "window.vx.result.seed === 2")
    b.click("[data-vx=step1]")  # the server's step 6 still serves the one logged in
    b.wait_for_function("window.vx.hooks.lastStep", timeout=30_000)
    h = b.locator("[data-vx=handle]").bounding_box()
    b.mouse.move(h["x"] + 15, h["y"] + 15)
    b.mouse.down()
    b.mouse.move(h["x"] + 60, h["y"] + 40, steps=5)
    b.mouse.up()
    assert b.locator(".vx-region").count() == 1
    for ctx, _ in tabs:
        ctx.close()
