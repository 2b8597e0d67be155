"""Bad input gets a clear 4xx and the app keeps serving; no file outside the app's assets leaks;
nothing a user points the app at is unpickled."""

import base64
import pickle

import httpx
import pytest

from conftest import ROOT, AppProcess, PickleBomb, free_port, run_cli


@pytest.fixture(scope="module")
def client(app_server):
    with httpx.Client(base_url=app_server.url, timeout=30) as c:
        yield c


def _drawing(w=40, h=40, fill=255):
    return base64.b64encode(bytes([fill]) * (w * h)).decode()


@pytest.mark.parametrize("body,status,words", [
    ({"width": 40, "height": 40, "pixels": "%%%not base64%%%"}, 422, "base64"),
    ({"width": 40, "height": 40, "pixels": _drawing(20, 20)}, 422, "expected width*height"),
    ({"width": 40, "height": 40, "pixels": _drawing(40, 40) , "k": 0}, 422, "k"),
    ({"width": 40, "height": 40, "pixels": _drawing(40, 40), "k": 10_000}, 422, "k"),
    ({"width": 4, "height": 4, "pixels": _drawing(4, 4)}, 422, "width"),
    ({"width": 40, "height": 40, "pixels": base64.b64encode(bytes(40 * 40 * 4)).decode()}, 422, "expected"),  # RGBA
    ({"width": "NaN", "height": 40, "pixels": _drawing()}, 422, "width"),
    ({"height": 40, "pixels": _drawing()}, 422, "width"),
])
def test_encode_rejects_malformed_drawings(client, body, status, words):
    r = client.post("/api/models/mnist-z16/encode", json=body)
    assert r.status_code == status, r.text
    assert words in r.text


def test_blank_canvas_is_a_message_not_an_error(client):
    r = client.post("/api/models/mnist-z16/encode", json={"width": 40, "height": 40, "pixels": _drawing(fill=0)})
    assert r.status_code == 200 and r.json()["blank"] is True and "blank" in r.json()["message"]


def test_full_canvas_and_single_dot_still_encode(client):
    full = client.post("/api/models/mnist-z16/encode", json={"width": 40, "height": 40, "pixels": _drawing()})
    assert full.status_code == 200 and "elbo" in full.json()
    dot = bytearray(40 * 40)
    dot[20 * 40 + 20] = dot[20 * 40 + 21] = dot[21 * 40 + 20] = 255
    r = client.post("/api/models/mnist-z16/encode",
                    json={"width": 40, "height": 40, "pixels": base64.b64encode(bytes(dot)).decode()})
    assert r.status_code == 200 and "elbo" in r.json()


