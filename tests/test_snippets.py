"""Every code line the page shows runs as shown, in a Pyro context with the tutorial's names."""

import pyro
import pyro.distributions as dist
import pytest
import torch
import torch.nn.functional as F
from pyro import poutine
from pyro.infer import SVI, Trace_ELBO, TraceMeanField_ELBO

from explorer.store.registry import read_served_model
from explorer.views.snippets import snippets_for


def _context(vae):
    x = ((torch.rand(2, 784, generator=torch.Generator().manual_seed(0)) > 0.5).float() * 0.9).to(vae.device)
    y = torch.nn.functional.one_hot(torch.tensor([3, 7]), 10).float().to(vae.device)
    loc, scale = vae.encoder(vae.with_label(x, y if vae.config.labels else None))
    z = loc + scale * torch.randn_like(loc)
    return {"self": vae, "x": x, "y": y, "z": z.detach(), "loc": loc.detach(), "scale": scale.detach(),
            "z_dim": vae.config.z_dim, "torch": torch, "pyro": pyro, "dist": dist, "F": F, "SVI": SVI,
            "Trace_ELBO": Trace_ELBO, "TraceMeanField_ELBO": TraceMeanField_ELBO, "poutine": poutine,
            "optimizer": torch.optim.Adam(vae.parameters(), lr=1e-4)}


@pytest.mark.parametrize("name", ["mnist-z16", "mnist-cvae-z16", "mnist-z2-beta4", "mnist-z2-ae"])
def test_every_snippet_runs_in_a_pyro_context(name):
    import copy

    vae = copy.deepcopy(read_served_model(name).ckpt.vae)
    lines = snippets_for(vae.config.labels, vae.config.kl_weight)
    assert len(lines) >= 10
    for key, line in lines.items():
        if key == "label" and not vae.config.labels:
            continue
        ns = _context(vae)
        pyro.clear_param_store()
        if key in ("sample", "prior", "obs", "label"):  # one site, as inside model or guide
            with poutine.trace() as tr:
                exec(line, ns)  # our own shipped line, run as a learner would paste it
            sites = {n for n, s in tr.trace.nodes.items() if s["type"] == "sample"}
            # on the model's device (on a GPU a CPU tensor here would break the model it is pasted into)
            assert all(tr.trace.nodes[n]["value"].device == vae.device for n in sites), key
        else:  # whole steps: they run model and guide themselves
            exec(line, ns)
            sites = set()
        if key in ("sample", "prior"):
            assert sites == {"latent"} and ns.get("z") is not None, key
            # weighted as the model trains it: the scale Pyro records at the site (0 for the mask)
            node = tr.trace.nodes["latent"]
            weight = 0.0 if node["mask"] is False else float(node["scale"])
            assert weight == vae.config.kl_weight, key
        if key == "label":
            assert sites == {"label"} and tr.trace.nodes["label"]["is_observed"]
        if key == "obs":
            assert sites == {"obs"} and tr.trace.nodes["obs"]["fn"].event_shape == (784,)
        if key.startswith("loss") or key == "torch_loss" or key == "svi_step":
            assert torch.as_tensor(ns["loss"]).isfinite(), key
    assert "validate_args=False" in lines["obs"]  # grey pixels are not in {0, 1}
    if vae.config.kl_weight != 1.0:  # the handler that makes the model differ from the VAE, shown
        assert "poutine." in lines["sample"] and "poutine." in lines["prior"]


def test_the_page_receives_the_snippets_in_its_map_file():
    from explorer.app.bundle import build_file, read_container

    header, _ = read_container(build_file(read_served_model("mnist-cvae-z16"), "map"))
    assert header["snippets"] == snippets_for(10)
