"""The shipped checkpoints: load without pickle, carry their record, and reach their test ELBO."""

import pyro
import pytest
from pyro.infer import SVI

from explorer.store.checkpoint import available_checkpoints, load_checkpoint
from explorer.store.registry import read_served_model
from explorer.vae.runtime import set_seed
from explorer.vae.svi import evaluate_loss, make_elbo

PYRO_EXAMPLE_ELBO = -101.57  # Pyro's examples/vae/vae.py, 100 epochs, measured on this machine kind
SHIPPED = ["mnist-z16", "mnist-z2", "mnist-z50"]


def test_all_three_are_shipped():
    assert set(SHIPPED) <= set(available_checkpoints())


@pytest.mark.parametrize("name", SHIPPED)
def test_loads_with_atlas_and_record(name):
    m = read_served_model(name)
    rec = m.ckpt.record
    for key in ("test_elbo", "epochs", "data_sha256", "versions", "train_config", "history"):
        assert key in rec, key
    assert len(rec["data_sha256"]["test"]) == 64 and rec["versions"]["pyro"]
    assert m.atlas.loc.shape == (10_000, m.ckpt.config.z_dim)
    assert m.atlas.is_latent_map == (m.ckpt.config.z_dim == 2)


@pytest.mark.parametrize("name", SHIPPED)
def test_reaches_recorded_test_elbo(name, mnist_test):
    ckpt = load_checkpoint(name)
    assert ckpt.record["data_sha256"]["test"] == mnist_test.sha256, "test data differs from training time"
    set_seed(0)
    svi = SVI(ckpt.vae.model, ckpt.vae.guide, pyro.optim.Adam({"lr": 0.0}), loss=make_elbo("trace"))
    elbo = -evaluate_loss(svi, mnist_test.images)
    # one-particle protocol: Monte Carlo noise of the mean over 10,000 digits is ~0.05 nats
    assert elbo == pytest.approx(ckpt.record["test_elbo"], abs=0.3)


def test_quality_bars():
    z50 = load_checkpoint("mnist-z50").record
    z16 = load_checkpoint("mnist-z16").record
    assert z50["epochs"] == 100 and z50["train_config"]["batch_size"] == 256 and z50["train_config"]["lr"] == 1e-3
    assert abs(z50["test_elbo"] - PYRO_EXAMPLE_ELBO) <= 1.0  # parity with Pyro's tutorial
    assert z16["test_elbo"] > PYRO_EXAMPLE_ELBO  # better, with 16 latent dimensions instead of 50
    assert load_checkpoint("mnist-z50").config.hidden == (400,)


@pytest.mark.parametrize("name", [*SHIPPED, "mnist-cvae-z16", "mnist-z2-beta4", "mnist-z2-ae"])
def test_shipped_weights_are_float16_exact_and_their_cost_is_recorded(name):
    """The page computes with the shipped weights as float16 without loss: every weight is a float16 at
    bfloat16's precision (explorer.store.checkpoint.compact), and the record says what that cost on the test set.
    The autoencoder's guide scales sit at their floor (1e-3), where a rounded log-scale moves its KL (476
    nats) most: its cost is larger, but still a hundred-thousandth of its ELBO."""
    import numpy as np

    from explorer.store.checkpoint import COMPACT_BITS, compact, is_half_exact, read_checkpoint_arrays

    _, _, record, arrays = read_checkpoint_arrays(name)
    for key, a in arrays.items():
        assert is_half_exact(a), key
        np.testing.assert_array_equal(compact(a), a, err_msg=key)  # compacting again changes nothing
    change = record["weights"]["compacted"]
    assert change["mantissa_bits"] == COMPACT_BITS and change["paired_seeds"] == 5
    bound = 0.01 if record.get("kl_weight", 1.0) else 2e-4 * abs(record["test_elbo"])
    assert abs(change["test_elbo_change"]) < bound and 0 < change["test_elbo_change_se"] < 0.001


def test_compact_rounds_to_nearest_even_at_the_kept_bits():
    import numpy as np

    from explorer.store.checkpoint import compact

    a = np.array([1.0, 1.0 + 2**-8, 1.0 + 3 * 2**-8, 1.0 + 2**-7, -3.0e-7, 70000.0, 1.0 + 2**-9], np.float32)
    # 8 significant bits: a tie goes to the even neighbour, tiny values to float16's subnormal grid
    expected = [1.0, 1.0, 1.0 + 4 * 2**-8, 1.0 + 2**-7, -5 * 2**-24, np.inf, 1.0]
    np.testing.assert_array_equal(compact(a, 7), np.array(expected, np.float32))
