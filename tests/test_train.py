"""The training loop: one Adam takes Pyro's per-tensor Adam's steps, the JIT-compiled ELBO is the same
estimator, and Ctrl-C + --resume continues exactly where training stopped."""

import dataclasses

import pyro
import pytest
import torch
from pyro.infer import SVI, JitTrace_ELBO, Trace_ELBO

import explorer.vae.train as train_mod
from explorer.store.checkpoint import load_checkpoint
from explorer.vae.config import ModelConfig, TrainConfig
from explorer.vae.data import MnistSplit
from explorer.vae.model import VAE, one_hot
from explorer.vae.optim import JointOptim
from explorer.vae.svi import jit_executor, make_svi
from explorer.vae.train import train

SMALL = ModelConfig(z_dim=3, hidden=(24,))


def _batch(n: int = 64, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 784, generator=g) < 0.15).float() * torch.rand(n, 784, generator=g)


@pytest.mark.parametrize("gamma", [None, 0.5])
def test_one_adam_takes_the_same_steps_as_pyros_adam_per_tensor(gamma):
    """Adam is elementwise: one optimizer over all tensors equals pyro.optim's one per tensor (with an
    ExponentialLR stepped per 'epoch' as well)."""
    x = _batch()
    params = []
    for optim in ("pyro", "joint"):
        pyro.clear_param_store()
        torch.manual_seed(0)
        vae = VAE(SMALL)
        if optim == "pyro":
            opt = (pyro.optim.Adam({"lr": 1e-2}) if gamma is None else pyro.optim.ExponentialLR(
                {"optimizer": torch.optim.Adam, "optim_args": {"lr": 1e-2}, "gamma": gamma}))
        else:
            opt = JointOptim(torch.optim.Adam, {"lr": 1e-2}, gamma=gamma)
        svi = SVI(vae.model, vae.guide, opt, loss=Trace_ELBO())
        for _epoch in range(3):
            for _ in range(4):
                svi.step(x)
            if gamma is not None:
                opt.step()
        params.append([p.detach().clone() for p in vae.parameters()])
    for a, b in zip(*params, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)  # bit for bit
    assert not torch.equal(params[0][0], VAE(SMALL).encoder.body[0].weight)  # it did train


def test_one_adam_refuses_a_changed_parameter_set_and_foreign_state():
    pyro.clear_param_store()
    vae = VAE(SMALL)
    opt = JointOptim(torch.optim.Adam, {"lr": 1e-3})
    svi = SVI(vae.model, vae.guide, opt, loss=Trace_ELBO())
    svi.step(_batch())
    with pytest.raises(RuntimeError, match="same parameters"):
        opt([torch.nn.Parameter(torch.zeros(2))])
    with pytest.raises(ValueError, match="other parameters"):
        opt.set_state({**opt.get_state(), "names": ["x"]})


@pytest.mark.filterwarnings("ignore:.*torch.jit.trace.*:FutureWarning")
@pytest.mark.parametrize("labels", [0, 10])
def test_jit_elbo_is_the_same_estimator_and_takes_any_batch_size(labels):
    """JitTrace_ELBO (as train runs it) against Trace_ELBO: the mean loss and gradient over many draws
    agree within Monte Carlo error, for the batch size it was traced with and for a smaller last batch."""
    pyro.enable_validation(False)
    torch.manual_seed(0)
    vae = VAE(dataclasses.replace(SMALL, labels=labels))
    jit, plain = JitTrace_ELBO(max_plate_nesting=1, ignore_jit_warnings=True), Trace_ELBO(max_plate_nesting=1)
    for n in (64, 24):  # traced at 64, then a last batch of 24
        x = _batch(n, seed=n)
        args = (x,) if not labels else (x, one_hot(torch.arange(n) % 10))
        stats = {}
        for name, elbo in (("jit", jit), ("plain", plain)):
            losses, grads = [], []
            for s in range(200):
                torch.manual_seed(1000 + s)
                with jit_executor(name == "jit"):
                    losses.append(elbo.loss_and_grads(vae.model, vae.guide, *args))
                w = vae.encoder.fc_loc.weight
                grads.append(w.grad.clone())
                for p in vae.parameters():
                    p.grad = None
            losses = torch.tensor(losses)
            stats[name] = (losses.mean(), losses.std() / 200**0.5, torch.stack(grads))
        (mj, sj, gj), (mp, sp, gp) = stats["jit"], stats["plain"]
        assert abs(mj - mp) < 4 * (sj**2 + sp**2) ** 0.5, (n, mj, mp)
        se = ((gj.var(0) + gp.var(0)) / 200).sqrt() + 1e-6
        assert ((gj.mean(0) - gp.mean(0)).abs() / se).max() < 5.5  # every entry, ~100 of them
        assert len(set(torch.stack([gj[0], gj[1]]).flatten().tolist())) > 1  # fresh noise at each step
    pyro.enable_validation(True)


