"""Import a learner's own VAE: the tutorial's classes as Pyro's example writes them, trained for a few
real SVI steps at odd sizes, saved both ways, imported, and explored."""

import socket
import threading
import time
import urllib.request

import numpy as np
import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer import SVI, Trace_ELBO
from torch import nn

from explorer.vae.importer import ImportModelError, import_file, read_tensors, tutorial_to_project
from explorer.vae.model import VAE as ProjectVAE

from conftest import ROOT, PickleBomb, run_cli


# ----- Pyro's examples/vae/vae.py, as the tutorial writes it -----
class Encoder(nn.Module):
    def __init__(self, z_dim, hidden_dim):
        super().__init__()
        self.fc1 = nn.Linear(784, hidden_dim)
        self.fc21 = nn.Linear(hidden_dim, z_dim)
        self.fc22 = nn.Linear(hidden_dim, z_dim)
        self.softplus = nn.Softplus()

    def forward(self, x):
        x = x.reshape(-1, 784)
        hidden = self.softplus(self.fc1(x))
        z_loc = self.fc21(hidden)
        z_scale = torch.exp(self.fc22(hidden))
        return z_loc, z_scale


class Decoder(nn.Module):
    def __init__(self, z_dim, hidden_dim):
        super().__init__()
        self.fc1 = nn.Linear(z_dim, hidden_dim)
        self.fc21 = nn.Linear(hidden_dim, 784)
        self.softplus = nn.Softplus()
        self.sigmoid = nn.Sigmoid()

    def forward(self, z):
        hidden = self.softplus(self.fc1(z))
        loc_img = self.sigmoid(self.fc21(hidden))
        return loc_img


class VAE(nn.Module):
    def __init__(self, z_dim=50, hidden_dim=400):
        super().__init__()
        self.encoder = Encoder(z_dim, hidden_dim)
        self.decoder = Decoder(z_dim, hidden_dim)
        self.z_dim = z_dim

    def model(self, x):
        pyro.module("decoder", self.decoder)
        with pyro.plate("data", x.shape[0]):
            z_loc = x.new_zeros(torch.Size((x.shape[0], self.z_dim)))
            z_scale = x.new_ones(torch.Size((x.shape[0], self.z_dim)))
            z = pyro.sample("latent", dist.Normal(z_loc, z_scale).to_event(1))
            loc_img = self.decoder(z)
            pyro.sample("obs", dist.Bernoulli(loc_img, validate_args=False).to_event(1), obs=x.reshape(-1, 784))

    def guide(self, x):
        pyro.module("encoder", self.encoder)
        with pyro.plate("data", x.shape[0]):
            z_loc, z_scale = self.encoder(x)
            pyro.sample("latent", dist.Normal(z_loc, z_scale).to_event(1))


def trained_tutorial_vae(z_dim, hidden, steps=5):
    """A few real SVI steps, as the tutorial runs them."""
    pyro.clear_param_store()
    pyro.set_rng_seed(0)
    vae = VAE(z_dim, hidden)
    svi = SVI(vae.model, vae.guide, pyro.optim.Adam({"lr": 1e-3}), loss=Trace_ELBO())
    x = (torch.rand(32, 784, generator=torch.Generator().manual_seed(1)) > 0.7).float()
    for _ in range(steps):
        svi.step(x)
    return vae


def assert_same_model(learner, imported: ProjectVAE):
    x = torch.rand(16, 784, generator=torch.Generator().manual_seed(2))
    z = torch.randn(16, learner.z_dim, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        loc, scale = learner.encoder(x)
        loc2, scale2 = imported.encode(x)
        torch.testing.assert_close(loc2, loc, atol=1e-5, rtol=0)
        torch.testing.assert_close(scale2, scale, atol=1e-5, rtol=0)
        torch.testing.assert_close(imported.decode(z), learner.decoder(z), atol=1e-5, rtol=0)


@pytest.mark.parametrize("z_dim,hidden", [(3, 37), (10, 300)])
def test_state_dict_of_the_tutorial_imports_exactly(tmp_path, z_dim, hidden):
    learner = trained_tutorial_vae(z_dim, hidden)
    path = tmp_path / "vae.pt"
    torch.save(learner.state_dict(), path)
    habit, tensors = read_tensors(path)
    config, state = tutorial_to_project(tensors, str(path))
    assert habit == "state_dict" and (config.z_dim, config.hidden) == (z_dim, (hidden,))
    ours = ProjectVAE(config)
    ours.load_state_dict(state)
    assert_same_model(learner, ours.eval())


def test_param_store_save_imports_exactly_and_safely(tmp_path):
    learner = trained_tutorial_vae(5, 41)
    path = tmp_path / "params.save"
    pyro.get_param_store().save(path)
    with pytest.raises(Exception):  # noqa: B017 -- plain weights_only refuses the constraint objects ...
        torch.load(path, weights_only=True)
    habit, tensors = read_tensors(path)  # ... which the importer allows, and only those
    assert habit == "param_store" and "encoder.fc1.weight" in tensors
    config, state = tutorial_to_project(tensors, str(path))
    ours = ProjectVAE(config)
    ours.load_state_dict(state)
    assert_same_model(learner, ours.eval())


def test_a_pickle_with_a_payload_is_refused_without_running(tmp_path):
    marker = tmp_path / "PWNED"
    evil = tmp_path / "vae.pt"
    torch.save({"encoder.fc1.weight": torch.zeros(2, 2), "boom": PickleBomb(marker)}, evil)
    with pytest.raises(ImportModelError, match="refused"):
        read_tensors(evil)
    res = run_cli("import", str(evil), "--out", str(tmp_path / "out"))
    assert res.returncode == 2 and "refused" in res.stderr and "nothing in it was run" in res.stderr
    assert "Traceback" not in res.stderr and not marker.exists()


def test_another_architecture_gets_one_clear_line(tmp_path):
    conv = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(4 * 26 * 26, 10))
    path = tmp_path / "conv.pt"
    torch.save(conv.state_dict(), path)
    res = run_cli("import", str(path), "--out", str(tmp_path / "out"))
    assert res.returncode == 2 and "Traceback" not in res.stderr
    line = res.stderr.strip()
    assert "\n" not in line and "another architecture" in line and "0, 2" in line and "supported" in line
    wide = VAE(4, 20).state_dict()
    wide["encoder.fc1.weight"] = torch.zeros(20, 100)  # not MNIST's 784 inputs
    torch.save(wide, path)
    res = run_cli("import", str(path), "--out", str(tmp_path / "out"))
    assert res.returncode == 2 and "784" in res.stderr