def test_huge_body_is_refused(client):
    r = client.post("/api/models/mnist-z16/encode", content=b"x" * (3 * 1024 * 1024 + 1),
                    headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert client.get("/api/models").status_code == 200  # still serving


@pytest.mark.parametrize("path,status", [
    ("/vx/data/nope.map.0123456789abcdef.bin", 404),
    ("/vx/data/mnist-z16.map.0123456789abcdef.bin", 404),
    ("/api/models/mnist-z16/digit/10000", 404),
    ("/api/models/mnist-z16/digit/-1", 404),
    ("/api/models/mnist-z16/decode?x=nan&y=0", 422),
    ("/api/models/mnist-z16/decode?x=inf&y=0", 422),
    ("/api/models/mnist-z16/decode?x=abc&y=0", 422),
    ("/api/models/mnist-z16/prior?n=100000", 422),
    ("/api/models/mnist-z16/decode?x=0&y=0&label=11", 422),
    ("/api/models/mnist-cvae-z16/decode?x=0&y=0", 422),
])
def test_out_of_range_queries(client, path, status):
    assert client.get(path).status_code == status


@pytest.mark.parametrize("path", [
    "/static/../../../../etc/passwd",
    "/static/..%2f..%2f..%2f..%2fetc%2fpasswd",
    "/vx/../../../../etc/passwd",
    "/vx/..%2f..%2f..%2f..%2fetc%2fpasswd",
    "/vx/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/vx/js/..%2f..%2f..%2fpage.py",
    "/vx//etc/passwd",
    "/gradio_api/file=/etc/passwd",
    "/gradio_api/file=../../../../../../etc/passwd",
    "/gradio_api/file=%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/file=/etc/passwd",
    "/api/models/..%2f..%2f..%2fetc%2fpasswd/decode?x=0&y=0",
    "/vx/data/..%2f..%2f..%2fpyproject.toml",
    "/vx/app/000000000000/../../explorer/app/page.py",
    "/gradio_api/file=" + str(ROOT / "pyproject.toml"),
    "/gradio_api/file=" + str(ROOT / "checkpoints" / "mnist-z16.safetensors"),
])
def test_path_traversal_probes_get_nothing(client, path):
    r = client.get(path)
    assert r.status_code in (400, 403, 404, 405, 422), (path, r.status_code)
    assert b"root:" not in r.content and b"[project]" not in r.content


def test_static_serves_only_its_own_files_named_by_their_content(client):
    from explorer.app.site import app_prefix

    app = "/" + app_prefix()
    r = client.get(app + "js/main.js", headers={"accept-encoding": "br"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
    assert r.headers["content-encoding"] == "br" and "immutable" in r.headers["cache-control"]
    assert client.get(app + "js/panels/map.js").headers["content-type"].startswith("text/javascript")
    assert client.get("/vx/app/000000000000/js/main.js").status_code == 404  # another version's: gone
    for name in ("server.py", "page.py", "js/../page.py", "../page.py", "service_worker.js", "login.css"):
        assert client.get(app + name).status_code == 404, name
    for name in ("js/main.js", "plotly.min.js", "explorer.css"):
        assert client.get(f"/vx/{name}").status_code == 404, name  # only by their content's name


def test_the_model_files_are_compressed_cached_for_good_and_the_list_revalidated(client):
    listing = client.get("/vx/models.json")
    assert listing.headers["cache-control"] == "no-cache" and listing.headers["etag"]
    assert client.get("/vx/models.json", headers={"if-none-match": listing.headers["etag"]}).status_code == 304
    files = next(m for m in listing.json()["models"] if m["name"] == "mnist-z16")["files"]
    for enc in ("br", "gzip", "identity"):
        r = client.get("/vx/" + files["net"], headers={"accept-encoding": enc})
        assert r.status_code == 200 and "immutable" in r.headers["cache-control"]
        assert r.headers.get("content-encoding", "identity") == enc and "Accept-Encoding" in r.headers["vary"]
    raw = client.get("/vx/" + files["net"], headers={"accept-encoding": "identity"})
    br = client.get("/vx/" + files["net"], headers={"accept-encoding": "br"})
    assert int(br.headers["content-length"]) < 0.8 * int(raw.headers["content-length"])


def test_pickle_as_checkpoint_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "PWNED"
    evil = tmp_path / "evil.safetensors"
    evil.write_bytes(pickle.dumps(PickleBomb(str(marker))))
    res = run_cli(*["--checkpoint", str(evil), "--no-browser", "--port", str(free_port())])
    assert res.returncode == 2 and "evil.safetensors" in res.stderr and "never loaded" in res.stderr
    assert "Traceback" not in res.stderr and not marker.exists()


def test_pickle_as_atlas_is_refused_and_never_runs(tmp_path):
    import shutil

    marker = tmp_path / "PWNED"
    ck = tmp_path / "m.safetensors"
    shutil.copy(ROOT / "checkpoints" / "mnist-z2.safetensors", ck)
    (tmp_path / "m.atlas.npz").write_bytes(pickle.dumps(PickleBomb(str(marker))))
    res = run_cli(*["--checkpoint", str(ck), "--no-browser", "--port", str(free_port())])
    assert res.returncode == 2 and "m.atlas.npz" in res.stderr and "Traceback" not in res.stderr
    assert not marker.exists()


def test_missing_checkpoint_and_port_in_use_are_one_line_errors(app_server):
    res = run_cli(*["--checkpoint", "no-such-model", "--no-browser"])
    assert res.returncode == 2 and "no such checkpoint" in res.stderr and "mnist-z16" in res.stderr
    res = run_cli(*["--no-browser", "--port", str(app_server.port)])
    assert res.returncode == 2 and f"port {app_server.port}" in res.stderr and "in use" in res.stderr


def test_auth_protects_page_and_routes_and_warns_off_loopback():
    app = AppProcess("--auth", "prof:s3cret", "--checkpoint", "mnist-z2")
    try:
        with httpx.Client(base_url=app.url, timeout=30) as c:
            assert c.get("/api/models").status_code == 401
            assert c.get("/api/models/mnist-z2/bundle").status_code == 401
            assert c.get("/config").status_code == 401  # Gradio's routes too
            page = c.get("/")
            assert page.status_code == 303 and page.headers["location"] == "/login"
            assert c.post("/login", data={"username": "prof", "password": "wrong"}).status_code == 401
            ok = c.post("/login", data={"username": "prof", "password": "s3cret"})
            assert ok.status_code == 303 and ok.headers["location"] == "/"
            assert c.get("/api/models").status_code == 200
            assert c.get("/config").status_code == 200 and c.get("/").status_code == 200
    finally:
        app.stop()
    open_app = AppProcess("--host", "0.0.0.0", "--checkpoint", "mnist-z2")
    try:
        assert any("without --auth" in line for line in open_app.output)
    finally:
        open_app.stop()


def test_share_is_off_and_loopback_is_the_default():
    from explorer.cli import build_parser

    args = build_parser().parse_args(["serve"])
    assert args.share is False and args.host == "127.0.0.1" and args.auth is None
    app = AppProcess("--checkpoint", "mnist-z2")
    try:
        # A share link would be announced before the model is built: read the output up to that line.
        with httpx.Client(base_url=app.url, timeout=30) as c:
            assert c.post("/api/models/mnist-z2/warm").status_code == 200
        app.read_until("model mnist-z2 runs on", 60)
        assert not any("public link" in line or "public URL" in line for line in app.output), app.output
    finally:
        app.stop()


def test_share_goes_through_gradios_launch_with_our_routes_and_limits():
    """Offline the share tunnel cannot open: the app says so and still serves, through Gradio's own
    Blocks.launch, with our routes, login-free API and security headers."""
    app = AppProcess("--share", "--checkpoint", "mnist-z2")
    try:
        line = app.read_until("public link:", 90)
        assert "not available" in line or "gradio.live" in line
        with httpx.Client(base_url=app.url, timeout=30) as c:
            assert c.get("/api/models").status_code == 200
            page = c.get("/")
            assert page.status_code == 200 and "frame-ancestors 'self'" in page.headers["content-security-policy"]
            assert c.post("/api/models/mnist-z2/encode", content=b"x" * 3_000_000,
                          headers={"content-type": "application/json"}).status_code == 413
    finally:
        app.stop()
