"""Seconds per training epoch: Pyro SVI vs the same maths in plain PyTorch, in one run.

    python benchmarks/bench_train.py [--epochs 3] [--threads 2] [--data-dir DIR]

Every variant sees the same in-memory MNIST tensors, the same shuffled batches of 256, the same
model (Pyro tutorial's 784-400-50 softplus VAE) and Adam(1e-3). Plain PyTorch computes the negative
ELBO as BCE summed over pixels + the closed-form KL, as PyTorch's own VAE example does: BCE of the
decoder's probabilities, which is what Pyro's ``Bernoulli(probs=decoder(z))`` scores (the ratio's
baseline), with one torch Adam; the from-logits BCE is shown too. The Pyro variants compute the same
model and guide with Pyro's SVI: as Pyro's tutorial writes it (Trace_ELBO, ``pyro.optim.Adam``: one
torch Adam per tensor), and as ``python -m explorer train`` runs it (argument validation off; one
Adam over all tensors, the same steps; JitTrace_ELBO by default, ``--no-jit`` for Trace_ELBO; the
same maths). Trace_ELBO estimates the KL by Monte Carlo, TraceMeanField_ELBO in closed form.
The variants are interleaved every few steps (see :func:`run`); the median epoch is reported.
Figures are printed; nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import pyro
import torch
import torch.nn.functional as F
from pyro.infer import SVI

from explorer.vae.config import ModelConfig, TrainConfig
from explorer.vae.data import load_mnist
from explorer.vae.elbo import kl_per_dim
from explorer.vae.model import VAE
from explorer.vae.svi import batches, jit_executor, make_elbo, make_svi

CFG = ModelConfig(z_dim=50, hidden=(400,), activation="softplus")


WARMUP = 20  # untimed steps per run: JIT tracing, allocator warm-up


def plain_torch_step(from_logits: bool):
    def make(vae: VAE):
        opt = torch.optim.Adam(vae.parameters(), lr=1e-3)

        def step(xb: torch.Tensor) -> None:
            loc, scale = vae.encoder(xb)
            z = loc + scale * torch.randn_like(loc)
            if from_logits:
                rec = F.binary_cross_entropy_with_logits(vae.decoder.logits(z), xb, reduction="sum")
            else:  # PyTorch's VAE example, and what Pyro's Bernoulli(probs=decoder(z)) scores
                rec = F.binary_cross_entropy(vae.decoder(z), xb, reduction="sum")
            loss = rec + kl_per_dim(loc, scale).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()

        return step

    return make


def pyro_svi_step(**train_options):
    """One SVI step as ``python -m explorer train`` takes it with these TrainConfig options."""
    def make(vae: VAE):
        cfg = TrainConfig(**train_options)
        svi = make_svi(vae, cfg)

        def step(xb: torch.Tensor) -> None:
            with jit_executor(cfg.use_jit):  # (train enters it once per epoch)
                svi.step(xb)

        return step

    return make


def pyro_svi_tutorial_step(vae: VAE):
    """SVI as Pyro's tutorial writes it: Trace_ELBO and pyro.optim.Adam (one torch Adam per tensor)."""
    svi = SVI(vae.model, vae.guide, pyro.optim.Adam({"lr": 1e-3}), loss=make_elbo("trace"))
    return svi.step


def run(x: torch.Tensor, variants: dict, epochs: int, block: int, seed: int = 0) -> dict[str, list[float]]:
    """Seconds per epoch of each variant, the variants interleaved every ``block`` steps.

    Each variant trains its own model (in its own Pyro param store) on the same shuffled batches,
    epoch after epoch, as ``train`` does; after 20 untimed warm-up steps (JIT tracing, allocators),
    every ``block`` consecutive steps of one variant alternate with the same steps of the others, so
    that the machine's drifts in speed (+-20 % here, from minute to minute) hit all of them alike.
    An epoch's time is the sum of its blocks' times, its last, smaller batch included.
    """
    store = pyro.get_param_store()
    gen = torch.Generator().manual_seed(seed)
    steps, scopes = {}, {}
    for name, (make_step, validation) in variants.items():
        torch.manual_seed(seed)
        pyro.enable_validation(validation)
        with store.scope() as scope:
            steps[name] = make_step(VAE(CFG))
            for idx in batches(x.shape[0], 256, gen)[:WARMUP]:
                steps[name](x[idx])
        scopes[name] = scope
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(epochs):
        epoch = batches(x.shape[0], 256, gen)
        spent = dict.fromkeys(variants, 0.0)
        for start in range(0, len(epoch), block):
            for name, (_, validation) in variants.items():
                pyro.enable_validation(validation)
                with store.scope(scopes[name]) as scope:
                    t0 = time.perf_counter()
                    for idx in epoch[start:start + block]:
                        steps[name](x[idx])
                    spent[name] += time.perf_counter() - t0
                scopes[name] = scope
        for name in variants:
            times[name].append(spent[name])
    pyro.enable_validation(True)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=3, help="timed epochs per variant")
    ap.add_argument("--block", type=int, default=5, help="steps of one variant before the next one's")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--subset", type=int, default=None, help="use only N training digits (quick look)")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)
    x = load_mnist(True, args.data_dir).images
    if args.subset:
        x = x[: args.subset]
    base_name = "plain PyTorch: BCE(probs) + closed-form KL"
    variants = {
        base_name: (plain_torch_step(False), True),
        "plain PyTorch: BCE(logits) + closed-form KL": (plain_torch_step(True), True),
        "SVI as the tutorial: Trace_ELBO, Adam per tensor": (pyro_svi_tutorial_step, True),
        "  the same, validation off": (pyro_svi_tutorial_step, False),
        "train --no-jit: Trace_ELBO, one Adam": (pyro_svi_step(jit=False), False),
        "train --elbo meanfield --no-jit": (pyro_svi_step(jit=False, elbo="meanfield"), False),
        "train (default): JitTrace_ELBO, one Adam": (pyro_svi_step(jit=True), False),
    }
    print(f"{x.shape[0]} digits, batch 256, {args.threads} threads, torch {torch.__version__}, "
          f"pyro {pyro.__version__}; {args.epochs} epochs, variants interleaved every {args.block} steps",
          flush=True)
    times = run(x, variants, args.epochs, args.block)
    base = statistics.median(times[base_name])
    print(f"{'variant':50s} {'s/epoch':>8s}  {'ratio':>6s}   (each epoch)")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:50s} {med:8.2f}  x{med / base:5.3f}   ({', '.join(f'{t:.2f}' for t in ts)})")
    print("target: Pyro SVI (train's default) within x1.15 of plain PyTorch")


if __name__ == "__main__":
    main()
