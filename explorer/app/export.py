"""``python -m explorer export DIR``: the page and its models as a static site (:mod:`explorer.app.site`).

The site is the server's page without the server: the same modules and model files, with ``"server":
false`` in ``vx/models.json``, so that the page shows what needs Pyro as unavailable. Each model file is
also written compressed (``.br``, ``.gz``) for hosts that serve precompressed files (nginx's
``gzip_static``, most CDNs); ``python -m http.server`` serves the plain ones.
"""

from __future__ import annotations

import gzip
import logging
import os
from pathlib import Path

from explorer.app.site import site_tree
from explorer.store.registry import ModelRegistry, read_served_model

log = logging.getLogger(__name__)


class ExportError(ValueError):
    """The site cannot be written; the message says why and what to do."""


def export_site(directory: Path, checkpoints: list[str] | None = None, force: bool = False) -> list[Path]:
    """Write the static site of ``checkpoints`` (default: every model in the checkpoint folder) to
    ``directory``; returns the files written. A folder that is not empty is refused unless ``force``."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise ExportError(f"{directory} is a file, not a folder")
    if directory.is_dir() and any(directory.iterdir()) and not force:
        raise ExportError(f"{directory} is not empty: choose an empty folder, or pass --force to write into it")
    if checkpoints:
        models = [read_served_model(c) for c in checkpoints]
        names = [m.name for m in models]
        if len(set(names)) < len(names):
            raise ExportError(f"two of the models have the same name: {names}")
        registry = ModelRegistry(models[0], directory=models[0].path.parent)
        for m in models[1:]:
            registry.add(m)
    else:
        from explorer.store.checkpoint import available_checkpoints, checkpoint_dir

        found = available_checkpoints(checkpoint_dir())
        if not found:
            raise ExportError(f"no models in {checkpoint_dir()}: pass --checkpoint NAME")
        default = "mnist-z16" if "mnist-z16" in found else found[0]
        registry = ModelRegistry(read_served_model(default))
        names = [default, *(n for n in registry.names() if n != default)]
    tree = site_tree(registry, server=False, names=names)
    written = []
    for rel, f in tree.items():
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        _write(path, f.data)
        written.append(path)
        if rel.endswith((".bin", ".js")):
            import brotli

            for suffix, data in ((".br", brotli.compress(f.data, quality=5)),
                                 (".gz", gzip.compress(f.data, 6, mtime=0))):
                _write(path.with_name(path.name + suffix), data)
                written.append(path.with_name(path.name + suffix))
    log.info("wrote %d files to %s", len(written), directory)
    return written


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
