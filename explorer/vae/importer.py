"""Import a learner's own VAE: what Pyro's tutorial (``examples/vae/vae.py``) trains, saved either way.

Two saving habits are read, never as an arbitrary pickle:

* ``torch.save(vae.state_dict(), path)`` of the tutorial's ``VAE``: ``encoder.fc1``, ``encoder.fc21``
  (loc), ``encoder.fc22`` (log scale), ``decoder.fc1``, ``decoder.fc21`` (logits), softplus hidden
  activations, a sigmoid output; any hidden size and any z dimension;
* ``pyro.get_param_store().save(path)``: the same tensors under ``encoder$$$fc1.weight`` and so on,
  with the constraint objects Pyro stores beside them.

Both are opened with ``torch.load(weights_only=True)``, which unpickles tensors and plain containers
only; for a param store, the constraint classes of ``torch.distributions.constraints`` are allowed too,
and nothing else. A file with any other object in its pickle is refused before anything in it runs.

A project checkpoint (``.safetensors``) is read as it is. The result is this project's own checkpoint:
the config inferred from the shapes, the weights renamed, and a record saying where it came from.
"""

from __future__ import annotations

import logging
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from explorer.vae.config import ModelConfig

log = logging.getLogger(__name__)

SUPPORTED = ("a state_dict of Pyro's tutorial VAE (encoder.fc1/fc21/fc22, decoder.fc1/fc21), "
             "a Pyro param store saved with pyro.get_param_store().save(...), "
             "or a checkpoint of this project (.safetensors)")
# tutorial name -> this project's name (explorer/vae/model.py: one hidden layer each way)
RENAME = {
    "encoder.fc1": "encoder.body.0", "encoder.fc21": "encoder.fc_loc", "encoder.fc22": "encoder.fc_scale",
    "decoder.fc1": "decoder.net.0", "decoder.fc21": "decoder.net.2",
}
MAX_FILE_BYTES = 2 * 1024**3  # a learner's MNIST VAE is megabytes; refuse anything absurd before reading


class ImportModelError(ValueError):
    """The file cannot be imported; the message says what was found and what is supported."""


def _constraint_classes() -> list[type]:
    """The classes a Pyro param store pickles besides tensors: torch's constraint types, nothing else."""
    from torch.distributions import constraints

    return [c for c in vars(constraints).values()
            if isinstance(c, type) and issubclass(c, constraints.Constraint)]


