"""The page's binary bundle of one model: what it needs to draw the map and decode drags itself.

Layout: a 4-byte little-endian header length, a JSON header, then the arrays, each aligned to 8
bytes. The header lists each array's name, dtype, shape and byte offset (from the start of the data
section), the model's summary, the decoder's activation, the map's gap rule and the shared constants
(:func:`explorer.constants.page_constants`). The page's reader is ``static/js/bundle.js``.
"""

from __future__ import annotations

import json
import struct

import numpy as np

from explorer.constants import page_constants
from explorer.registry import Loaded
from explorer.snippets import snippets_for


def make_bundle(m: Loaded) -> bytes:
    """The bundle of model ``m``.

    Arrays: the map (``xy`` ``(N, 2)`` float32, ``labels`` ``(N,)`` uint8), the guide means (``loc``
    ``(N, z_dim)`` float32), the triangulation (``triangles``, ``neighbors`` ``(T, 3)`` int32) and the
    decoder's layers (``W0``, ``b0``, ... float32, ``W`` of shape ``(out, in)``).
    """
    arrays: dict[str, np.ndarray] = {
        "xy": m.atlas.xy.astype(np.float32), "labels": m.atlas.labels.astype(np.uint8),
        "loc": m.atlas.loc.astype(np.float32), "triangles": m.atlas.triangles.astype(np.int32),
        "neighbors": m.atlas.neighbors.astype(np.int32),
    }
    for i, (w, b) in enumerate(m.decoder_layers):
        arrays[f"W{i}"], arrays[f"b{i}"] = w, b
    entries, blobs, offset = [], [], 0
    for name, a in arrays.items():
        a = np.ascontiguousarray(a)
        pad = (-offset) % 8
        if pad:
            blobs.append(b"\0" * pad)
            offset += pad
        entries.append({"name": name, "dtype": str(a.dtype), "shape": list(a.shape), "offset": offset})
        blobs.append(a.tobytes())
        offset += a.nbytes
    header = {
        "model": m.summary(), "arrays": entries, "layers": len(m.decoder_layers),
        "activation": m.config.activation, "gap_edge": m.atlas.gap_threshold,
        "map": m.atlas.meta.get("map"), "kl_mean": np.round(m.atlas.kl_mean.astype(np.float64), 4).tolist(),
        "labels": m.config.labels, "constants": page_constants(), "snippets": snippets_for(m.config.labels),
    }
    hb = json.dumps(header).encode()
    hb += b" " * ((-(4 + len(hb))) % 8)
    return struct.pack("<I", len(hb)) + hb + b"".join(blobs)


def bundle_of(m: Loaded) -> bytes:
    """:func:`make_bundle`, computed once per model."""
    return m.cached("bundle", lambda: make_bundle(m))
