"""The VAE of Pyro's tutorial: plain ``nn.Module`` encoder/decoder, ``model`` and ``guide``.

Sample sites: ``"latent"`` (z, shape ``(batch, z_dim)``) and ``"obs"`` (x, shape ``(batch, 784)``).
"""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch
from torch import nn

from explorer.config import ModelConfig


def _activation(name: str) -> nn.Module:
    return nn.Softplus() if name == "softplus" else nn.ReLU()


def _mlp(sizes: list[int], activation: str) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(_activation(activation))
    return nn.Sequential(*layers)


class Encoder(nn.Module):
    """x ``(batch, 784)`` -> (loc, scale), each ``(batch, z_dim)``; scale > 0."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.body = _mlp([config.x_dim, *config.hidden], config.activation)
        self.act = _activation(config.activation)
        self.fc_loc = nn.Linear(config.hidden[-1], config.z_dim)
        self.fc_scale = nn.Linear(config.hidden[-1], config.z_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.act(self.body(x.reshape(-1, self.body[0].in_features)))
        return self.fc_loc(h), torch.exp(self.fc_scale(h))


class Decoder(nn.Module):
    """z ``(..., z_dim)`` -> Bernoulli probabilities ``(..., 784)`` in (0, 1)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        sizes = [config.z_dim, *reversed(config.hidden), config.x_dim]
        self.net = _mlp(sizes, config.activation)

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(z))


class VAE(nn.Module):
    """Pyro VAE with a standard normal prior and a Bernoulli likelihood on grey pixels."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)

    @property
    def z_dim(self) -> int:
        return self.config.z_dim

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def model(self, x: torch.Tensor) -> None:
        """p(z) p(x|z): ``"latent"`` ~ N(0, I), ``"obs"`` ~ Bernoulli(decoder(z)) observed as x."""
        pyro.module("decoder", self.decoder)
        with pyro.plate("data", x.shape[0]):
            loc = x.new_zeros((x.shape[0], self.z_dim))
            scale = x.new_ones((x.shape[0], self.z_dim))
            z = pyro.sample("latent", dist.Normal(loc, scale).to_event(1))
            probs = self.decoder(z)
            # Grey pixels in [0, 1] are not in Bernoulli's support {0, 1}; Pyro's example
            # turns validation off for the same reason. The log-likelihood stays
            # x log p + (1 - x) log(1 - p), i.e. minus the binary cross-entropy.
            pyro.sample(
                "obs",
                dist.Bernoulli(probs, validate_args=False).to_event(1),
                obs=x.reshape(-1, self.config.x_dim),
            )

    def guide(self, x: torch.Tensor) -> None:
        """q(z|x) = N(loc(x), diag(scale(x)^2)) for the ``"latent"`` site."""
        pyro.module("encoder", self.encoder)
        with pyro.plate("data", x.shape[0]):
            loc, scale = self.encoder(x)
            pyro.sample("latent", dist.Normal(loc, scale).to_event(1))

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Guide parameters.

        Parameters
        ----------
        x : Tensor, shape ``(batch, 784)`` or ``(batch, 28, 28)``, values in [0, 1]

        Returns
        -------
        loc, scale : Tensor, each shape ``(batch, z_dim)``
        """
        return self.encoder(x.to(self.device, torch.float32))

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Bernoulli probabilities of the pixels.

        Parameters
        ----------
        z : Tensor, shape ``(..., z_dim)``

        Returns
        -------
        probs : Tensor, shape ``(..., 784)``, values in (0, 1)
        """
        return self.decoder(z.to(self.device, torch.float32))
