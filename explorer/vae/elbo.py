"""The ELBO of a VAE, computed by hand: the reference the tests hold Pyro (and the app) to.

For x in [0, 1]^784, q(z|x) = N(loc, scale^2) and p(z) = N(0, I):

* reconstruction  log p(x|z) = sum_pixels [x log p + (1 - x) log(1 - p)]  (= minus binary cross-entropy)
* KL(q(z|x) || p(z)) = sum_dims 0.5 (loc^2 + scale^2 - 1) - log scale     (closed form)
* ELBO = E_q[log p(x|z)] - KL;  Pyro's loss is -ELBO.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch.distributions.utils import probs_to_logits

from explorer.vae.model import VAE


def kl_per_dim(loc: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """KL(N(loc, scale^2) || N(0, 1)) per dimension, nats. Shapes ``(..., z_dim)`` -> same."""
    return 0.5 * (loc.square() + scale.square() - 1.0) - torch.log(scale)


def log_bernoulli(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Per-pixel log p(x|z) = x log p + (1 - x) log(1 - p), p = sigmoid(logits). Shape kept.

    Computed exactly as Pyro scores ``Bernoulli(probs=decoder(z))``: torch turns the probabilities
    back into logits with p clamped to [eps, 1 - eps] (float32 eps), which caps a pixel's cost near
    16 nats. Using the clamped logits keeps our numbers equal to Pyro's, not just close.
    """
    clamped = probs_to_logits(torch.sigmoid(logits), is_binary=True)
    return -F.binary_cross_entropy_with_logits(clamped, x.expand_as(logits), reduction="none")


def log_normal_std(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) summed over the last dim. ``(..., z_dim)`` -> ``(...)``."""
    return -0.5 * (z.square() + math.log(2 * math.pi)).sum(-1)


def log_normal(z: torch.Tensor, loc: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """log N(z; loc, scale^2) summed over the last dim."""
    return (-0.5 * ((z - loc) / scale).square() - torch.log(scale) - 0.5 * math.log(2 * math.pi)).sum(-1)


@torch.no_grad()
def elbo_per_label(vae: VAE, x: torch.Tensor, k: int = 16, generator: torch.Generator | None = None,
                   eps: torch.Tensor | None = None) -> torch.Tensor:
    """For a conditional VAE: ELBO(x, y) = E_q[log p(x|z, y)] - KL(q(z|x, y) || p(z)) + log p(y) for each
    of the 10 labels, with k reparameterized samples. ``x`` ``(batch, 784)`` -> ``(batch, 10)`` nats.
    ``eps`` ``(k, batch * 10, z_dim)`` gives the standard normals (default: drawn from ``generator``)."""
    n = vae.config.labels
    x = x.to(vae.device).reshape(-1, vae.config.x_dim)
    b = x.shape[0]
    ys = torch.eye(n, device=x.device).repeat(b, 1)  # (b*n, n): every label for every image
    xs = x.repeat_interleave(n, 0)
    loc, scale = vae.encoder(vae.with_label(xs, ys))
    if eps is None:
        eps = torch.randn((k, *loc.shape), generator=generator)
    eps = eps.to(x.device, loc.dtype)
    z = loc + scale * eps
    recon = log_bernoulli(vae.decoder.logits(vae.with_label(z, ys)), xs).sum(-1).mean(0)
    elbo = recon - kl_per_dim(loc, scale).sum(-1) - math.log(n)
    return elbo.reshape(b, n)


@torch.no_grad()
def label_posterior(vae: VAE, x: torch.Tensor, k: int = 16, generator: torch.Generator | None = None,
                    eps: torch.Tensor | None = None) -> torch.Tensor:
    """p(y|x) by Bayes' rule with the ELBO standing in for log p(x, y): softmax of :func:`elbo_per_label`."""
    return torch.softmax(elbo_per_label(vae, x, k, generator, eps), dim=-1)


