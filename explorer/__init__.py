"""Interactive explorer of a Pyro VAE's latent space on MNIST."""

from explorer.checkpoint import Checkpoint, CheckpointError, load_checkpoint, save_checkpoint
from explorer.config import ModelConfig, TrainConfig
from explorer.model import VAE, Decoder, Encoder
from explorer.utils import pick_device, set_seed

__all__ = [
    "VAE", "Checkpoint", "CheckpointError", "Decoder", "Encoder", "ModelConfig", "TrainConfig",
    "load_checkpoint", "pick_device", "save_checkpoint", "set_seed",
]
__version__ = "0.1.0"
