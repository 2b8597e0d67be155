"""How the app starts fast: no torch until the model is needed, Gradio without its stub rewriting,
the page's scripts preloaded, the torch model built in the background once a page has its data."""

import subprocess
import sys
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import AppProcess

ROOT = Path(__file__).resolve().parent.parent


def run_py(code: str, timeout: int = 180) -> str:
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout


def test_page_is_served_before_torch_is_imported_and_a_drawing_builds_the_model():
    """Everything the page needs to open and compute (the page, its modules, the model list, the model's
    files) comes without torch, pyro or scipy; the first server-side drawing imports torch, builds the
    model and gets its answer; a model asked to warm is built."""
    out = run_py(
        "import sys, base64\n"
        "from fastapi.testclient import TestClient\n"
        "import explorer.cli, explorer.app.startup\n"
        "from explorer.store.registry import ModelRegistry, read_served_model\n"
        "from explorer.app.server import create_server\n"
        "asked = []\n"
        "m = read_served_model('mnist-z16')\n"
        "reg = ModelRegistry(m)\n"
        "c = TestClient(create_server(reg, on_warm=asked.append))\n"
        "from explorer.app.site import app_prefix\n"
        "files = c.get('/vx/models.json').json()['models'][0]['files']\n"
        "for p in ['/', '/api/models', '/' + app_prefix() + 'js/main.js', *('/vx/' + f for f in files.values())]:\n"
        "    assert c.get(p).status_code == 200, p\n"
        "heavy = lambda: sorted(k for k in ('torch', 'pyro', 'scipy', 'torchvision') if k in sys.modules)\n"
        "print('before', heavy(), m.ready)\n"
        "px = base64.b64encode(bytes([0] * 1000 + [255] * 600)).decode()\n"
        "r = c.post('/api/models/mnist-z16/encode', json={'width': 40, 'height': 40, 'pixels': px})\n"
        "assert r.status_code == 200 and len(r.json()['loc']) == 16, r.text\n"
        "print('after', heavy(), m.ready)\n"
        "w = c.post('/api/models/mnist-cvae-z16/warm').json()\n"
        "print('warm', w, asked, reg.get('mnist-cvae-z16').ready)\n"
        "c.post('/api/models/mnist-z16/warm')\n"  # already built: nothing asked
        "print('again', asked)\n"
    )
    lines = out.strip().splitlines()
    assert lines[-4] == "before [] False"
    assert lines[-3] == "after ['pyro', 'torch'] True"
    assert lines[-2] == "warm {'name': 'mnist-cvae-z16', 'ready': True} ['mnist-cvae-z16'] True"
    assert lines[-1] == "again ['mnist-cvae-z16']"


def test_gradio_is_imported_without_parsing_its_type_stubs_and_only_for_that_import():
    """The effect: importing Gradio through ``import_gradio`` runs Gradio's stub writer for no component
    class (a plain ``import gradio`` runs it for each), and afterwards the writer is Gradio's own again."""
    count = (
        "import cProfile, pstats, sys\n"
        "prof = cProfile.Profile()\n"
        "prof.enable()\n"
        "{imp}\n"
        "prof.disable()\n"
        "calls = sum(v[1] for k, v in pstats.Stats(prof).stats.items() if k[2] == 'create_or_modify_pyi')\n"
        "import gradio.component_meta as cm\n"
        "print(calls, cm.create_or_modify_pyi.__module__, cm.create_or_modify_pyi.__name__)\n"
    )
    plain = run_py(count.format(imp="import gradio")).split()
    assert int(plain[0]) > 20 and plain[1:] == ["gradio.component_meta", "create_or_modify_pyi"], plain
    ours = run_py(count.format(imp="from explorer.app.gradio_import import import_gradio\nimport_gradio()")).split()
    assert ours == ["0", "gradio.component_meta", "create_or_modify_pyi"], ours
    out = run_py("from explorer.app.gradio_import import _SkipStubWriter, import_gradio\n"
                 "import sys\n"
                 "gr = import_gradio()\n"
                 "print(gr.Blocks.__name__, any(isinstance(f, _SkipStubWriter) for f in sys.meta_path))\n")
    assert out.split() == ["Blocks", "False"]


def test_numpy_weights_and_digest_equal_the_torch_checkpoints():
    from explorer.store.checkpoint import load_checkpoint, read_checkpoint_arrays, weights_digest
    from explorer.store.registry import read_served_model

    for name in ("mnist-z16", "mnist-cvae-z16"):
        ckpt = load_checkpoint(name)
        _, config, record, arrays = read_checkpoint_arrays(name)
        assert config == ckpt.config and record == ckpt.record
        sd = ckpt.vae.state_dict()
        assert sorted(arrays) == sorted(sd)
        for k, a in arrays.items():
            np.testing.assert_array_equal(a, sd[k].numpy())
        assert weights_digest(arrays) == ckpt.weights_sha256
        m = read_served_model(name)
        assert not m.ready
        linears = [mod for mod in ckpt.vae.decoder.net if isinstance(mod, torch.nn.Linear)]
        assert len(m.decoder_layers) == len(linears)
        for (w, b), lin in zip(m.decoder_layers, linears, strict=True):
            np.testing.assert_array_equal(w, lin.weight.detach().numpy())
            np.testing.assert_array_equal(b, lin.bias.detach().numpy())
        assert m.ckpt.weights_sha256 == m.weights_sha256 and m.ready


