"""Interactive explorer of a Pyro VAE's latent space on MNIST.

The names below are imported on first use (PEP 562), so ``python -m explorer`` starts without
importing torch; ``from explorer import VAE`` works as usual.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "VAE": "explorer.vae.model", "Decoder": "explorer.vae.model", "Encoder": "explorer.vae.model",
    "Checkpoint": "explorer.store.checkpoint", "CheckpointError": "explorer.store.checkpoint",
    "load_checkpoint": "explorer.store.checkpoint", "save_checkpoint": "explorer.store.checkpoint",
    "ModelConfig": "explorer.vae.config", "TrainConfig": "explorer.vae.config",
    "pick_device": "explorer.vae.runtime", "set_seed": "explorer.vae.runtime",
    "launch": "explorer.notebook", "import_file": "explorer.vae.importer", "reproduce": "explorer.views.reproduce",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'explorer' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
