"""The atlas of a checkpoint: what the app needs about the test digits, built once, loaded fast.

``python -m explorer atlas CKPT`` encodes the 10,000 MNIST test digits with the guide, projects the
means to 2-D with a seeded UMAP (or, for a 2-D latent, uses the latent space itself) and stores, in
an ``.npz`` read with ``allow_pickle=False``:

* ``loc``, ``scale`` ``(N, z_dim)`` float32 — q(z|x) of each test digit;
* ``labels`` ``(N,)`` uint8; ``xy`` ``(N, 2)`` float32 — the map;
* ``thumbs`` ``(N, 784)`` uint8 — 4-bit (16 grey levels) thumbnails for hover; lossy, not the dataset;
* ``triangles``, ``neighbors`` ``(T, 3)`` int32 — a Delaunay triangulation of ``xy`` (the inverse map);
* ``kl_mean`` ``(z_dim,)`` float32 — average KL per latent dimension over the test set;
* ``meta`` — JSON: checkpoint file and the SHA-256 of its weights, map kind, UMAP parameters,
  mapping accuracy.

The app never imports umap: new points reach the map through :class:`Atlas.forward` (k nearest
neighbours in latent space) and map positions go back to z through :class:`Atlas.inverse`
(barycentric interpolation of the guide means in the triangulation).
"""

from __future__ import annotations

import json
import os
import threading
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from explorer.constants import KNN, REGIONS, TAIL_RADIUS

FORMAT = "explorer-atlas/1"
ARRAYS = ("loc", "scale", "labels", "xy", "thumbs", "triangles", "neighbors", "kl_mean")
MAX_ATLAS_BYTES = 256 * 1024**2  # the shipped atlases decompress to ~15-30 MB; a larger one is refused unread


def nearest(d2: np.ndarray, k: int) -> np.ndarray:
    """The indices of the ``k`` smallest entries of each row of ``d2`` ``(m, n)``, ascending by index:
    ``(m, k)``. The order is canonical, so the answer does not depend on how they were found.

    Selected by torch's ``topk`` (every caller has loaded torch already): for the atlas's 10,000 digits
    it is about 6x faster than ``np.argpartition`` here."""
    import torch

    idx = torch.topk(torch.from_numpy(d2), k, dim=1, largest=False, sorted=False).indices.numpy()
    idx.sort(axis=1)
    return idx


class AtlasError(ValueError):
    """An atlas that cannot be used; the message names the file and what is wrong."""


def atlas_path_for(checkpoint_path: Path) -> Path:
    """``checkpoints/mnist-z16.safetensors`` -> ``checkpoints/mnist-z16.atlas.npz``."""
    return checkpoint_path.with_name(checkpoint_path.name.removesuffix(".safetensors") + ".atlas.npz")


def quantize_thumbs(images: np.ndarray) -> np.ndarray:
    """``(N, 784)`` floats in [0, 1] -> uint8 with 16 grey levels (0, 17, ..., 255)."""
    return (np.round(np.clip(images, 0, 1) * 15) * 17).astype(np.uint8)