def test_non_finite_weights_are_refused_when_read(tmp_path):
    """Non-finite weights are caught by the NumPy read at the app's start, with the file named."""
    from safetensors.numpy import load_file, save_file

    from explorer.store.checkpoint import CheckpointError, read_checkpoint_arrays, resolve_checkpoint

    src = resolve_checkpoint("mnist-z2")
    from safetensors import safe_open

    with safe_open(str(src), "numpy") as f:
        meta = f.metadata()
    arrays = load_file(str(src))
    arrays["decoder.net.0.weight"] = arrays["decoder.net.0.weight"].copy()
    arrays["decoder.net.0.weight"][0, 0] = np.nan
    bad = tmp_path / "nan.safetensors"
    save_file(arrays, str(bad), metadata=meta)
    with pytest.raises(CheckpointError, match=r"nan\.safetensors.*NaN"):
        read_checkpoint_arrays(bad)


def test_page_response_preloads_the_scripts_it_runs():
    out = run_py(
        "from fastapi.testclient import TestClient\n"
        "from explorer.store.registry import ModelRegistry, read_served_model\n"
        "from explorer.app.server import create_server\n"
        "from explorer.app.site import app_files, app_prefix\n"
        "reg = ModelRegistry(read_served_model('mnist-z2'))\n"
        "import html, re\n"
        "c = TestClient(create_server(reg))\n"
        "r = c.get('/')\n"
        "print(r.headers.get('link'))\n"
        "head = c.get('/config').json()['head']\n"
        "print([html.unescape(s) for s in re.findall(r'<script type=\"module\" src=\"([^\"]+)\"', head)])\n"
        "print(['/' + app_prefix() + n for n in app_files()[1] if n.endswith('.js')])\n"
        "print(all(c.get(u).status_code == 200 for u in re.findall(r'<([^>]+)>', r.headers.get('link'))))\n"
        "r = TestClient(create_server(reg, auth=('u', 'p'))).get('/', follow_redirects=False)\n"
        "print(r.status_code, r.headers.get('location'), r.headers.get('link'))\n"
    )
    link, head_modules, modules, served, with_auth = out.strip().splitlines()[-5:]
    modules = eval(modules)
    main = [u for u in modules if u.endswith("/js/main.js")]
    assert eval(head_modules) == main and len(main) == 1
    assert len(modules) >= 20 and any(u.endswith("/js/panels/map.js") for u in modules)
    preloaded = [u.split(">")[0].lstrip("<") for u in link.split(", ")]
    maps = [u for u in preloaded if u.startswith("/vx/data/")]
    assert len(maps) == 1 and maps[0].startswith("/vx/data/mnist-z2.map.")  # the default model's map, early
    assert set(preloaded) == {*(u for u in modules if not u.endswith("/js/worker.js")), "/vx/models.json", *maps}
    assert served == "True"  # every preloaded file exists
    assert with_auth == "303 /login None"  # behind a login the page is the login form


def test_the_app_builds_the_model_in_the_background_once_a_page_has_drawn_the_map():
    app = AppProcess("--checkpoint", "mnist-z2")
    try:
        req = urllib.request.Request(app.url + "api/models/mnist-z2/warm", method="POST")
        with urllib.request.urlopen(req, timeout=30) as r:
            assert r.status == 200
        line = app.read_until("model mnist-z2 runs on", 60)
        assert ("cuda" if torch.cuda.is_available() else "cpu") in line  # auto: the GPU when there is one
        with urllib.request.urlopen(req, timeout=30) as r:
            assert b'"ready":true' in r.read()
    finally:
        app.stop()


def test_the_servers_connections_send_without_waiting_for_acks():
    """Nagle's algorithm off on every accepted connection: with it on, a response's body waited for the
    client's delayed ACK of its headers, 40 ms on each request after the first on a kept-alive
    connection (asyncio turns it off only where the socket's protocol says TCP)."""
    import socket

    from explorer.app.startup import listen

    server = listen("127.0.0.1", 0)
    try:
        client = socket.create_connection(server.getsockname())
        conn, _ = server.accept()
        assert conn.proto == socket.IPPROTO_TCP  # what asyncio checks before it sets TCP_NODELAY itself
        assert conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        conn.close()
        client.close()
    finally:
        server.close()
