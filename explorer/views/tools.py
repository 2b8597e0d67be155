"""Exploration tools: interpolation (linear and spherical), traversals, the map as CSV."""

from __future__ import annotations

import csv
import io
from typing import Any

import numpy as np
import torch

from explorer.store.registry import ServedModel
from explorer.views.decoding import label_onehot
from explorer.views.wire import b64, to_u8, values


def slerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Spherical interpolation between latent points.

    Parameters
    ----------
    a, b : arrays, shape ``(z_dim,)``
    t : array, shape ``(n,)``, fractions in [0, 1]

    Returns
    -------
    array, shape ``(n, z_dim)``: along the great circle through ``a`` and ``b`` with the norm
    interpolated linearly, so ``t=0`` gives ``a`` and ``t=1`` gives ``b``. Falls back to the straight
    line when the two directions are (nearly) parallel.
    """
    a, b, t = np.asarray(a, np.float64), np.asarray(b, np.float64), np.asarray(t, np.float64)[:, None]
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na < 1e-9 or nb < 1e-9:
        return (1 - t) * a + t * b
    ua, ub = a / na, b / nb
    omega = np.arccos(np.clip(ua @ ub, -1.0, 1.0))
    if omega < 1e-6:
        return (1 - t) * a + t * b
    direction = (np.sin((1 - t) * omega) * ua + np.sin(t * omega) * ub) / np.sin(omega)
    return direction * ((1 - t) * na + t * nb)


def lerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Straight line: ``(n, z_dim)`` points ``(1 - t) a + t b``."""
    a, b, t = np.asarray(a, np.float64), np.asarray(b, np.float64), np.asarray(t, np.float64)[:, None]
    return (1 - t) * a + t * b


def traversal_grid(z: np.ndarray, order: np.ndarray, steps: int = 9, span: float = 3.0) -> np.ndarray:
    """Latent points varying one dimension at a time.

    Parameters
    ----------
    z : array ``(z_dim,)`` — the starting point
    order : array ``(d,)`` — which dimensions, in the order of the grid's rows
    steps : values per row, evenly from ``-span`` to ``+span`` (the dimension is *set* to each)

    Returns
    -------
    array ``(d, steps, z_dim)``
    """
    z = np.asarray(z, np.float64)
    values = np.linspace(-span, span, steps)
    grid = np.repeat(z[None, None, :], len(order), 0).repeat(steps, 1)
    for row, d in enumerate(order):
        grid[row, :, d] = values
    return grid


@torch.no_grad()
def _decode(m: ServedModel, z: np.ndarray, label: int | None = None) -> np.ndarray:
    zt = torch.from_numpy(np.asarray(z, np.float32))
    return to_u8(m.ckpt.vae.decode(zt, label_onehot(m, label, zt.shape[0])))


def check_z(m: ServedModel, z: list[float]) -> np.ndarray:
    a = np.asarray(z, np.float64)
    if a.shape != (m.config.z_dim,) or not np.isfinite(a).all() or np.abs(a).max() > 50:
        raise ValueError(f"z must be {m.config.z_dim} finite numbers within ±50")
    return a


def interpolate(m: ServedModel, a: list[float], b: list[float], n: int = 10,
                label: int | None = None) -> dict[str, Any]:
    """Decoded strips from ``a`` to ``b`` (n images each), straight and spherical, with map paths."""
    if not 2 <= n <= 32:
        raise ValueError("n must be between 2 and 32")
    za, zb = check_z(m, a), check_z(m, b)
    t = np.linspace(0, 1, n)
    out: dict[str, Any] = {"model": m.name, "n": n, "t": values(t)}
    for name, path in (("linear", lerp(za, zb, t)), ("slerp", slerp(za, zb, t))):
        out[name] = {"z": values(path), "images": b64(_decode(m, path, label)), "xy": values(m.atlas.forward(path))}
    return out


def traverse(m: ServedModel, z: list[float], steps: int = 9, span: float = 3.0, rows: int = 16,
             kl: list[float] | None = None, label: int | None = None) -> dict[str, Any]:
    """A grid of decoded images: rows = dimensions (most KL first), columns = values over ±span."""
    if not (3 <= steps <= 15 and 0.5 <= span <= 5 and 1 <= rows <= 64):
        raise ValueError("steps in 3..15, span in 0.5..5, rows in 1..64")
    z0 = check_z(m, z)
    weight = np.asarray(kl, np.float64) if kl is not None else m.atlas.kl_mean.astype(np.float64)
    if weight.shape != z0.shape or not np.isfinite(weight).all():
        raise ValueError("kl must give one finite number per latent dimension")
    order = np.argsort(-weight, kind="stable")[: min(rows, len(z0))]
    grid = traversal_grid(z0, order, steps, span)
    images = _decode(m, grid.reshape(-1, grid.shape[-1]), label)
    return {"model": m.name, "dims": order.tolist(), "values": values(np.linspace(-span, span, steps)),
            "kl": values(weight[order]), "steps": steps, "images": b64(images)}


def map_csv(m: ServedModel) -> str:
    """The map as CSV: index, label, x, y, loc_1..loc_d, scale_1..scale_d; a comment line says where from."""
    a = m.atlas
    buf = io.StringIO()
    seed = a.meta.get("seed")
    buf.write(f"# VAE explorer map of {m.name}: {a.meta.get('map')} (seed {seed}); "
              f"checkpoint {a.meta.get('checkpoint')} weights sha256 {a.meta.get('weights_sha256')}; "
              "MNIST test digits (LeCun, Cortes, Burges; CC BY-SA 3.0)\n")
    w = csv.writer(buf, lineterminator="\n")
    zd = a.z_dim
    w.writerow(["index", "label", "x", "y", *[f"loc_{i + 1}" for i in range(zd)],
                *[f"scale_{i + 1}" for i in range(zd)]])
    for i in range(a.labels.shape[0]):
        w.writerow([i, int(a.labels[i]), f"{a.xy[i, 0]:.5f}", f"{a.xy[i, 1]:.5f}",
                    *(f"{v:.5f}" for v in a.loc[i]), *(f"{v:.5f}" for v in a.scale[i])])
    return buf.getvalue()
