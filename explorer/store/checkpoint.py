"""Checkpoints: safetensors weights + JSON metadata (config, training record). No pickle.

A checkpoint rebuilds its own model: ``load_checkpoint(path)`` reads the stored
:class:`~explorer.vae.config.ModelConfig`, builds the :class:`~explorer.vae.model.VAE` and loads the weights.
:func:`read_checkpoint_arrays` reads the same file as NumPy arrays without importing torch (the app starts
with it and imports torch in the background).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from safetensors import SafetensorError, safe_open

from explorer.vae.config import ModelConfig

if TYPE_CHECKING:
    import torch

    from explorer.vae.model import VAE

FORMAT = "explorer-vae/1"
SUFFIX = ".safetensors"
SOURCE_CHECKPOINTS = Path(__file__).resolve().parents[2] / "checkpoints"  # a source checkout (or -e install)
ENV_VAR = "EXPLORER_CHECKPOINTS"
# record fields the app shows as numbers: anything else there is a broken (or hostile) file
NUMERIC_RECORD_FIELDS = ("test_elbo", "test_elbo_se", "test_log_px", "test_accuracy", "epochs")


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message names the file and what is wrong."""


@dataclass(frozen=True)
class Checkpoint:
    """A loaded model and what was recorded about it."""

    name: str
    path: Path
    vae: VAE
    record: dict[str, Any]  # test ELBO, epochs, data checksum, library versions, history

    @property
    def config(self) -> ModelConfig:
        return self.vae.config

    @property
    def weights_sha256(self) -> str:
        """Digest of the weights alone (the record can change without touching the atlas)."""
        return weights_digest(self.vae.state_dict())


def weights_digest(state_dict: dict[str, torch.Tensor] | dict[str, np.ndarray]) -> str:
    """SHA-256 over the tensors' names, shapes, dtypes and bytes, in sorted order.

    Torch tensors and the NumPy arrays :func:`read_checkpoint_arrays` gives for them have the same digest."""
    h = hashlib.sha256()
    for k in sorted(state_dict):
        t = state_dict[k]
        a = t.detach().to("cpu").contiguous().numpy() if hasattr(t, "detach") else np.ascontiguousarray(t)
        h.update(f"{k}:{tuple(a.shape)}:torch.{a.dtype};".encode())  # torch's dtype names, as first written
        h.update(a.tobytes())
    return h.hexdigest()


COMPACT_BITS = 7  # mantissa bits the shipped weights keep (bfloat16's precision): -0.001 nats of test ELBO


def compact(a: np.ndarray, bits: int = COMPACT_BITS) -> np.ndarray:
    """Float32 weights rounded to ``bits`` mantissa bits, then to the nearest float16: float32 values that
    float16 represents exactly (so they travel to the page as float16 without loss) and that compress well
    (their low mantissa bits are zero). Rounding is to nearest, ties to even, in float32's bit pattern."""
    a = np.ascontiguousarray(a, dtype=np.float32)
    u = a.view(np.uint32).astype(np.uint64)
    drop = np.uint64(23 - bits)
    half, lsb = np.uint64(1) << (drop - np.uint64(1)), (u >> drop) & np.uint64(1)
    u = ((u + half - np.uint64(1) + lsb) >> drop) << drop
    with np.errstate(over="ignore"):  # beyond float16's range: inf, which read_checkpoint_arrays then refuses
        return u.astype(np.uint32).view(np.float32).astype(np.float16).astype(np.float32).reshape(a.shape)


def is_half_exact(a: np.ndarray) -> bool:
    """True if every value of the float array is exactly a float16 (finite)."""
    a = np.asarray(a)
    with np.errstate(over="ignore"):
        return bool(np.array_equal(a.astype(np.float16).astype(a.dtype), a))


def checkpoint_dir() -> Path:
    """Where the shipped models are: ``$EXPLORER_CHECKPOINTS`` if set; else ``checkpoints/`` beside the
    ``explorer`` package in a source checkout (or an editable install); else the installed package
    ``explorer.checkpoints`` (a wheel install carries the models there)."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    if any(SOURCE_CHECKPOINTS.glob(f"*{SUFFIX}")):
        return SOURCE_CHECKPOINTS
    try:
        import importlib.resources

        installed = Path(str(importlib.resources.files("explorer.checkpoints")))
    except (ModuleNotFoundError, TypeError):
        return SOURCE_CHECKPOINTS
    return installed


def available_checkpoints(directory: Path | None = None) -> list[str]:
    """Names of the ``*.safetensors`` files in the checkpoint folder, sorted."""
    d = directory or checkpoint_dir()
    return sorted(p.name[: -len(SUFFIX)] for p in d.glob(f"*{SUFFIX}")) if d.is_dir() else []


def resolve_checkpoint(name_or_path: str | os.PathLike[str]) -> Path:
    """A shipped name (``mnist-z16``) or a path to a ``.safetensors`` file."""
    p = Path(name_or_path)
    if p.suffix == SUFFIX or p.exists():
        return p
    return checkpoint_dir() / f"{p.name}{SUFFIX}"


def save_checkpoint(path: str | os.PathLike[str], vae: VAE, record: dict[str, Any]) -> Path:
    """Write weights and metadata atomically (a temporary file, then rename)."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in vae.state_dict().items()}
    metadata = {
        "format": FORMAT,
        "model_config": vae.config.to_json(),
        "record": json.dumps(record, sort_keys=True),
    }
    tmp = path.with_suffix(path.suffix + ".tmp")
    save_file(tensors, str(tmp), metadata=metadata)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    return path


