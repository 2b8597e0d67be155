"""Checkpoint round trip, clear errors for bad files, and no pickle ever executed."""

import json
import pickle

import pytest
import torch
from safetensors.torch import save_file

from explorer.store.checkpoint import (
    CheckpointError,
    load_checkpoint,
    read_checkpoint_arrays,
    read_metadata,
    save_checkpoint,
)
from explorer.vae.config import ModelConfig
from explorer.vae.model import VAE

from conftest import PickleBomb


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    vae = VAE(ModelConfig(z_dim=3, hidden=(20, 10)))
    path = save_checkpoint(tmp_path / "m.safetensors", vae, {"test_elbo": -123.4, "epochs": 2})
    return vae, path


def test_round_trip(saved, digits):
    vae, path = saved
    ckpt = load_checkpoint(path)
    assert ckpt.config == vae.config
    assert ckpt.record == {"test_elbo": -123.4, "epochs": 2}
    assert ckpt.name == "m"
    for (k, a), (_, b) in zip(vae.state_dict().items(), ckpt.vae.state_dict().items(), strict=True):
        assert torch.equal(a, b), k
    torch.testing.assert_close(ckpt.vae.encode(digits)[0], vae.encode(digits)[0])
    cfg, rec = read_metadata(path)
    assert cfg == vae.config and rec["epochs"] == 2


def test_missing_file_names_it(tmp_path):
    with pytest.raises(CheckpointError, match="nope.safetensors: no such checkpoint"):
        load_checkpoint(tmp_path / "nope.safetensors")


def test_truncated_file(saved, tmp_path):
    _, path = saved
    data = path.read_bytes()
    bad = tmp_path / "trunc.safetensors"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="trunc.safetensors: not a readable"):
        load_checkpoint(bad)


def test_corrupted_header(saved, tmp_path):
    _, path = saved
    data = bytearray(path.read_bytes())
    data[8:40] = b"\xff" * 32
    bad = tmp_path / "corrupt.safetensors"
    bad.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="corrupt.safetensors"):
        load_checkpoint(bad)


def test_mismatched_architecture(saved, tmp_path):
    vae, _ = saved
    tensors = {k: v.contiguous() for k, v in vae.state_dict().items()}
    meta = {"format": "explorer-vae/1", "model_config": ModelConfig(z_dim=5, hidden=(20, 10)).to_json(),
            "record": json.dumps({})}
    bad = tmp_path / "mismatch.safetensors"
    save_file(tensors, str(bad), metadata=meta)
    with pytest.raises(CheckpointError, match="mismatch.safetensors: tensor .* has shape"):
        load_checkpoint(bad)
    with pytest.raises(CheckpointError, match="mismatch.safetensors: tensor .* has shape"):
        read_checkpoint_arrays(bad)  # the app's start: the same check without torch


@pytest.mark.parametrize("config", [ModelConfig(), ModelConfig(z_dim=2, hidden=(400,), activation="relu"),
                                    ModelConfig(labels=10), ModelConfig(z_dim=50, hidden=(400,))])
def test_param_shapes_match_the_torch_model(config):
    """The torch-free architecture check agrees with the model the checkpoint rebuilds."""
    sd = VAE(config).state_dict()
    assert config.param_shapes() == {k: tuple(v.shape) for k, v in sd.items()}


def test_foreign_safetensors_without_metadata(tmp_path):
    bad = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(bad))
    with pytest.raises(CheckpointError, match="foreign.safetensors: metadata format"):
        load_checkpoint(bad)


def test_pickle_is_refused_and_never_executed(tmp_path):
    marker = tmp_path / "PWNED"
    evil = tmp_path / "evil.safetensors"
    evil.write_bytes(pickle.dumps(PickleBomb(str(marker))))
    with pytest.raises(CheckpointError, match="evil.safetensors: not a readable"):
        load_checkpoint(evil)
    assert not marker.exists()
    # A torch.save file (pickle inside a zip) is refused too.
    evil_pt = tmp_path / "evil.pt"
    torch.save({"x": PickleBomb(str(marker))}, evil_pt)
    with pytest.raises(CheckpointError, match="evil.pt"):
        load_checkpoint(evil_pt)
    assert not marker.exists()
