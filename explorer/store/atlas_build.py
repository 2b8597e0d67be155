"""Building an atlas (``python -m explorer atlas``): the only place that imports umap."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from explorer.store.atlas import FORMAT, Atlas, atlas_path_for, quantize_thumbs, save_atlas, triangulate
from explorer.store.checkpoint import load_checkpoint
from explorer.vae.data import load_mnist
from explorer.vae.elbo import kl_per_dim
from explorer.vae.model import VAE, one_hot


def encode_all(vae: VAE, images: torch.Tensor, labels: torch.Tensor | None = None,
               batch: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """Guide loc and scale of ``images`` ``(N, 784)`` -> two float32 arrays ``(N, z_dim)``.

    A conditional VAE encodes each digit with its true ``labels`` ``(N,)``."""
    locs, scales = [], []
    ys = one_hot(labels, vae.config.labels).split(batch) if vae.config.labels else [None] * len(images.split(batch))
    for chunk, y in zip(images.split(batch), ys, strict=True):
        loc, scale = vae.encode(chunk, y)
        locs.append(loc.cpu())
        scales.append(scale.cpu())
    return torch.cat(locs).numpy(), torch.cat(scales).numpy()


def half_exact(a: np.ndarray) -> np.ndarray:
    """The guide means as the page receives them: rounded to float16 (about 3 significant digits, far
    finer than the map's use of them), stored as float32 so that Python maps with the very same values."""
    return a.astype(np.float16).astype(np.float32)


def fit_umap(loc: np.ndarray, seed: int, n_neighbors: int = 15, min_dist: float = 0.1):
    import umap  # heavy (numba); only at atlas time

    reducer = umap.UMAP(n_neighbors=n_neighbors, min_dist=min_dist, random_state=seed, verbose=False)
    xy = reducer.fit_transform(loc).astype(np.float32)
    return reducer, xy


def mapping_agreement(reference: np.ndarray, ours: np.ndarray, extent: float) -> dict[str, float]:
    """Deviation of our forward mapping from UMAP's transform, as fractions of the map's extent."""
    dev = np.linalg.norm(reference - ours, axis=1) / extent
    return {"median": float(np.median(dev)), "p90": float(np.quantile(dev, 0.9)), "n": int(dev.size)}


def build_atlas(
    checkpoint: str | Path,
    data_dir: str | Path | None = None,
    out: Path | None = None,
    seed: int = 0,
    holdout: int = 1000,
    progress: bool = True,
    xy_given: np.ndarray | None = None,
    map_meta: dict[str, Any] | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Build and save the atlas of ``checkpoint``; returns its path and metadata. ``xy_given`` ``(N, 2)``:
    the map is that (the timeline's last moment: :mod:`explorer.store.timeline_build`), described by ``map_meta``."""
    ckpt = load_checkpoint(checkpoint)
    out = out or atlas_path_for(ckpt.path)
    steps = tqdm(total=5, desc=f"atlas {ckpt.name}", disable=not progress, unit="step")
    t0 = time.perf_counter()

    steps.set_postfix_str("encoding the test digits")
    test = load_mnist(False, data_dir)
    loc, scale = encode_all(ckpt.vae, test.images, test.labels)
    loc = half_exact(loc)  # the map, the page and Python all use these values
    kl_mean = kl_per_dim(torch.from_numpy(loc), torch.from_numpy(scale)).mean(0).numpy()
    steps.update()

    steps.set_postfix_str("projecting to 2-D (UMAP)" if loc.shape[1] != 2 else "2-D latent: no UMAP")
    meta: dict[str, Any] = {
        "format": FORMAT,
        "checkpoint": ckpt.path.name,
        "weights_sha256": ckpt.weights_sha256,
        "test_sha256": test.sha256,
        "seed": seed,
    }
    reducer = None
    if loc.shape[1] == 2:
        xy = loc.copy()
        meta["map"] = "latent"
    elif xy_given is not None:
        xy = np.asarray(xy_given, np.float32)
        meta.update({"map": "umap", **(map_meta or {})})
    else:
        reducer, xy = fit_umap(loc, seed)
        meta["map"] = "umap"
        meta["umap"] = {"n_neighbors": 15, "min_dist": 0.1, "random_state": seed, "input": "guide loc"}
    steps.update()

    steps.set_postfix_str("triangulating the map")
    triangles, neighbors, gap = triangulate(xy)
    meta["gap_edge"] = gap
    arrays = {
        "loc": loc, "scale": scale.astype(np.float32),
        "labels": test.labels.numpy().astype(np.uint8), "xy": xy.astype(np.float32),
        "thumbs": quantize_thumbs(test.images.numpy()), "triangles": triangles, "neighbors": neighbors,
        "kl_mean": kl_mean.astype(np.float32),
    }
    steps.update()

    steps.set_postfix_str("checking the fast mapping against UMAP")
    if reducer is not None and holdout > 0:
        train = load_mnist(True, data_dir)
        h_loc, _ = encode_all(ckpt.vae, train.images[:holdout], train.labels[:holdout])
        reference = reducer.transform(h_loc)
        atlas = Atlas(meta=meta, **arrays)
        meta["forward_vs_umap_transform"] = mapping_agreement(reference, atlas.forward(h_loc), atlas.extent)
    steps.update()

    steps.set_postfix_str("saving")
    meta["build_seconds"] = round(time.perf_counter() - t0, 1)
    path = save_atlas(out, arrays, meta)
    steps.update()
    steps.close()
    return path, meta
