"""The forward-pass lens: its numbers agree with Pyro's own computation on the same input."""

import numpy as np
import pyro
import pytest
import torch
from pyro import poutine
from pyro.infer import Trace_ELBO, TraceMeanField_ELBO

from explorer.inference import encode_drawing, log_px_drawing, prior_samples
from explorer.preprocess import to_mnist
from explorer.registry import load_model

from conftest import seven_canvas as _seven


@pytest.fixture(scope="module")
def z16():
    return load_model("mnist-z16")


@pytest.fixture(scope="module")
def drawn(z16):
    canvas = _seven()
    x = torch.from_numpy(to_mnist(canvas).reshape(1, 784))
    return canvas, x, encode_drawing(z16, canvas, k=64, seed=3)


def test_elbo_matches_pyro_trace_elbo_within_monte_carlo_error(z16, drawn):
    _, x, res = drawn
    vae = z16.ckpt.vae
    pyro.set_rng_seed(0)
    n = 20_000
    with torch.no_grad():
        elbo = -Trace_ELBO(num_particles=n, vectorize_particles=True, max_plate_nesting=1).loss(vae.model, vae.guide, x)
        elbo_mf = -TraceMeanField_ELBO(num_particles=n, vectorize_particles=True, max_plate_nesting=1).loss(
            vae.model, vae.guide, x)
    # the panel's ELBO has the Monte Carlo error of its K=64 reconstruction samples; Pyro's is ~100x smaller
    tol = 4 * res["recon_se"] + 0.05
    assert abs(res["elbo"] - elbo) < tol, (res["elbo"], elbo, tol)
    assert abs(res["elbo"] - elbo_mf) < tol, (res["elbo"], elbo_mf, tol)
    assert res["elbo"] == pytest.approx(res["recon"] - res["kl"], abs=1e-4)


def test_each_sample_scored_as_pyro_scores_obs(z16, drawn):
    """poutine.trace of the model with z fixed: the "obs" site's log-prob is the panel's log p(x|z_s)."""
    _, x, res = drawn
    vae = z16.ckpt.vae
    for s in (0, 17, 63):
        z = torch.tensor([res["z"][s]], dtype=torch.float32)
        tr = poutine.trace(poutine.condition(vae.model, data={"latent": z})).get_trace(x)
        tr.compute_log_prob()
        assert tr.nodes["obs"]["log_prob_sum"].item() == pytest.approx(res["recon_samples"][s], abs=2e-3)


def test_kl_per_dim_matches_pyro_distributions_and_sums(z16, drawn):
    _, x, res = drawn
    vae = z16.ckpt.vae
    guide_tr = poutine.trace(vae.guide).get_trace(x)
    model_tr = poutine.trace(poutine.replay(vae.model, trace=guide_tr)).get_trace(x)
    q = guide_tr.nodes["latent"]["fn"].base_dist
    p = model_tr.nodes["latent"]["fn"].base_dist
    kl = torch.distributions.kl_divergence(q, p)[0].detach().numpy()
    np.testing.assert_allclose(res["kl_dims"], kl, atol=1e-3)
    assert sum(res["kl_dims"]) == pytest.approx(res["kl"], abs=1e-3)
    assert 0 < res["active_dims"] <= z16.ckpt.config.z_dim


def test_reparameterized_sample_carries_gradients(z16, drawn):
    _, x, res = drawn
    vae = z16.ckpt.vae
    guide_tr = poutine.trace(vae.guide).get_trace(x)
    node = guide_tr.nodes["latent"]
    assert node["fn"].has_rsample and node["value"].requires_grad  # what SVI differentiates through
    # the panel's z is loc + scale * eps, and its gradients are those of the reconstruction term
    loc = torch.tensor(res["loc"], requires_grad=True)
    scale = torch.tensor(res["scale"], requires_grad=True)
    z = loc + scale * torch.tensor(res["eps"])
    recon = torch.distributions.Bernoulli(probs=vae.decoder(z), validate_args=False).log_prob(
        x.expand(len(res["eps"]), 784)).sum(-1).mean()
    g_loc, g_scale = torch.autograd.grad(recon, (loc, scale))
    np.testing.assert_allclose(res["grad_loc"], g_loc.numpy(), atol=2e-3, rtol=1e-2)
    np.testing.assert_allclose(res["grad_scale"], g_scale.numpy(), atol=2e-3, rtol=1e-2)
    assert np.linalg.norm(res["grad_loc"]) > 0


def test_pixel_nats_sum_to_minus_the_reconstruction(drawn):
    _, _, res = drawn
    assert -sum(res["pixel_nats"]) == pytest.approx(res["recon"], abs=0.5)
    assert min(res["pixel_nats"]) >= 0


def test_log_px_estimate_sits_above_the_elbo(z16, drawn):
    canvas, _, res = drawn
    a = log_px_drawing(z16, canvas, k=1000, seed=0)["log_px"]
    b = log_px_drawing(z16, canvas, k=1000, seed=1)["log_px"]
    assert abs(a - b) < 1.0
    assert a > res["elbo"] - 4 * res["recon_se"]


def test_prior_samples(z16):
    a, b = prior_samples(z16, 16, seed=4), prior_samples(z16, 16, seed=4)
    assert a == b and len(a["xy"]) == 16 and len(a["z"][0]) == z16.ckpt.config.z_dim
