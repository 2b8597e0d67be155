""""Check with Pyro": Pyro's own ELBO on the learner's drawing at the very z the page drew.

The page computes the forward pass itself (``static/js/forward.js``, the twin of
:func:`explorer.views.inference.encode_drawing`). To show that its numbers are Pyro's, the server runs
``Trace_ELBO().loss`` (or ``TraceMeanField_ELBO().loss``) once per sample, with the guide's ``"latent"``
site drawn at the page's z: the same drawing, the same z, Pyro's code. (``poutine.condition`` would make
the site observed, and an ELBO needs it sampled: :class:`AtZ` sets the value the guide's ``rsample`` would
have drawn, and the site stays a latent one.) The terms come from the traces of the loss's own runs of
that guide and of the model replayed on it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyro
import torch
from pyro import poutine
from pyro.poutine.messenger import Messenger
from torch.distributions import kl_divergence

from explorer.store.registry import ServedModel
from explorer.vae.model import one_hot
from explorer.vae.svi import PYRO_LOCK, make_elbo
from explorer.views.estimates import mean_se
from explorer.views.preprocess import to_mnist
from explorer.views.wire import b64, to_u8, values


class AtZ(Messenger):
    """The guide's ``"latent"`` site takes the value ``z`` instead of a fresh ``rsample`` (still a latent,
    sampled site: Pyro's ELBO scores it with log q(z|x), and replays the model on it)."""

    def __init__(self, z: torch.Tensor) -> None:
        super().__init__()
        self.z = z

    def _pyro_sample(self, msg: dict[str, Any]) -> None:
        if msg["name"] == "latent" and not msg["is_observed"]:
            msg["value"] = self.z
            msg["done"] = True


def _log_prob(trace: poutine.Trace, site: str) -> float:
    """The site's log-probability as its distribution gives it, without the handlers' weights (the KL weight of
    a beta-VAE or an autoencoder scales the "latent" site's: Pyro's loss carries that, the ELBO's terms not)."""
    node = trace.nodes[site]
    return float(node["fn"].log_prob(node["value"]).sum())


@torch.no_grad()
def pyro_check(m: ServedModel, canvas: np.ndarray, z: list[list[float]], estimator: str = "trace",
               label: int | None = None) -> dict[str, Any]:
    """Pyro's figures for a drawing at the page's samples ``z`` ``(k, z_dim)``.

    Returns ``losses`` (one ``Trace_ELBO().loss`` per sample) and ``objective`` (minus their mean: the ELBO
    for a VAE, reconstruction - w KL for a model whose KL is weighted w), ``elbo`` and ``elbo_se`` (the
    ELBO from the traces' terms, the KL weighted 1, and its s.e.), ``recon`` / ``recon_se`` (the ``"obs"``
    site's log-probability), ``kl_mc`` / ``kl_mc_se`` (log q(z|x) - log p(z) at each z, from the two
    traces), ``kl`` (``kl_divergence`` of the guide's and the model's ``"latent"`` distributions, as
    ``TraceMeanField_ELBO`` takes it), ``log_py`` (conditional model), and ``input`` (the 28 x 28 x Pyro
    scored, base64 of uint8).
    """
    vae = m.ckpt.vae
    zs = np.asarray(z, np.float64)
    if zs.ndim != 2 or zs.shape[1] != vae.config.z_dim or not 1 <= zs.shape[0] <= 64 or not np.isfinite(zs).all():
        raise ValueError(f"z must be 1..64 rows of {vae.config.z_dim} finite numbers")
    x = torch.from_numpy(to_mnist(canvas).reshape(1, 784)).to(vae.device)
    args: tuple[torch.Tensor, ...] = (x,)
    if vae.config.labels:
        if label is None or not 0 <= int(label) < vae.config.labels:
            raise ValueError(f"this model observes the label: give the one the page used (0..{vae.config.labels - 1})")
        args = (x, one_hot(int(label), vae.config.labels)[None].to(vae.device))
    elbo = make_elbo(estimator)
    losses, recon, lq_lp, kl, log_py = [], [], [], None, None
    with PYRO_LOCK, pyro.get_param_store().scope():
        for row in zs:
            zt = torch.tensor(row, dtype=torch.float32, device=vae.device)[None]
            # the loss's own runs of the guide and of the model replayed on it, recorded as they happen
            guide, model = poutine.trace(AtZ(zt)(vae.guide)), poutine.trace(vae.model)
            losses.append(float(elbo.loss(model, guide, *args)))
            g, mt = guide.trace, model.trace
            recon.append(_log_prob(mt, "obs"))
            lq_lp.append(_log_prob(g, "latent") - _log_prob(mt, "latent"))
            kl = float(kl_divergence(g.nodes["latent"]["fn"], mt.nodes["latent"]["fn"]).sum())
            if "label" in mt.nodes:
                log_py = _log_prob(mt, "label")
    recon_t, lq_lp_t = torch.tensor(recon, dtype=torch.float64), torch.tensor(lq_lp, dtype=torch.float64)
    kl_term = lq_lp_t if estimator == "trace" else torch.full_like(recon_t, kl)
    elbo_mean, elbo_se = mean_se(recon_t - kl_term + (log_py or 0.0))
    recon_mean, recon_se = mean_se(recon_t)
    kl_mc, kl_mc_se = mean_se(lq_lp_t)
    return {"model": m.name, "estimator": estimator, "k": len(losses), "label": label, "losses": losses,
            "kl_weight": vae.config.kl_weight, "objective": mean_se(-torch.tensor(losses, dtype=torch.float64))[0],
            "elbo": elbo_mean, "elbo_se": elbo_se, "recon": recon_mean, "recon_se": recon_se, "recon_samples": recon,
            "kl_mc": kl_mc, "kl_mc_se": kl_mc_se, "kl": kl, "log_py": log_py, "input": b64(to_u8(x[0])),
            "z": values(torch.from_numpy(zs).float()), "pyro": pyro.__version__,
            "how": f"{'Trace_ELBO' if estimator == 'trace' else 'TraceMeanField_ELBO'}().loss(model, guide, x) "
                   "with the guide's latent draw set to each of the page's z"}
