"""The GPU (the design card: the app loads the VAE on the GPU when there is one). On a machine with CUDA:
the app and training pick the GPU by themselves, and the numbers they give are the CPU's numbers.

Every random number the app's answers use (eps of the samples, of the ELBO, of log p(x)) comes from a
seeded CPU generator and is then moved to the model's device, so the same drawing and seed give the
same answer on either device, to float32 rounding (cuBLAS sums in another order than CPU BLAS; TF32 is
off, torch's default). On a machine without CUDA these tests are skipped, with that reason."""

import base64
import copy

import httpx
import numpy as np
import pyro
import pytest
import torch
from pyro.infer import SVI

from explorer.store.checkpoint import load_checkpoint
from explorer.store.registry import read_served_model
from explorer.vae.config import ModelConfig, TrainConfig
from explorer.vae.runtime import pick_device
from explorer.vae.svi import make_elbo
from explorer.vae.train import train
from explorer.views.backprop import adam_steps
from explorer.views.decoding import decode_point, prior_samples
from explorer.views.inference import Drawing, encode_drawing, encode_drawings, log_px_drawing
from explorer.views.preprocess import to_mnist
from explorer.views.pyro_check import pyro_check

from conftest import AppProcess, assert_same_answer, seven_canvas, varied_drawings

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here: GPU tests skipped")

MODELS = ["mnist-z2", "mnist-z16", "mnist-z50", "mnist-cvae-z16"]
NATS = 2e-3  # float32 sums of 784 pixels in another order (cuBLAS); the H200 run passed within it


def same(gpu: dict, cpu: dict) -> None:
    """The CPU's answer: words and eps exact, images within one grey level, numbers within NATS."""
    assert_same_answer(gpu, cpu, nats=NATS, rtol=1e-4)


def test_auto_picks_the_gpu():
    assert pick_device().type == "cuda" and pick_device("auto").type == "cuda"
    assert pick_device("cpu").type == "cpu"


@pytest.mark.parametrize("name", MODELS)
def test_every_answer_on_the_gpu_is_the_cpus(name):
    gpu, cpu = read_served_model(name), read_served_model(name, "cpu")  # None/"auto": the GPU
    assert gpu.ckpt.vae.device.type == "cuda" and cpu.ckpt.vae.device.type == "cpu"
    label = 3 if gpu.config.labels else None
    for i, pic in enumerate(varied_drawings()[:4]):
        for est in ("trace", "meanfield"):
            same(encode_drawing(gpu, pic, 16, seed=i, label=label, estimator=est),
                 encode_drawing(cpu, pic, 16, seed=i, label=label, estimator=est))
        a, b = log_px_drawing(gpu, pic, 1000, seed=i), log_px_drawing(cpu, pic, 1000, seed=i)
        for key in ("log_px", "log_px_se", "ess"):
            assert a[key] == pytest.approx(b[key], rel=1e-4, abs=NATS), key
    batch = [Drawing(p, k=16, seed=s, label=label) for s, p in enumerate(varied_drawings())]
    for d, got in zip(batch, encode_drawings(gpu, batch), strict=True):  # batched on the GPU
        same(got, encode_drawing(cpu, d.canvas, d.k, d.seed, d.label, d.estimator))
    same(prior_samples(gpu, 16, seed=5, label=label), prior_samples(cpu, 16, seed=5, label=label))
    same(decode_point(gpu, 0.3, -0.2, label), decode_point(cpu, 0.3, -0.2, label))


@pytest.mark.parametrize("estimator", ["trace", "meanfield"])
def test_the_backprop_lens_on_the_gpu_is_pyros_svi_step_there(estimator):
    """Pyro draws the step's eps on the model's device (from the seed), so the GPU's step is compared with
    Pyro's own SVI step on the GPU; the step's deterministic parts equal the CPU's."""
    m = read_served_model("mnist-z16")
    res = adam_steps(m, seven_canvas(), steps=1, lr=1e-3, seed=7, estimator=estimator)
    vae = copy.deepcopy(m.ckpt.vae)
    x = torch.from_numpy(to_mnist(seven_canvas()).reshape(1, 784)).cuda()
    pyro.clear_param_store()
    svi = SVI(vae.model, vae.guide, pyro.optim.Adam({"lr": 1e-3}), loss=make_elbo(estimator))
    pyro.set_rng_seed(7)
    assert res["losses"][0] == pytest.approx(svi.step(x), abs=1e-3)
    assert res["torch_loss"] == pytest.approx(res["losses"][0], abs=0.02)
    cpu = adam_steps(read_served_model("mnist-z16", "cpu"), seven_canvas(), steps=1, lr=1e-3, seed=7,
                     estimator=estimator)
    np.testing.assert_allclose(res["loc_before"], cpu["loc_before"], atol=1e-4)
    np.testing.assert_allclose(res["scale_before"], cpu["scale_before"], atol=1e-4)


