"""Seconds per training epoch: Pyro SVI vs the same maths in plain PyTorch, in one run.

    python benchmarks/bench_train.py [--epochs 2] [--threads 2] [--data-dir DIR]

Both loops see the same in-memory MNIST tensors, the same shuffled batches (256), the same model
(Pyro tutorial's: 784-400-50 softplus) and Adam(1e-3). Plain PyTorch computes the negative ELBO as
BCE summed over pixels + the closed-form KL... Pyro's Trace_ELBO estimates the KL by Monte Carlo
(log q - log p at the sampled z); TraceMeanField_ELBO uses the closed form, so it is the exact
counterpart. The figures are printed; nothing is asserted.
"""

from __future__ import annotations

import argparse
import time

import pyro
import torch
import torch.nn.functional as F
from pyro.infer import SVI

from explorer.config import ModelConfig
from explorer.data import load_mnist
from explorer.elbo import kl_per_dim
from explorer.model import VAE
from explorer.train import batches, make_elbo


def epoch_pyro(x, cfg, epochs, kind, jit, validation, seed=0):
    pyro.clear_param_store()
    pyro.enable_validation(validation)
    torch.manual_seed(seed)
    vae = VAE(cfg)
    svi = SVI(vae.model, vae.guide, pyro.optim.Adam({"lr": 1e-3}), loss=make_elbo(kind, jit))
    gen = torch.Generator().manual_seed(seed)
    times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        for idx in batches(x.shape[0], 256, gen):
            svi.step(x[idx])
        times.append(time.perf_counter() - t0)
    pyro.enable_validation(True)
    return times


def epoch_torch(x, cfg, epochs, seed=0):
    torch.manual_seed(seed)
    vae = VAE(cfg)
    opt = torch.optim.Adam(vae.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(seed)
    times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        for idx in batches(x.shape[0], 256, gen):
            xb = x[idx]
            loc, scale = vae.encoder(xb)
            z = loc + scale * torch.randn_like(loc)
            logits = vae.decoder.logits(z)
            loss = F.binary_cross_entropy_with_logits(logits, xb, reduction="sum") + kl_per_dim(loc, scale).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=2, help="timed epochs per variant (after a warm-up epoch)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--subset", type=int, default=None, help="use only N training digits (quick look)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    x = load_mnist(True, args.data_dir).images
    if args.subset:
        x = x[: args.subset]
    cfg = ModelConfig(z_dim=50, hidden=(400,), activation="softplus")
    variants = {
        "plain PyTorch (BCE + closed-form KL)": lambda n: epoch_torch(x, cfg, n),
        "Pyro SVI Trace_ELBO": lambda n: epoch_pyro(x, cfg, n, "trace", False, True),
        "Pyro SVI TraceMeanField_ELBO": lambda n: epoch_pyro(x, cfg, n, "meanfield", False, True),
        "Pyro SVI Trace_ELBO, validation off": lambda n: epoch_pyro(x, cfg, n, "trace", False, False),
        "Pyro SVI JitTrace_ELBO": lambda n: epoch_pyro(x, cfg, n, "trace", True, False),
        "Pyro SVI JitTraceMeanField_ELBO": lambda n: epoch_pyro(x, cfg, n, "meanfield", True, False),
    }
    print(f"{x.shape[0]} digits, batch 256, {args.threads} threads, torch {torch.__version__}, pyro {pyro.__version__}")
    results = {}
    for name, run in variants.items():
        times = run(args.epochs + 1)[1:]  # the first epoch warms up (JIT tracing, allocator)
        results[name] = min(times)
        print(f"{name:42s} {results[name]:6.2f} s/epoch  (epochs: {', '.join(f'{t:.2f}' for t in times)})",
              flush=True)
    base = results["plain PyTorch (BCE + closed-form KL)"]
    print("\nratio to plain PyTorch (target <= 1.15):")
    for name, t in results.items():
        print(f"  {name:42s} x{t / base:.3f}")


if __name__ == "__main__":
    main()
