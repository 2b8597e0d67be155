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

from explorer.constants import ACTIVE_KL, LOGPX_K, LOGPX_MAX_K, MAX_SAMPLES, PRIOR_N, REGIONS
from explorer.elbo import kl_per_dim, label_posterior, log_bernoulli, log_px_iwae
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


def encode_drawing(m: Loaded, canvas: np.ndarray, k: int = 16, seed: int = 0,
                   label: int | None = None) -> dict[str, Any]:
    """Everything the draw panel and the forward-pass lens show for one drawing.

    The five steps of one forward pass of the VAE, with the numbers for this drawing:

    1. guide: ``loc, scale = encoder(x)``;
    2. sample: ``z = loc + scale * eps``, eps ~ N(0, I) (what ``Normal.rsample`` does for the
       ``"latent"`` site inside SVI), and the gradient of the reconstruction term with respect to
       loc and scale, which flows back through z;
    3. KL(q(z|x) || N(0, I)) in closed form, per dimension;
    4. decode and score: Bernoulli probabilities, log p(x|z) = sum x log p + (1 - x) log(1 - p)
       (minus the binary cross-entropy) per sample and where its nats go per pixel;
    5. ELBO = mean reconstruction - KL (Pyro's loss is -ELBO).

    Parameters
    ----------
    canvas : array ``(H, W)``, ink in 0..255 (uint8) or [0, 1]
    k : samples z ~ q(z|x) to draw (1..64)
    seed : seeds eps (the same seed gives the same samples)

    Returns
    -------
    For a conditional VAE the label is observed too: ``label`` (or, if None, the most probable label
    under p(y|x), by Bayes' rule with the ELBO for each label) is the y fed to encoder and decoder, and
    the ELBO gains log p(y) = log 1/10. Then the result also has ``label_probs`` (10,) and ``styles``
    (10 x 784 uint8, base64: the guide mean decoded as each digit).

    dict with ``input`` (784 uint8, base64), ``loc``/``scale``/``kl_dims``/``grad_loc``/``grad_scale``
    ``(z_dim,)``, ``eps``/``z`` ``(k, z_dim)``, ``samples_img`` (k x 784 uint8, base64),
    ``samples_xy`` ``(k, 2)``, ``mean_img``, ``mean_xy``, ``pixel_nats`` (784 floats: mean over samples
    of -log p(x_i|z)), and the terms in nats: ``recon``, ``recon_se``, ``recon_samples``, ``kl``, ``elbo``.
    """
    if not 1 <= k <= MAX_SAMPLES:
        raise ValueError(f"k must be between 1 and {MAX_SAMPLES}, got {k}")
    x28 = to_mnist(canvas)
    vae = m.ckpt.vae
    x = torch.from_numpy(x28.reshape(1, 784)).to(vae.device)
    extra: dict[str, Any] = {}
    y = None
    if vae.config.labels:
        probs_y = label_posterior(vae, x, 16, torch.Generator().manual_seed(int(seed)))[0]
        chosen = int(torch.argmax(probs_y)) if label is None else int(label)
        if not 0 <= chosen < vae.config.labels:
            raise ValueError(f"label must be in 0..{vae.config.labels - 1}")
        y = one_hot(chosen, vae.config.labels).to(vae.device)[None]
        extra = {"label": chosen, "label_probs": _r(probs_y), "log_py": -math.log(vae.config.labels)}
    with torch.no_grad():
        loc, scale = vae.encoder(vae.with_label(x, y))
        if y is not None:  # style vs content: this drawing's z decoded as each of the ten digits
            eye = torch.eye(vae.config.labels, device=vae.device)
            extra["styles"] = b64(to_u8(vae.decoder(vae.with_label(loc.expand(vae.config.labels, -1), eye))))
    gen = torch.Generator().manual_seed(int(seed))
    eps = torch.randn((k, loc.shape[1]), generator=gen).to(vae.device)
    # Step 2 with autograd on: gradients reach loc and scale through z (the reparameterization trick).
    loc_g, scale_g = loc.detach().requires_grad_(True), scale.detach().requires_grad_(True)
    z = loc_g + scale_g * eps
    logits = vae.decoder.logits(vae.with_label(z, y))
    per_pixel = log_bernoulli(logits, x)  # (k, 784) log p(x_i | z)
    recon = per_pixel.sum(-1)  # (k,) log p(x|z_s)
    grad_loc, grad_scale = torch.autograd.grad(recon.mean(), (loc_g, scale_g))
    with torch.no_grad():
        z = z.detach()
        recon = recon.detach()
        probs = torch.sigmoid(logits.detach())
        mean_probs = vae.decoder(vae.with_label(loc, y))
        kl_dims = kl_per_dim(loc, scale)[0]
        kl = kl_dims.sum()
        recon_mean = recon.mean()
        recon_se = recon.std() / k**0.5 if k > 1 else torch.tensor(float("nan"))
        xy = m.atlas.forward(torch.cat([loc, z]).cpu().numpy())
        pixel_nats = -per_pixel.detach().mean(0)
    return {
        "model": m.name,
        "seed": int(seed),
        "k": k,
        "input": b64(to_u8(x28.reshape(784))),
        "loc": _r(loc[0]),
        "scale": _r(scale[0]),
        "eps": _r(eps, 6),
        "z": _r(z, 6),
        "grad_loc": _r(grad_loc[0]),
        "grad_scale": _r(grad_scale[0]),
        "mean_img": b64(to_u8(mean_probs[0])),
        "samples_img": b64(to_u8(probs)),
        "mean_xy": _r(xy[0]),
        "samples_xy": _r(xy[1:]),
        "recon": float(recon_mean),
        "recon_se": float(recon_se),
        "recon_samples": _r(recon, 4),
        "pixel_nats": _r(pixel_nats, 3),
        "kl": float(kl),
        "kl_dims": _r(kl_dims),
        "elbo": float(recon_mean - kl) + extra.get("log_py", 0.0),
        "active_dims": int((m.atlas.kl_mean > ACTIVE_KL).sum()),
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
    return {"model": m.name, "k": k, "seed": int(seed), "label": label,
            "log_px": float(log_px_iwae(vae, x, k, generator=gen, y=y)[0])}


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
    true_label = int(m.atlas.labels[index])
    y = label_onehot(m, true_label) if m.config.labels else None
    probs = m.ckpt.vae.decode(torch.from_numpy(loc[None]), y)[0]
    return {"index": index, "label": int(m.atlas.labels[index]), "thumb": b64(m.atlas.thumbs[index]),
            "recon": b64(to_u8(probs)), "loc": _r(loc), "scale": _r(m.atlas.scale[index]),
            "xy": _r(m.atlas.xy[index])}
