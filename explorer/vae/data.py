"""MNIST as in-memory tensors in [0, 1], through torchvision.

Where the data lives: ``--data-dir``, else ``$EXPLORER_DATA_DIR``, else ``./data``. The folder is
the one that *contains* ``MNIST/`` (torchvision's layout). With internet access, torchvision
downloads it there; offline with no data, :class:`DataMissingError` says where we looked.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

ENV_VAR = "EXPLORER_DATA_DIR"
DEFAULT_DIR = Path("data")


class DataMissingError(RuntimeError):
    """MNIST is not on disk and could not be downloaded."""


def resolve_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The folder that holds (or will hold) ``MNIST/raw``."""
    if data_dir:
        return Path(data_dir).expanduser()
    env = os.environ.get(ENV_VAR)
    return Path(env).expanduser() if env else DEFAULT_DIR


@dataclass(frozen=True)
class MnistSplit:
    """One split of MNIST.

    Attributes
    ----------
    images : Tensor, shape ``(n, 784)``, float32 in [0, 1]
    labels : Tensor, shape ``(n,)``, int64 in 0..9
    sha256 : hex digest of the raw uint8 images and labels
    """

    images: torch.Tensor
    labels: torch.Tensor
    sha256: str

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def load_mnist(
    train: bool,
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
) -> MnistSplit:
    """Load a split of MNIST into memory (no per-item transforms: one tensor for the split)."""
    import torch
    from torchvision.datasets import MNIST  # torchvision is slow to import; only here

    root = resolve_data_dir(data_dir)
    try:
        ds = MNIST(root=str(root), train=train, download=False)
    except RuntimeError:
        if not download:
            raise DataMissingError(_missing_message(root)) from None
        try:
            log.info("MNIST not found under %s; downloading with torchvision", root.resolve())
            ds = MNIST(root=str(root), train=train, download=True)
        except Exception as exc:  # network errors come in many types
            why = " ".join(str(exc).split())[:300]  # one line: torchvision lists every mirror it tried
            raise DataMissingError(_missing_message(root) + f" (download failed: {why})") from None
    raw = ds.data.contiguous()
    labels = ds.targets.to(torch.int64).contiguous()
    digest = hashlib.sha256(raw.numpy().tobytes() + labels.numpy().tobytes()).hexdigest()
    images = raw.reshape(-1, 784).to(torch.float32).div_(255.0)
    return MnistSplit(images=images, labels=labels, sha256=digest)


def _missing_message(root: Path) -> str:
    return (
        f"MNIST not found in {root.resolve()}/MNIST/raw and could not be downloaded. "
        f"Point at the folder that contains MNIST/ with --data-dir DIR or {ENV_VAR}=DIR."
    )
