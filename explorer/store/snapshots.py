"""Moments of training, recorded for the timeline (``train --snapshots N``; ``atlas NAME --timeline``).

A snapshot holds, at one step of training: the guide means of the 10,000 test digits, the test ELBO with
its reconstruction and KL terms (the true ELBO, the KL weighted 1, whatever the model trains with), the KL
per latent dimension (so, the active units), and what the page needs to decode the ring at that moment:
for a 2-D latent, the decoder's images on a grid of the latent square; otherwise the decoder itself
(compacted as the shipped weights are), from which ``atlas --timeline`` decodes a grid of each moment's map.

The moments are spaced about logarithmically in steps, from step 0 (the untrained model) to the last,
so that the early, fast changes are seen. The file ``<checkpoint>.snapshots.npz`` is read with
``allow_pickle=False`` and tied to its checkpoint by the SHA-256 of the final weights.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from explorer.constants import ACTIVE_KL
from explorer.store.atlas import read_npz
from explorer.store.checkpoint import compact
from explorer.vae.elbo import kl_per_dim, log_bernoulli
from explorer.vae.model import VAE, one_hot

FORMAT = "explorer-snapshots/1"
GRID = 16  # a 2-D latent's images: GRID x GRID points over [-GRID_SPAN, GRID_SPAN]^2
GRID_SPAN = 4.0
MAX_SNAPSHOT_BYTES = 512 * 1024**2  # refused unread beyond this (from the zip's stored sizes)


class SnapshotError(ValueError):
    """A snapshot file that cannot be used; the message names it and says why."""


def snapshot_steps(total_steps: int, n: int) -> list[int]:
    """``n`` steps from 0 to ``total_steps``, about evenly spaced in log(1 + step): more of them early,
    where training changes fastest. Fewer when the run is too short to have that many distinct ones."""
    if n < 2 or total_steps < 1:
        return [0, total_steps][: max(1, n)]
    raw = np.expm1(np.linspace(0.0, np.log1p(total_steps), n))
    return sorted({0, total_steps, *(int(round(v)) for v in raw)})


def grid_points(z_dim: int) -> np.ndarray:
    """The latent points of a 2-D model's image grid, ``(GRID * GRID, 2)``, row by row from the top left."""
    v = np.linspace(-GRID_SPAN, GRID_SPAN, GRID)
    gx, gy = np.meshgrid(v, v[::-1])
    return np.stack([gx.ravel(), gy.ravel()], 1).astype(np.float32)


@torch.no_grad()
def measure(vae: VAE, x: torch.Tensor, y: torch.Tensor | None, seed: int = 0, batch: int = 1000) -> dict[str, Any]:
    """One moment's figures on the test digits ``x`` ``(N, 784)`` (``y`` one-hot for a conditional VAE): the
    guide means ``loc`` ``(N, z_dim)`` (float16), ``kl_dims`` (mean KL per dimension), and the true test ELBO
    = ``recon`` - ``kl``, nats per image (one reparameterized sample per digit, seeded; the KL in closed form)."""
    gen = torch.Generator().manual_seed(seed)
    locs, kls, recons = [], [], []
    for i in range(0, x.shape[0], batch):
        xb = x[i : i + batch]
        yb = None if y is None else y[i : i + batch]
        loc, scale = vae.encoder(vae.with_label(xb, yb))
        eps = torch.randn(loc.shape, generator=gen).to(loc.device)
        logits = vae.decoder.logits(vae.with_label(loc + scale * eps, yb))
        recons.append(log_bernoulli(logits, xb).sum(-1))
        kls.append(kl_per_dim(loc, scale))
        locs.append(loc.cpu())
    kl_dims = torch.cat(kls).mean(0).cpu().numpy()
    recon = float(torch.cat(recons).mean())
    kl = float(kl_dims.sum())
    log_py = -float(np.log(vae.config.labels)) if vae.config.labels else 0.0
    return {"loc": torch.cat(locs).numpy().astype(np.float16), "kl_dims": kl_dims.astype(np.float32),
            "recon": recon, "kl": kl, "elbo": recon - kl + log_py, "active": int((kl_dims > ACTIVE_KL).sum())}


@torch.no_grad()
def decoder_images(vae: VAE, z: np.ndarray, label: int | None = None) -> np.ndarray:
    """The decoder's images of latent points ``z`` ``(n, z_dim)``, as grey levels ``(n, 784)`` uint8."""
    from explorer.views.wire import to_u8

    zt = torch.from_numpy(np.asarray(z, np.float32)).to(vae.device)
    y = None if not vae.config.labels else one_hot(label or 0, vae.config.labels).expand(zt.shape[0], -1).to(vae.device)
    return to_u8(vae.decode(zt, y))


