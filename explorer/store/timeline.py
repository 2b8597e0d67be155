"""A checkpoint's timeline, ``<checkpoint>.timeline.npz``, as the app reads it (NumPy only, never a pickle).

It holds, for each recorded moment of training (``train --snapshots N``): the step, the epoch, the test
ELBO with its reconstruction and KL terms, the KL per dimension and the active units (``step``, ``epoch``,
``elbo``, ``recon``, ``kl``, ``kl_dims``, ``active``, each ``(T, ...)``); the map of the test digits at that
moment (``xy`` ``(T, N, 2)``: the last is the atlas's map); and the decoder's images at a grid of map
positions (``grid_xy`` ``(G * G, 2)``, ``grid_images`` ``(T, G * G, 784)`` uint8). ``meta`` ties it to the
weights it was built for. :mod:`explorer.store.timeline_build` writes it (``atlas NAME --timeline``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = "explorer-timeline/1"
MAX_TIMELINE_BYTES = 256 * 1024**2  # refused unread beyond this (the zip's stored sizes)
FIELDS = ("step", "epoch", "elbo", "recon", "kl", "active", "kl_dims", "xy", "grid_xy", "grid_images")


class TimelineError(ValueError):
    """A timeline that cannot be used; the message names the file and says why."""


def timeline_path_for(checkpoint_path: Path) -> Path:
    return checkpoint_path.with_name(checkpoint_path.name.removesuffix(".safetensors") + ".timeline.npz")


def load_timeline(path: str | os.PathLike[str],
                  weights_sha256: str | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """A timeline's arrays and meta (never unpickles); with ``weights_sha256``, checked against the weights."""
    from explorer.store.atlas import read_npz

    path = Path(path)
    try:
        arrays, meta = read_npz(path, MAX_TIMELINE_BYTES)
    except ValueError as exc:
        raise TimelineError(f"{path}: not a readable timeline ({exc}); rebuild it with "
                            "`python -m explorer atlas NAME --timeline`") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise TimelineError(f"{path}: not a timeline of this tool")
    if weights_sha256 is not None and meta.get("weights_sha256") != weights_sha256:
        raise TimelineError(f"{path}: built for other weights than the checkpoint's; rebuild it")
    missing = [k for k in FIELDS if k not in arrays]
    if missing:
        raise TimelineError(f"{path}: lacks {', '.join(missing)}; rebuild it")
    n = arrays["step"].shape[0]
    if n < 2 or any(arrays[k].shape[:1] != (n,) for k in FIELDS if k != "grid_xy"):
        raise TimelineError(f"{path}: its arrays do not agree in length")
    xy, grid = arrays["xy"], arrays["grid_images"]
    if xy.ndim != 3 or xy.shape[2] != 2 or grid.ndim != 3 or grid.shape[2] != 784 or grid.dtype != np.uint8 \
            or arrays["grid_xy"].shape != (grid.shape[1], 2) or not np.isfinite(xy).all():
        raise TimelineError(f"{path}: its arrays are malformed")
    return arrays, meta