def read_tensors(path: Path) -> tuple[str, dict[str, torch.Tensor]]:
    """The tensors of a learner's file and the habit that saved it (``"state_dict"`` or ``"param_store"``).

    Raises :class:`ImportModelError` for a missing, oversized or unreadable file, or one whose pickle
    holds anything but tensors, containers and (for a param store) constraints."""
    if not path.is_file():
        raise ImportModelError(f"{path}: no such file")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ImportModelError(f"{path}: {path.stat().st_size} bytes is too large for an MNIST VAE")
    try:
        with torch.serialization.safe_globals(_constraint_classes()):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0][:200]
        raise ImportModelError(
            f"{path}: refused, its pickle holds more than tensors ({first}); nothing in it was run. "
            f"Supported: {SUPPORTED}") from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError) as exc:
        raise ImportModelError(f"{path}: not a torch.save file ({str(exc).splitlines()[0][:200]}). "
                               f"Supported: {SUPPORTED}") from None
    if isinstance(obj, dict) and set(obj) == {"params", "constraints"} and isinstance(obj["params"], dict):
        tensors = {k.replace("$$$", "."): v for k, v in obj["params"].items()}
        habit = "param_store"
    elif isinstance(obj, dict):
        tensors, habit = dict(obj), "state_dict"
    else:
        raise ImportModelError(f"{path}: holds a {type(obj).__name__}, not a dict of tensors. Supported: {SUPPORTED}")
    bad = [k for k, v in tensors.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise ImportModelError(f"{path}: entries that are not tensors: {bad[:3]}. Supported: {SUPPORTED}")
    return habit, tensors


def tutorial_to_project(tensors: dict[str, torch.Tensor], source: str) -> tuple[ModelConfig, dict[str, torch.Tensor]]:
    """Infer the config from the shapes of the tutorial's tensors and rename them to this project's.

    Raises :class:`ImportModelError` naming what was found when the tensors are not the tutorial's VAE."""
    names = {re.sub(r"\.(weight|bias)$", "", k) for k in tensors}
    expected = set(RENAME)
    if names != expected:
        found = ", ".join(sorted(names)[:8]) + (" …" if len(names) > 8 else "")
        raise ImportModelError(
            f"{source}: another architecture (found layers: {found or 'none'}); supported: {SUPPORTED}")
    shape = {k: tuple(v.shape) for k, v in tensors.items()}
    try:
        hidden, x_dim = shape["encoder.fc1.weight"]
        z_dim = shape["encoder.fc21.weight"][0]
        ok = (x_dim == 784 and shape["encoder.fc22.weight"] == (z_dim, hidden)
              and shape["encoder.fc21.weight"] == (z_dim, hidden) and shape["decoder.fc1.weight"] == (hidden, z_dim)
              and shape["decoder.fc21.weight"] == (784, hidden)
              and all(shape[f"{n}.bias"] == (shape[f"{n}.weight"][0],) for n in expected))
    except (KeyError, ValueError):
        ok = False
    if not ok:
        found = "; ".join(f"{k} {shape[k]}" for k in sorted(shape))[:300]
        raise ImportModelError(f"{source}: the tutorial's layer names with other shapes ({found}); "
                               "expected 784-h-z encoder and z-h-784 decoder")
    config = ModelConfig(z_dim=int(z_dim), hidden=(int(hidden),), activation="softplus")
    renamed = {}
    for k, v in tensors.items():
        layer, kind = k.rsplit(".", 1)
        renamed[f"{RENAME[layer]}.{kind}"] = v.detach().to(torch.float32).contiguous()
    if any(not torch.isfinite(v).all() for v in renamed.values()):
        raise ImportModelError(f"{source}: holds NaN or infinite weights")
    return config, renamed


def import_file(path: str | Path, name: str | None = None, out_dir: str | Path = "checkpoints",
                data_dir: str | Path | None = None, seeds: int = 5, progress: bool = True) -> dict[str, Any]:
    """Import a learner's file: see :func:`write_imported` for what is written and returned."""
    from explorer.store.checkpoint import CheckpointError, read_checkpoint_arrays

    path = Path(path)
    name = name or re.sub(r"[^A-Za-z0-9_-]+", "-", path.name.split(".")[0]).strip("-") or "imported"
    if path.suffix == ".safetensors":
        try:
            _, config, record, arrays = read_checkpoint_arrays(path)
        except CheckpointError as exc:
            raise ImportModelError(str(exc)) from None
        state = {k: torch.from_numpy(np.array(a)) for k, a in arrays.items()}
        from explorer.store.atlas import atlas_path_for

        return write_imported(config, state, {**record, "imported_from": path.name}, name, out_dir, data_dir,
                              seeds, progress, atlas_from=atlas_path_for(path))
    habit, tensors = read_tensors(path)
    config, state = tutorial_to_project(tensors, str(path))
    record = {"imported_from": path.name, "source_format": habit, "epochs": None,
              "architecture": "Pyro tutorial VAE (examples/vae/vae.py)"}
    return write_imported(config, state, record, name, out_dir, data_dir, seeds, progress)


def import_module(module: torch.nn.Module, name: str = "my-vae", out_dir: str | Path = "checkpoints",
                  data_dir: str | Path | None = None, seeds: int = 5, progress: bool = True) -> dict[str, Any]:
    """Import a live module with the tutorial's ``encoder``/``decoder`` (as ``VAE()`` of the tutorial)."""
    config, state = tutorial_to_project(dict(module.state_dict()), type(module).__name__)
    record = {"imported_from": f"a live {type(module).__name__} module", "source_format": "module", "epochs": None,
              "architecture": "Pyro tutorial VAE (examples/vae/vae.py)"}
    return write_imported(config, state, record, name, out_dir, data_dir, seeds, progress)


def write_imported(config: ModelConfig, state: dict[str, torch.Tensor], record: dict[str, Any], name: str,
                   out_dir: str | Path, data_dir: str | Path | None, seeds: int, progress: bool,
                   atlas_from: Path | None = None) -> dict[str, Any]:
    """Write ``OUT/NAME.safetensors``; where MNIST is found, record its test ELBO and build ``NAME.atlas.npz``
    (an existing atlas of the same weights, ``atlas_from``, is copied instead).

    Returns ``checkpoint`` (path), ``atlas`` (path, or None without MNIST), ``config``, ``record``."""
    import shutil

    from explorer.store.atlas import atlas_path_for
    from explorer.store.checkpoint import save_checkpoint
    from explorer.vae.model import VAE

    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", name):
        raise ImportModelError(f"--name {name!r}: use letters, digits, '-' and '_' (at most 64)")
    vae = VAE(config)
    vae.load_state_dict(state)
    vae.eval()
    measured = evaluate_if_data(vae, data_dir, seeds, progress)
    out = save_checkpoint(Path(out_dir) / f"{name}.safetensors", vae, {**record, **measured})
    atlas = None
    if atlas_from is not None and atlas_from.is_file():
        atlas = Path(shutil.copyfile(atlas_from, atlas_path_for(out)))  # tied to the weights' digest: still valid
    elif measured:
        from explorer.store.atlas_build import build_atlas

        atlas, _ = build_atlas(out, data_dir, progress=progress, holdout=0)
    return {"checkpoint": out, "atlas": atlas, "config": config, "record": {**record, **measured}}


def evaluate_if_data(vae: Any, data_dir: str | Path | None, seeds: int, progress: bool) -> dict[str, Any]:
    """Pyro's protocol (``-sum(svi.evaluate_loss) / N`` over the test set, one particle), as the mean
    over ``seeds`` seeds with its standard error; nothing when MNIST is not found."""
    from explorer.vae.data import DataMissingError, load_mnist

    try:
        test = load_mnist(False, data_dir, download=False)
    except DataMissingError as exc:
        log.warning("MNIST not found (%s): the import records no test ELBO and builds no atlas", exc)
        return {}
    from explorer.vae.evaluate import elbo_over_seeds

    mean, se, values = elbo_over_seeds(vae, test.images, None, seeds, progress)
    return {"test_elbo": mean, "test_elbo_se": se, "test_elbo_seeds": len(values),
            "test_elbo_protocol": "Pyro examples/vae: -sum(svi.evaluate_loss)/N, 1 particle; mean over seeds"}
