"""Shared fixtures: a clean Pyro param store, the MNIST test set when present, the shipped models."""

from __future__ import annotations

import os
from pathlib import Path

import pyro
import pytest
import torch

from explorer.data import DataMissingError, load_mnist, resolve_data_dir

ROOT = Path(__file__).resolve().parent.parent


def _data_dir() -> Path:
    env = os.environ.get("EXPLORER_DATA_DIR")
    if env:
        return Path(env)
    shared = ROOT.parent / "shared" / "data"  # this workplace keeps MNIST beside the checkout
    return shared if (shared / "MNIST" / "raw").is_dir() else resolve_data_dir()


@pytest.fixture(autouse=True)
def _clean_param_store():
    pyro.clear_param_store()
    yield
    pyro.clear_param_store()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return _data_dir()


@pytest.fixture(scope="session")
def mnist_test(data_dir):
    try:
        return load_mnist(False, data_dir, download=False)
    except DataMissingError as exc:
        pytest.skip(f"MNIST test set not found, test skipped: {exc}")


@pytest.fixture(scope="session")
def mnist_train(data_dir):
    try:
        return load_mnist(True, data_dir, download=False)
    except DataMissingError as exc:
        pytest.skip(f"MNIST training set not found, test skipped: {exc}")


@pytest.fixture
def digits() -> torch.Tensor:
    """A small deterministic batch of grey 'images' in [0, 1], shape (8, 784), no data needed."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(8, 784, generator=g)
    x[x < 0.6] = 0.0
    return x
