"""Pyro's ELBO equals the hand computation: Bernoulli log-likelihood (= -BCE) minus the KL."""

import pyro
import torch
import torch.nn.functional as F
from pyro import poutine
from pyro.infer import Trace_ELBO, TraceMeanField_ELBO

from explorer.vae.config import ModelConfig
from explorer.vae.elbo import kl_per_dim, log_bernoulli, log_normal, log_normal_std, log_px_iwae
from explorer.vae.model import VAE


def _vae() -> VAE:
    torch.manual_seed(1)
    return VAE(ModelConfig(z_dim=6, hidden=(64, 32)))


def _z_from_guide(vae, x, seed):
    pyro.set_rng_seed(seed)
    return poutine.trace(vae.guide).get_trace(x).nodes["latent"]["value"].detach()


def test_bernoulli_loglik_is_minus_bce(digits):
    logits = torch.randn(8, 784)
    p = torch.sigmoid(logits)
    ours = log_bernoulli(logits, digits).sum(-1)
    bce = F.binary_cross_entropy(p, digits, reduction="none").sum(-1)
    by_hand = (digits * torch.log(p) + (1 - digits) * torch.log1p(-p)).sum(-1)
    torch.testing.assert_close(ours, -bce, rtol=1e-5, atol=1e-3)
    torch.testing.assert_close(ours, by_hand, rtol=1e-5, atol=1e-3)


def test_meanfield_elbo_exact_with_fixed_z(digits):
    """TraceMeanField_ELBO = -(log p(x|z) - KL_closed_form) for the z the guide drew."""
    vae = _vae()
    with torch.no_grad():
        z = _z_from_guide(vae, digits, seed=7)
        pyro.set_rng_seed(7)
        loss = TraceMeanField_ELBO().loss(vae.model, vae.guide, digits)
        loc, scale = vae.encoder(digits)
        recon = log_bernoulli(vae.decoder.logits(z), digits).sum(-1)
        kl = kl_per_dim(loc, scale).sum(-1)
    by_hand = -(recon - kl).sum().item()
    assert abs(loss - by_hand) < 1e-5 * abs(by_hand), (loss, by_hand)


def test_trace_elbo_exact_with_fixed_z(digits):
    """Trace_ELBO with one particle = -(log p(x|z) + log p(z) - log q(z|x)) for the same z."""
    vae = _vae()
    with torch.no_grad():
        z = _z_from_guide(vae, digits, seed=3)
        pyro.set_rng_seed(3)
        loss = Trace_ELBO().loss(vae.model, vae.guide, digits)
        loc, scale = vae.encoder(digits)
        recon = log_bernoulli(vae.decoder.logits(z), digits).sum(-1)
        by_hand = -(recon + log_normal_std(z) - log_normal(z, loc, scale)).sum().item()
    assert abs(loss - by_hand) < 1e-4 * abs(by_hand), (loss, by_hand)


def test_trace_elbo_within_monte_carlo_error_of_analytic(digits):
    """Many-particle Trace_ELBO agrees with E[log p(x|z)] - KL (closed form) within 4 standard errors."""
    vae = _vae()
    n = 4000
    pyro.set_rng_seed(11)
    with torch.no_grad():
        pyro_elbo = -Trace_ELBO(num_particles=n, vectorize_particles=True).loss(vae.model, vae.guide, digits)
        loc, scale = vae.encoder(digits)
        z = loc + scale * torch.randn(n, *loc.shape)
        per = (
            log_bernoulli(vae.decoder.logits(z), digits).sum(-1) + log_normal_std(z) - log_normal(z, loc, scale)
        ).sum(-1)  # (n,) single-particle ELBO estimates of the batch
        analytic = (log_bernoulli(vae.decoder.logits(z), digits).sum(-1).mean(0)
                    - kl_per_dim(loc, scale).sum(-1)).sum().item()
    se = per.std().item() / n**0.5
    assert abs(pyro_elbo - analytic) < 4 * se * 2**0.5 + 1e-3, (pyro_elbo, analytic, se)


def test_kl_closed_form_matches_torch():
    loc, scale = torch.randn(5, 4), torch.rand(5, 4) + 0.1
    ref = torch.distributions.kl_divergence(
        torch.distributions.Normal(loc, scale), torch.distributions.Normal(0.0, 1.0)
    )
    torch.testing.assert_close(kl_per_dim(loc, scale), ref)


def test_iwae_bounds_elbo(digits):
    """log p(x) estimates with more samples are >= the ELBO on average (Burda et al.)."""
    vae = _vae()
    torch.manual_seed(0)
    with torch.no_grad():
        loc, scale = vae.encoder(digits)
        z = loc + scale * torch.randn(2000, *loc.shape)
        elbo = (log_bernoulli(vae.decoder.logits(z), digits).sum(-1).mean(0) - kl_per_dim(loc, scale).sum(-1))
    k1 = log_px_iwae(vae, digits, k=1)
    k500 = log_px_iwae(vae, digits, k=500)
    assert k500.shape == (8,)
    assert torch.all(k500 > elbo - 1.0)
    assert k500.mean() > k1.mean()