def read_metadata(path: str | os.PathLike[str]) -> tuple[ModelConfig, dict[str, Any]]:
    """The stored config and record, without reading the weights."""
    path = Path(path)
    meta, _ = _open(path, with_tensors=False)
    return _parse_meta(path, meta)


def load_checkpoint(name_or_path: str | os.PathLike[str], device: str | torch.device = "cpu") -> Checkpoint:
    """Load a checkpoint by shipped name or path; raise :class:`CheckpointError` if unusable."""
    return build_checkpoint(*read_checkpoint_arrays(name_or_path), device=device)


def build_checkpoint(path: Path, config: ModelConfig, record: dict[str, Any], arrays: dict[str, np.ndarray],
                     device: str | torch.device = "cpu") -> Checkpoint:
    """The model of weights that :func:`read_checkpoint_arrays` read (and checked), on ``device``, in eval mode."""
    import torch

    from explorer.vae.model import VAE

    vae = VAE(config)
    vae.load_state_dict({k: torch.from_numpy(a) for k, a in arrays.items()})
    vae.eval().to(device)
    return Checkpoint(name=path.name.removesuffix(SUFFIX), path=path, vae=vae, record=record)


def read_checkpoint_arrays(name_or_path: str | os.PathLike[str]) -> tuple[Path, ModelConfig, dict[str, Any],
                                                                 dict[str, np.ndarray]]:
    """The file, config, record and weights (NumPy arrays) of a checkpoint, without importing torch.

    Raises :class:`CheckpointError`, naming the file, for an unreadable file, weights that do not fit
    the stored architecture, or non-finite weights (the checks :func:`load_checkpoint` makes)."""
    path = resolve_checkpoint(name_or_path)
    meta, arrays = _open(path, with_tensors=True)
    config, record = _parse_meta(path, meta)
    expected = config.param_shapes()
    missing, unexpected = sorted(set(expected) - set(arrays)), sorted(set(arrays) - set(expected))
    if missing or unexpected:
        raise CheckpointError(f"{path}: weights do not match the stored architecture "
                              f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    for k, a in arrays.items():
        if tuple(a.shape) != expected[k]:
            raise CheckpointError(
                f"{path}: tensor {k} has shape {tuple(a.shape)}, the architecture needs {expected[k]}")
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            raise CheckpointError(f"{path}: tensor {k} holds NaN or infinite values")
    return path, config, record, arrays


def _open(path: Path, with_tensors: bool) -> tuple[dict[str, str], dict[str, np.ndarray]]:
    if not path.is_file():
        names = ", ".join(available_checkpoints()) or "none"
        raise CheckpointError(f"{path}: no such checkpoint file (shipped checkpoints: {names})")
    try:
        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()} if with_tensors else {}
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(
            f"{path}: not a readable safetensors checkpoint (corrupted, truncated, or another "
            f"format such as a pickle, which is never loaded): {exc}"
        ) from None
    return meta, tensors


def _parse_meta(path: Path, meta: dict[str, str]) -> tuple[ModelConfig, dict[str, Any]]:
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: metadata format is {meta.get('format')!r}, expected {FORMAT!r}")
    try:
        config = ModelConfig.from_dict(json.loads(meta["model_config"]))
        record = json.loads(meta.get("record", "{}"))
    except (KeyError, ValueError, TypeError, AttributeError, RecursionError) as exc:
        raise CheckpointError(f"{path}: unreadable model config or record in metadata: {exc}") from None
    if not isinstance(record, dict):
        raise CheckpointError(f"{path}: the record is a JSON {type(record).__name__}, not an object")
    for key in NUMERIC_RECORD_FIELDS:
        v = record.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)):
            raise CheckpointError(f"{path}: record field {key!r} must be a finite number, not {type(v).__name__}")
    return config, record
