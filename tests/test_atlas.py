"""Atlas round trip and mismatch errors, and the fast mappings that stand in for UMAP."""

import pickle

import numpy as np
import pytest
import torch

from explorer.store.atlas import FORMAT, Atlas, AtlasError, atlas_path_for, load_atlas, save_atlas, triangulate
from explorer.store.checkpoint import checkpoint_dir, load_checkpoint, save_checkpoint
from explorer.vae.config import ModelConfig
from explorer.vae.model import VAE

from conftest import PickleBomb

SHIPPED = checkpoint_dir() / "mnist-z16.atlas.npz"


def _arrays(n=300, zd=3, seed=0):
    rng = np.random.default_rng(seed)
    loc = rng.normal(size=(n, zd)).astype(np.float32)
    xy = (loc[:, :2] * 3 + rng.normal(scale=0.1, size=(n, 2))).astype(np.float32)
    tri, nb, gap = triangulate(xy)
    arrays = {"loc": loc, "scale": np.full((n, zd), 0.5, np.float32), "labels": rng.integers(0, 10, n).astype(np.uint8),
              "xy": xy, "thumbs": rng.integers(0, 256, (n, 784)).astype(np.uint8), "triangles": tri,
              "neighbors": nb, "kl_mean": np.ones(zd, np.float32)}
    return arrays, gap


@pytest.fixture
def ckpt_and_atlas(tmp_path):
    torch.manual_seed(0)
    ck = save_checkpoint(tmp_path / "tiny.safetensors", VAE(ModelConfig(z_dim=3, hidden=(16,))), {"epochs": 0})
    arrays, gap = _arrays()
    meta = {"format": FORMAT, "checkpoint": ck.name, "weights_sha256": load_checkpoint(ck).weights_sha256,
            "map": "umap", "gap_edge": gap}
    path = save_atlas(atlas_path_for(ck), arrays, meta)
    return ck, path, arrays


def test_round_trip(ckpt_and_atlas):
    ck, path, arrays = ckpt_and_atlas
    atlas = load_atlas(path, load_checkpoint(ck).weights_sha256)
    for k, v in arrays.items():
        np.testing.assert_array_equal(getattr(atlas, k), v)
    assert atlas.meta["checkpoint"] == "tiny.safetensors" and atlas.z_dim == 3


def test_atlas_of_another_checkpoint_is_refused(ckpt_and_atlas):
    ck, path, _ = ckpt_and_atlas
    torch.manual_seed(1)
    # the record alone may change (e.g. `evaluate --write`): the atlas still fits
    save_checkpoint(ck, load_checkpoint(ck).vae, {"epochs": 0, "test_log_px": -90.0})
    load_atlas(path, load_checkpoint(ck).weights_sha256)
    save_checkpoint(ck, VAE(ModelConfig(z_dim=3, hidden=(16,))), {"epochs": 0})  # retrained: new weights
    with pytest.raises(AtlasError, match="tiny.atlas.npz: built for other weights"):
        load_atlas(path, load_checkpoint(ck).weights_sha256)


def test_missing_truncated_and_pickled_atlases(ckpt_and_atlas, tmp_path):
    ck, path, _ = ckpt_and_atlas
    with pytest.raises(AtlasError, match="no atlas file"):
        load_atlas(tmp_path / "none.atlas.npz")
    trunc = tmp_path / "trunc.atlas.npz"
    trunc.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(AtlasError, match="trunc.atlas.npz"):
        load_atlas(trunc)
    marker = tmp_path / "PWNED"

    evil = tmp_path / "evil.atlas.npz"
    evil.write_bytes(pickle.dumps(PickleBomb(marker)))
    with pytest.raises(AtlasError, match="evil.atlas.npz"):
        load_atlas(evil)
    evil2 = tmp_path / "evil2.atlas.npz"
    np.savez(evil2, meta=np.array([PickleBomb(marker)], dtype=object), loc=np.zeros((2, 2)))
    with pytest.raises(AtlasError, match="evil2.atlas.npz"):
        load_atlas(evil2)
    assert not marker.exists()


def test_inverse_of_a_data_point_returns_its_own_mean(ckpt_and_atlas):
    ck, path, arrays = ckpt_and_atlas
    atlas = load_atlas(path, load_checkpoint(ck).weights_sha256)
    z, region = atlas.inverse(arrays["xy"][:50])
    np.testing.assert_allclose(z, arrays["loc"][:50], atol=1e-5)
    far, reg = atlas.inverse(np.array([[1e3, 1e3]]))
    assert reg[0] == 2  # outside the data's region
    nearest = np.argmin(((arrays["xy"] - 1e3) ** 2).sum(1))
    np.testing.assert_allclose(far[0], arrays["loc"][nearest])


def test_inverse_interpolates_inside_a_triangle(ckpt_and_atlas):
    ck, path, arrays = ckpt_and_atlas
    atlas = load_atlas(path, load_checkpoint(ck).weights_sha256)
    t = atlas.triangles[10]
    centroid = arrays["xy"][t].astype(np.float64).mean(0)
    z, region = atlas.inverse(centroid[None])
    np.testing.assert_allclose(z[0], arrays["loc"][t].mean(0), atol=1e-5)


def test_forward_of_a_data_point_lands_on_it(ckpt_and_atlas):
    ck, path, arrays = ckpt_and_atlas
    atlas = load_atlas(path, load_checkpoint(ck).weights_sha256)
    np.testing.assert_allclose(atlas.forward(arrays["loc"][:20]), arrays["xy"][:20], atol=1e-3)


@pytest.mark.skipif(not SHIPPED.exists(), reason="shipped atlas mnist-z16 not built")
def test_forward_agrees_with_umap_transform_on_held_out_points():
    """Fit UMAP (seeded) on 4,000 guide means, map 500 held-out means both ways, compare.

    Stated tolerance: median deviation under 2 % and 90th percentile under 8 % of the map's extent.
    """
    import umap

    shipped = np.load(SHIPPED, allow_pickle=False)
    loc = shipped["loc"]
    fit, held = loc[:4000], loc[4000:4500]
    reducer = umap.UMAP(n_neighbors=15, min_dist=0.1, random_state=0)
    xy = reducer.fit_transform(fit).astype(np.float32)
    tri, nb, gap = triangulate(xy)
    atlas = Atlas(loc=fit, scale=np.ones_like(fit), labels=np.zeros(4000, np.uint8), xy=xy,
                  thumbs=np.zeros((4000, 784), np.uint8), triangles=tri, neighbors=nb,
                  kl_mean=np.ones(fit.shape[1], np.float32), meta={"map": "umap", "gap_edge": gap})
    dev = np.linalg.norm(atlas.forward(held) - reducer.transform(held), axis=1) / atlas.extent
    assert np.median(dev) < 0.02, np.median(dev)
    assert np.quantile(dev, 0.9) < 0.08, np.quantile(dev, 0.9)