@pytest.mark.data
def test_cli_import_evaluates_builds_the_atlas_and_launch_serves_it(tmp_path, data_dir, mnist_test):
    learner = trained_tutorial_vae(2, 23, steps=20)
    torch.save(learner.state_dict(), tmp_path / "mine.pt")
    res = run_cli("import", str(tmp_path / "mine.pt"), "--name", "mine", "--out", str(tmp_path / "models"),
                  "--seeds", "3", "--data-dir", str(data_dir))
    assert res.returncode == 0, res.stderr[-2000:]
    ckpt = tmp_path / "models" / "mine.safetensors"
    assert ckpt.exists() and (tmp_path / "models" / "mine.atlas.npz").exists()
    from explorer.store.registry import read_served_model

    m = read_served_model(ckpt)
    rec = m.record
    assert rec["test_elbo_seeds"] == 3 and rec["test_elbo_se"] >= 0 and -800 < rec["test_elbo"] < -100
    assert rec["source_format"] == "state_dict" and m.atlas.is_latent_map
    assert_same_model(learner, m.ckpt.vae)

    import explorer

    before = {t.name for t in threading.enumerate()}
    handle = explorer.launch(ckpt, show=False)
    try:
        with urllib.request.urlopen(handle.url, timeout=30) as r:
            assert r.status == 200 and b"gradio" in r.read().lower()
        with urllib.request.urlopen(handle.url + "api/models", timeout=30) as r:
            assert b'"mine"' in r.read()
    finally:
        handle.stop()
    assert not handle.running
    deadline = time.time() + 10  # the server's worker threads end with its event loop
    while {t.name for t in threading.enumerate()} - before and time.time() < deadline:
        time.sleep(0.1)
    assert {t.name for t in threading.enumerate()} <= before
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as a server binds: fails while one listens
        s.bind(("127.0.0.1", handle.port))  # the port is free again
        s.listen()


def test_launch_takes_a_shipped_models_name_as_the_command_line_does():
    import json

    import explorer

    handle = explorer.launch("mnist-z2", show=False)
    try:
        with urllib.request.urlopen(handle.url + "api/models", timeout=30) as r:
            models = json.loads(r.read())
        assert handle.checkpoint.name == "mnist-z2.safetensors"
        assert models["default"] == "mnist-z2" and "mnist-z16" in [m["name"] for m in models["models"]]
    finally:
        handle.stop()
    with pytest.raises(Exception, match="no-such-model"):
        explorer.launch("no-such-model", show=False)


def test_nothing_runs_at_import_time():
    import subprocess
    import sys

    code = ("import sys, explorer\n"
            "print(sorted(m for m in ('torch', 'gradio', 'uvicorn', 'explorer.notebook') if m in sys.modules))\n"
            "print(callable(explorer.launch))\n")
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.stdout.split("\n")[:2] == ["[]", "True"], res.stdout + res.stderr


def test_project_checkpoints_import_as_they_are(tmp_path):
    res = import_file(ROOT / "checkpoints" / "mnist-z2.safetensors", "copy", tmp_path, data_dir=tmp_path / "nodata",
                      progress=False)
    from explorer.store.checkpoint import load_checkpoint

    a, b = load_checkpoint("mnist-z2"), load_checkpoint(res["checkpoint"])
    assert a.weights_sha256 == b.weights_sha256 and b.record["imported_from"] == "mnist-z2.safetensors"
    assert np.isfinite(a.record["test_elbo"])