@torch.no_grad()
def log_weights(
    vae: VAE, x: torch.Tensor, k: int, chunk: int = 100, generator: torch.Generator | None = None,
    y: torch.Tensor | None = None, eps: torch.Tensor | None = None,
) -> torch.Tensor:
    """Importance log-weights log p(x, z_i) - log q(z_i|x) of k samples z_i ~ q(z|x): ``(k, batch)``.

    For a conditional VAE (``y`` one-hot ``(batch, 10)``) the weights are of p(x, z | y). ``eps``
    ``(k, batch, z_dim)`` gives the standard normals (default: drawn from ``generator``, chunk by chunk)."""
    x = x.to(vae.device)
    y = None if y is None else y.to(vae.device)
    loc, scale = vae.encoder(vae.with_label(x, y))
    logw = []
    for start in range(0, k, chunk):
        n = min(chunk, k - start)
        e = torch.randn((n, *loc.shape), generator=generator) if eps is None else eps[start : start + n]
        z = loc + scale * e.to(x.device, loc.dtype)
        logits = vae.decoder.logits(vae.with_label(z, y))
        logw.append(log_bernoulli(logits, x).sum(-1) + log_normal_std(z) - log_normal(z, loc, scale))
    return torch.cat(logw, dim=0)


@torch.no_grad()
def log_weights_each(
    vae: VAE, x: torch.Tensor, ks: list[int], seeds: list[int], y: torch.Tensor | None = None,
    chunk: int = 100,
) -> list[torch.Tensor]:
    """Importance log-weights log p(x, z_i) - log q(z_i|x) for several images at once, each with its own
    number of samples and its own seed: image i gets ``(ks[i],)`` log-weights, sample s drawn from the
    explorer's generator (:mod:`explorer.vae.rng`, stream ``"logpx"``, draws ``s z_dim .. s z_dim + z_dim - 1``),
    the same numbers the page draws. The decoder runs once per chunk for all of them. ``x`` ``(batch, 784)``."""
    from explorer.constants import RNG_STREAMS
    from explorer.vae import rng

    x = x.to(vae.device)
    y = None if y is None else y.to(vae.device)
    loc, scale = vae.encoder(vae.with_label(x, y))
    zd = loc.shape[1]
    out: list[list[torch.Tensor]] = [[] for _ in ks]
    for start in range(0, max(ks), chunk):
        live = [i for i, k in enumerate(ks) if k > start]
        counts = [min(chunk, ks[i] - start) for i in live]
        eps = torch.from_numpy(np.concatenate([
            rng.normals(seeds[i], RNG_STREAMS["logpx"], n * zd, start * zd) for i, n in zip(live, counts, strict=True)
        ]).reshape(-1, zd)).to(x.device, loc.dtype)
        rows = torch.repeat_interleave(torch.tensor(live), torch.tensor(counts)).to(x.device)
        z = loc[rows] + scale[rows] * eps
        logits = vae.decoder.logits(vae.with_label(z, None if y is None else y[rows]))
        lw = log_bernoulli(logits, x[rows]).sum(-1) + log_normal_std(z) - log_normal(z, loc[rows], scale[rows])
        for i, part in zip(live, lw.split(counts), strict=True):
            out[i].append(part)
    return [torch.cat(parts) for parts in out]


@torch.no_grad()
def log_px_iwae(
    vae: VAE, x: torch.Tensor, k: int, chunk: int = 100, generator: torch.Generator | None = None,
    y: torch.Tensor | None = None, eps: torch.Tensor | None = None,
) -> torch.Tensor:
    """Importance-weighted estimate of log p(x) with k samples from q(z|x) (Burda et al.).

    Parameters
    ----------
    x : Tensor, shape ``(batch, 784)``
    k : number of importance samples per image
    generator : random numbers for the samples (default: torch's global generator)
    y : Tensor, shape ``(batch, 10)``, one-hot labels for a conditional VAE: then the estimate is of
        log p(x, y) = log p(x|y) + log p(y)
    eps : Tensor, shape ``(k, batch, z_dim)``, the standard normals behind the samples (default: drawn
        from ``generator``)

    Returns
    -------
    Tensor, shape ``(batch,)``, nats (a lower bound on log p(x) that tightens as k grows)
    """
    return iwae_from_weights(log_weights(vae, x, k, chunk, generator, y, eps), vae.config.labels)[0]


def iwae_from_weights(lw: torch.Tensor, labels: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """From log-weights ``(k, batch)``: the estimate log mean exp(lw) (+ log p(y)), its Monte Carlo
    standard error (delta method: sd(w) / (sqrt(k) mean(w))) and the effective sample size
    (sum w)^2 / sum w^2, each ``(batch,)``."""
    k = lw.shape[0]
    log_py = -math.log(labels) if labels else 0.0
    est = torch.logsumexp(lw, dim=0) - math.log(k) + log_py
    w = torch.exp(lw - lw.max(0).values)
    se = w.std(0) / (math.sqrt(k) * w.mean(0)) if k > 1 else torch.full_like(est, float("nan"))
    ess = w.sum(0).square() / w.square().sum(0)
    return est, se, ess
