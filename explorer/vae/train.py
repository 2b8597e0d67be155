"""Training with Pyro's SVI: Trace_ELBO (or TraceMeanField_ELBO), Adam, one seed.

``train(...)`` is the library entry point; ``python -m explorer train`` wraps it.
"""

from __future__ import annotations

import logging
import math
import platform
import random
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pyro
import torch
from pyro.infer import SVI
from tqdm.auto import tqdm

from explorer.store.checkpoint import COMPACT_BITS, compact, save_checkpoint, weights_digest
from explorer.store.snapshots import GRID, GRID_SPAN, Recorder, save_snapshots, snapshots_path_for
from explorer.vae.config import ModelConfig, TrainConfig
from explorer.vae.data import MnistSplit
from explorer.vae.model import VAE, one_hot
from explorer.vae.runtime import set_seed
from explorer.vae.svi import batches, compile_jit, evaluate_loss, jit_executor, make_svi

log = logging.getLogger(__name__)

RESUME_FORMAT = "explorer-resume/2"  # /2: one optimizer state for all parameters


def library_versions() -> dict[str, str]:
    import numpy
    import torchvision

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "pyro": pyro.__version__,
        "numpy": numpy.__version__,
    }


COMPACT_SEEDS = 5  # the seeds of Pyro's protocol over which compaction's cost is measured, paired
COMPACT_HOW = (f"explorer.store.checkpoint.compact on every tensor; the same {COMPACT_SEEDS} seeds of Pyro's protocol "
               "before and after")


def _seeded_elbos(vae: VAE, test_set: MnistSplit) -> list[float]:
    """The true test ELBO under seeds 0..COMPACT_SEEDS-1, leaving every random generator where it was."""
    from explorer.vae.evaluate import elbo_over_seeds

    states = random.getstate(), np.random.get_state(), torch.get_rng_state()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    try:
        return elbo_over_seeds(vae, test_set.images, test_set.labels, seeds=COMPACT_SEEDS, progress=False)[2]
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)


def _paired_change(before: list[float], after: list[float]) -> dict[str, float | int]:
    """Mean and standard error of the per-seed ELBO change (after - before): the same seeds draw the same ε."""
    d = [a - b for a, b in zip(after, before, strict=True)]
    n = len(d)
    mean = sum(d) / n
    se = (sum((v - mean) ** 2 for v in d) / (n - 1)) ** 0.5 / n**0.5
    return {"paired_seeds": n, "test_elbo_change": mean, "test_elbo_change_se": se}


