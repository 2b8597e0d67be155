"""Pure computations behind the app's routes: no web framework here.

Each takes a :class:`~explorer.store.registry.ServedModel` (a checkpoint and its atlas, read-only and shared by
all users) and uses its torch model, ``m.ckpt.vae``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from explorer.constants import DEFAULT_K, LABEL_K, LOGPX_K, LOGPX_MAX_K, MAX_SAMPLES, RNG_STREAMS
from explorer.store.registry import ServedModel
from explorer.vae import rng
from explorer.vae.elbo import (
    iwae_from_weights,
    kl_per_dim,
    label_posterior,
    log_bernoulli,
    log_normal,
    log_normal_std,
    log_weights_each,
)
from explorer.vae.model import one_hot
from explorer.views.estimates import grad_norm_estimate, mean_se
from explorer.views.preprocess import to_mnist
from explorer.views.wire import b64, to_u8, values

ESTIMATORS = ("trace", "meanfield")  # Pyro's Trace_ELBO (Monte Carlo KL), TraceMeanField_ELBO (closed-form KL)


@dataclass(frozen=True)
class Drawing:
    """One request's drawing and its choices: what :func:`encode_drawings` and :func:`log_px_drawings` take.

    ``canvas`` is ``(H, W)`` ink in 0..255 (uint8) or [0, 1]; ``label`` is the observed digit for a
    conditional VAE (None: the most probable under p(y|x)); ``estimator`` is ``"trace"`` or ``"meanfield"``."""

    canvas: np.ndarray
    k: int = DEFAULT_K
    seed: int = 0
    label: int | None = None
    estimator: str = "trace"


def encode_drawing(m: ServedModel, canvas: np.ndarray, k: int = DEFAULT_K, seed: int = 0,
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
    return _one(encode_drawings(m, [Drawing(canvas, k, seed, label, estimator)]))


def _one(answers: list[dict[str, Any] | Exception]) -> dict[str, Any]:
    if isinstance(answers[0], Exception):
        raise answers[0]
    return answers[0]


def _prepare(m: ServedModel, d: Drawing, max_k: int) -> tuple[torch.Tensor, torch.Tensor | None, dict[str, Any]]:
    """A drawing's x ``(1, 784)``, its one-hot label ``(1, 10)`` (conditional VAE) and the label fields of
    the answer. Bad values raise ``ValueError`` (a blank canvas: ``BlankDrawingError``)."""
    if not 1 <= d.k <= max_k:
        raise ValueError(f"k must be between 1 and {max_k}, got {d.k}")
    if d.estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}, got {d.estimator!r}")
    vae = m.ckpt.vae
    x = torch.from_numpy(to_mnist(d.canvas).reshape(1, 784)).to(vae.device)
    if not vae.config.labels:
        return x, None, {}
    probs_y = label_posterior(vae, x, eps=label_eps(d.seed, vae.config.labels, vae.config.z_dim))[0]
    chosen = int(torch.argmax(probs_y)) if d.label is None else int(d.label)
    if not 0 <= chosen < vae.config.labels:
        raise ValueError(f"label must be in 0..{vae.config.labels - 1}")
    y = one_hot(chosen, vae.config.labels).to(vae.device)[None]
    return x, y, {"label": chosen, "label_probs": values(probs_y), "log_py": -math.log(vae.config.labels)}


def eps_for(seed: int, k: int, z_dim: int) -> torch.Tensor:
    """The K standard normals eps ``(k, z_dim)`` behind a drawing's samples z = loc + scale * eps: draws
    ``0 .. k z_dim - 1`` of the explorer's generator (stream ``"eps"``), rounded to float32 as the model
    computes; the page draws the very same numbers."""
    return torch.from_numpy(rng.normals(seed, RNG_STREAMS["eps"], k * z_dim).reshape(k, z_dim)).float()


def label_eps(seed: int, labels: int, z_dim: int, k: int = LABEL_K) -> torch.Tensor:
    """The normals behind p(y|x) of one drawing, ``(k, labels, z_dim)`` (stream ``"labels"``)."""
    return torch.from_numpy(rng.normals(seed, RNG_STREAMS["labels"], k * labels * z_dim)
                            .reshape(k, labels, z_dim)).float()


@dataclass(frozen=True)
class _Batch:
    """The good drawings of a request batch: their places in it, the drawings, x ``(b, 784)``, the one-hot
    labels ``(b, 10)`` (conditional VAE, else None) and each one's label fields of the answer."""

    index: list[int]
    drawings: list[Drawing]
    x: torch.Tensor
    y: torch.Tensor | None
    extra: list[dict[str, Any]]


