"""The files the page computes from, per model: written once, named by their content, cached for good.

Each model is four files (five with a timeline), fetched in this order (``static/js/data.js`` reads them):

* ``map``: the header (the model's summary, the map's rules, the shared constants and code lines) and
  the map itself (``xy`` ``(N, 2)`` float32, ``labels`` ``(N,)`` uint8): enough to draw the map;
* ``net``: the encoder's and the decoder's layers (``enc.W0``, ``enc.b0``, ..., ``dec.W0``, ..., ``W``
  of shape ``(out, in)``), as float16 where every value is one (the shipped weights are: see
  :func:`explorer.store.checkpoint.compact`), else float32; the page computes with exactly these numbers;
* ``atlas``: the guide means of the test digits (``loc`` ``(N, z_dim)``) and the map's triangulation
  (``triangles``, ``neighbors`` ``(T, 3)``, uint16 where the indices fit, "no neighbour" then 0xFFFF), for
  the mappings between the map and the latent space;
* ``thumbs``: the test digits' 16-level thumbnails (``(N, 392)`` uint8, two pixels a byte), fetched
  on the first hover;
* ``timeline`` (a model trained with ``--snapshots``): the moments of its training, fetched when the
  timeline is opened (:func:`_timeline_file`).

A file is the container ``VXB1``: 4 bytes of magic, a CRC-32 (little-endian) of everything after it,
the header's length, a JSON header, then the arrays, each aligned to 8 bytes. Float16 arrays are stored
byte-planar (all high bytes, then all low bytes: 13 % smaller once compressed). The page checks the
magic, the length and the CRC, so a truncated or corrupted file is refused in one line, never read.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import struct
import threading
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from explorer.constants import page_constants
from explorer.store.checkpoint import is_half_exact
from explorer.store.registry import ServedModel
from explorer.views.snippets import snippets_for

MAGIC = b"VXB1"
FORMAT = "explorer-files/1"
KINDS = ("map", "net", "atlas", "thumbs")


def container(header: dict[str, Any], arrays: dict[str, np.ndarray]) -> bytes:
    """One ``VXB1`` file of ``header`` (JSON) and ``arrays`` (C order; float16 stored byte-planar)."""
    entries, blobs, offset = [], [], 0
    for name, a in arrays.items():
        a = np.ascontiguousarray(a)
        raw = a.tobytes()
        if a.dtype == np.float16:
            planes = a.view(np.uint8).reshape(-1, 2)
            raw = planes[:, 1].tobytes() + planes[:, 0].tobytes()  # little-endian: byte 1 is the high one
        pad = (-offset) % 8
        blobs.append(b"\0" * pad)
        offset += pad
        entries.append({"name": name, "dtype": str(a.dtype), "shape": list(a.shape), "offset": offset,
                        **({"planar": True} if a.dtype == np.float16 else {})})
        blobs.append(raw)
        offset += len(raw)
    hb = json.dumps({**header, "format": FORMAT, "arrays": entries}).encode()
    hb += b" " * ((-(12 + len(hb))) % 8)
    body = struct.pack("<I", len(hb)) + hb + b"".join(blobs)
    return MAGIC + struct.pack("<I", zlib.crc32(body)) + body


def read_container(blob: bytes) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The header and arrays of a ``VXB1`` file (the page's reader in Python, for the tests and the export's
    check); ``ValueError`` for a file that is not one, truncated or corrupted."""
    if len(blob) < 12 or blob[:4] != MAGIC:
        raise ValueError("not an explorer data file")
    (crc,) = struct.unpack_from("<I", blob, 4)
    if zlib.crc32(blob[8:]) != crc:
        raise ValueError("the data file is truncated or corrupted (its CRC-32 does not match)")
    (hlen,) = struct.unpack_from("<I", blob, 8)
    header = json.loads(blob[12 : 12 + hlen])
    base, arrays = 12 + hlen, {}
    for e in header["arrays"]:
        dtype, shape = np.dtype(e["dtype"]), tuple(e["shape"])
        n = int(np.prod(shape)) if shape else 1
        raw = blob[base + e["offset"] : base + e["offset"] + n * dtype.itemsize]
        if e.get("planar"):
            raw = bytes(np.stack([np.frombuffer(raw[n:], np.uint8), np.frombuffer(raw[:n], np.uint8)], 1).ravel())
        arrays[e["name"]] = np.frombuffer(raw, dtype).reshape(shape)
    return header, arrays


def _weights(layers: list[tuple[np.ndarray, np.ndarray]], prefix: str) -> dict[str, np.ndarray]:
    out = {}
    for i, (w, b) in enumerate(layers):
        for key, a in ((f"{prefix}.W{i}", w), (f"{prefix}.b{i}", b)):
            out[key] = a.astype(np.float16) if is_half_exact(a) else a.astype(np.float32)
    return out