def train(
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    train_set: MnistSplit,
    test_set: MnistSplit | None,
    out: str | Path,
    device: torch.device,
    resume: str | Path | None = None,
    progress: bool = True,
    command: str | None = None,
) -> dict[str, Any]:
    """Train a VAE with SVI, write the checkpoint to ``out`` and return its training record.

    On Ctrl-C the state is written to ``<out>.resume.pt`` (``--resume`` continues from it).
    """
    out = Path(out)
    pyro.clear_param_store()
    pyro.enable_validation(train_cfg.validate)
    set_seed(train_cfg.seed)
    vae = VAE(model_cfg).to(device)
    svi = make_svi(vae, train_cfg)
    optimizer = svi.optim

    x_train = train_set.images
    if train_cfg.train_subset:
        x_train = x_train[: train_cfg.train_subset]
    x_train = x_train.to(device)
    x_test = test_set.images.to(device) if test_set is not None else None
    # A conditional VAE observes the one-hot digit label too.
    y_train = y_test = None
    if model_cfg.labels:
        y_train = one_hot(train_set.labels[: x_train.shape[0]], model_cfg.labels).to(device)
        y_test = one_hot(test_set.labels, model_cfg.labels).to(device) if test_set is not None else None
    gen = torch.Generator().manual_seed(train_cfg.seed)

    if train_cfg.use_jit:
        compile_jit(svi, vae, x_train[: train_cfg.batch_size],
                    *(() if y_train is None else (y_train[: train_cfg.batch_size],)))
    history: list[dict[str, float]] = []
    start_epoch = 0
    resumed_snapshots: list[dict[str, Any]] = []
    if resume is not None:
        start_epoch, history, resumed_snapshots = _load_resume(Path(resume), vae, optimizer, gen, model_cfg, train_cfg)
        log.info("resuming from %s at epoch %d", resume, start_epoch + 1)

    per_epoch = math.ceil(x_train.shape[0] / train_cfg.batch_size)
    total_steps = per_epoch * train_cfg.epochs
    recorder = None
    if train_cfg.snapshots and x_test is not None:
        recorder = Recorder(train_cfg.snapshots, total_steps, x_test, y_test, per_epoch, train_cfg.seed)
        recorder.taken = resumed_snapshots
        if recorder.due(0):
            recorder.take(vae, 0)  # the untrained model
    step = start_epoch * per_epoch
    test_loss = math.nan
    t_start = time.perf_counter()
    epoch = start_epoch
    try:
        for epoch in range(start_epoch, train_cfg.epochs):
            step = epoch * per_epoch
            idx_batches = batches(x_train.shape[0], train_cfg.batch_size, gen)
            bar = tqdm(idx_batches, desc=f"epoch {epoch + 1}/{train_cfg.epochs}", disable=not progress,
                       unit="batch", leave=False)
            total, seen = 0.0, 0
            t0 = time.perf_counter()
            with jit_executor(train_cfg.use_jit):
                for idx in bar:
                    total += svi.step(x_train[idx], *(() if y_train is None else (y_train[idx],)))
                    seen += idx.shape[0]
                    step += 1
                    if recorder is not None and step < total_steps and recorder.due(step):
                        recorder.take(vae, step)
                    bar.set_postfix(loss=f"{total / seen:.2f}", refresh=False)
            seconds = time.perf_counter() - t0
            entry = {"epoch": epoch + 1, "train_loss": total / seen, "seconds": seconds}
            last = epoch + 1 == train_cfg.epochs
            if x_test is not None and ((epoch + 1) % train_cfg.test_every == 0 or last):
                test_loss = evaluate_loss(svi, x_test, labels=y_test)
                entry["test_loss"] = test_loss
            optimizer.step()  # end of epoch: the learning-rate decay, if any
            history.append(entry)
            msg = f"epoch {epoch + 1:3d}  train loss {entry['train_loss']:.2f}"
            if "test_loss" in entry:
                msg += f"  test ELBO {-test_loss:.2f} nats/image"
            log.info("%s  (%.1f s)", msg, seconds)
    except KeyboardInterrupt:
        kept = [s for s in (recorder.taken if recorder else []) if s["step"] <= epoch * per_epoch]
        path = _save_resume(out, vae, optimizer, gen, epoch, history, model_cfg, train_cfg, kept)
        log.warning("interrupted: state saved to %s; continue with --resume %s", path, path)
        raise
    finally:
        pyro.enable_validation(True)  # Pyro's default, for whatever runs next in this process

    # The shipped weights: float16-exact at bfloat16's precision (explorer.store.checkpoint.compact), so that the
    # page computes with exactly these numbers; the test ELBO recorded is the compact model's.
    before = -test_loss if not math.isnan(test_loss) else None
    before_sha = weights_digest(vae.state_dict())
    before_elbos = _seeded_elbos(vae, test_set) if test_set is not None else None
    with torch.no_grad():
        for p in vae.parameters():
            p.copy_(torch.from_numpy(compact(p.detach().cpu().numpy())).to(p.device))
    compacted = {"mantissa_bits": COMPACT_BITS, "before_weights_sha256": before_sha, "how": COMPACT_HOW}
    if before_elbos is not None:
        compacted.update(_paired_change(before_elbos, _seeded_elbos(vae, test_set)))
    vae.train()
    objective = None
    if x_test is not None:
        test_loss = evaluate_loss(svi, x_test, labels=y_test)  # the objective this model trains
        if model_cfg.kl_weight != 1.0:  # the record quotes the true ELBO, the KL weighted 1
            objective = -test_loss
            twin = vae.elbo_twin()
            test_loss = evaluate_loss(SVI(twin.model, twin.guide, svi.optim, loss=svi.loss), x_test, labels=y_test)
    if recorder is not None:
        recorder.take(vae, total_steps)  # the last moment: the model as saved
    record = {
        "test_elbo": -test_loss if not math.isnan(test_loss) else None,
        "test_elbo_before_compact": before,
        **({"test_objective": objective, "kl_weight": model_cfg.kl_weight} if objective is not None else {}),
        "weights": {"compact_mantissa_bits": COMPACT_BITS, "stored_as": "float16-exact float32",
                    "compacted": compacted},
        "test_elbo_protocol": "Pyro examples/vae: -sum(svi.evaluate_loss)/N over the test set, 1 particle",
        "epochs": train_cfg.epochs,
        "train_config": {**asdict(train_cfg), "jit": train_cfg.use_jit},
        "data_sha256": {"train": train_set.sha256, **({"test": test_set.sha256} if test_set else {})},
        "versions": library_versions(),
        "command": command,  # what reproduces this run
        "device": str(device),
        "train_seconds": round(time.perf_counter() - t_start, 1),
        "history": history,
    }
    vae.eval()
    save_checkpoint(out, vae.cpu(), record)
    if recorder is not None:
        save_snapshots(snapshots_path_for(out), recorder.taken, {
            "checkpoint": out.name, "weights_sha256": weights_digest(vae.state_dict()), "test_sha256": test_set.sha256,
            "steps_per_epoch": per_epoch, "total_steps": total_steps, "seed": train_cfg.seed,
            "grid": {"n": GRID, "span": GRID_SPAN} if model_cfg.z_dim == 2 else None})
    resume_path = _resume_path(out)
    if resume_path.exists():
        resume_path.unlink()
    return record


