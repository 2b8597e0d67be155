"""Step 6 of the lens: what ``svi.step`` does after the loss, on the learner's own drawing.

``svi.step(x)`` = the loss of one particle (the guide draws z = loc + scale * eps), ``loss.backward()``
(the gradient flows through z into the encoder, and through the ``obs`` score into the decoder), then
the optimizer's step. :func:`adam_steps` does exactly that with Pyro's own ELBO on a copy of the served
model (never the served one), with the same eps at every step, and returns what moved. The same loss in
plain PyTorch (BCE + KL at the same z) is returned beside Pyro's, to show they are one number.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pyro
import torch
import torch.nn.functional as F
from pyro import poutine

from explorer.store.registry import ServedModel
from explorer.vae.elbo import kl_per_dim, log_normal, log_normal_std
from explorer.vae.model import one_hot
from explorer.vae.svi import PYRO_LOCK, make_elbo
from explorer.views.preprocess import to_mnist

MAX_STEPS = 50


def _layer_norms(module: torch.nn.Module) -> list[dict[str, Any]]:
    """The gradient norm of each Linear layer (weight and bias together) of ``module``, in order."""
    out = []
    for name, sub in module.named_modules():
        if isinstance(sub, torch.nn.Linear) and sub.weight.grad is not None:
            g = torch.cat([sub.weight.grad.flatten(), sub.bias.grad.flatten()])
            out.append({"layer": name, "shape": list(sub.weight.shape), "grad_norm": float(g.norm())})
    return out


def adam_steps(m: ServedModel, canvas: np.ndarray, steps: int = 1, lr: float = 1e-3, seed: int = 0,
               estimator: str = "trace", label: int | None = None) -> dict[str, Any]:
    """``steps`` Adam steps of Pyro's SVI on a copy of ``m``'s model, for one drawing, with one eps.

    Returns ``losses`` (``steps + 1`` values: the loss before each step and after the last, all at the
    same eps), ``torch_loss`` (the first loss computed by hand in PyTorch), ``encoder``/``decoder``
    per-layer gradient norms of the first step, ``loc``/``scale`` before and after, and the images
    decoded from loc before and after (784 uint8 each, as lists).
    """
    if not 1 <= steps <= MAX_STEPS:
        raise ValueError(f"steps must be between 1 and {MAX_STEPS}, got {steps}")
    if not 1e-6 <= lr <= 0.1:
        raise ValueError(f"lr must be between 1e-6 and 0.1, got {lr}")
    vae = copy.deepcopy(m.ckpt.vae).train()
    x = torch.from_numpy(to_mnist(canvas).reshape(1, 784)).to(vae.device)
    args: tuple[torch.Tensor, ...] = (x,)
    if vae.config.labels:
        if label is None:
            raise ValueError("this model observes the label: choose one (0..9)")
        args = (x, one_hot(int(label), vae.config.labels)[None].to(vae.device))
    y = args[1] if len(args) > 1 else None
    elbo = make_elbo(estimator)
    opt = torch.optim.Adam(vae.parameters(), lr=lr)
    with torch.no_grad():
        loc0, scale0 = vae.encoder(vae.with_label(x, y))
        img0 = vae.decoder(vae.with_label(loc0, y))
    losses: list[float] = []
    first: dict[str, Any] = {}
    with PYRO_LOCK, pyro.get_param_store().scope():
        for i in range(steps + 1):
            pyro.set_rng_seed(seed)  # the same eps at every step: only the weights change
            if i == steps:
                with torch.no_grad():
                    losses.append(float(elbo.loss(vae.model, vae.guide, *args)))
                break
            opt.zero_grad()
            losses.append(float(elbo.loss_and_grads(vae.model, vae.guide, *args)))
            if i == 0:
                first = {"encoder": _layer_norms(vae.encoder), "decoder": _layer_norms(vae.decoder)}
                pyro.set_rng_seed(seed)
                first["torch_loss"] = torch_loss(vae, x, y, estimator)
            opt.step()
    with torch.no_grad():
        loc1, scale1 = vae.encoder(vae.with_label(x, y))
        img1 = vae.decoder(vae.with_label(loc1, y))
    u8 = lambda t: np.round(t[0].clamp(0, 1).cpu().numpy() * 255).astype(np.uint8).tolist()  # noqa: E731
    return {"model": m.name, "steps": steps, "lr": lr, "seed": int(seed), "estimator": estimator, "label": label,
            "losses": losses, **first,
            "loc_before": loc0[0].tolist(), "loc_after": loc1[0].tolist(),
            "scale_before": scale0[0].tolist(), "scale_after": scale1[0].tolist(),
            "image_before": u8(img0), "image_after": u8(img1)}


def torch_loss(vae: Any, x: torch.Tensor, y: torch.Tensor | None, estimator: str) -> float:
    """The same loss in plain PyTorch at the z Pyro's guide draws now: BCE(decoder(z), x) summed over the
    pixels, plus log q(z|x) - log p(z) (``trace``) or the closed-form KL (``meanfield``); - log p(y) for
    a conditional model. (Pyro clamps p as torch's BCE does not; they agree to ~1e-4 nats.)"""
    with torch.no_grad():
        z = poutine.trace(vae.guide).get_trace(*((x,) if y is None else (x, y))).nodes["latent"]["value"]
        loc, scale = vae.encoder(vae.with_label(x, y))
        bce = F.binary_cross_entropy(vae.decoder(vae.with_label(z, y)), x, reduction="sum")
        kl = (log_normal(z, loc, scale) - log_normal_std(z)).sum() if estimator == "trace" \
            else kl_per_dim(loc, scale).sum()
        log_py = torch.log(torch.tensor(1.0 / vae.config.labels)) if y is not None else torch.tensor(0.0)
        return float(bce + kl - log_py)
