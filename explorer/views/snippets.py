"""The code lines the page shows beside each step of the lens, written once.

Every line is real Pyro/PyTorch that runs as shown (``tests/test_snippets.py`` executes each one in a
Pyro context), in the names of Pyro's tutorial: ``self.encoder``, ``self.decoder``, ``x`` ``(batch, 784)``,
``y`` one-hot ``(batch, 10)`` for the label-aware model, ``z_dim``.
"""

from __future__ import annotations

_PLAIN = {
    "guide": "loc, scale = self.encoder(x)",
    "sample": 'z = pyro.sample("latent", dist.Normal(loc, scale).to_event(1))',
    # x.new_zeros/new_ones/new_full: on x's device (the GPU's when the model runs there), as in Pyro's example
    "prior": ('pyro.sample("latent", dist.Normal(x.new_zeros((len(x), z_dim)), x.new_ones((len(x), z_dim)))'
              ".to_event(1))"),
    "obs": 'pyro.sample("obs", dist.Bernoulli(self.decoder(z), validate_args=False).to_event(1), obs=x)',
    "loss_trace": "loss = Trace_ELBO().loss(self.model, self.guide, x)",
    "loss_meanfield": "loss = TraceMeanField_ELBO().loss(self.model, self.guide, x)",
    "backward": "Trace_ELBO().differentiable_loss(self.model, self.guide, x).backward()",
    "optimizer": "optimizer.step()  # optimizer = torch.optim.Adam(vae.parameters(), lr=1e-4)",
    "svi_step": 'loss = SVI(self.model, self.guide, pyro.optim.Adam({"lr": 1e-4}), Trace_ELBO()).step(x)',
    "torch_loss": ('loss = F.binary_cross_entropy(self.decoder(z), x, reduction="sum") '
                   "+ (dist.Normal(loc, scale).log_prob(z) - dist.Normal(0., 1.).log_prob(z)).sum()"),
    "label": 'pyro.sample("label", dist.OneHotCategorical(probs=x.new_full((len(x), 10), 0.1)), obs=y)',
}
_WITH_LABEL = {
    "guide": "loc, scale = self.encoder(torch.cat([x, y], -1))",
    "obs": ('pyro.sample("obs", dist.Bernoulli(self.decoder(torch.cat([z, y], -1)), validate_args=False)'
            ".to_event(1), obs=x)"),
    "loss_trace": "loss = Trace_ELBO().loss(self.model, self.guide, x, y)",
    "loss_meanfield": "loss = TraceMeanField_ELBO().loss(self.model, self.guide, x, y)",
    "backward": "Trace_ELBO().differentiable_loss(self.model, self.guide, x, y).backward()",
    "svi_step": 'loss = SVI(self.model, self.guide, pyro.optim.Adam({"lr": 1e-4}), Trace_ELBO()).step(x, y)',
    "torch_loss": ('loss = F.binary_cross_entropy(self.decoder(torch.cat([z, y], -1)), x, reduction="sum") '
                   "+ (dist.Normal(loc, scale).log_prob(z) - dist.Normal(0., 1.).log_prob(z)).sum() "
                   "- torch.log(torch.tensor(0.1))"),
}


def weighting(kl_weight: float) -> str:
    """The Pyro handler that weights the ``"latent"`` site's log-probabilities (so the KL term) by
    ``kl_weight``, as :func:`explorer.vae.model.kl_weighted` applies it; "" for the VAE (weight 1)."""
    if kl_weight == 1.0:
        return ""
    return "poutine.mask(mask=False)" if kl_weight == 0 else f"poutine.scale(scale={kl_weight:g})"


def snippets_for(labels: int, kl_weight: float = 1.0) -> dict[str, str]:
    """The lines for a plain VAE (``labels == 0``) or one that observes the one-hot label; for a model whose
    KL is weighted (``kl_weight`` != 1: an autoencoder, a beta-VAE) the ``"latent"`` site inside its handler."""
    lines = {**_PLAIN, **(_WITH_LABEL if labels else {})}
    handler = weighting(kl_weight)
    if handler:
        for key in ("sample", "prior"):
            lines[key] = f"with {handler}: {lines[key]}"
    return lines