def _resume_path(out: Path) -> Path:
    return out.with_name(out.name + ".resume.pt")


def _save_resume(out, vae, optimizer, gen, epoch, history, model_cfg, train_cfg, snapshots=()) -> Path:
    path = _resume_path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "format": RESUME_FORMAT,
        "model_config": model_cfg.to_json(),
        "train_config": train_cfg.to_json(),
        "epoch": epoch,  # the epoch that was interrupted restarts from its beginning
        "history": [{k: float(v) for k, v in h.items()} for h in history],
        "weights": {k: v.cpu() for k, v in vae.state_dict().items()},
        "optimizer": optimizer.get_state(),
        "generator": gen.get_state(),
        "torch_rng": torch.get_rng_state(),
        # the moments recorded so far (tensors and numbers only: the file is read with weights_only=True)
        "snapshots": [_to_tensors(s) for s in snapshots],
    }
    torch.save(state, path)
    return path


def _load_resume(path, vae, optimizer, gen, model_cfg, train_cfg):
    state = torch.load(path, map_location="cpu", weights_only=True)  # never unpickles code
    if state.get("format") != RESUME_FORMAT:
        raise ValueError(f"{path}: not a resume file of this tool")
    if state["model_config"] != model_cfg.to_json():
        raise ValueError(f"{path}: saved for another architecture ({state['model_config']})")
    vae.load_state_dict(state["weights"])
    # Pyro creates its per-parameter optimizers lazily: register the params, then restore.
    pyro.module("encoder", vae.encoder)
    pyro.module("decoder", vae.decoder)
    optimizer.set_state(state["optimizer"])
    gen.set_state(state["generator"])
    torch.set_rng_state(state["torch_rng"])
    history = [{k: (int(v) if k == "epoch" else v) for k, v in h.items()} for h in state["history"]]
    return int(state["epoch"]), history, [_from_tensors(s) for s in state.get("snapshots", [])]


def _to_tensors(snap: dict[str, Any]) -> dict[str, Any]:
    return {k: (torch.from_numpy(v) if isinstance(v, np.ndarray) else _to_tensors(v) if isinstance(v, dict) else v)
            for k, v in snap.items()}


def _from_tensors(snap: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.numpy() if isinstance(v, torch.Tensor) else _from_tensors(v) if isinstance(v, dict) else v)
            for k, v in snap.items()}
