"""Moments of training (``train --snapshots N``) and the timeline built from them (``atlas NAME --timeline``):
the first moment is the untrained model, the last the checkpoint; the files refuse what is not theirs in
one line; AlignedUMAP keeps a digit's point where it was; the page's file is small and arrives only when
asked for."""

import dataclasses
import json
import zipfile

import numpy as np
import pytest
import torch

from explorer.app.bundle import build_file, kinds_of, read_container
from explorer.store.checkpoint import load_checkpoint
from explorer.store.registry import read_served_model
from explorer.store.snapshots import SnapshotError, load_snapshots, measure, snapshot_steps, snapshots_path_for
from explorer.store.timeline import TimelineError, load_timeline, timeline_path_for
from explorer.vae.config import ModelConfig, TrainConfig
from explorer.vae.model import VAE
from explorer.vae.runtime import set_seed
from explorer.vae.train import train

from conftest import PickleBomb, run_cli

TINY = ModelConfig(z_dim=8, hidden=(64,))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, mnist_train, mnist_test):
    """A small VAE trained for 2 epochs on 3,000 digits with 4 snapshots, its checkpoint and snapshots."""
    out = tmp_path_factory.mktemp("tiny") / "tiny.safetensors"
    cfg = TrainConfig(epochs=2, batch_size=128, train_subset=3000, snapshots=4, test_every=2, jit=False)
    train(TINY, cfg, mnist_train, mnist_test, out, torch.device("cpu"), progress=False)
    return out


def test_snapshot_steps_are_log_spaced_from_zero_to_the_end():
    steps = snapshot_steps(14_100, 12)
    assert steps[0] == 0 and steps[-1] == 14_100 and len(steps) == 12
    gaps = np.diff(steps)
    assert (gaps > 0).all() and gaps[-1] > 20 * gaps[0]  # dense early, sparse late


def test_the_first_snapshot_is_the_untrained_model(tiny, mnist_test):
    snaps = load_snapshots(snapshots_path_for(tiny))
    assert snaps.arrays["step"][0] == 0
    set_seed(0)  # train's seed: the same initial weights
    fresh = measure(VAE(TINY).eval(), mnist_test.images, None, seed=0)
    np.testing.assert_array_equal(snaps.arrays["loc"][0], fresh["loc"])
    for key in ("elbo", "recon", "kl"):
        assert snaps.arrays[key][0] == pytest.approx(fresh[key], abs=1e-9), key
    assert snaps.arrays["elbo"][0] < snaps.arrays["elbo"][-1] - 50  # and training moved it


