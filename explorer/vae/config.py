"""Frozen configuration dataclasses, stored inside every checkpoint.

A checkpoint rebuilds its own model from :class:`ModelConfig`; :class:`TrainConfig`
records how it was trained so that a run can be reproduced.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ModelConfig:
    """Shape of the VAE. Everything needed to rebuild encoder and decoder."""

    z_dim: int = 16  # latent dimensions; 16 is the app's main model
    hidden: tuple[int, ...] = (512, 256)  # encoder hidden widths; the decoder mirrors them
    activation: str = "softplus"  # "softplus" (Pyro's tutorial) or "relu"
    x_dim: int = 784  # 28 x 28 MNIST pixels, flattened
    labels: int = 0  # 0: the plain VAE; 10: a conditional VAE that observes the one-hot digit label
    # The KL term's weight in the training objective, as poutine.scale on the "latent" site of model and
    # guide: 1 is the VAE; 0 an autoencoder (only the reconstruction is trained); 4 a beta-VAE.
    kl_weight: float = 1.0
    # The guide's scale floored at this (0: no floor). The autoencoder needs one: with the KL weighted 0,
    # nothing but the reconstruction's wish for less noise trains the scale, which shrinks until exp()
    # underflows to 0; floored, its true ELBO stays a finite number.
    min_scale: float = 0.0

    def __post_init__(self) -> None:
        if self.z_dim < 1:
            raise ValueError(f"z_dim must be >= 1, got {self.z_dim}")
        if not self.hidden or any(h < 1 for h in self.hidden):
            raise ValueError(f"hidden must be non-empty positive widths, got {self.hidden}")
        if self.activation not in ("softplus", "relu"):
            raise ValueError(f"activation must be 'softplus' or 'relu', got {self.activation!r}")
        if not (isinstance(self.kl_weight, (int, float)) and 0.0 <= self.kl_weight <= 100.0):
            raise ValueError(f"kl_weight must be a number in 0..100, got {self.kl_weight!r}")
        if not (isinstance(self.min_scale, (int, float)) and 0.0 <= self.min_scale < 1.0):
            raise ValueError(f"min_scale must be a number in [0, 1), got {self.min_scale!r}")
        if self.labels not in (0, 10):
            raise ValueError(f"labels must be 0 (plain VAE) or 10 (conditional on the digit), got {self.labels}")
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))

    @property
    def kind(self) -> str:
        if self.labels:
            return "cvae"
        return "vae" if self.kl_weight == 1.0 else "ae" if self.kl_weight == 0 else "beta-vae"

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """Name -> shape of every weight of :class:`~explorer.vae.model.VAE` built from this config, so that
        a checkpoint can be checked without torch (a test holds this to the model's ``state_dict``)."""

        def mlp(prefix: str, sizes: list[int]) -> dict[str, tuple[int, ...]]:
            out = {}
            for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):  # Linear, activation, ...
                out[f"{prefix}.{2 * i}.weight"], out[f"{prefix}.{2 * i}.bias"] = (b, a), (b,)
            return out

        h = self.hidden[-1]
        return {
            **mlp("encoder.body", [self.x_dim + self.labels, *self.hidden]),
            "encoder.fc_loc.weight": (self.z_dim, h), "encoder.fc_loc.bias": (self.z_dim,),
            "encoder.fc_scale.weight": (self.z_dim, h), "encoder.fc_scale.bias": (self.z_dim,),
            **mlp("decoder.net", [self.z_dim + self.labels, *reversed(self.hidden), self.x_dim]),
        }

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown model config keys: {sorted(unknown)}")
        d = dict(d)
        if "hidden" in d:
            d["hidden"] = tuple(d["hidden"])
        return cls(**d)


@dataclass(frozen=True)
class TrainConfig:
    """How a model is trained with Pyro's SVI."""

    epochs: int = 100  # passes over the 60,000 training digits
    batch_size: int = 256  # Pyro's VAE example uses 256
    lr: float = 1e-3  # Adam learning rate (Pyro's example: 1e-3)
    lr_final: float | None = None  # if set, decay the rate geometrically to this by the last step
    elbo: str = "trace"  # "trace" (Trace_ELBO, Monte Carlo KL) or "meanfield" (analytic KL)
    # Pyro's JIT-compiled ELBO, the same maths. None: on for Trace_ELBO (faster per step; figures in the
    # README), off for TraceMeanField_ELBO (its compiled form is slower).
    jit: bool | None = None
    validate: bool = False  # Pyro's distribution-argument checks: same maths, ~8 % slower when on
    seed: int = 0  # one seed for torch, numpy, random and Pyro
    test_every: int = 5  # evaluate the test ELBO every N epochs (and after the last)
    train_subset: int | None = None  # use only the first N training digits (smoke tests)
    snapshots: int = 0  # moments of training recorded for the timeline (step 0 to the last, log-spaced); 0: none

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError("epochs and batch_size must be >= 1 and lr > 0")
        if not 0 <= self.snapshots <= 200:
            raise ValueError(f"snapshots must be in 0..200, got {self.snapshots}")
        if self.elbo not in ("trace", "meanfield"):
            raise ValueError(f"elbo must be 'trace' or 'meanfield', got {self.elbo!r}")

    @property
    def use_jit(self) -> bool:
        return self.jit if self.jit is not None else self.elbo == "trace"

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)


@dataclass(frozen=True)
class Preset:
    """A named recipe for one of the shipped checkpoints."""

    model: ModelConfig
    train: TrainConfig = field(default_factory=TrainConfig)


# The shipped models. README's "The models" gives the commands that rebuild them.
PRESETS: dict[str, Preset] = {
    # 2-D latent: the map *is* the latent space (used in lectures).
    "mnist-z2": Preset(
        ModelConfig(z_dim=2, hidden=(512, 256), activation="softplus"),
        TrainConfig(epochs=60, lr=1e-3, lr_final=1e-4),
    ),
    # The main model: fewer latent dims than the tutorial's, a better ELBO.
    "mnist-z16": Preset(
        ModelConfig(z_dim=16, hidden=(512, 256), activation="softplus"),
        TrainConfig(epochs=100, lr=1e-3, lr_final=1e-4),
    ),
    # The label as an observation: a conditional VAE whose model scores the one-hot digit label
    # with a Categorical and whose encoder and decoder both see it.
    "mnist-cvae-z16": Preset(
        ModelConfig(z_dim=16, hidden=(512, 256), activation="softplus", labels=10),
        TrainConfig(epochs=30, lr=1e-3, lr_final=1e-4),
    ),
    # What the KL term does: mnist-z2's architecture with the KL weighted 0 (an autoencoder in Pyro's
    # terms) and weighted 4 (a beta-VAE); each beside mnist-z2 in the page.
    "mnist-z2-ae": Preset(
        ModelConfig(z_dim=2, hidden=(512, 256), activation="softplus", kl_weight=0.0, min_scale=1e-3),
        TrainConfig(epochs=60, lr=1e-3, lr_final=1e-4),
    ),
    "mnist-z2-beta4": Preset(
        ModelConfig(z_dim=2, hidden=(512, 256), activation="softplus", kl_weight=4.0),
        TrainConfig(epochs=60, lr=1e-3, lr_final=1e-4),
    ),
    # Parity with Pyro's examples/vae/vae.py: one hidden layer of 400 softplus units, z = 50.
    "mnist-z50": Preset(
        ModelConfig(z_dim=50, hidden=(400,), activation="softplus"),
        TrainConfig(epochs=100, lr=1e-3),
    ),
}
