"""A short, real training run on the server, watched live: the lecturer starts it, everyone sees it.

:class:`LiveRun` trains a fresh VAE (the z = 2 architecture of ``mnist-z2`` by default) with Pyro's SVI, the
optimizer and ELBO of ``train`` (:func:`explorer.vae.svi.make_svi`), on a subset of MNIST's training digits, in a
background thread. About twice a second it measures the model on a fixed slice of the test digits (their
guide means: the map; the test ELBO and its terms; the active dimensions, as the snapshots do:
:func:`explorer.store.snapshots.measure`) and publishes that as one update to every watcher.

It is bounded: at most :data:`LIMITS` steps and digits, :data:`MAX_SECONDS` of wall time, one run at a time
(:class:`LiveTrainer`), its model held in memory only: it never writes a file. Pyro's parameter store is
one per process, so each step runs in a scope of its own under :data:`explorer.vae.svi.PYRO_LOCK`, between the
server's other Pyro work (step 6, "check with Pyro").
"""

from __future__ import annotations

import base64
import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

# Each setting's valid range (inclusive); a request outside it is refused with the range (422)
LIMITS: dict[str, tuple[float, float]] = {
    "steps": (10, 5000),  # SVI steps (minibatches)
    "lr": (1e-5, 1e-2),  # Adam's learning rate
    "batch": (8, 1024),  # digits per minibatch
    "kl_weight": (0.0, 10.0),  # the KL term's weight (1: the VAE; 0: an autoencoder; 4: a beta-VAE)
    "subset": (500, 60000),  # training digits used (the first N)
    "seed": (0, 2**31 - 1),
}
MAX_SECONDS = 300.0  # a run stops itself after this much wall time
UPDATE_SECONDS = 0.5  # an update about this often (and after the last step)
TEST_DIGITS = 2000  # the first N test digits are the live map
HISTORY = 1000  # updates kept for a watcher who joins late (their figures only)


@dataclass(frozen=True)
class LiveSettings:
    """One live run's settings (each within :data:`LIMITS`)."""

    steps: int = 1500  # about 12 s of training on one core of this laptop-class CPU
    lr: float = 1e-3  # train's default
    batch: int = 128  # smaller than train's 256: more steps, so more movement to watch per second
    kl_weight: float = 1.0  # the VAE
    subset: int = 20000  # a third of the training digits: a short run sees each a few times
    seed: int = 0

    @classmethod
    def checked(cls, raw: dict[str, Any]) -> LiveSettings:
        """From a request's JSON object: ``ValueError`` naming every bad field with its valid range."""
        if not isinstance(raw, dict):
            raise ValueError("the settings must be a JSON object")
        names = {f.name: f.type for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - set(names))
        errors = [f"unknown setting {k!r}" for k in unknown[:5]]
        values: dict[str, Any] = {}
        for name in names:
            if name not in raw:
                continue
            v, (lo, hi) = raw[name], LIMITS[name]
            integral = name in ("steps", "batch", "subset", "seed")
            ok = isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) and lo <= v <= hi
            if ok and integral and float(v) != int(v):
                ok = False
            if not ok:
                kind = "an integer" if integral else "a number"
                errors.append(f"{name} must be {kind} in {lo:g}..{hi:g}")
            else:
                values[name] = int(v) if integral else float(v)
        if errors:
            raise ValueError("; ".join(errors))
        return cls(**values)


def _f16(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a, dtype=np.float16).tobytes()).decode("ascii")