def _each(m: ServedModel, drawings: list[Drawing], max_k: int) -> tuple[list[Any], _Batch | None]:
    """Answers so far (a ``ValueError`` for each bad drawing), and the good drawings (None if none)."""
    answers: list[Any] = [None] * len(drawings)
    good, prepared = [], []
    for i, d in enumerate(drawings):
        try:
            prepared.append(_prepare(m, d, max_k))
            good.append(i)
        except ValueError as exc:
            answers[i] = exc
    if not good:
        return answers, None
    y = torch.cat([p[1] for p in prepared]) if m.config.labels else None
    return answers, _Batch(good, [drawings[i] for i in good], torch.cat([p[0] for p in prepared]), y,
                           [p[2] for p in prepared])


def encode_drawings(m: ServedModel, drawings: list[Drawing]) -> list[dict[str, Any] | Exception]:
    """:func:`encode_drawing` for many drawings at once (dynamic micro-batching): one encoder pass, one
    decoder pass and one backward pass for all of them. Each answer is the single one's (each drawing
    draws its eps from its own seeded generator); a bad drawing's answer is its ``ValueError``."""
    answers, batch = _each(m, drawings, MAX_SAMPLES)
    if batch is None:
        return answers
    vae, good, ds, x, y = m.ckpt.vae, batch.index, batch.drawings, batch.x, batch.y
    ks = [d.k for d in ds]
    rows = torch.repeat_interleave(torch.arange(len(ds)), torch.tensor(ks)).to(vae.device)
    with torch.no_grad():
        loc, scale = vae.encoder(vae.with_label(x, y))
        if y is not None:  # style vs content: each drawing's z decoded as each of the ten digits
            eye = torch.eye(vae.config.labels, device=vae.device).repeat(len(ds), 1)
            styles = to_u8(vae.decoder(vae.with_label(loc.repeat_interleave(vae.config.labels, 0), eye)))
    eps = torch.cat([eps_for(d.seed, d.k, loc.shape[1]) for d in ds]).to(vae.device)
    # Step 2 with autograd on: gradients reach loc and scale through z (the reparameterization trick).
    z = (loc[rows] + scale[rows] * eps).detach().requires_grad_(True)
    y_rows = None if y is None else y[rows]
    logits = vae.decoder.logits(vae.with_label(z, y_rows))
    per_pixel = log_bernoulli(logits, x[rows])  # (sum k, 784) log p(x_i | z)
    recon = per_pixel.sum(-1)  # log p(x|z_s) for every sample of every drawing
    (g_z,) = torch.autograd.grad(recon.sum(), z)  # row s: d log p(x|z_s) / d loc; times eps_s: / d scale
    with torch.no_grad():
        probs = torch.sigmoid(logits.detach())
        mean_probs = vae.decoder(vae.with_label(loc, y))
        xy = m.atlas.forward(torch.cat([loc, z.detach()]).cpu().numpy())
        start = 0
        for j, (i, d) in enumerate(zip(good, ds, strict=True)):
            s = slice(start, start + d.k)
            start += d.k
            extra = batch.extra[j]
            if y is not None:
                extra = {**extra, "styles": b64(styles[j * vae.config.labels : (j + 1) * vae.config.labels])}
            xy_j = np.concatenate([xy[j : j + 1], xy[len(ds) + s.start : len(ds) + s.stop]])  # mean, samples
            answers[i] = _encode_answer(m, d, x[j : j + 1], loc[j : j + 1], scale[j : j + 1], eps[s], z[s].detach(),
                                        recon[s].detach(), per_pixel[s].detach(), g_z[s], probs[s], mean_probs[j],
                                        xy_j, extra)
    return answers