class Recorder:
    """Collects the snapshots of one training run, at the steps of :func:`snapshot_steps`."""

    def __init__(self, n: int, total_steps: int, x_test: torch.Tensor, y_test: torch.Tensor | None,
                 steps_per_epoch: int, seed: int) -> None:
        self.steps = snapshot_steps(total_steps, n)
        self.x, self.y, self.per_epoch, self.seed = x_test, y_test, steps_per_epoch, seed
        self.taken: list[dict[str, Any]] = []

    def due(self, step: int) -> bool:
        return step in self.steps and not any(s["step"] == step for s in self.taken)

    def take(self, vae: VAE, step: int) -> None:
        """Record the moment after ``step`` optimizer steps (the model in evaluation mode, then as it was)."""
        was = vae.training
        vae.eval()
        twin = vae.elbo_twin()
        snap = {"step": step, "epoch": step / self.per_epoch, **measure(twin, self.x, self.y, self.seed)}
        if vae.config.z_dim == 2:
            snap["grid"] = decoder_images(vae, grid_points(2))
        else:
            snap["decoder"] = {k: compact(v.detach().cpu().numpy()).astype(np.float16)
                               for k, v in vae.decoder.state_dict().items()}
        self.taken = [s for s in self.taken if s["step"] != step] + [snap]
        vae.train(was)


def save_snapshots(path: Path, snaps: list[dict[str, Any]], meta: dict[str, Any]) -> Path:
    """Write the snapshots (in step order) as one npz, atomically."""
    snaps = sorted(snaps, key=lambda s: s["step"])
    arrays: dict[str, np.ndarray] = {
        "step": np.array([s["step"] for s in snaps], np.int64),
        "epoch": np.array([s["epoch"] for s in snaps], np.float64),
        "elbo": np.array([s["elbo"] for s in snaps], np.float64),
        "recon": np.array([s["recon"] for s in snaps], np.float64),
        "kl": np.array([s["kl"] for s in snaps], np.float64),
        "active": np.array([s["active"] for s in snaps], np.int64),
        "kl_dims": np.stack([s["kl_dims"] for s in snaps]),
        "loc": np.stack([s["loc"] for s in snaps]),
    }
    if "grid" in snaps[0]:
        arrays["grid"] = np.stack([s["grid"] for s in snaps])
    else:
        for k in snaps[0]["decoder"]:
            arrays[f"decoder.{k}"] = np.stack([s["decoder"][k] for s in snaps])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, meta=np.array(json.dumps({**meta, "format": FORMAT}, sort_keys=True)), **arrays)
    os.replace(tmp, path)
    return path


def snapshots_path_for(checkpoint_path: Path) -> Path:
    return checkpoint_path.with_name(checkpoint_path.name.removesuffix(".safetensors") + ".snapshots.npz")


@dataclass(frozen=True)
class Snapshots:
    """A checkpoint's snapshots: ``arrays`` as saved (``step``, ``epoch``, ``elbo``, ``recon``, ``kl``,
    ``active``, ``kl_dims``, ``loc``, and ``grid`` or ``decoder.*``) and ``meta``."""

    arrays: dict[str, np.ndarray]
    meta: dict[str, Any]

    @property
    def n(self) -> int:
        return int(self.arrays["step"].shape[0])

    def decoder_state(self, i: int) -> dict[str, torch.Tensor]:
        return {k.removeprefix("decoder."): torch.from_numpy(v[i].astype(np.float32))
                for k, v in self.arrays.items() if k.startswith("decoder.")}


def load_snapshots(path: str | os.PathLike[str], weights_sha256: str | None = None) -> Snapshots:
    """Read a snapshot file (never unpickles); with ``weights_sha256``, check it belongs to those weights."""
    path = Path(path)
    if not path.is_file():
        raise SnapshotError(f"{path}: no snapshots; train with `python -m explorer train ... --snapshots N`")
    try:
        arrays, meta = read_npz(path, MAX_SNAPSHOT_BYTES)
    except ValueError as exc:
        raise SnapshotError(f"{path}: not a readable snapshot file: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise SnapshotError(f"{path}: not a snapshot file of this tool (format {FORMAT!r} expected)")
    if weights_sha256 is not None and meta.get("weights_sha256") != weights_sha256:
        raise SnapshotError(f"{path}: recorded for other weights than the checkpoint's (checksums differ): "
                            "train again with --snapshots")
    n = arrays.get("step", np.zeros(0)).shape[0]
    for k in ("epoch", "elbo", "recon", "kl", "active", "kl_dims", "loc"):
        a = arrays.get(k)
        if a is None or a.shape[:1] != (n,) or (a.dtype.kind == "f" and not np.isfinite(a).all()):
            raise SnapshotError(f"{path}: its {k!r} is missing or malformed")
    if n < 2:
        raise SnapshotError(f"{path}: fewer than two snapshots")
    return Snapshots(arrays, meta)