class LiveRun:
    """One run: ``start()`` trains in a thread; ``publish(update)`` receives each update (a dict)."""

    def __init__(self, settings: LiveSettings, data_dir: str | Path | None, device: str | None,
                 publish: Callable[[dict[str, Any]], None], max_seconds: float = MAX_SECONDS) -> None:
        from explorer.vae.data import load_mnist

        self.settings, self.device, self.max_seconds = settings, device, max_seconds
        self.publish = lambda update: publish({**update, "run": self.started})  # each update names its run
        # DataMissingError (one line: where it looked) before any thread; never a download from a lecture hall
        train = load_mnist(True, data_dir, download=False)
        test = load_mnist(False, data_dir, download=False)
        self.x = train.images[: settings.subset].clone()
        self.x_test = test.images[:TEST_DIGITS].clone()
        self.labels = test.labels[:TEST_DIGITS].numpy().astype(np.uint8)
        self.started = time.time()
        self.stop_asked = threading.Event()
        self.state = "starting"
        self.step = 0
        self.thread = threading.Thread(target=self._guarded, name="live-training", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stop_asked.set()

    def _guarded(self) -> None:
        try:
            self._train()
        except Exception as exc:  # the run ends; the watchers are told why, the server goes on
            log.exception("the live run failed")
            self.state = "failed"
            self.publish({"state": "failed", "message": f"the run failed: {type(exc).__name__}: {exc}"})

    def _train(self) -> None:
        import pyro
        import torch

        from explorer.store.snapshots import measure
        from explorer.vae.config import PRESETS, TrainConfig
        from explorer.vae.runtime import pick_device, set_seed
        from explorer.vae.svi import PYRO_LOCK, batches, make_svi

        s = self.settings
        device = pick_device(self.device)
        config = dataclasses.replace(PRESETS["mnist-z2"].model, kl_weight=s.kl_weight,
                                     min_scale=1e-3 if s.kl_weight == 0 else 0.0)
        set_seed(s.seed)
        from explorer.vae.model import VAE

        vae = VAE(config).to(device).train()
        cfg = TrainConfig(epochs=1, batch_size=s.batch, lr=s.lr, elbo="trace", jit=False, seed=s.seed)
        svi = make_svi(vae, cfg)
        x, x_test = self.x.to(device), self.x_test.to(device)
        gen = torch.Generator().manual_seed(s.seed)
        store: dict[str, Any] = {"params": {}, "constraints": {}}  # this run's own Pyro parameters
        order: list[torch.Tensor] = []
        per_epoch = -(-x.shape[0] // s.batch)
        losses: list[float] = []
        self.state = "running"

        def update(final: bool = False) -> None:
            vae.eval()
            m = measure(vae.elbo_twin(), x_test, None, seed=0)
            vae.train()
            self.publish({
                "state": "finished" if final else "running", "step": self.step, "steps": s.steps,
                "epoch": round(self.step / per_epoch, 4), "seconds": round(time.time() - self.started, 2),
                "loss": float(np.mean(losses[-50:])) if losses else None,
                "elbo": m["elbo"], "recon": m["recon"], "kl": m["kl"], "active": m["active"],
                "xy": _f16(m["loc"]),
            })

        update()
        last = time.perf_counter()
        while self.step < s.steps:
            if self.stop_asked.is_set() or time.time() - self.started > self.max_seconds:
                break
            if not order:
                order = batches(x.shape[0], s.batch, gen)
            idx = order.pop(0)
            with PYRO_LOCK, pyro.get_param_store().scope(store):
                losses.append(svi.step(x[idx]) / idx.shape[0])
            self.step += 1
            if time.perf_counter() - last >= UPDATE_SECONDS:
                update()
                last = time.perf_counter()
        self.state = "stopped" if self.step < s.steps else "finished"
        update(final=True)
        if self.state == "stopped":
            why = "stopped by the lecturer" if self.stop_asked.is_set() else f"stopped after {self.max_seconds:g} s"
            self.publish({"state": "stopped", "message": why})

    def info(self) -> dict[str, Any]:
        """What a watcher needs first: the settings, the test digits' labels, when it started."""
        return {"settings": dataclasses.asdict(self.settings), "started": self.started,
                "labels": base64.b64encode(self.labels.tobytes()).decode("ascii"), "n": int(self.labels.shape[0]),
                "limits": {k: list(v) for k, v in LIMITS.items()}}


class Busy(RuntimeError):
    """A run is going: one at a time."""


class LiveTrainer:
    """The one live run of this server, and its updates, numbered, for the watchers."""

    def __init__(self, data_dir: str | Path | None = None, device: str | None = None,
                 max_seconds: float = MAX_SECONDS) -> None:
        self.data_dir, self.device, self.max_seconds = data_dir, device, max_seconds
        self.run: LiveRun | None = None
        self.updates: list[dict[str, Any]] = []  # this run's, oldest first (the last HISTORY)
        self.version = 0  # counts every update published
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []

    def listen(self, fn: Callable[[], None]) -> Callable[[], None]:
        """Call ``fn()`` (from the training thread) after each update; returns the function that stops it."""
        with self._lock:
            self._listeners.append(fn)
        return lambda: self._forget(fn)

    def _forget(self, fn: Callable[[], None]) -> None:
        with self._lock:
            if fn in self._listeners:
                self._listeners.remove(fn)

    def _publish(self, update: dict[str, Any]) -> None:
        with self._lock:
            self.version += 1
            self.updates.append({**update, "version": self.version})
            # figures for the curves stay; only the newest updates keep their maps
            for old in self.updates[:-2]:
                old.pop("xy", None)
            del self.updates[:-HISTORY]
            listeners = list(self._listeners)
        for fn in listeners:
            fn()

    @property
    def running(self) -> bool:
        return self.run is not None and self.run.thread.is_alive()

    def start(self, settings: LiveSettings) -> dict[str, Any]:
        with self._lock:
            if self.run is not None and self.run.thread.is_alive():
                r = self.run
                raise Busy(f"a live run is going (step {r.step} of {r.settings.steps}, started "
                           f"{time.strftime('%H:%M:%S', time.localtime(r.started))}): stop it first")
            run = LiveRun(settings, self.data_dir, self.device, self._publish, self.max_seconds)
            self.run, self.updates = run, []
        run.start()
        return self.snapshot()

    def stop(self) -> dict[str, Any]:
        if self.run is not None:
            self.run.stop()
            self.run.thread.join(timeout=10)
        return self.snapshot()

    def snapshot(self) -> dict[str, Any]:
        """The run as a late watcher first sees it: its info and every update so far."""
        with self._lock:
            run = self.run
            return {"running": self.running, "version": self.version,
                    "run": run.info() if run else None, "updates": [dict(u) for u in self.updates]}

    def since(self, version: int) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(u) for u in self.updates if u["version"] > version]
