"""The models the app serves, loaded in two stages so that the page can open before torch is imported.

A :class:`ServedModel` first holds what the page needs, read with NumPy only: the checkpoint's config and
record, its atlas (the map) and the decoder's weights (the page decodes drags itself). The torch
model is built on first use of :attr:`ServedModel.ckpt` — the app does that in a background thread right
after it starts serving (``import torch`` alone takes seconds), and a request that needs the model
sooner waits for it. Everything here is read-only after loading and shared between users.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from explorer.constants import ACTIVE_KL
from explorer.store.atlas import Atlas, AtlasError, atlas_path_for, load_atlas
from explorer.store.checkpoint import (
    CheckpointError,
    available_checkpoints,
    checkpoint_dir,
    read_checkpoint_arrays,
    weights_digest,
)
from explorer.vae.config import ModelConfig

if TYPE_CHECKING:
    from explorer.store.checkpoint import Checkpoint

log = logging.getLogger(__name__)

_DECODER_LAYER = re.compile(r"^decoder\.net\.(\d+)\.weight$")
_ENCODER_LAYER = re.compile(r"^encoder\.body\.(\d+)\.weight$")


@dataclass(frozen=True)
class ServedModel:
    """A checkpoint and its atlas, ready to serve; the torch model comes with :attr:`ckpt`."""

    name: str
    path: Path
    config: ModelConfig
    record: dict[str, Any]
    atlas: Atlas
    weights_sha256: str
    decoder_layers: tuple[tuple[np.ndarray, np.ndarray], ...]  # (W (out, in), b (out,)) float32, in order
    # the encoder's body layers, then its loc and its log-scale heads (scale = exp of the last): same form
    encoder_layers: tuple[tuple[np.ndarray, np.ndarray], ...] = ()
    device: str | None = None  # "auto"/None: CUDA when present, else CPU
    threads: int | None = None  # torch and NumPy-BLAS CPU threads, set when the model is built
    _lazy: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    # re-entrant: a cached answer may be made from another cached one (the timeline file from the timeline)
    _cache_lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)

    @property
    def ckpt(self) -> Checkpoint:
        """The torch model and its record, built on first use (thread-safe; later calls are free).

        Raises ``ValueError`` if the device asked for is missing."""
        c = self._lazy.get("ckpt")
        if c is not None:
            return c
        with self._lock:
            if "ckpt" not in self._lazy:
                self._lazy["ckpt"] = self._build()
        return self._lazy["ckpt"]

    @property
    def ready(self) -> bool:
        """True once the torch model is built."""
        return "ckpt" in self._lazy

    def _build(self) -> Checkpoint:
        t0 = time.perf_counter()
        import torch

        from explorer.store.checkpoint import build_checkpoint
        from explorer.vae.runtime import pick_device

        if self.threads:
            torch.set_num_threads(self.threads)
            # NumPy's BLAS too (the atlas's kNN is a NumPy matrix product): OpenBLAS otherwise starts a
            # thread per core that spins between calls, measured at half a core of a 2-core server.
            from threadpoolctl import threadpool_limits

            threadpool_limits(self.threads, user_api="blas")
        ckpt = build_checkpoint(self.path, self.config, self.record, self._lazy["arrays"], pick_device(self.device))
        del self._lazy["arrays"]  # the weights now live in the model
        log.info("model %s built on %s in %.2f s", self.name, ckpt.vae.device, time.perf_counter() - t0)
        return ckpt

    @property
    def active_dims(self) -> int:
        """Latent dimensions whose mean KL on the test set exceeds :data:`~explorer.constants.ACTIVE_KL`."""
        return int((self.atlas.kl_mean > ACTIVE_KL).sum())

    @property
    def test_kl(self) -> float:
        """The mean KL(q(z|x) || N(0, I)) over the test digits, nats (closed form, from the atlas)."""
        return round(float(self.atlas.kl_mean.astype(np.float64).sum()), 4)

    def summary(self) -> dict[str, Any]:
        rec = self.record
        return {
            "name": self.name,
            "z_dim": self.config.z_dim,
            "hidden": list(self.config.hidden),
            "activation": self.config.activation,
            "epochs": rec.get("epochs"),
            "test_elbo": rec.get("test_elbo"),
            "test_elbo_se": rec.get("test_elbo_se"),
            "test_elbo_seeds": rec.get("test_elbo_seeds"),
            "log_px": rec.get("test_log_px"),
            "map": self.atlas.meta.get("map"),
            "active_dims": self.active_dims,
            "kind": self.config.kind,
            "kl_weight": self.config.kl_weight,
            # the ELBO's terms on the test digits: the KL in closed form from the atlas's guide means and
            # scales (what Trace_ELBO's Monte Carlo KL averages to), the reconstruction as ELBO + KL [- log p(y)]
            "test_kl": self.test_kl,
            "test_recon": None if rec.get("test_elbo") is None else rec["test_elbo"] + self.test_kl
            + (float(np.log(self.config.labels)) if self.config.labels else 0.0),
            "test_accuracy": rec.get("test_accuracy"),
        }

    @property
    def timeline_path(self) -> Path | None:
        """``<checkpoint>.timeline.npz`` when there is one (``atlas NAME --timeline`` builds it)."""
        from explorer.store.timeline import timeline_path_for

        p = timeline_path_for(self.path)
        return p if p.is_file() else None

    def timeline(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """The timeline's arrays and meta, read once and checked against the weights (a
        :class:`~explorer.store.timeline.TimelineError` when it is missing, damaged or another model's)."""
        from explorer.store.timeline import TimelineError, load_timeline

        path = self.timeline_path
        if path is None:
            raise TimelineError(f"{self.name} has no timeline")
        return self.cached("timeline", lambda: load_timeline(path, self.weights_sha256))

    def has(self, key: str) -> bool:
        """True once :meth:`cached` has made ``key``."""
        return key in self._lazy

    def cached(self, key: str, make: Callable[[], Any]) -> Any:
        """``make()``, computed once per model and kept (for answers that never change: the page's
        bundle, the map as CSV)."""
        if key not in self._lazy:
            with self._cache_lock:
                if key not in self._lazy:
                    self._lazy[key] = make()
        return self._lazy[key]


