"""How the app starts fast: no torch until the model is needed, Gradio without its stub rewriting,
the page's scripts preloaded, the torch model built in the background once a page has its data."""

import os
import select
import subprocess
import sys
import time
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
    """Everything the page needs to open (page, model list, bundle) comes without torch, pyro or
    scipy; the first drawing imports torch, builds the model and gets its answer; a page that has drawn
    a model's map asks for it to be built and is answered once it is."""
    out = run_py(
        "import sys, base64\n"
        "from fastapi.testclient import TestClient\n"
        "import explorer.cli, explorer.serve\n"
        "from explorer.registry import ModelRegistry, load_model\n"
        "from explorer.server import create_server\n"
        "asked = []\n"
        "m = load_model('mnist-z16')\n"
        "reg = ModelRegistry(m)\n"
        "c = TestClient(create_server(reg, on_warm=asked.append))\n"
        "for p in ['/', '/api/models', '/api/models/mnist-z16/bundle', '/static/plotly.min.js']:\n"
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


def test_gradio_is_imported_without_rewriting_its_type_stubs():
    out = run_py(
        "import gradio.component_meta as cm\n"  # plain import: the stub writer is Gradio's own
        "print(cm.create_or_modify_pyi.__module__)\n"
    )
    assert out.strip() == "gradio.component_meta", "Gradio renamed its stub writer: update explorer/gradio_import.py"
    out = run_py(
        "from explorer import gradio_import\n"
        "gr = gradio_import.import_gradio()\n"
        "import gradio.component_meta as cm, sys\n"
        "print(gradio_import.stub_writer_skipped, cm.create_or_modify_pyi is gradio_import._no_stubs,\n"
        "      gradio_import._SkipStubWriter in {type(f) for f in sys.meta_path}, gr.Blocks.__name__)\n"
    )
    assert out.strip() == "True True False Blocks"


def test_numpy_weights_and_digest_equal_the_torch_checkpoints():
    from explorer.checkpoint import load_checkpoint, read_weights, weights_digest
    from explorer.registry import load_model

    for name in ("mnist-z16", "mnist-cvae-z16"):
        ckpt = load_checkpoint(name)
        _, config, record, arrays = read_weights(name)
        assert config == ckpt.config and record == ckpt.record
        sd = ckpt.vae.state_dict()
        assert sorted(arrays) == sorted(sd)
        for k, a in arrays.items():
            np.testing.assert_array_equal(a, sd[k].numpy())
        assert weights_digest(arrays) == ckpt.weights_sha256
        m = load_model(name)
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

    from explorer.checkpoint import CheckpointError, read_weights, resolve_checkpoint

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
        read_weights(bad)


def test_page_response_preloads_the_scripts_it_runs():
    out = run_py(
        "from fastapi.testclient import TestClient\n"
        "from explorer.registry import ModelRegistry, load_model\n"
        "from explorer.server import create_server, page_scripts\n"
        "from explorer import __version__\n"
        "reg = ModelRegistry(load_model('mnist-z2'))\n"
        "import html, re\n"
        "c = TestClient(create_server(reg))\n"
        "r = c.get('/')\n"
        "print(r.headers.get('link'))\n"
        "head = c.get('/config').json()['head']\n"
        "srcs = [html.unescape(s) for s in re.findall(r'<script src=\"([^\"]+)\"', head)]\n"
        "print(srcs == page_scripts(__version__, 'mnist-z2'))\n"
        "r = TestClient(create_server(reg, auth=('u', 'p'))).get('/')\n"
        "print(r.headers.get('link'))\n"
    )
    link, same, with_auth = out.strip().splitlines()[-3:]
    assert link == ("</static/explorer.js?v=0.1.0&model=mnist-z2>; rel=preload; as=script, "
                    "</static/plotly.min.js?v=0.1.0>; rel=preload; as=script")
    assert same == "True"  # the preloaded URLs are exactly the ones the page runs
    assert with_auth == "None"  # behind a login the page is the login form


def _read_until(proc: subprocess.Popen, prefix: str, timeout: float) -> str:
    deadline = time.time() + timeout
    fd = proc.stdout.fileno()
    buf = ""
    while time.time() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            chunk = os.read(fd, 65536).decode()
            if not chunk:
                break
            buf += chunk
            for line in buf.splitlines():
                if line.startswith(prefix):
                    return line
    raise AssertionError(f"no line starting with {prefix!r} in {timeout} s; got:\n{buf}")


def test_the_app_builds_the_model_in_the_background_once_a_page_has_drawn_the_map():
    app = AppProcess("--checkpoint", "mnist-z2")
    try:
        req = urllib.request.Request(app.url + "api/models/mnist-z2/warm", method="POST")
        with urllib.request.urlopen(req, timeout=30) as r:
            assert r.status == 200
        line = _read_until(app.proc, "model mnist-z2 runs on", 60)
        assert "cpu" in line  # this machine has no GPU; on one, the line names cuda
        with urllib.request.urlopen(req, timeout=30) as r:
            assert b'"ready":true' in r.read()
    finally:
        app.stop()
