"""The forward-pass lens: its numbers agree with Pyro's own computation on the same input."""

import numpy as np
import pyro
import pytest
import torch
from pyro import poutine
from pyro.infer import Trace_ELBO, TraceMeanField_ELBO

from explorer.store.registry import read_served_model
from explorer.views.decoding import prior_samples
from explorer.views.inference import encode_drawing, log_px_drawing
from explorer.views.preprocess import to_mnist

from conftest import seven_canvas as _seven


@pytest.fixture(scope="module")
def z16():
    return read_served_model("mnist-z16")


@pytest.fixture(scope="module")
def drawn(z16):
    canvas = _seven()
    x = torch.from_numpy(to_mnist(canvas).reshape(1, 784)).to(z16.ckpt.vae.device)  # the model's device
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
    # the panel's ELBO is a K = 64 sample estimate, within a few of its own s.e.; Pyro's is ~100x tighter
    assert res["estimator"] == "trace" and res["elbo_se"] > 0
    assert abs(res["elbo"] - elbo) < 4 * res["elbo_se"] + 0.05, (res["elbo"], elbo, res["elbo_se"])
    assert res["elbo"] == pytest.approx(res["recon"] - res["kl_mc"], abs=1e-3)  # Trace_ELBO: Monte Carlo KL
    mf = encode_drawing(z16, _seven(), k=64, seed=3, estimator="meanfield")
    assert mf["elbo"] == pytest.approx(mf["recon"] - mf["kl"], abs=1e-4)  # TraceMeanField_ELBO: closed form
    assert abs(mf["elbo"] - elbo_mf) < 4 * mf["elbo_se"] + 0.05
    assert abs(res["kl_mc"] - res["kl"]) < 4 * res["kl_mc_se"] + 0.05  # the estimate of the closed form


def test_each_sample_is_one_trace_elbo_loss_with_that_eps(z16, drawn):
    """Conditioned on the sample's z, Pyro's one-particle Trace_ELBO loss is minus the panel's sample."""
    _, x, res = drawn
    vae = z16.ckpt.vae
    for s in (0, 5, 40):
        z = torch.tensor([res["z"][s]], dtype=torch.float32, device=x.device)
        log_q = poutine.trace(vae.guide).get_trace(x).nodes["latent"]["fn"].log_prob(z).sum()
        model_tr = poutine.trace(poutine.condition(vae.model, data={"latent": z})).get_trace(x)
        loss = log_q - model_tr.log_prob_sum()  # what Trace_ELBO's one particle computes at this z
        assert -loss.item() == pytest.approx(res["elbo_samples"][s], abs=2e-3)


def test_gradient_norms_are_unbiased_estimates(z16):
    """The plain norm of a K-sample mean gradient is biased upward; the panel's estimate is not: over
    small K it agrees with the norm from K = 64 x 40 samples, where the naive one is too high."""
    from explorer.views.estimates import grad_norm_estimate

    g = torch.randn(4096, 8, generator=torch.Generator().manual_seed(0)) + torch.tensor([0.3] * 8)
    truth = float(torch.tensor([0.3] * 8).norm())
    small = [grad_norm_estimate(g[i : i + 16]) for i in range(0, 4096, 16)]
    assert np.mean([e for e, _, _ in small]) == pytest.approx(truth, rel=0.15)
    assert np.mean([n for _, _, n in small]) > 1.15 * truth  # E||mean||^2 = truth^2 + d / K
    res = encode_drawing(z16, _seven(), k=64, seed=3)
    assert res["grad_loc_norm"] <= res["grad_loc_norm_naive"] and res["grad_loc_norm_se"] > 0


def test_each_sample_scored_as_pyro_scores_obs(z16, drawn):
    """poutine.trace of the model with z fixed: the "obs" site's log-prob is the panel's log p(x|z_s)."""
    _, x, res = drawn
    vae = z16.ckpt.vae
    for s in (0, 17, 63):
        z = torch.tensor([res["z"][s]], dtype=torch.float32, device=x.device)
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
    kl = torch.distributions.kl_divergence(q, p)[0].detach().cpu().numpy()
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
    loc = torch.tensor(res["loc"], device=x.device, requires_grad=True)
    scale = torch.tensor(res["scale"], device=x.device, requires_grad=True)
    z = loc + scale * torch.tensor(res["eps"], device=x.device)
    recon = torch.distributions.Bernoulli(probs=vae.decoder(z), validate_args=False).log_prob(
        x.expand(len(res["eps"]), 784)).sum(-1).mean()
    g_loc, g_scale = torch.autograd.grad(recon, (loc, scale))
    np.testing.assert_allclose(res["grad_loc"], g_loc.cpu().numpy(), atol=2e-3, rtol=1e-2)
    np.testing.assert_allclose(res["grad_scale"], g_scale.cpu().numpy(), atol=2e-3, rtol=1e-2)
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
