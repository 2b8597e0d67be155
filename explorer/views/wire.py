"""How the routes' answers carry images (base64 of uint8 grey levels) and numbers (floats at full precision)."""

from __future__ import annotations

import base64

import numpy as np
import torch


def to_u8(probs: torch.Tensor | np.ndarray) -> np.ndarray:
    """Pixel probabilities in [0, 1], any shape, as grey levels 0..255 (uint8) of the same shape."""
    a = probs.detach().cpu().numpy() if isinstance(probs, torch.Tensor) else probs
    return np.round(np.clip(a, 0, 1) * 255).astype(np.uint8)


def b64(a: np.ndarray) -> str:
    """The array's bytes (C order) as ASCII base64."""
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode("ascii")


def values(a: np.ndarray | torch.Tensor) -> list:
    """The array as nested lists of floats at full precision (float64 of the values computed)."""
    a = a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
    return a.astype(np.float64).tolist()