def _encode_answer(m: ServedModel, d: Drawing, x: torch.Tensor, loc: torch.Tensor, scale: torch.Tensor,
                   eps: torch.Tensor, z: torch.Tensor, recon: torch.Tensor, per_pixel: torch.Tensor,
                   g_z: torch.Tensor, probs: torch.Tensor, mean_probs: torch.Tensor, xy: np.ndarray,
                   extra: dict[str, Any]) -> dict[str, Any]:
    """One drawing's answer from its rows of the batch (shapes as for one drawing: ``(1, z_dim)``,
    ``(k, ...)``); ``xy`` ``(1 + k, 2)`` is the mean's map position, then the samples'."""
    k, seed, log_py = d.k, int(d.seed), extra.get("log_py", 0.0)
    g_loc, g_scale = g_z, g_z * eps
    loc_norm, loc_norm_se, loc_naive = grad_norm_estimate(g_loc, seed=seed, stream=RNG_STREAMS["boot_loc"])
    scale_norm, scale_norm_se, scale_naive = grad_norm_estimate(g_scale, seed=seed, stream=RNG_STREAMS["boot_scale"])
    kl_dims = kl_per_dim(loc, scale)[0]
    kl = kl_dims.sum()
    kl_samples = log_normal(z, loc, scale) - log_normal_std(z)  # (k,) log q(z|x) - log p(z)
    recon_mean, recon_se = mean_se(recon)
    kl_mc, kl_mc_se = mean_se(kl_samples)
    kl_term = kl_samples if d.estimator == "trace" else kl
    samples = recon - kl_term + log_py
    elbo, elbo_se = mean_se(samples)
    # What SVI optimises for a model whose KL is weighted (a beta-VAE, an autoencoder): minus Pyro's loss
    w = m.config.kl_weight
    objective = samples if w == 1.0 else recon - w * kl_term + log_py
    return {
        "model": m.name,
        "seed": seed,
        "k": k,
        "estimator": d.estimator,
        "input": b64(to_u8(x.reshape(784))),
        "loc": values(loc[0]),
        "scale": values(scale[0]),
        "eps": values(eps),
        "z": values(z),
        "grad_loc": values(g_loc.mean(0)),
        "grad_scale": values(g_scale.mean(0)),
        "grad_loc_norm": loc_norm, "grad_loc_norm_se": loc_norm_se, "grad_loc_norm_naive": loc_naive,
        "grad_scale_norm": scale_norm, "grad_scale_norm_se": scale_norm_se, "grad_scale_norm_naive": scale_naive,
        "mean_img": b64(to_u8(mean_probs)),
        "samples_img": b64(to_u8(probs)),
        "mean_xy": values(xy[0]),
        "samples_xy": values(xy[1:]),
        "recon": recon_mean,
        "recon_se": recon_se,
        "recon_samples": values(recon),
        "pixel_nats": values(-per_pixel.mean(0)),
        "kl": float(kl),
        "kl_mc": kl_mc,
        "kl_mc_se": kl_mc_se,
        "kl_dims": values(kl_dims),
        "elbo": elbo,
        "elbo_se": elbo_se,
        "elbo_sd": float(samples.std()) if k > 1 else float("nan"),
        "elbo_samples": values(samples),
        "kl_weight": w,
        "objective": elbo if w == 1.0 else mean_se(objective)[0],
        "objective_samples": values(objective),
        "active_dims": m.active_dims,
        **extra,
    }


def log_px_drawing(m: ServedModel, canvas: np.ndarray, k: int = LOGPX_K, seed: int = 0,
                   label: int | None = None) -> dict[str, Any]:
    """Importance-weighted estimate of log p(x) for a drawing (k samples from q(z|x)), nats.

    For a conditional VAE: of log p(x, y) with y = ``label`` (or the most probable label)."""
    return _one(log_px_drawings(m, [Drawing(canvas, k, seed, label)]))


@torch.no_grad()
def log_px_drawings(m: ServedModel, drawings: list[Drawing]) -> list[dict[str, Any] | Exception]:
    """:func:`log_px_drawing` for many drawings at once: the importance samples of all of them go
    through the decoder together, each drawing's from its own seeded generator (its answer is the
    single one's). A bad drawing's answer is its ``ValueError``."""
    answers, batch = _each(m, drawings, LOGPX_MAX_K)
    if batch is None:
        return answers
    vae = m.ckpt.vae
    lw = log_weights_each(vae, batch.x, [d.k for d in batch.drawings], [int(d.seed) for d in batch.drawings], batch.y)
    for j, (i, d) in enumerate(zip(batch.index, batch.drawings, strict=True)):
        est, se, ess = iwae_from_weights(lw[j][:, None], vae.config.labels)
        answers[i] = {"model": m.name, "k": d.k, "seed": int(d.seed), "label": batch.extra[j].get("label"),
                      "log_px": float(est[0]), "log_px_se": float(se[0]), "ess": float(ess[0])}
    return answers
