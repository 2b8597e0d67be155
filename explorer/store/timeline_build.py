"""Building a checkpoint's timeline (``python -m explorer atlas NAME --timeline``) from its snapshots.

The maps of the moments are aligned: for a 2-D latent the map is the latent itself; otherwise umap-learn's
``AlignedUMAP``, with each test digit related to itself in consecutive moments, so that a digit's point
moves smoothly instead of jumping between unrelated layouts. The last moment's map becomes the atlas's
map (the one the app shows): the two are the same. For each moment the timeline also holds the decoder's
images on a grid of that moment's map (for the ring), and the figures of the curves.

``<checkpoint>.timeline.npz`` (:mod:`explorer.store.timeline` reads it) is tied to the weights by their digest.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from explorer.store.atlas import Atlas, load_atlas, triangulate
from explorer.store.checkpoint import load_checkpoint
from explorer.store.snapshots import GRID, Snapshots, decoder_images, grid_points, load_snapshots, snapshots_path_for
from explorer.store.timeline import FORMAT, timeline_path_for
from explorer.vae.config import ModelConfig
from explorer.vae.model import VAE

UMAP = {"n_neighbors": 15, "min_dist": 0.1, "alignment_regularisation": 0.01, "alignment_window_size": 3}


def aligned_maps(locs: list[np.ndarray], seed: int) -> list[np.ndarray]:
    """AlignedUMAP of the moments' guide means (``T`` arrays ``(N, z_dim)``): ``T`` maps ``(N, 2)``."""
    import umap  # heavy (numba); only at atlas time

    n = locs[0].shape[0]
    identity = {i: i for i in range(n)}
    mapper = umap.AlignedUMAP(n_components=2, random_state=seed, **UMAP)
    mapper.fit(locs, relations=[identity] * (len(locs) - 1))
    return [np.asarray(e, np.float32) for e in mapper.embeddings_]


def map_grid(xys: list[np.ndarray], n: int = GRID) -> np.ndarray:
    """An ``n`` x ``n`` grid of points over the box that holds every moment's map, row by row from the top
    left: ``(n * n, 2)`` float32."""
    allxy = np.concatenate(xys)
    lo, hi = allxy.min(0), allxy.max(0)
    pad = 0.04 * (hi - lo)
    lo, hi = lo - pad, hi + pad
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], n), np.linspace(lo[1], hi[1], n)[::-1])
    return np.stack([gx.ravel(), gy.ravel()], 1).astype(np.float32)


def moment_images(config: ModelConfig, snaps: Snapshots, t: int, xy: np.ndarray, grid: np.ndarray,
                  labels: np.ndarray) -> np.ndarray:
    """Moment ``t``'s decoder at the grid's map positions (z by the moment's own map and guide means, as the
    app maps the ring: :meth:`Atlas.inverse`): ``(len(grid), 784)`` uint8."""
    loc = snaps.arrays["loc"][t].astype(np.float32)
    tri, nb, gap = triangulate(xy)
    atlas = Atlas(loc=loc, scale=np.ones_like(loc), labels=labels, xy=xy,
                  thumbs=np.zeros((len(labels), 1), np.uint8), triangles=tri, neighbors=nb,
                  kl_mean=snaps.arrays["kl_dims"][t], meta={"gap_edge": gap, "map": "umap"})
    z, _ = atlas.inverse(grid)
    vae = VAE(config)
    vae.decoder.load_state_dict(snaps.decoder_state(t))
    return decoder_images(vae.eval(), z)


def build_timeline(checkpoint: str | Path, data_dir: str | Path | None = None, seed: int = 0,
                   progress: bool = True) -> tuple[Path, dict[str, Any]]:
    """Build and save the timeline of ``checkpoint`` and rebuild its atlas with the last moment's map."""
    from explorer.store.atlas_build import build_atlas

    t0 = time.perf_counter()
    ckpt = load_checkpoint(checkpoint)
    snaps = load_snapshots(snapshots_path_for(ckpt.path), ckpt.weights_sha256)
    config, n = ckpt.config, snaps.n
    bar = tqdm(total=3 + n, desc=f"timeline {ckpt.name}", disable=not progress, unit="step")
    locs = [snaps.arrays["loc"][t].astype(np.float32) for t in range(n)]
    bar.set_postfix_str(f"aligning {n} maps (AlignedUMAP)" if config.z_dim != 2 else "2-D latent: the maps are z")
    xys = [loc.copy() for loc in locs] if config.z_dim == 2 else aligned_maps(locs, seed)
    bar.update()
    bar.set_postfix_str("the atlas: the last moment's map")
    aligned = {**UMAP, "random_state": seed, "aligned_moments": n, "input": "guide loc"}
    map_meta = None if config.z_dim == 2 else {"umap": aligned}
    atlas_file, _ = build_atlas(checkpoint, data_dir, seed=seed, progress=False, xy_given=xys[-1], map_meta=map_meta)
    atlas = load_atlas(atlas_file, ckpt.weights_sha256)
    xys[-1] = atlas.xy.copy()  # the same map, to the bit
    bar.update()
    if config.z_dim == 2:
        grid, images = grid_points(2), snaps.arrays["grid"]
        bar.update(n)
    else:
        grid, images = map_grid(xys), []
        for t in range(n):
            bar.set_postfix_str(f"moment {t + 1}/{n}: its decoder on the map's grid")
            images.append(moment_images(config, snaps, t, xys[t], grid, atlas.labels))
            bar.update()
        images = np.stack(images)
    meta = {"format": FORMAT, "checkpoint": ckpt.path.name, "weights_sha256": ckpt.weights_sha256,
            "map": "latent" if config.z_dim == 2 else "aligned-umap", "seed": seed, "grid": GRID,
            "build_seconds": round(time.perf_counter() - t0, 1),
            **({"umap": {**UMAP, "random_state": seed}} if config.z_dim != 2 else {})}
    arrays = {k: snaps.arrays[k] for k in ("step", "epoch", "elbo", "recon", "kl", "active", "kl_dims")}
    arrays.update({"xy": np.stack(xys).astype(np.float32), "grid_xy": grid, "grid_images": images.astype(np.uint8)})
    bar.set_postfix_str("saving")
    path = timeline_path_for(ckpt.path)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, meta=np.array(json.dumps(meta, sort_keys=True)), **arrays)
    os.replace(tmp, path)
    bar.update()
    bar.close()
    return path, meta
