"""Step 6, backprop: the lens's Adam steps are Pyro's SVI steps, on a copy, and PyTorch's loss is Pyro's."""

import copy

import pyro
import pytest
import torch
from pyro.infer import SVI

from explorer.store.checkpoint import weights_digest
from explorer.store.registry import read_served_model
from explorer.vae.svi import make_elbo
from explorer.views.backprop import adam_steps
from explorer.views.preprocess import to_mnist

from conftest import seven_canvas


@pytest.fixture(scope="module")
def z16():
    return read_served_model("mnist-z16")


@pytest.mark.parametrize("estimator", ["trace", "meanfield"])
def test_after_loss_equals_one_pyro_svi_step_with_the_same_eps(z16, estimator):
    served = weights_digest(z16.ckpt.vae.state_dict())
    res = adam_steps(z16, seven_canvas(), steps=1, lr=1e-3, seed=7, estimator=estimator)
    # the same step, as a learner writes it: SVI with pyro.optim.Adam on a copy, the same seed
    vae = copy.deepcopy(z16.ckpt.vae)
    x = torch.from_numpy(to_mnist(seven_canvas()).reshape(1, 784)).to(vae.device)
    pyro.clear_param_store()
    svi = SVI(vae.model, vae.guide, pyro.optim.Adam({"lr": 1e-3}), loss=make_elbo(estimator))
    pyro.set_rng_seed(7)
    before = svi.step(x)
    pyro.set_rng_seed(7)
    with torch.no_grad():
        after = svi.evaluate_loss(x)
    assert res["losses"][0] == pytest.approx(before, abs=1e-4)
    assert res["losses"][1] == pytest.approx(after, abs=1e-3)
    assert res["torch_loss"] == pytest.approx(res["losses"][0], abs=0.02)  # plain PyTorch: the same number
    assert weights_digest(z16.ckpt.vae.state_dict()) == served  # the served model never moves


def test_n_steps_report_layers_and_what_moved(z16):
    res = adam_steps(z16, seven_canvas(), steps=10, lr=3e-3, seed=1)
    assert len(res["losses"]) == 11 and res["losses"][-1] < res["losses"][0] - 1
    assert [layer["layer"] for layer in res["encoder"]] == ["body.0", "body.2", "fc_loc", "fc_scale"]
    assert [layer["layer"] for layer in res["decoder"]] == ["net.0", "net.2", "net.4"]
    assert all(layer["grad_norm"] > 0 for layer in res["encoder"] + res["decoder"])
    assert res["loc_after"] != res["loc_before"] and res["image_after"] != res["image_before"]
    with pytest.raises(ValueError, match="steps"):
        adam_steps(z16, seven_canvas(), steps=0)
