"""Seeding and device selection."""

from __future__ import annotations

import random

import numpy as np
import pyro
import torch


def set_seed(seed: int) -> None:
    """Seed Python, NumPy, torch (CPU and CUDA) and Pyro from one integer."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    pyro.set_rng_seed(seed)


def pick_device(requested: str | None = None) -> torch.device:
    """``"cuda"`` when available unless ``requested`` says otherwise ("cpu", "cuda", "cuda:1")."""
    if requested in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {requested} asked for, but torch sees no CUDA device")
    return device
