"""Pure computations behind the app's routes: no web framework here.

Each takes a :class:`~explorer.registry.Loaded` (a checkpoint and its atlas, read-only and shared by
all users) and uses its torch model, ``m.ckpt.vae``.
"""

from __future__ import annotations

import base64
import math
from typing import Any

import numpy as np
import torch

from explorer.constants import LOGPX_K, LOGPX_MAX_K, MAX_SAMPLES, PRIOR_N, REGIONS
from explorer.elbo import (
    iwae_from_weights,
    kl_per_dim,
    label_posterior,
    log_bernoulli,
    log_normal,
    log_normal_std,
    log_weights,
)
from explorer.model import one_hot
from explorer.preprocess import to_mnist
from explorer.registry import Loaded

MAX_COORD = 1e6  # map positions beyond this are refused (a 2-D latent map decodes z = the position)


def to_u8(probs: torch.Tensor | np.ndarray) -> np.ndarray:
    a = probs.detach().cpu().numpy() if isinstance(probs, torch.Tensor) else probs
    return np.round(np.clip(a, 0, 1) * 255).astype(np.uint8)


def b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode("ascii")


def _r(a: np.ndarray | torch.Tensor, nd: int = 4) -> list:
    a = a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
    return np.round(a.astype(np.float64), nd).tolist()


ESTIMATORS = ("trace", "meanfield")  # Pyro's Trace_ELBO (Monte Carlo KL), TraceMeanField_ELBO (closed-form KL)


def _mean_se(v: torch.Tensor) -> tuple[float, float]:
    """Mean and its standard error over the first dimension (NaN s.e. for one value)."""
    n = v.shape[0]
    return float(v.mean()), float(v.std() / math.sqrt(n)) if n > 1 else float("nan")


def grad_norm_estimate(g: torch.Tensor, boot: int = 200, seed: int = 0) -> tuple[float, float, float]:
    """From per-sample gradients ``g`` ``(K, d)``: an unbiased estimate of ||E g|| (the U-statistic
    sum_{i != j} g_i . g_j / (K (K - 1)), square-rooted at 0), its bootstrap s.e., and the plain norm of
    the mean, which is biased upward by the samples' noise."""
    k = g.shape[0]
    naive = float(g.mean(0).norm())
    if k < 2:
        return naive, float("nan"), naive

    def unbiased(x: torch.Tensor) -> torch.Tensor:
        s = x.sum(-2)
        return ((s * s).sum(-1) - (x * x).sum((-1, -2))) / (k * (k - 1))

    est = float(unbiased(g).clamp_min(0).sqrt())
    idx = torch.randint(0, k, (boot, k), generator=torch.Generator().manual_seed(seed))
    reps = unbiased(g[idx]).clamp_min(0).sqrt()
    return est, float(reps.std()), naive


