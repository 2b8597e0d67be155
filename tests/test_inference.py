"""The computations behind the app's routes, on the shipped main model."""

import numpy as np
import pytest
import torch

from explorer.app.bundle import KINDS, build_file, read_container
from explorer.store.registry import read_served_model
from explorer.vae.elbo import kl_per_dim, log_bernoulli
from explorer.views.decoding import decode_point, digit_info
from explorer.views.inference import encode_drawing
from explorer.views.preprocess import BlankDrawingError, to_mnist
from explorer.views.wire import b64

from conftest import seven_canvas as _seven


@pytest.fixture(scope="module")
def z16():
    return read_served_model("mnist-z16")


def test_encode_numbers_hold_together(z16):
    res = encode_drawing(z16, _seven(), k=32, seed=5)
    zd = z16.ckpt.config.z_dim
    assert len(res["loc"]) == zd and len(res["scale"]) == zd and all(s > 0 for s in res["scale"])
    assert len(res["samples_xy"]) == 32 and len(res["mean_xy"]) == 2
    assert sum(res["kl_dims"]) == pytest.approx(res["kl"], abs=1e-3)
    assert res["elbo"] == pytest.approx(res["recon"] - res["kl_mc"], abs=1e-3)
    assert np.mean(res["recon_samples"]) == pytest.approx(res["recon"], abs=1e-2)
    # z = loc + scale * eps: the reparameterized sample.
    z, eps = np.array(res["z"]), np.array(res["eps"])
    np.testing.assert_allclose(z, np.array(res["loc"]) + np.array(res["scale"]) * eps, atol=1e-3)
    # Recompute independently from the 28x28 input.
    x = torch.from_numpy(to_mnist(_seven()).reshape(1, 784)).to(z16.ckpt.vae.device)
    loc, scale = z16.ckpt.vae.encode(x)
    assert kl_per_dim(loc, scale).sum().item() == pytest.approx(res["kl"], rel=1e-4)
    z = torch.tensor(res["z"], dtype=torch.float32, device=x.device)
    lp = log_bernoulli(z16.ckpt.vae.decoder.logits(z), x).sum(-1)
    assert lp.mean().item() == pytest.approx(res["recon"], abs=0.05)
    assert res["input"] == b64(np.round(to_mnist(_seven()).reshape(784) * 255).astype(np.uint8))


def test_same_seed_same_samples_other_seed_other(z16):
    a, b, c = (encode_drawing(z16, _seven(), k=8, seed=s) for s in (1, 1, 2))
    assert a["samples_img"] == b["samples_img"] and a["samples_img"] != c["samples_img"]
    assert a["loc"] == c["loc"]


def test_cloud_sits_near_the_mean_on_the_map(z16):
    res = encode_drawing(z16, _seven(), k=16, seed=0)
    spread = np.linalg.norm(np.array(res["samples_xy"]) - np.array(res["mean_xy"]), axis=1)
    assert np.median(spread) < 0.25 * z16.atlas.extent


def test_blank_and_bad_inputs(z16):
    with pytest.raises(BlankDrawingError):
        encode_drawing(z16, np.zeros((280, 280), np.uint8))
    with pytest.raises(ValueError):
        encode_drawing(z16, _seven(), k=0)
    with pytest.raises(ValueError):
        decode_point(z16, float("nan"), 0.0)
    with pytest.raises(IndexError):
        digit_info(z16, 10_000)


def test_decode_point_at_a_digit_is_its_mean_decoded(z16):
    i = 123
    res = decode_point(z16, *map(float, z16.atlas.xy[i]))
    np.testing.assert_allclose(res["z"], z16.atlas.loc[i], atol=1e-4)
    ref = z16.ckpt.vae.decode(torch.from_numpy(z16.atlas.loc[i][None]))[0].cpu().numpy()
    np.testing.assert_allclose(res["probs"], ref, atol=1e-5)
    d = digit_info(z16, i)
    assert d["label"] == int(z16.atlas.labels[i])


def test_the_model_files_carry_the_exact_weights_and_refuse_damage(z16):
    """The page's files: the map first (small), the networks as float16 without loss, the atlas; a file
    truncated or with a flipped byte is refused, never read."""
    files = {kind: build_file(z16, kind) for kind in KINDS}
    header, arrays = read_container(files["map"])
    assert list(arrays) == ["xy", "labels"] and len(files["map"]) < 100_000
    assert header["layers"] == {"enc": len(z16.config.hidden) + 2, "dec": len(z16.config.hidden) + 1}
    _, net = read_container(files["net"])
    vae = z16.ckpt.vae
    assert all(a.dtype == np.float16 for a in net.values())  # the shipped weights are float16-exact
    np.testing.assert_array_equal(net["dec.W0"].astype(np.float32), vae.decoder.net[0].weight.detach().cpu().numpy())
    np.testing.assert_array_equal(net["enc.W0"].astype(np.float32), vae.encoder.body[0].weight.detach().cpu().numpy())
    np.testing.assert_array_equal(net["enc.b3"].astype(np.float32), vae.encoder.fc_scale.bias.detach().cpu().numpy())
    _, atlas = read_container(files["atlas"])
    np.testing.assert_array_equal(atlas["loc"].astype(np.float32), z16.atlas.loc)
    np.testing.assert_array_equal(atlas["triangles"], z16.atlas.triangles)
    _, thumbs = read_container(files["thumbs"])
    assert thumbs["thumbs"].shape == (10_000, 392)
    for broken in (files["net"][: len(files["net"]) // 2], files["net"][:-1] + bytes([files["net"][-1] ^ 1]),
                   b"PK" + files["net"][2:]):
        with pytest.raises(ValueError, match="truncated or corrupted|not an explorer data file"):
            read_container(broken)


def test_app_never_imports_umap_or_numba():
    """Building the server and answering every route leaves umap and numba unimported."""
    import subprocess
    import sys

    code = (
        "import sys, base64\n"
        "from fastapi.testclient import TestClient\n"
        "from explorer.store.registry import ModelRegistry, read_served_model\n"
        "from explorer.app.server import create_server\n"
        "app = create_server(ModelRegistry(read_served_model('mnist-z16')))\n"
        "c = TestClient(app)\n"
        "px = base64.b64encode(bytes([0] * 1000 + [255] * 600)).decode()\n"
        "body = {'width': 40, 'height': 40, 'pixels': px}\n"
        "assert c.post('/api/models/mnist-z16/encode', json=body).status_code == 200\n"
        "assert c.post('/api/models/mnist-z16/logpx', json=body).status_code == 200\n"
        "for p in ['/api/models', '/vx/models.json', '/api/models/mnist-z16/decode?x=1&y=1',\n"
        "          '/api/models/mnist-z16/digit/3', '/api/models/mnist-z16/prior']:\n"
        "    assert c.get(p).status_code == 200, p\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('umap', 'numba', 'pynndescent')))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip().splitlines()[-1] == "[]"