def read_served_model(name_or_path: str | Path, device: str | None = None, threads: int | None = None) -> ServedModel:
    """Read a checkpoint and the atlas built for it, without importing torch.

    A mismatched atlas is an :class:`AtlasError`, an unreadable checkpoint a :class:`CheckpointError`."""
    path, config, record, arrays = read_checkpoint_arrays(name_or_path)
    digest = weights_digest(arrays)
    atlas_file = atlas_path_for(path)
    atlas = load_atlas(atlas_file, digest)
    if atlas.z_dim != config.z_dim:
        raise AtlasError(f"{atlas_file}: z_dim {atlas.z_dim} != checkpoint's {config.z_dim}")
    # Views of the arrays read above (no copies: those stay until the torch model is built from them).
    def layers(pattern: re.Pattern[str]) -> list[str]:
        found = [(int(hit.group(1)), k) for k in arrays if (hit := pattern.match(k))]
        return [k for _, k in sorted(found)]

    def pair(k: str) -> tuple[np.ndarray, np.ndarray]:
        return (arrays[k].astype(np.float32, copy=False),
                arrays[k.removesuffix("weight") + "bias"].astype(np.float32, copy=False))

    decoder = tuple(pair(k) for k in layers(_DECODER_LAYER))
    encoder = tuple(pair(k) for k in [*layers(_ENCODER_LAYER), "encoder.fc_loc.weight", "encoder.fc_scale.weight"])
    return ServedModel(name=path.name.removesuffix(".safetensors"), path=path, config=config, record=record,
                       atlas=atlas, weights_sha256=digest, decoder_layers=decoder, encoder_layers=encoder,
                       device=device, threads=threads, _lazy={"arrays": arrays})


class ModelRegistry:
    """The shipped models, each read on first use; shared read-only between users."""

    def __init__(self, default: ServedModel, device: str | None = None, directory: Path | None = None):
        self.device = device
        self.directory = directory or checkpoint_dir()
        self._models: dict[str, ServedModel] = {default.name: default}
        self.default = default.name
        self._threads = default.threads
        self._lock = threading.Lock()

    def loaded(self) -> int:
        return len(self._models)

    def devices(self) -> dict[str, str]:
        """Where each model built so far runs ("cpu", "cuda:0"); models read but not built are left out."""
        return {n: str(m.ckpt.vae.device) for n, m in list(self._models.items()) if m.ready}

    def add(self, m: ServedModel) -> None:
        """Serve the loaded model ``m`` too (from wherever it was read)."""
        with self._lock:
            self._models[m.name] = m

    def names(self) -> list[str]:
        names = [n for n in available_checkpoints(self.directory)
                 if atlas_path_for(self.directory / f"{n}.safetensors").exists()]
        return sorted(set(names) | set(self._models))

    def get(self, name: str) -> ServedModel:
        if name in self._models:
            return self._models[name]
        if name not in self.names():
            raise KeyError(name)
        with self._lock:
            if name not in self._models:
                path = self.directory / f"{name}.safetensors"
                try:
                    self._models[name] = read_served_model(path, self.device, self._threads)
                except (ValueError, OSError, TypeError, KeyError, RecursionError, MemoryError) as exc:
                    if isinstance(exc, ValueError) and str(exc).startswith(str(path)):
                        raise
                    raise CheckpointError(f"{path}: cannot be served ({type(exc).__name__}: {exc})") from None
        return self._models[name]