def encode_drawing(m: Loaded, canvas: np.ndarray, k: int = 16, seed: int = 0,
                   label: int | None = None, estimator: str = "trace") -> dict[str, Any]:
    """Everything the draw panel and the forward-pass lens show for one drawing.

    The steps of one forward pass of the VAE, with the numbers for this drawing:

    1. guide: ``loc, scale = encoder(x)``;
    2. sample: ``z = loc + scale * eps``, eps ~ N(0, I) (what ``Normal.rsample`` does for the
       ``"latent"`` site inside SVI), and the gradient of the reconstruction term with respect to
       loc and scale, which flows back through z (per-sample gradients give an unbiased estimate of
       its norm, with a bootstrap s.e.);
    3. KL(q(z|x) || N(0, I)): ``Trace_ELBO`` estimates it by Monte Carlo, log q(z|x) - log p(z) at the
       z it drew; ``TraceMeanField_ELBO`` uses the closed form. Both are returned;
    4. decode and score: Bernoulli probabilities, log p(x|z) = sum x log p + (1 - x) log(1 - p)
       (minus the binary cross-entropy) per sample and where its nats go per pixel;
    5. ELBO: with ``estimator="trace"`` the mean over the K samples of log p(x|z) + log p(z) - log q(z|x)
       (each sample is what one ``Trace_ELBO().loss`` call computes, negated); with ``"meanfield"`` the
       mean reconstruction minus the closed-form KL. Each comes with its s.e.; Pyro's loss is -ELBO.

    Parameters
    ----------
    canvas : array ``(H, W)``, ink in 0..255 (uint8) or [0, 1]
    k : samples z ~ q(z|x) to draw (1..64)
    seed : seeds eps (the same seed gives the same samples)
    label : conditional VAE only: the observed digit (None: the most probable under p(y|x))
    estimator : ``"trace"`` or ``"meanfield"``

    Returns
    -------
    dict with ``input`` (784 uint8, base64), ``loc``/``scale``/``kl_dims``/``grad_loc``/``grad_scale``
    ``(z_dim,)``, ``eps``/``z`` ``(k, z_dim)``, ``samples_img`` (k x 784 uint8, base64),
    ``samples_xy`` ``(k, 2)``, ``mean_img``, ``mean_xy``, ``pixel_nats`` (784 floats: mean over samples
    of -log p(x_i|z)), and the terms in nats, each estimate with its ``*_se``: ``recon``,
    ``recon_samples``, ``kl`` (closed form), ``kl_mc`` (Monte Carlo), ``elbo``, ``elbo_samples``,
    ``elbo_sd`` (the spread of a single one-sample estimate), ``grad_loc_norm``, ``grad_scale_norm``
    (unbiased) and ``*_naive``. For a conditional VAE also ``label``, ``log_py`` = log 1/10,
    ``label_probs`` (10,) and ``styles`` (10 x 784 uint8, base64: the guide mean decoded as each digit).
    """
    if not 1 <= k <= MAX_SAMPLES:
        raise ValueError(f"k must be between 1 and {MAX_SAMPLES}, got {k}")
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    x28 = to_mnist(canvas)
    vae = m.ckpt.vae
    x = torch.from_numpy(x28.reshape(1, 784)).to(vae.device)
    extra: dict[str, Any] = {}
    y = None
    log_py = 0.0
    if vae.config.labels:
        probs_y = label_posterior(vae, x, 16, torch.Generator().manual_seed(int(seed)))[0]
        chosen = int(torch.argmax(probs_y)) if label is None else int(label)
        if not 0 <= chosen < vae.config.labels:
            raise ValueError(f"label must be in 0..{vae.config.labels - 1}")
        y = one_hot(chosen, vae.config.labels).to(vae.device)[None]
        log_py = -math.log(vae.config.labels)
        extra = {"label": chosen, "label_probs": _r(probs_y), "log_py": log_py}
    with torch.no_grad():
        loc, scale = vae.encoder(vae.with_label(x, y))
        if y is not None:  # style vs content: this drawing's z decoded as each of the ten digits
            eye = torch.eye(vae.config.labels, device=vae.device)
            extra["styles"] = b64(to_u8(vae.decoder(vae.with_label(loc.expand(vae.config.labels, -1), eye))))
    gen = torch.Generator().manual_seed(int(seed))
    eps = torch.randn((k, loc.shape[1]), generator=gen).to(vae.device)
    # Step 2 with autograd on: gradients reach loc and scale through z (the reparameterization trick).
    z = (loc + scale * eps).detach().requires_grad_(True)
    logits = vae.decoder.logits(vae.with_label(z, y))
    per_pixel = log_bernoulli(logits, x)  # (k, 784) log p(x_i | z)
    recon = per_pixel.sum(-1)  # (k,) log p(x|z_s)
    (g_z,) = torch.autograd.grad(recon.sum(), z)  # row s: d log p(x|z_s) / d loc; times eps_s: / d scale
    with torch.no_grad():
        g_loc, g_scale = g_z, g_z * eps
        loc_norm, loc_norm_se, loc_naive = grad_norm_estimate(g_loc, seed=int(seed))
        scale_norm, scale_norm_se, scale_naive = grad_norm_estimate(g_scale, seed=int(seed) + 1)
        z = z.detach()
        recon = recon.detach()
        probs = torch.sigmoid(logits.detach())
        mean_probs = vae.decoder(vae.with_label(loc, y))
        kl_dims = kl_per_dim(loc, scale)[0]
        kl = kl_dims.sum()
        kl_samples = log_normal(z, loc, scale) - log_normal_std(z)  # (k,) log q(z|x) - log p(z)
        recon_mean, recon_se = _mean_se(recon)
        kl_mc, kl_mc_se = _mean_se(kl_samples)
        samples = recon - kl_samples + log_py if estimator == "trace" else recon - kl + log_py
        elbo, elbo_se = _mean_se(samples)
        xy = m.atlas.forward(torch.cat([loc, z]).cpu().numpy())
        pixel_nats = -per_pixel.detach().mean(0)
    return {
        "model": m.name,
        "seed": int(seed),
        "k": k,
        "estimator": estimator,
        "input": b64(to_u8(x28.reshape(784))),
        "loc": _r(loc[0]),
        "scale": _r(scale[0]),
        "eps": _r(eps, 6),
        "z": _r(z, 6),
        "grad_loc": _r(g_loc.mean(0)),
        "grad_scale": _r(g_scale.mean(0)),
        "grad_loc_norm": loc_norm, "grad_loc_norm_se": loc_norm_se, "grad_loc_norm_naive": loc_naive,
        "grad_scale_norm": scale_norm, "grad_scale_norm_se": scale_norm_se, "grad_scale_norm_naive": scale_naive,
        "mean_img": b64(to_u8(mean_probs[0])),
        "samples_img": b64(to_u8(probs)),
        "mean_xy": _r(xy[0]),
        "samples_xy": _r(xy[1:]),
        "recon": recon_mean,
        "recon_se": recon_se,
        "recon_samples": _r(recon, 4),
        "pixel_nats": _r(pixel_nats, 3),
        "kl": float(kl),
        "kl_mc": kl_mc,
        "kl_mc_se": kl_mc_se,
        "kl_dims": _r(kl_dims),
        "elbo": elbo,
        "elbo_se": elbo_se,
        "elbo_sd": float(samples.std()) if k > 1 else float("nan"),
        "elbo_samples": _r(samples, 4),
        "active_dims": m.active_dims,
        **extra,
    }


