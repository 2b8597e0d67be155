"""Seconds per training epoch: Pyro SVI vs the same maths in plain PyTorch, in one run.

    python benchmarks/bench_train.py [--rounds 4] [--threads 2] [--data-dir DIR]

Every variant sees the same in-memory MNIST tensors, the same shuffled batches of 256, the same
model (Pyro tutorial's 784-400-50 softplus VAE) and Adam(1e-3). Plain PyTorch computes the negative
ELBO as BCE summed over pixels + the closed-form KL, as PyTorch's own VAE example does: BCE of the
decoder's probabilities, which is what Pyro's ``Bernoulli(probs=decoder(z))`` scores (the ratio's
baseline); the from-logits BCE is shown too. Pyro's Trace_ELBO estimates the KL by Monte Carlo;
TraceMeanField_ELBO uses the closed form. ``train`` runs with Pyro's argument validation off (the same
maths; the tests run with it on). The variants run interleaved, one
epoch each per round from a fresh model (the first 20 steps untimed), so that a drift of the machine's
speed hits them alike; the median over rounds is reported. Figures are printed; nothing is asserted.
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

from explorer.config import ModelConfig
from explorer.data import load_mnist
from explorer.elbo import kl_per_dim
from explorer.model import VAE
from explorer.train import batches, make_elbo

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


def pyro_svi_step(kind: str = "trace", jit: bool = False):
    def make(vae: VAE):
        svi = SVI(vae.model, vae.guide, pyro.optim.Adam({"lr": 1e-3}), loss=make_elbo(kind, jit))
        return svi.step

    return make


def pyro_loss_one_adam_step(vae: VAE):
    """Pyro's Trace_ELBO as a differentiable loss, one torch Adam over all parameters.

    The same updates as SVI with pyro.optim.Adam (Adam is elementwise, so one optimizer over all
    parameters equals one per parameter), without SVI's per-parameter optimizer calls.
    """
    elbo = make_elbo("trace")
    opt = torch.optim.Adam(vae.parameters(), lr=1e-3)

    def step(xb: torch.Tensor) -> None:
        loss = elbo.differentiable_loss(vae.model, vae.guide, xb)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def time_epoch(x: torch.Tensor, make_step, validation: bool, seed: int) -> float:
    """One epoch from a fresh model: seconds for the timed steps, scaled to the whole epoch."""
    pyro.clear_param_store()
    pyro.enable_validation(validation)
    torch.manual_seed(seed)
    step = make_step(VAE(CFG))
    idx_batches = batches(x.shape[0], 256, torch.Generator().manual_seed(seed))
    for idx in idx_batches[:WARMUP]:
        step(x[idx])
    t0 = time.perf_counter()
    for idx in idx_batches[WARMUP:]:
        step(x[idx])
    seconds = time.perf_counter() - t0
    pyro.enable_validation(True)
    return seconds * len(idx_batches) / (len(idx_batches) - WARMUP)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3, help="timed epochs per variant")
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
        "Pyro SVI Trace_ELBO, validation on": (pyro_svi_step(), True),
        "Pyro SVI Trace_ELBO, validation off (train)": (pyro_svi_step(), False),
        "Pyro SVI TraceMeanField_ELBO, validation off": (pyro_svi_step("meanfield"), False),
        "Pyro SVI JitTrace_ELBO, validation off": (pyro_svi_step(jit=True), False),
        "Pyro Trace_ELBO loss + one torch Adam": (pyro_loss_one_adam_step, False),
    }
    print(f"{x.shape[0]} digits, batch 256, {args.threads} threads, torch {torch.__version__}, "
          f"pyro {pyro.__version__}; {args.rounds} interleaved rounds", flush=True)
    times: dict[str, list[float]] = {name: [] for name in variants}
    for r in range(args.rounds):
        for name, (make_step, validation) in variants.items():
            times[name].append(time_epoch(x, make_step, validation, seed=r))
    base = statistics.median(times[base_name])
    print(f"{'variant':46s} {'s/epoch':>8s}  {'ratio':>6s}   (each round)")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:46s} {med:8.2f}  x{med / base:5.3f}   ({', '.join(f'{t:.2f}' for t in ts)})")
    print("target: Pyro SVI within x1.15 of plain PyTorch")


if __name__ == "__main__":
    main()