def _split(n: int, seed: int) -> MnistSplit:
    g = torch.Generator().manual_seed(seed)
    return MnistSplit(images=_batch(n, seed), labels=torch.randint(0, 10, (n,), generator=g), sha256="synthetic")


@pytest.mark.parametrize("jit", [False, True])
def test_ctrl_c_then_resume_continues_exactly(tmp_path, monkeypatch, jit):
    """Interrupt in the 2nd of 3 epochs, resume: the weights equal an uninterrupted run's (optimizer
    state, learning-rate schedule and random streams all restored)."""
    cfg = TrainConfig(epochs=3, batch_size=32, lr=1e-2, lr_final=1e-3, seed=3, test_every=1, jit=jit)
    tr, te = _split(192, 1), _split(64, 2)
    ref = train(SMALL, cfg, tr, te, tmp_path / "ref.safetensors", torch.device("cpu"), progress=False)

    calls = {"n": 0}
    real_batches = train_mod.batches

    def interrupting(n, batch_size, generator):
        if generator is not None:
            calls["n"] += 1
            if calls["n"] == 2:
                raise KeyboardInterrupt
        return real_batches(n, batch_size, generator)

    out = tmp_path / "run.safetensors"
    monkeypatch.setattr(train_mod, "batches", interrupting)
    with pytest.raises(KeyboardInterrupt):
        train(SMALL, cfg, tr, te, out, torch.device("cpu"), progress=False)
    monkeypatch.setattr(train_mod, "batches", real_batches)
    resume = out.with_name(out.name + ".resume.pt")
    assert resume.exists() and not out.exists()
    rec = train(SMALL, cfg, tr, te, out, torch.device("cpu"), resume=resume, progress=False)
    assert not resume.exists()
    a, b = load_checkpoint(tmp_path / "ref.safetensors").vae, load_checkpoint(out).vae
    for (k, p), q in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=0, msg=k)
    assert [h["train_loss"] for h in rec["history"]] == [h["train_loss"] for h in ref["history"]]
    assert rec["train_config"]["jit"] is jit


def test_make_svi_compiles_trace_elbo_by_default_but_not_meanfield():
    vae = VAE(SMALL)
    assert isinstance(make_svi(vae, TrainConfig()).loss_and_grads.__self__, JitTrace_ELBO)
    mf = make_svi(vae, TrainConfig(elbo="meanfield")).loss_and_grads.__self__
    assert type(mf).__name__ == "TraceMeanField_ELBO"
    assert type(make_svi(vae, TrainConfig(jit=False)).loss_and_grads.__self__) is Trace_ELBO


def test_the_record_says_what_compacting_the_weights_cost_paired_over_seeds(tmp_path):
    """train rounds the weights last (explorer.store.checkpoint.compact) and records the true test ELBO's change,
    paired over the same seeds, without moving the random streams the rest of the run uses."""
    from explorer.store.checkpoint import COMPACT_BITS, read_checkpoint_arrays, weights_digest

    cfg = TrainConfig(epochs=2, batch_size=32, lr=1e-2, seed=5, test_every=1, jit=False)
    tr, te = _split(128, 1), _split(64, 2)
    rec = train(SMALL, cfg, tr, te, tmp_path / "m.safetensors", torch.device("cpu"), progress=False)
    change = rec["weights"]["compacted"]
    assert change["mantissa_bits"] == COMPACT_BITS and change["paired_seeds"] == 5
    assert 0 < abs(change["test_elbo_change"]) < 0.5 and 0 < change["test_elbo_change_se"] < 0.1
    stored = load_checkpoint(tmp_path / "m.safetensors").vae.state_dict()
    assert change["before_weights_sha256"] != weights_digest(stored)  # the rounding did change the weights
    assert read_checkpoint_arrays(tmp_path / "m.safetensors")[2]["weights"]["compacted"] == change
    # the measurement restores every generator: the same run with the measurement skipped records the same
    # post-compaction test ELBO, bit for bit
    real = train_mod._seeded_elbos
    train_mod._seeded_elbos = lambda vae, test_set: [0.0] * 5
    try:
        again = train(SMALL, cfg, tr, te, tmp_path / "n.safetensors", torch.device("cpu"), progress=False)
    finally:
        train_mod._seeded_elbos = real
    assert again["test_elbo"] == rec["test_elbo"]