@torch.no_grad()
def log_px_drawing(m: Loaded, canvas: np.ndarray, k: int = LOGPX_K, seed: int = 0,
                   label: int | None = None) -> dict[str, Any]:
    """Importance-weighted estimate of log p(x) for a drawing (k samples from q(z|x)), nats.

    For a conditional VAE: of log p(x, y) with y = ``label`` (or the most probable label)."""
    if not 1 <= k <= LOGPX_MAX_K:
        raise ValueError(f"k must be between 1 and {LOGPX_MAX_K}, got {k}")
    vae = m.ckpt.vae
    x = torch.from_numpy(to_mnist(canvas).reshape(1, 784)).to(vae.device)
    y = None
    if vae.config.labels:
        if label is None:
            label = int(torch.argmax(label_posterior(vae, x, 16, torch.Generator().manual_seed(int(seed)))[0]))
        y = one_hot(label, vae.config.labels)[None]
    gen = torch.Generator().manual_seed(int(seed))
    est, se, ess = iwae_from_weights(log_weights(vae, x, k, generator=gen, y=y), vae.config.labels)
    return {"model": m.name, "k": k, "seed": int(seed), "label": label, "log_px": float(est[0]),
            "log_px_se": float(se[0]), "ess": float(ess[0])}


def label_onehot(m: Loaded, label: int | None, n: int = 1) -> torch.Tensor | None:
    """The one-hot y a conditional VAE decodes with (``(n, 10)``), or None for the plain VAE."""
    labels = m.config.labels
    if not labels:
        return None
    if label is None or not 0 <= int(label) < labels:
        raise ValueError(f"this model decodes a chosen digit: label must be in 0..{labels - 1}")
    return one_hot(int(label), labels).expand(n, labels)


@torch.no_grad()
def prior_samples(m: Loaded, n: int = PRIOR_N, seed: int = 0, label: int | None = None) -> dict[str, Any]:
    """n draws z ~ N(0, I) from the prior, their map positions and decoded images (a conditional VAE
    decodes them as ``label``; by default as the digits 0, 1, ..., 9, 0, ... in turn)."""
    if not 1 <= n <= MAX_SAMPLES:
        raise ValueError(f"n must be between 1 and {MAX_SAMPLES}, got {n}")
    gen = torch.Generator().manual_seed(int(seed))
    z = torch.randn((n, m.config.z_dim), generator=gen)
    y = None
    if m.config.labels:
        y = (one_hot(torch.arange(n) % 10, 10) if label is None else label_onehot(m, label, n))
    probs = m.ckpt.vae.decode(z, y)
    return {"model": m.name, "seed": int(seed), "n": n, "z": _r(z), "xy": _r(m.atlas.forward(z.numpy())),
            "images": b64(to_u8(probs))}


@torch.no_grad()
def decode_point(m: Loaded, x: float, y: float, label: int | None = None) -> dict[str, Any]:
    """The decoder's image for a map position (the Python reference for the page's own decoding);
    a conditional VAE decodes it as the digit ``label``."""
    if not (np.isfinite(x) and np.isfinite(y) and abs(x) <= MAX_COORD and abs(y) <= MAX_COORD):
        raise ValueError(f"map coordinates must be finite numbers within ±{MAX_COORD:g}")
    z, region = m.atlas.inverse(np.array([[x, y]]))
    probs = m.ckpt.vae.decode(torch.from_numpy(z), label_onehot(m, label))[0]
    return {"z": _r(z[0], 6), "region": REGIONS[int(region[0])],
            "image": to_u8(probs).tolist(), "probs": _r(probs, 6)}


@torch.no_grad()
def digit_info(m: Loaded, index: int) -> dict[str, Any]:
    """A test digit: its thumbnail, label, q(z|x) and the reconstruction decoded from its mean."""
    n = m.atlas.labels.shape[0]
    if not 0 <= index < n:
        raise IndexError(f"digit index must be in 0..{n - 1}, got {index}")
    loc = m.atlas.loc[index]
    return {"index": index, "label": int(m.atlas.labels[index]), "thumb": b64(m.atlas.thumbs[index]),
            "recon": b64(reconstructions(m)[index]), "loc": _r(loc), "scale": _r(m.atlas.scale[index]),
            "xy": _r(m.atlas.xy[index])}


@torch.no_grad()
def reconstructions(m: Loaded) -> np.ndarray:
    """The decoder's image of every test digit's guide mean (its true label for a conditional model),
    ``(N, 784)`` uint8: computed once per model in batches, then a hover is a lookup."""

    def make() -> np.ndarray:
        vae, loc = m.ckpt.vae, torch.from_numpy(m.atlas.loc)
        y = one_hot(torch.from_numpy(m.atlas.labels.astype(np.int64)), m.config.labels) if m.config.labels else None
        return np.concatenate([to_u8(vae.decode(loc[i : i + 1000], None if y is None else y[i : i + 1000]))
                               for i in range(0, loc.shape[0], 1000)])

    return m.cached("reconstructions", make)