def test_training_picks_the_gpu_and_learns_what_the_cpu_learns(tmp_path):
    """The same run on each device: the checkpoint written on the GPU loads anywhere, and its test loss
    is the CPU run's within Monte Carlo noise (Pyro draws the ELBO's eps on the model's device)."""
    g = torch.Generator().manual_seed(0)
    images = (torch.rand(512, 784, generator=g) < 0.15).float() * torch.rand(512, 784, generator=g)
    from explorer.vae.data import MnistSplit

    split = lambda a, b: MnistSplit(images=images[a:b], labels=torch.zeros(b - a, dtype=torch.long),  # noqa: E731
                                    sha256="synthetic")
    small = ModelConfig(z_dim=3, hidden=(24,))
    cfg = TrainConfig(epochs=4, batch_size=64, lr=1e-2, lr_final=1e-3, seed=3, test_every=1)
    recs = {}
    for dev in ("cpu", "cuda"):
        recs[dev] = train(small, cfg, split(0, 384), split(384, 512), tmp_path / f"{dev}.safetensors",
                          pick_device(dev), progress=False)
    assert next(load_checkpoint(tmp_path / "cuda.safetensors").vae.parameters()).device.type == "cpu"
    cpu_loss, gpu_loss = recs["cpu"]["history"][-1]["test_loss"], recs["cuda"]["history"][-1]["test_loss"]
    first = recs["cuda"]["history"][0]["test_loss"]
    assert gpu_loss < first  # it learned
    assert gpu_loss == pytest.approx(cpu_loss, rel=0.03), (cpu_loss, gpu_loss)


def test_the_app_serves_on_the_gpu_and_answers_as_the_cpu_does():
    app = AppProcess("--checkpoint", "mnist-z16")
    try:
        pic = np.asarray(seven_canvas(), np.uint8)
        body = {"width": 280, "height": 280, "pixels": base64.b64encode(pic.tobytes()).decode(), "k": 16, "seed": 4}
        got = httpx.post(f"{app.url}api/models/mnist-z16/encode", json=body, timeout=120)
        assert got.status_code == 200, got.text
        assert httpx.get(f"{app.url}api/health", timeout=10).json()["devices"] == {"mnist-z16": "cuda:0"}
        assert "runs on cuda" in app.read_until("model mnist-z16 runs on", 60)
        same(got.json(), httpx.post(f"{app.url}api/models/mnist-z16/encode", json=body, timeout=60).json())
        cpu = encode_drawing(read_served_model("mnist-z16", "cpu"), pic, 16, seed=4)
        same(got.json(), cpu)
    finally:
        app.stop()


@pytest.mark.parametrize("name", [*MODELS, "mnist-z2-ae"])
def test_check_with_pyro_on_the_gpu_gives_the_pages_numbers(name):
    """"Check with Pyro" runs where the server's model is, the GPU here: Pyro's ELBO there, at the z that
    the page drew (the CPU's encode_drawing is the page's reference, held to it by tests/test_contract.py),
    gives the page's figures to float32 rounding, for both estimators."""
    gpu, cpu = read_served_model(name), read_served_model(name, "cpu")
    label = 3 if gpu.config.labels else None
    for i, pic in enumerate(varied_drawings()[:3]):
        for est in ("trace", "meanfield"):
            page = encode_drawing(cpu, pic, 16, seed=i, label=label, estimator=est)
            py = pyro_check(gpu, pic, page["z"], estimator=est, label=label)
            assert py["k"] == 16 and py["estimator"] == est
            for key in ("elbo", "recon", "kl_mc", "kl"):
                assert py[key] == pytest.approx(page[key], abs=NATS), (key, est)
            np.testing.assert_allclose(-np.array(py["losses"]), page["objective_samples"], atol=NATS, rtol=1e-5)
            assert py["input"] == page["input"]  # the 28 x 28 x that Pyro scored is the page's