def test_the_last_snapshot_is_the_checkpoint(tiny, mnist_test):
    ckpt = load_checkpoint(tiny)
    snaps = load_snapshots(snapshots_path_for(tiny), ckpt.weights_sha256)
    assert snaps.arrays["step"][-1] == 2 * -(-3000 // 128)
    mine = measure(ckpt.vae.eval(), mnist_test.images, None, seed=0)
    np.testing.assert_array_equal(snaps.arrays["loc"][-1], mine["loc"])
    assert snaps.arrays["elbo"][-1] == pytest.approx(mine["elbo"], abs=1e-9)


def test_a_shipped_models_last_snapshot_agrees_with_its_record(mnist_test):
    """mnist-z2's last moment (one sample per digit, the KL in closed form) and its record's test ELBO
    (Pyro's protocol, a mean over 5 seeds): the same quantity, within their standard errors."""
    m = read_served_model("mnist-z2")
    snaps = load_snapshots(snapshots_path_for(m.path), m.weights_sha256)
    vae = m.ckpt.vae.eval()
    ours = [measure(vae, mnist_test.images, None, seed=s)["elbo"] for s in range(5)]
    assert ours[0] == pytest.approx(snaps.arrays["elbo"][-1], abs=1e-4)  # seed 0 is the snapshot's
    se = np.std(ours, ddof=1) / np.sqrt(5)
    gap = abs(np.mean(ours) - m.record["test_elbo"])
    assert gap < 4 * np.hypot(se, m.record["test_elbo_se"]), (np.mean(ours), m.record["test_elbo"])


def test_snapshot_and_timeline_files_refuse_what_is_not_theirs(tiny, tmp_path):
    path = snapshots_path_for(tiny)
    blob = path.read_bytes()
    cut = tmp_path / "cut.snapshots.npz"
    cut.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(SnapshotError) as e:
        load_snapshots(cut)
    assert "truncated" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(SnapshotError) as e:
        load_snapshots(path, "0" * 64)
    assert "other weights" in str(e.value) and "\n" not in str(e.value)
    marker = tmp_path / "ran"
    bomb = tmp_path / "bomb.snapshots.npz"
    np.savez(bomb, meta=np.array(json.dumps({"format": "explorer-snapshots/1"})),
             step=np.array([PickleBomb(marker), 1], dtype=object))
    with pytest.raises(SnapshotError):
        load_snapshots(bomb)
    assert not marker.exists()  # refused, never unpickled
    with pytest.raises(TimelineError) as e:
        load_timeline(cut)
    assert "\n" not in str(e.value)


def test_atlas_timeline_builds_from_snapshots_and_refuses_a_checkpoint_without(tmp_path, mnist_train, mnist_test,
                                                                               data_dir):
    """The CLI on a 2-D model (its map is its latent: no UMAP): the timeline's last map is the atlas's, to the
    bit; a checkpoint without snapshots is told what to run, in one line."""
    out = tmp_path / "flat.safetensors"
    cfg = TrainConfig(epochs=1, batch_size=256, train_subset=1024, snapshots=3, jit=False)
    train(dataclasses.replace(TINY, z_dim=2), cfg, mnist_train, mnist_test, out, torch.device("cpu"), progress=False)
    done = run_cli("atlas", str(out), "--timeline", "--data-dir", str(data_dir))
    assert done.returncode == 0, done.stderr
    arrays, meta = load_timeline(timeline_path_for(out), load_checkpoint(out).weights_sha256)
    atlas = np.load(out.with_name("flat.atlas.npz"))
    np.testing.assert_array_equal(arrays["xy"][-1], atlas["xy"])
    assert meta["map"] == "latent" and arrays["grid_images"].shape == (arrays["step"].shape[0], 256, 784)
    snapshots_path_for(out).unlink()
    done = run_cli("atlas", str(out), "--timeline", "--data-dir", str(data_dir))
    assert done.returncode == 2 and "--snapshots" in done.stderr and done.stderr.count("\n") == 1


def test_aligned_umap_keeps_digits_in_place_better_than_independent_maps(tiny):
    """2,000 digits at 4 moments: a digit's point moves less between consecutive AlignedUMAP maps than between
    independent UMAP runs with the same seed (each map centred and scaled to unit RMS radius first)."""
    import umap

    from explorer.store.timeline_build import aligned_maps

    snaps = load_snapshots(snapshots_path_for(tiny))
    locs = [snaps.arrays["loc"][t][:2000].astype(np.float32) for t in range(4)]
    aligned = aligned_maps(locs, seed=0)
    independent = [umap.UMAP(n_neighbors=15, min_dist=0.1, random_state=0).fit_transform(v) for v in locs]

    def unit(m):
        m = m - m.mean(0)
        return m / np.sqrt((m**2).sum(1).mean())

    def moved(maps):
        pairs = zip(maps[:-1], maps[1:], strict=True)
        return np.mean([np.linalg.norm(unit(b) - unit(a), axis=1).mean() for a, b in pairs])

    ratio = moved(aligned) / moved(independent)
    assert ratio < 0.6, ratio


@pytest.mark.parametrize("name", ["mnist-z2", "mnist-z16", "mnist-z2-beta4", "mnist-z2-ae"])
def test_the_pages_timeline_file_is_small_and_ends_on_the_map(name):
    m = read_served_model(name)
    assert "timeline" in kinds_of(m)
    blob = build_file(m, "timeline")
    import brotli

    assert len(brotli.compress(blob, quality=5)) <= 3 * 1024**2  # what a page downloads
    header, arrays = read_container(blob)
    t, _ = m.timeline()
    n = len(header["moments"])
    assert n == t["step"].shape[0] >= 10 and header["moments"][0]["step"] == 0
    assert arrays["xy"].shape == (n - 1, m.atlas.xy.shape[0], 2)  # the last moment is the map file's own
    np.testing.assert_array_equal(t["xy"][-1], m.atlas.xy)
    np.testing.assert_allclose(arrays["xy"].astype(np.float32), t["xy"][:-1], atol=0.02)
    np.testing.assert_array_equal(arrays["grid_images"], t["grid_images"])


def test_a_damaged_timeline_leaves_its_model_served(tmp_path):
    """A timeline that cannot be read: the model is listed and served, its timeline said to be unavailable."""
    import shutil

    from explorer.app.site import manifest
    from explorer.store.registry import ModelRegistry

    m = read_served_model("mnist-z2")
    for suffix in (".safetensors", ".atlas.npz"):
        shutil.copy(m.path.with_name(f"mnist-z2{suffix}"), tmp_path / f"copy{suffix}")
    with zipfile.ZipFile(tmp_path / "copy.timeline.npz", "w") as zf:
        zf.writestr("meta.npy", b"not an array")
    copy = read_served_model(tmp_path / "copy.safetensors")
    entry = manifest(ModelRegistry(copy, directory=tmp_path), server=True)["models"][0]
    assert "timeline" not in entry["files"] and "not a readable timeline" in entry["timeline_error"]
    assert {"map", "net", "atlas"} <= set(entry["files"])
