"""Test-set evaluation: the Pyro-example ELBO, a many-particle ELBO and an IWAE log p(x)."""

from __future__ import annotations

from dataclasses import dataclass

import pyro
import torch
from pyro.infer import SVI
from tqdm.auto import tqdm

from explorer.vae.elbo import elbo_per_label, log_px_iwae
from explorer.vae.model import VAE, one_hot
from explorer.vae.runtime import set_seed
from explorer.vae.svi import batches, evaluate_loss, make_elbo


@dataclass(frozen=True)
class Evaluation:
    """Per-image figures in nats over ``n`` test digits."""

    n: int
    elbo: float  # Pyro example's protocol: 1 particle, -sum(loss)/n
    elbo_particles: float  # the same with ``particles`` samples per image (lower variance)
    particles: int
    log_px: float | None  # importance-weighted estimate of log p(x) with k samples
    k: int
    log_px_n: int  # images the log p(x) estimate used
    accuracy: float | None = None  # conditional VAE: argmax_y ELBO(x, y) against the true label

    def lines(self) -> list[str]:
        out = [
            f"test ELBO (Pyro example protocol, 1 particle): {self.elbo:9.3f} nats/image  (n={self.n})",
            f"test ELBO ({self.particles} particles):            {self.elbo_particles:9.3f} nats/image",
        ]
        if self.log_px is not None:
            out.append(
                f"log p(x), importance-weighted, k={self.k}:   {self.log_px:9.3f} nats/image  "
                f"(n={self.log_px_n}; gap ELBO -> log p(x): {self.log_px - self.elbo_particles:.3f})"
            )
        if self.accuracy is not None:
            out.append(f"label accuracy (argmax over the ten ELBO(x, y)): {self.accuracy:.2%}")
        return out


def evaluate(
    vae: VAE,
    x_test: torch.Tensor,
    y_test: torch.Tensor | None = None,
    particles: int = 10,
    k: int = 100,
    subset: int | None = None,
    seed: int = 0,
    progress: bool = True,
) -> Evaluation:
    """Evaluate on ``x_test`` ``(n, 784)``; ``k=0`` skips log p(x); ``subset`` limits its images. The figures
    are of the true ELBO (the KL weighted 1), whatever KL weight the model was trained with."""
    pyro.clear_param_store()
    set_seed(seed)
    vae.eval()
    vae = vae.elbo_twin()
    x = x_test.to(vae.device)
    y = one_hot(y_test, vae.config.labels).to(vae.device) if vae.config.labels else None
    optim = pyro.optim.Adam({"lr": 0.0})  # evaluate_loss takes no step; SVI needs an optimizer
    one = evaluate_loss(SVI(vae.model, vae.guide, optim, loss=make_elbo("trace")), x, labels=y)
    many = evaluate_loss(
        SVI(vae.model, vae.guide, optim, loss=make_elbo("trace", num_particles=particles)), x, 200, labels=y
    )
    accuracy = None
    if vae.config.labels:
        gen = torch.Generator().manual_seed(seed)
        hits = sum(int((elbo_per_label(vae, x[idx], 8, gen).argmax(-1).cpu() == y_test[idx]).sum())
                   for idx in batches(x.shape[0], 500, None))
        accuracy = hits / x.shape[0]
    log_px = None
    n_px = 0
    if k > 0:
        xs = x[:subset] if subset else x
        n_px = xs.shape[0]
        total = 0.0
        for idx in tqdm(batches(n_px, 100, None), desc=f"log p(x), k={k}", disable=not progress):
            total += float(log_px_iwae(vae, xs[idx], k, y=None if y is None else y[idx]).sum())
        log_px = total / n_px
    return Evaluation(
        n=x.shape[0], elbo=-one, elbo_particles=-many, particles=particles,
        log_px=log_px, k=k, log_px_n=n_px, accuracy=accuracy,
    )


def elbo_over_seeds(vae: VAE, x_test: torch.Tensor, y_test: torch.Tensor | None = None, seeds: int = 5,
                    progress: bool = True) -> tuple[float, float, list[float]]:
    """Pyro's protocol (``-sum(svi.evaluate_loss) / N``, one particle) under ``seeds`` seeds: its mean,
    the standard error of that mean, and the values. One seed's figure is one draw of a Monte Carlo
    estimate; a record quotes the mean. The true ELBO: the KL weighted 1, whatever the model trains with."""
    vae.eval()
    vae = vae.elbo_twin()
    x = x_test.to(vae.device)
    y = one_hot(y_test, vae.config.labels).to(vae.device) if vae.config.labels else None
    values = []
    for s in tqdm(range(seeds), desc="test ELBO over seeds", disable=not progress, unit="seed"):
        pyro.clear_param_store()
        set_seed(s)
        svi = SVI(vae.model, vae.guide, pyro.optim.Adam({"lr": 0.0}), loss=make_elbo("trace"))
        values.append(-evaluate_loss(svi, x, labels=y))
    pyro.clear_param_store()
    n = len(values)
    mean = sum(values) / n
    se = (sum((v - mean) ** 2 for v in values) / (n - 1)) ** 0.5 / n**0.5 if n > 1 else float("nan")
    return mean, se, values
