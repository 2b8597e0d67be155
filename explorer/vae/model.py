"""The VAE of Pyro's tutorial: plain ``nn.Module`` encoder/decoder, ``model`` and ``guide``.

Sample sites: ``"latent"`` (z, shape ``(batch, z_dim)``) and ``"obs"`` (x, shape ``(batch, 784)``).
"""

from __future__ import annotations

import contextlib
import dataclasses

import pyro
import pyro.distributions as dist
import torch
from pyro import poutine
from torch import nn

from explorer.vae.config import ModelConfig


def kl_weighted(weight: float) -> contextlib.AbstractContextManager:
    """Around the ``"latent"`` site in model and guide: its log-probabilities, whose difference is the KL
    term, weighted by ``weight``: ``poutine.scale`` (4: a beta-VAE), ``poutine.mask(mask=False)`` for 0 (an
    autoencoder: Pyro's scale must be positive), nothing for 1 (the VAE)."""
    if weight == 1.0:
        return contextlib.nullcontext()
    return poutine.mask(mask=False) if weight == 0 else poutine.scale(scale=weight)


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
    """x ``(batch, 784)`` (with the one-hot label appended for a conditional VAE: ``(batch, 794)``)
    -> (loc, scale), each ``(batch, z_dim)``; scale > 0 (at least ``config.min_scale``)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.body = _mlp([config.x_dim + config.labels, *config.hidden], config.activation)
        self.act = _activation(config.activation)
        self.fc_loc = nn.Linear(config.hidden[-1], config.z_dim)
        self.fc_scale = nn.Linear(config.hidden[-1], config.z_dim)
        self.min_scale = config.min_scale  # 0: none (the autoencoder floors its scale: ModelConfig.min_scale)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.act(self.body(x.reshape(-1, self.body[0].in_features)))
        scale = torch.exp(self.fc_scale(h))
        return self.fc_loc(h), scale.clamp_min(self.min_scale) if self.min_scale else scale


class Decoder(nn.Module):
    """z ``(..., z_dim)`` (with the one-hot label appended for a conditional VAE: ``(..., z_dim + 10)``)
    -> Bernoulli probabilities ``(..., 784)`` in (0, 1)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        sizes = [config.z_dim + config.labels, *reversed(config.hidden), config.x_dim]
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

    def with_label(self, t: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        """Append the one-hot label ``y`` ``(..., 10)`` to ``t`` for a conditional VAE; else ``t``."""
        if not self.config.labels:
            return t
        if y is None:
            raise ValueError("this model is conditioned on the digit label: pass y (one-hot, 10 classes)")
        return torch.cat([t, y.to(t.dtype).expand(*t.shape[:-1], y.shape[-1])], dim=-1)

    def model(self, x: torch.Tensor, y: torch.Tensor | None = None) -> None:
        """p(z) [p(y)] p(x|z[, y]): ``"latent"`` ~ N(0, I), for a conditional VAE ``"label"`` ~
        OneHotCategorical(1/10) observed as y, and ``"obs"`` ~ Bernoulli(decoder(z[, y])) observed as x."""
        pyro.module("decoder", self.decoder)
        with pyro.plate("data", x.shape[0]):
            loc = x.new_zeros((x.shape[0], self.z_dim))
            scale = x.new_ones((x.shape[0], self.z_dim))
            with kl_weighted(self.config.kl_weight):  # 1 for the VAE: no change
                z = pyro.sample("latent", dist.Normal(loc, scale).to_event(1))
            if self.config.labels:
                # The label as an observation: scored by a Categorical, log p(y) = log 1/10.
                prior_y = x.new_full((x.shape[0], self.config.labels), 1.0 / self.config.labels)
                pyro.sample("label", dist.OneHotCategorical(probs=prior_y), obs=y)
            probs = self.decoder(self.with_label(z, y))
            # Grey pixels in [0, 1] are not in Bernoulli's support {0, 1}; Pyro's example
            # turns validation off for the same reason. The log-likelihood stays
            # x log p + (1 - x) log(1 - p), i.e. minus the binary cross-entropy.
            pyro.sample(
                "obs",
                dist.Bernoulli(probs, validate_args=False).to_event(1),
                obs=x.reshape(-1, self.config.x_dim),
            )

    def guide(self, x: torch.Tensor, y: torch.Tensor | None = None) -> None:
        """q(z|x[, y]) = N(loc, diag(scale^2)) for the ``"latent"`` site."""
        pyro.module("encoder", self.encoder)
        with pyro.plate("data", x.shape[0]):
            loc, scale = self.encoder(self.with_label(x.reshape(-1, self.config.x_dim), y))
            with kl_weighted(self.config.kl_weight):  # the KL's weight (model and guide alike)
                pyro.sample("latent", dist.Normal(loc, scale).to_event(1))

    def elbo_twin(self) -> VAE:
        """This VAE with the KL weighted 1, sharing its encoder and decoder: whose ``model`` and ``guide``
        give the true ELBO (what the records quote) whatever KL weight this one trains with."""
        if self.config.kl_weight == 1.0:
            return self
        twin = VAE.__new__(VAE)
        nn.Module.__init__(twin)
        twin.config = dataclasses.replace(self.config, kl_weight=1.0)
        twin.encoder, twin.decoder = self.encoder, self.decoder
        return twin

    @torch.no_grad()
    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Guide parameters.

        Parameters
        ----------
        x : Tensor, shape ``(batch, 784)`` or ``(batch, 28, 28)``, values in [0, 1]
        y : Tensor, shape ``(batch, 10)``, one-hot labels (conditional VAE only)

        Returns
        -------
        loc, scale : Tensor, each shape ``(batch, z_dim)``
        """
        x = x.to(self.device, torch.float32).reshape(-1, self.config.x_dim)
        return self.encoder(self.with_label(x, None if y is None else y.to(self.device)))

    @torch.no_grad()
    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Bernoulli probabilities of the pixels.

        Parameters
        ----------
        z : Tensor, shape ``(..., z_dim)``
        y : Tensor, shape ``(..., 10)`` or ``(10,)``, one-hot labels (conditional VAE only)

        Returns
        -------
        probs : Tensor, shape ``(..., 784)``, values in (0, 1)
        """
        z = z.to(self.device, torch.float32)
        return self.decoder(self.with_label(z, None if y is None else y.to(self.device)))


def one_hot(labels: torch.Tensor | int, n: int = 10) -> torch.Tensor:
    """Integer labels ``(...)`` -> float one-hot ``(..., n)``."""
    return torch.nn.functional.one_hot(torch.as_tensor(labels, dtype=torch.int64), n).to(torch.float32)