def pack_thumbs(thumbs: np.ndarray) -> np.ndarray:
    """``(N, 784)`` 16-level thumbnails (0, 17, ..., 255) -> ``(N, 392)`` uint8, two pixels a byte (the
    first in the high nibble)."""
    q = (thumbs // 17).astype(np.uint8)
    return (q[:, 0::2] << 4) | q[:, 1::2]


def _timeline_file(m: ServedModel) -> bytes:
    """The timeline (:mod:`explorer.store.timeline`): the moments' figures in the header; the maps of every moment
    but the last as float16 (the last is the map file's own ``xy``, to the bit); the decoder's images on the
    grid of map positions at each moment."""
    t, meta = m.timeline()
    n = t["step"].shape[0]
    moments = [{"step": int(t["step"][i]), "epoch": round(float(t["epoch"][i]), 4), "elbo": float(t["elbo"][i]),
                "recon": float(t["recon"][i]), "kl": float(t["kl"][i]), "active": int(t["active"][i]),
                "kl_dims": np.round(t["kl_dims"][i].astype(np.float64), 4).tolist()} for i in range(n)]
    header = {"model": m.name, "map": meta.get("map"), "grid": int(np.sqrt(t["grid_xy"].shape[0])), "moments": moments,
              "kl_weight": m.config.kl_weight, "umap": meta.get("umap")}
    return container(header, {"xy": t["xy"][:-1].astype(np.float16), "grid_xy": t["grid_xy"].astype(np.float32),
                              "grid_images": t["grid_images"]})


def kinds_of(m: ServedModel) -> tuple[str, ...]:
    """The files of model ``m``: :data:`KINDS`, and ``timeline`` when it has one."""
    return (*KINDS, "timeline") if m.timeline_path is not None else KINDS


def build_file(m: ServedModel, kind: str) -> bytes:
    """The ``kind`` file of model ``m`` (one of :func:`kinds_of`)."""
    a = m.atlas
    if kind == "map":
        header = {
            "model": m.summary(), "activation": m.config.activation, "labels": m.config.labels,
            "z_dim": m.config.z_dim, "kl_weight": m.config.kl_weight,
            "min_scale": m.config.min_scale, "map": a.meta.get("map"),
            "gap_edge": a.gap_threshold,
            "kl_mean": np.round(a.kl_mean.astype(np.float64), 4).tolist(), "constants": page_constants(),
            "snippets": snippets_for(m.config.labels, m.config.kl_weight),
            "layers": {"enc": len(m.encoder_layers), "dec": len(m.decoder_layers)},
        }
        return container(header, {"xy": a.xy.astype(np.float32), "labels": a.labels.astype(np.uint8)})
    if kind == "net":
        return container({"model": m.name}, {**_weights(m.encoder_layers, "enc"), **_weights(m.decoder_layers, "dec")})
    if kind == "atlas":
        loc = a.loc.astype(np.float16) if is_half_exact(a.loc) else a.loc.astype(np.float32)
        tri, nb = a.triangles, a.neighbors
        if max(int(tri.max()), int(nb.max())) < 0xFFFF:  # 2 bytes an index; "no neighbour" (-1) as 0xFFFF
            tri, nb = tri.astype(np.uint16), np.where(nb < 0, 0xFFFF, nb).astype(np.uint16)
        return container({"model": m.name, "no_neighbor": 0xFFFF if nb.dtype == np.uint16 else -1},
                         {"loc": loc, "triangles": tri, "neighbors": nb})
    if kind == "thumbs":
        return container({"model": m.name}, {"thumbs": pack_thumbs(a.thumbs)})
    if kind == "timeline":
        return _timeline_file(m)
    raise ValueError(f"unknown file kind {kind!r}")


@dataclass(frozen=True)
class ModelFile:
    """One built file: its content-hashed name, its bytes, and its compressed forms (made on first use)."""

    name: str
    data: bytes
    _cache: dict[str, bytes] = field(default_factory=dict, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def encoded(self, encoding: str) -> bytes:
        """The file compressed with ``encoding`` ("br" or "gzip"), made once. Brotli at quality 5: within
        1 % of quality 11 on these files and 100x faster (20 ms for 2 MB here)."""
        with self._lock:
            if encoding not in self._cache:
                if encoding == "br":
                    import brotli

                    self._cache[encoding] = brotli.compress(self.data, quality=5)
                else:
                    self._cache[encoding] = gzip.compress(self.data, 6, mtime=0)
            return self._cache[encoding]


def file_of(m: ServedModel, kind: str) -> ModelFile:
    """:func:`build_file`, named by its SHA-256, made once per model."""
    def make() -> ModelFile:
        data = build_file(m, kind)
        return ModelFile(f"{m.name}.{kind}.{hashlib.sha256(data).hexdigest()[:16]}.bin", data)

    return m.cached(f"file:{kind}", make)

