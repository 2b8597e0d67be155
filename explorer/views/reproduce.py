"""``explorer.reproduce("drawing.png")``: a drawing saved by the page, computed again in Python.

The page's "Save drawing" writes a PNG whose text chunk ``vx-drawing`` carries the drawing as the page
computed it (its ink), the model, the seed, K, the estimator and the observed label. The page and Python
draw eps from the same generator (:mod:`explorer.vae.rng`), so the numbers come out the same.
"""

from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path
from typing import Any

import numpy as np

from explorer.constants import MAX_CANVAS, MAX_SAMPLES, MIN_CANVAS


class DrawingFileError(ValueError):
    """Not a drawing saved by the explorer; the message says why."""


def read_drawing(png: str | Path) -> tuple[dict[str, Any], np.ndarray]:
    """The record of a saved drawing and its ink ``(height, width)`` uint8."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(png) as im:  # Pillow refuses decompression bombs and caps text chunks (1 MB)
            text = im.text.get("vx-drawing") if hasattr(im, "text") else None
    except (OSError, UnidentifiedImageError) as exc:
        raise DrawingFileError(f"{png}: not a readable PNG ({exc})") from None
    if text is None:
        raise DrawingFileError(f"{png}: it carries no vx-drawing record: not a drawing saved by the explorer")
    try:
        rec = json.loads(text)
        sent = rec["sent"]
        w, h = int(sent["width"]), int(sent["height"])
        if not (MIN_CANVAS <= w <= MAX_CANVAS and MIN_CANVAS <= h <= MAX_CANVAS):
            raise ValueError(f"a drawing of {w} x {h} pixels")
        ink = np.frombuffer(base64.b64decode(sent["pixels_base64"], validate=True), np.uint8)
        canvas = ink.reshape(h, w)
        if not (isinstance(rec["model"], str) and 1 <= int(rec["k"]) <= MAX_SAMPLES and int(rec["seed"]) >= 0
                and rec["estimator"] in ("trace", "meanfield")):
            raise ValueError("model, k, seed or estimator out of range")
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise DrawingFileError(f"{png}: its vx-drawing record is not one the explorer wrote ({exc})") from None
    return rec, canvas


def reproduce(png: str | Path, model: str | Path | None = None) -> dict[str, Any]:
    """The forward pass of a saved drawing, as :func:`explorer.views.inference.encode_drawing` computes it, with the
    model, seed, K, estimator and observed label the page used (``model``: another path to the same model)."""
    from explorer.store.registry import read_served_model
    from explorer.views.inference import encode_drawing

    rec, canvas = read_drawing(png)
    m = read_served_model(model or rec["model"])
    observed = rec.get("observed")
    return encode_drawing(m, canvas, k=int(rec["k"]), seed=int(rec["seed"]),
                          label=None if observed is None else int(observed), estimator=rec["estimator"])