@dataclass(frozen=True)
class Atlas:
    """Read-only arrays of one checkpoint's atlas (see module docstring for shapes)."""

    loc: np.ndarray
    scale: np.ndarray
    labels: np.ndarray
    xy: np.ndarray
    thumbs: np.ndarray
    triangles: np.ndarray
    neighbors: np.ndarray
    kl_mean: np.ndarray
    meta: dict[str, Any]
    _lazy: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def z_dim(self) -> int:
        return int(self.loc.shape[1])

    @property
    def is_latent_map(self) -> bool:
        """True when the map *is* the latent space (a 2-D latent: no UMAP)."""
        return self.meta.get("map") == "latent"

    @property
    def extent(self) -> float:
        """Diagonal of the map's bounding box: the unit for map distances."""
        lo, hi = self.xy.min(0), self.xy.max(0)
        return float(np.hypot(*(hi - lo)))

    def forward(self, z: np.ndarray, k: int = KNN) -> np.ndarray:
        """Map latent points to the 2-D map.

        Parameters
        ----------
        z : array, shape ``(m, z_dim)``

        Returns
        -------
        array, shape ``(m, 2)``: for a latent map, z itself; else the inverse-distance-weighted mean of
        the map positions of the ``k`` test digits nearest in latent space.
        """
        z = np.asarray(z, dtype=np.float64).reshape(-1, self.z_dim)
        if self.is_latent_map:
            return z.astype(np.float32)
        # In float64 throughout, as the page computes it (static/js/geometry.js): squared distances to all
        # digits (an expansion: a matrix product), the k smallest, then their distances computed exactly.
        d2 = (z * z).sum(1)[:, None] - 2.0 * z @ self._loc64.T + self._loc_sq[None, :]
        np.maximum(d2, 0.0, out=d2)
        idx = nearest(d2, k)
        dk = np.sqrt(((self._loc64[idx] - z[:, None, :]) ** 2).sum(2))
        w = 1.0 / (dk + 1e-6)
        w /= w.sum(1, keepdims=True)
        return (w[:, :, None] * self.xy[idx].astype(np.float64)).sum(1).astype(np.float32)

    def inverse(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Map 2-D map positions back to latent points.

        Parameters
        ----------
        p : array, shape ``(m, 2)``

        Returns
        -------
        z : array, shape ``(m, z_dim)`` — barycentric interpolation of the guide means over the
            Delaunay triangle that contains each point; outside the data's hull, the mean of the
            nearest test digit. For a latent map, ``p`` itself.
        region : array, shape ``(m,)`` int8 — an index into :data:`explorer.constants.REGIONS`: on a
            UMAP map 0 "inside" the data, 1 in a "gap" (a long-edged triangle), 2 "outside" the data's
            hull; on a latent map 3 "latent", or 4 "tail" where ``|z| > TAIL_RADIUS``.
        """
        p = np.asarray(p, dtype=np.float64).reshape(-1, 2)
        if self.is_latent_map:
            tail = np.hypot(p[:, 0], p[:, 1]) > TAIL_RADIUS
            return p.astype(np.float32), np.where(tail, REGIONS.index("tail"), REGIONS.index("latent")).astype(np.int8)
        tri = self._triangulation().find_simplex(p)
        z = np.empty((p.shape[0], self.z_dim), dtype=np.float32)
        region = np.zeros(p.shape[0], dtype=np.int8)
        for i, (pt, t) in enumerate(zip(p, tri, strict=True)):
            if t < 0:
                region[i] = REGIONS.index("outside")
                z[i] = self.loc[np.argmin(((self.xy - pt) ** 2).sum(1))]
                continue
            verts = self.triangles[t]
            w = barycentric(self.xy[verts].astype(np.float64), pt)
            z[i] = (w[:, None] * self.loc[verts]).sum(0)
            region[i] = REGIONS.index("gap") if self._long_edge[t] else REGIONS.index("inside")
        return z, region

    @property
    def gap_threshold(self) -> float:
        return float(self.meta["gap_edge"])

    def _triangulation(self):
        """scipy's Delaunay of ``xy`` (for :meth:`inverse`), built on first use: the app's start needs
        neither it nor scipy (the page walks the stored triangles itself)."""
        with self._lock:
            if "delaunay" not in self._lazy:
                from scipy.spatial import Delaunay

                d = Delaunay(self.xy.astype(np.float64))
                # The page walks the stored triangulation; the Python reference must use the very same one.
                if not np.array_equal(d.simplices, self.triangles):
                    raise AtlasError("the stored triangulation differs from the one rebuilt from xy")
                self._lazy["delaunay"] = d
            return self._lazy["delaunay"]

    def __post_init__(self) -> None:
        loc64 = self.loc.astype(np.float64)
        object.__setattr__(self, "_loc64", loc64)
        object.__setattr__(self, "_loc_sq", (loc64 * loc64).sum(1))
        if self.triangles.ndim != 2 or self.triangles.shape[1] != 3 or self.triangles.size == 0 \
                or self.triangles.min() < 0 or self.triangles.max() >= self.xy.shape[0]:
            raise AtlasError("the stored triangles do not index the map's points")
        pts = self.xy[self.triangles]
        edges = np.linalg.norm(pts - np.roll(pts, 1, axis=1), axis=2).max(1)
        object.__setattr__(self, "_long_edge", edges > float(self.meta["gap_edge"]))


def barycentric(tri_xy: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Barycentric weights ``(3,)`` of point ``p`` ``(2,)`` in triangle ``tri_xy`` ``(3, 2)``."""
    (x1, y1), (x2, y2), (x3, y3) = tri_xy
    det = (y2 - y3) * (x1 - x3) + (x3 - x2) * (y1 - y3)
    l1 = ((y2 - y3) * (p[0] - x3) + (x3 - x2) * (p[1] - y3)) / det
    l2 = ((y3 - y1) * (p[0] - x3) + (x1 - x3) * (p[1] - y3)) / det
    return np.array([l1, l2, 1.0 - l1 - l2])


def triangulate(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Delaunay triangles and neighbours ``(T, 3)`` int32, and the 'gap' edge length threshold."""
    from scipy.spatial import Delaunay

    d = Delaunay(xy.astype(np.float64))
    pts = xy[d.simplices]
    edges = np.linalg.norm(pts - np.roll(pts, 1, axis=1), axis=2)
    gap = float(np.quantile(edges, 0.99)) * 2.0
    return d.simplices.astype(np.int32), d.neighbors.astype(np.int32), gap


def save_atlas(path: Path, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, meta=np.array(json.dumps(meta, sort_keys=True)), **arrays)
    os.replace(tmp, path)
    return path


def read_npz(path: Path, max_bytes: int, names: tuple[str, ...] | None = None) -> tuple[dict[str, np.ndarray], Any]:
    """An ``.npz`` this tool wrote (an atlas, snapshots, a timeline): its size once decompressed is checked
    first, from the sizes the zip stores, then its arrays (``names``, or all) and its JSON ``meta`` are
    read; it is never unpickled. Raises :class:`ValueError` saying why (too large; unreadable: corrupted,
    truncated, or a pickle; an array missing): the caller names the kind of file."""
    try:
        with zipfile.ZipFile(path) as zf:  # sizes as stored, before anything is decompressed
            total = sum(i.file_size for i in zf.infolist())
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"not readable (corrupted, truncated, or a pickle, which is never loaded): {exc}") from None
    if total > max_bytes:
        raise ValueError(f"would decompress to {total} bytes (more than {max_bytes}); refused")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in (names or [n for n in npz.files if n != "meta"])}
            meta = json.loads(str(npz["meta"]))
    except KeyError as exc:
        raise ValueError(f"lacks the array {exc}") from None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, RecursionError) as exc:
        raise ValueError(f"not readable (corrupted, truncated, or a pickle, which is never loaded): {exc}") from None
    return arrays, meta


def load_atlas(path: str | os.PathLike[str], weights_sha256: str | None = None) -> Atlas:
    """Load an atlas (never unpickles); with ``weights_sha256``, check it was built for those weights."""
    path = Path(path)
    if not path.is_file():
        raise AtlasError(f"{path}: no atlas file; build it with `python -m explorer atlas CHECKPOINT`")
    try:
        arrays, meta = read_npz(path, MAX_ATLAS_BYTES, ARRAYS)
    except ValueError as exc:
        raise AtlasError(f"{path}: {exc}{'; rebuild it' if 'lacks' in str(exc) else ''}") from None
    if not isinstance(meta, dict):
        raise AtlasError(f"{path}: its meta is a JSON {type(meta).__name__}, not an object; rebuild it")
    if meta.get("format") != FORMAT:
        raise AtlasError(f"{path}: atlas format {meta.get('format')!r}, expected {FORMAT!r}")
    if weights_sha256 is not None and meta.get("weights_sha256") != weights_sha256:
        ckpt = meta.get("checkpoint", "its checkpoint")
        raise AtlasError(
            f"{path}: built for other weights than the checkpoint's (checksums differ); rebuild it with "
            f"`python -m explorer atlas {ckpt.removesuffix('.safetensors')}`"
        )
    check_arrays(path, arrays, meta)
    try:
        return Atlas(meta=meta, **arrays)
    except AtlasError as exc:
        raise AtlasError(f"{path}: {exc}") from None


def check_arrays(path: Path, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    """Every array of an atlas has the dtype kind and shape the others imply; raise :class:`AtlasError`."""
    def bad(what: str) -> AtlasError:
        return AtlasError(f"{path}: {what}; rebuild it with `python -m explorer atlas CHECKPOINT`")

    if arrays["loc"].ndim != 2 or arrays["loc"].shape[0] < 4:
        raise bad("loc is not an (N, z_dim) array of at least 4 digits")
    n, zd = arrays["loc"].shape
    shapes = {"scale": (n, zd), "xy": (n, 2), "labels": (n,), "thumbs": (n, 784), "kl_mean": (zd,)}
    for k, shape in shapes.items():
        if arrays[k].shape != shape:
            raise bad(f"{k} has shape {arrays[k].shape}, expected {shape}")
    for k in ("loc", "scale", "xy", "kl_mean"):
        if arrays[k].dtype.kind != "f" or not np.isfinite(arrays[k]).all():
            raise bad(f"{k} must hold finite floats")
    for k in ("triangles", "neighbors", "labels", "thumbs"):
        if arrays[k].dtype.kind not in "iu":
            raise bad(f"{k} must hold integers, not {arrays[k].dtype}")
    t = arrays["triangles"]
    if t.ndim != 2 or t.shape[1] != 3 or arrays["neighbors"].shape != t.shape:
        raise bad("triangles and neighbors must both be (T, 3)")
    nb = arrays["neighbors"]
    if nb.size and (nb.min() < -1 or nb.max() >= t.shape[0]):
        raise bad("neighbors index triangles that do not exist")
    if arrays["labels"].size and (arrays["labels"].min() < 0 or arrays["labels"].max() > 9):
        raise bad("labels must be digits 0..9")
    gap = meta.get("gap_edge")
    if isinstance(gap, bool) or not isinstance(gap, (int, float)) or not np.isfinite(gap) or gap <= 0:
        raise bad("its meta lacks a positive number gap_edge")
