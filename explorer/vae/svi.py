"""Pyro's SVI as this project runs it, shared by training and evaluation: the ELBO estimator, the
optimizer, the JIT executor, and the evaluation protocol of Pyro's VAE example."""

from __future__ import annotations

import contextlib
import threading
import warnings
from typing import Any

import torch
from pyro.infer import SVI, JitTrace_ELBO, JitTraceMeanField_ELBO, Trace_ELBO, TraceMeanField_ELBO

from explorer.vae.config import TrainConfig
from explorer.vae.model import VAE
from explorer.vae.optim import JointOptim

# Pyro's parameter store is one per process: whoever runs Pyro on the server (step 6, "check with Pyro", a live
# run's steps) does so in a store scope of their own, holding this lock.
PYRO_LOCK = threading.Lock()


def make_elbo(kind: str, jit: bool = False, num_particles: int = 1) -> Trace_ELBO:
    """The ELBO estimator: ``"trace"`` (Monte Carlo KL) or ``"meanfield"`` (analytic KL)."""
    if kind == "trace":
        cls = JitTrace_ELBO if jit else Trace_ELBO
    elif kind == "meanfield":
        cls = JitTraceMeanField_ELBO if jit else TraceMeanField_ELBO
    else:
        raise ValueError(f"unknown ELBO {kind!r}")
    kwargs: dict[str, Any] = {"num_particles": num_particles, "vectorize_particles": num_particles > 1,
                              "max_plate_nesting": 1}
    if jit:
        kwargs["ignore_jit_warnings"] = True
    return cls(**kwargs)


def make_optimizer(cfg: TrainConfig) -> JointOptim:
    """Adam (one over all parameters: the same steps as ``pyro.optim.Adam``'s one per parameter);
    with ``lr_final``, an exponential decay per epoch from ``lr`` to ``lr_final``."""
    gamma = None if cfg.lr_final is None else (cfg.lr_final / cfg.lr) ** (1.0 / max(cfg.epochs - 1, 1))
    return JointOptim(torch.optim.Adam, {"lr": cfg.lr}, gamma=gamma)


def make_svi(vae: VAE, cfg: TrainConfig) -> SVI:
    """Pyro's SVI for ``vae`` as ``train`` runs it: the ELBO of ``cfg`` and :func:`make_optimizer`."""
    return SVI(vae.model, vae.guide, make_optimizer(cfg), loss=make_elbo(cfg.elbo, cfg.use_jit))


def jit_executor(jit: bool) -> contextlib.AbstractContextManager:
    """Around the steps of a JIT-compiled ELBO: TorchScript runs the traced graph as traced, without its
    profiling executor's optimisation passes (same maths; on a CPU without TorchScript's fuser those passes
    cost time and fuse nothing: README, training speed)."""
    return torch.jit.optimized_execution(False) if jit else contextlib.nullcontext()


def compile_jit(svi: SVI, vae: VAE, *args: torch.Tensor) -> None:
    """Trace SVI's JIT-compiled ELBO once, on ``args``, before training starts.

    Pyro's first call of a compiled ELBO also runs model and guide once to find their parameters,
    which draws random numbers; done here under a forked random state, the training run's random
    stream is the same whether it starts afresh or resumes from Ctrl-C (so a resumed run equals an
    uninterrupted one). The gradients of this call are dropped."""
    devices = [vae.device] if vae.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), jit_executor(True), warnings.catch_warnings():
        # Pyro's JIT rests on torch.jit.trace, which recent torch marks deprecated (for torch.compile).
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.trace.* is deprecated", category=FutureWarning)
        svi.loss_and_grads(svi.model, svi.guide, *args)
    for p in vae.parameters():
        p.grad = None


def batches(n: int, batch_size: int, generator: torch.Generator | None) -> list[torch.Tensor]:
    """Index batches of a shuffled epoch (``generator=None``: in order, for evaluation)."""
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    return list(order.split(batch_size))


def evaluate_loss(svi: SVI, data: torch.Tensor, batch_size: int = 1000, labels: torch.Tensor | None = None) -> float:
    """Pyro example's protocol: sum of ``svi.evaluate_loss`` over the set / its size (nats per image).

    ``labels`` ``(n, 10)`` one-hot, for a conditional VAE (then the figure is -log p(x, y)'s bound).
    """
    total = 0.0
    for idx in batches(data.shape[0], batch_size, None):
        total += svi.evaluate_loss(data[idx], *(() if labels is None else (labels[idx],)))
    return total / data.shape[0]
