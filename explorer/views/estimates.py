"""Monte Carlo summaries the lens shows: a mean with its standard error, and the norm of a mean gradient."""

from __future__ import annotations

import math

import torch

from explorer.constants import BOOTSTRAP
from explorer.vae import rng


def mean_se(v: torch.Tensor) -> tuple[float, float]:
    """Mean and its standard error over the first dimension (NaN s.e. for one value)."""
    n = v.shape[0]
    return float(v.mean()), float(v.std() / math.sqrt(n)) if n > 1 else float("nan")


def grad_norm_estimate(g: torch.Tensor, boot: int = BOOTSTRAP, seed: int = 0, stream: int = 3
                       ) -> tuple[float, float, float]:
    """From per-sample gradients ``g`` ``(K, d)``: an unbiased estimate of ||E g|| (the U-statistic
    sum_{i != j} g_i . g_j / (K (K - 1)), square-rooted at 0), its bootstrap s.e. (``boot`` resamples of
    the K rows, drawn by the explorer's generator from ``seed`` and ``stream``), and the plain norm of the
    mean, which is biased upward by the samples' noise."""
    k = g.shape[0]
    naive = float(g.mean(0).norm())
    if k < 2:
        return naive, float("nan"), naive

    def unbiased(x: torch.Tensor) -> torch.Tensor:
        s = x.sum(-2)
        return ((s * s).sum(-1) - (x * x).sum((-1, -2))) / (k * (k - 1))

    est = float(unbiased(g).clamp_min(0).sqrt())
    idx = torch.from_numpy(rng.integers(seed, stream, boot * k, k).reshape(boot, k))
    reps = unbiased(g[idx]).clamp_min(0).sqrt()
    return est, float(reps.std()), naive
