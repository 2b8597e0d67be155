"""Interactive explorer of a Pyro VAE's latent space on MNIST.

The names below are imported on first use (PEP 562), so ``python -m explorer`` starts without
importing torch; ``from explorer import VAE`` works as usual.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "VAE": "explorer.model", "Decoder": "explorer.model", "Encoder": "explorer.model",
    "Checkpoint": "explorer.checkpoint", "CheckpointError": "explorer.checkpoint",
    "load_checkpoint": "explorer.checkpoint", "save_checkpoint": "explorer.checkpoint",
    "ModelConfig": "explorer.config", "TrainConfig": "explorer.config",
    "pick_device": "explorer.utils", "set_seed": "explorer.utils",
    "launch": "explorer.notebook", "import_file": "explorer.importer", "reproduce": "explorer.reproduce",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'explorer' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
