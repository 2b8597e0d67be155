"""The label as an observation: a conditional VAE scores the one-hot label with a Categorical."""

import math

import numpy as np
import pyro
import pytest
import torch
from pyro import poutine
from pyro.infer import Trace_ELBO

from explorer.vae.config import ModelConfig
from explorer.vae.elbo import elbo_per_label, kl_per_dim, label_posterior, log_bernoulli
from explorer.vae.model import VAE, one_hot

from conftest import run_cli
from conftest import seven_canvas as _seven


def _cvae():
    torch.manual_seed(2)
    return VAE(ModelConfig(z_dim=4, hidden=(32,), labels=10))


def test_label_site_is_an_observed_categorical(digits):
    vae = _cvae()
    y = one_hot(torch.arange(8) % 10)
    g = poutine.trace(vae.guide).get_trace(digits, y)
    tr = poutine.trace(poutine.replay(vae.model, trace=g)).get_trace(digits, y)
    node = tr.nodes["label"]
    assert node["is_observed"] and isinstance(node["fn"], pyro.distributions.OneHotCategorical)
    tr.compute_log_prob()
    assert node["log_prob"].tolist() == pytest.approx([math.log(0.1)] * 8, abs=1e-6)
    assert tr.observation_nodes == ["label", "obs"]
    with pytest.raises(ValueError, match="pass y"):
        vae.model(digits)


def test_pyro_elbo_with_label_equals_hand_computation(digits):
    vae = _cvae()
    y = one_hot(torch.arange(8) % 10)
    with torch.no_grad():
        pyro.set_rng_seed(4)
        z = poutine.trace(vae.guide).get_trace(digits, y).nodes["latent"]["value"]
        pyro.set_rng_seed(4)
        loss = Trace_ELBO().loss(vae.model, vae.guide, digits, y)
        loc, scale = vae.encode(digits, y)
        recon = log_bernoulli(vae.decoder.logits(vae.with_label(z, y)), digits).sum(-1)
        from explorer.vae.elbo import log_normal, log_normal_std

        by_hand = -(recon + log_normal_std(z) - log_normal(z, loc, scale) + math.log(0.1)).sum().item()
    assert loss == pytest.approx(by_hand, rel=1e-5)


def test_label_posterior_is_a_distribution(digits):
    vae = _cvae()
    p = label_posterior(vae, digits[:3], k=4, generator=torch.Generator().manual_seed(0))
    assert p.shape == (3, 10)
    torch.testing.assert_close(p.sum(-1), torch.ones(3))
    e = elbo_per_label(vae, digits[:3], k=4, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(torch.softmax(e, -1), p)


def test_cli_trains_the_label_aware_model(tmp_path, data_dir, mnist_train):
    from explorer.store.checkpoint import load_checkpoint

    out = tmp_path / "cvae.safetensors"
    res = run_cli("train", "--model", "cvae", "--z-dim", "3", "--hidden", "32", "--epochs", "1",
                  "--train-subset", "512", "--data-dir", str(data_dir), "--device", "cpu", "--out", str(out))
    assert res.returncode == 0, res.stderr[-2000:]
    ck = load_checkpoint(out)
    assert ck.config.labels == 10 and ck.config.kind == "cvae" and ck.record["test_elbo"] < 0


# ---------- the shipped conditional model ----------

@pytest.fixture(scope="module")
def cvae():
    from explorer.store.registry import read_served_model

    return read_served_model("mnist-cvae-z16")


def test_shipped_cvae_record(cvae):
    rec = cvae.ckpt.record
    assert rec["test_accuracy"] >= 0.9 and rec["test_elbo"] < 0 and "test_log_px" in rec
    assert cvae.summary()["kind"] == "cvae"


def test_encode_drawing_with_label_matches_pyro(cvae):
    from explorer.views.inference import encode_drawing
    from explorer.views.preprocess import to_mnist

    res = encode_drawing(cvae, _seven(), k=64, seed=1)
    assert sum(res["label_probs"]) == pytest.approx(1.0, abs=1e-3)
    assert res["label"] == int(np.argmax(res["label_probs"]))
    assert res["elbo"] == pytest.approx(res["recon"] - res["kl_mc"] + math.log(0.1), abs=1e-3)
    x = torch.from_numpy(to_mnist(_seven()).reshape(1, 784)).to(cvae.ckpt.vae.device)
    y = one_hot(res["label"])[None].to(x.device)
    pyro.set_rng_seed(0)
    with torch.no_grad():
        elbo = -Trace_ELBO(num_particles=20_000, vectorize_particles=True, max_plate_nesting=1).loss(
            cvae.ckpt.vae.model, cvae.ckpt.vae.guide, x, y)
    assert abs(res["elbo"] - elbo) < 4 * res["elbo_se"] + 0.05
    loc, scale = cvae.ckpt.vae.encode(x, y)
    assert kl_per_dim(loc, scale).sum().item() == pytest.approx(res["kl"], rel=1e-4)
    forced = encode_drawing(cvae, _seven(), k=8, seed=1, label=3)
    assert forced["label"] == 3 and forced["elbo"] != res["elbo"]
    import base64

    assert len(base64.b64decode(res["styles"])) == 10 * 784


def test_decoding_needs_a_label_for_the_conditional_model(cvae):
    from explorer.views.decoding import decode_point

    with pytest.raises(ValueError, match="label"):
        decode_point(cvae, 0.0, 0.0)
    a, b = decode_point(cvae, 0.0, 0.0, 3), decode_point(cvae, 0.0, 0.0, 8)
    assert a["z"] == b["z"] and a["image"] != b["image"]
