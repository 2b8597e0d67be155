"""What the decoder shows without a drawing: samples of the prior, the image at a map position (the
Python reference of the page's drag) and each test digit's reconstruction (a hover)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from explorer.constants import MAX_SAMPLES, PRIOR_N, REGIONS, RNG_STREAMS
from explorer.store.registry import ServedModel
from explorer.vae import rng
from explorer.vae.model import one_hot
from explorer.views.wire import b64, to_u8, values

MAX_COORD = 1e6  # map positions beyond this are refused (a 2-D latent map decodes z = the position)


def label_onehot(m: ServedModel, label: int | None, n: int = 1) -> torch.Tensor | None:
    """The one-hot y a conditional VAE decodes with (``(n, 10)``), or None for the plain VAE."""
    labels = m.config.labels
    if not labels:
        return None
    if label is None or not 0 <= int(label) < labels:
        raise ValueError(f"this model decodes a chosen digit: label must be in 0..{labels - 1}")
    return one_hot(int(label), labels).expand(n, labels)


@torch.no_grad()
def prior_samples(m: ServedModel, n: int = PRIOR_N, seed: int = 0, label: int | None = None) -> dict[str, Any]:
    """n draws z ~ N(0, I) from the prior, their map positions and decoded images (a conditional VAE
    decodes them as ``label``; by default as the digits 0, 1, ..., 9, 0, ... in turn)."""
    if not 1 <= n <= MAX_SAMPLES:
        raise ValueError(f"n must be between 1 and {MAX_SAMPLES}, got {n}")
    z = torch.from_numpy(rng.normals(seed, RNG_STREAMS["prior"], n * m.config.z_dim).reshape(n, m.config.z_dim)).float()
    y = None
    if m.config.labels:
        y = (one_hot(torch.arange(n) % 10, 10) if label is None else label_onehot(m, label, n))
    probs = m.ckpt.vae.decode(z, y)
    return {"model": m.name, "seed": int(seed), "n": n, "z": values(z), "xy": values(m.atlas.forward(z.numpy())),
            "images": b64(to_u8(probs))}


@torch.no_grad()
def decode_point(m: ServedModel, x: float, y: float, label: int | None = None) -> dict[str, Any]:
    """The decoder's image for a map position (the Python reference for the page's own decoding);
    a conditional VAE decodes it as the digit ``label``."""
    if not (np.isfinite(x) and np.isfinite(y) and abs(x) <= MAX_COORD and abs(y) <= MAX_COORD):
        raise ValueError(f"map coordinates must be finite numbers within ±{MAX_COORD:g}")
    z, region = m.atlas.inverse(np.array([[x, y]]))
    probs = m.ckpt.vae.decode(torch.from_numpy(z), label_onehot(m, label))[0]
    return {"z": values(z[0]), "region": REGIONS[int(region[0])],
            "image": to_u8(probs).tolist(), "probs": values(probs)}


@torch.no_grad()
def digit_info(m: ServedModel, index: int) -> dict[str, Any]:
    """A test digit: its thumbnail, label, q(z|x) and the reconstruction decoded from its mean."""
    n = m.atlas.labels.shape[0]
    if not 0 <= index < n:
        raise IndexError(f"digit index must be in 0..{n - 1}, got {index}")
    loc = m.atlas.loc[index]
    return {"index": index, "label": int(m.atlas.labels[index]), "thumb": b64(m.atlas.thumbs[index]),
            "recon": b64(reconstructions(m)[index]), "loc": values(loc), "scale": values(m.atlas.scale[index]),
            "xy": values(m.atlas.xy[index])}


@torch.no_grad()
def reconstructions(m: ServedModel) -> np.ndarray:
    """The decoder's image of every test digit's guide mean (its true label for a conditional model),
    ``(N, 784)`` uint8: computed once per model in batches, then a hover is a lookup."""

    def make() -> np.ndarray:
        vae, loc = m.ckpt.vae, torch.from_numpy(m.atlas.loc)
        y = one_hot(torch.from_numpy(m.atlas.labels.astype(np.int64)), m.config.labels) if m.config.labels else None
        return np.concatenate([to_u8(vae.decode(loc[i : i + 1000], None if y is None else y[i : i + 1000]))
                               for i in range(0, loc.shape[0], 1000)])

    return m.cached("reconstructions", make)
