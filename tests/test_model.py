"""Shapes and sample sites of model and guide; encode/decode helpers."""

import pyro.distributions as dist
import pytest
import torch
from pyro import poutine

from explorer.vae.config import ModelConfig
from explorer.vae.model import VAE


@pytest.mark.parametrize("cfg", [ModelConfig(z_dim=2, hidden=(32, 16)), ModelConfig(z_dim=50, hidden=(400,))])
def test_sites_and_shapes(cfg, digits):
    vae = VAE(cfg)
    guide_tr = poutine.trace(vae.guide).get_trace(digits)
    model_tr = poutine.trace(poutine.replay(vae.model, trace=guide_tr)).get_trace(digits)
    # (the plate "data" shows up as a subsample node of its own; it is not a random variable)
    sites_q = [n for n in guide_tr.stochastic_nodes if n != "data"]
    sites_p = [n for n in model_tr.stochastic_nodes if n != "data"]
    assert sites_q == ["latent"] and guide_tr.observation_nodes == []
    assert sites_p == ["latent"] and model_tr.observation_nodes == ["obs"]
    latent_q = guide_tr.nodes["latent"]
    assert latent_q["value"].shape == (8, cfg.z_dim)
    assert latent_q["fn"].event_shape == (cfg.z_dim,)
    obs = model_tr.nodes["obs"]
    assert obs["is_observed"] and obs["value"].shape == (8, 784)
    assert obs["fn"].event_shape == (784,)
    assert isinstance(obs["fn"].base_dist, dist.Bernoulli)
    prior = model_tr.nodes["latent"]["fn"].base_dist
    assert torch.all(prior.loc == 0) and torch.all(prior.scale == 1)
    # Both sites sit in the plate "data" that spans the batch.
    assert [(f.name, f.size) for f in obs["cond_indep_stack"]] == [("data", 8)]
    assert [(f.name, f.size) for f in latent_q["cond_indep_stack"]] == [("data", 8)]


def test_encode_decode_shapes(digits):
    vae = VAE(ModelConfig(z_dim=16, hidden=(64, 32)))
    loc, scale = vae.encode(digits.reshape(8, 28, 28))
    assert loc.shape == scale.shape == (8, 16)
    assert torch.all(scale > 0)
    probs = vae.decode(torch.zeros(3, 5, 16))
    assert probs.shape == (3, 5, 784)
    assert torch.all((probs > 0) & (probs < 1))


def test_params_registered_with_pyro(digits):
    import pyro

    vae = VAE(ModelConfig(z_dim=4, hidden=(16,)))
    vae.guide(digits)
    vae.model(digits)
    names = set(pyro.get_param_store().keys())
    assert any(n.startswith("encoder$$$") for n in names)
    assert any(n.startswith("decoder$$$") for n in names)


def test_config_validation():
    with pytest.raises(ValueError):
        ModelConfig(z_dim=0)
    with pytest.raises(ValueError):
        ModelConfig(activation="tanh")
    cfg = ModelConfig(z_dim=3, hidden=[8, 4])
    assert cfg.hidden == (8, 4)
    assert ModelConfig.from_dict({"z_dim": 3, "hidden": [8, 4], "activation": "softplus", "x_dim": 784}) == cfg
