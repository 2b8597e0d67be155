"""Drawing -> the 28x28 input the model sees, prepared the way MNIST digits were.

MNIST (LeCun et al.): each digit's bounding box was scaled, keeping its aspect ratio, to fit a
20x20 box (with anti-aliasing), then placed in a 28x28 image so that its centre of mass sits at
the centre.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from explorer.constants import INK_THRESHOLD, MESSAGES, MIN_CANVAS, MIN_INK_PIXELS


class BlankDrawingError(ValueError):
    """The drawing holds no ink to encode."""


def to_mnist(canvas: np.ndarray) -> np.ndarray:
    """Turn a drawing into an MNIST-like digit.

    Parameters
    ----------
    canvas : array, shape ``(H, W)``, ink intensity: uint8 in 0..255 or float in [0, 1]
        (0 = paper, max = full ink). H and W of at least 8.

    Returns
    -------
    array, shape ``(28, 28)``, float32 in [0, 1], brightest pixel 1, the ink's bounding box fitting
    20x20 and its centre of mass at (13.5, 13.5) to within half a pixel (unless the box would leave
    the frame). Every step is specified to the bit (Pillow's Lanczos in fixed point, Python's rounding of
    halves to even, float32 divisions), so the page's twin gives the same float32 values.

    Raises
    ------
    BlankDrawingError
        if there is (almost) no ink.
    ValueError
        for arrays of the wrong shape or with values that are not finite.
    """
    a = np.asarray(canvas)
    if a.ndim != 2 or min(a.shape) < MIN_CANVAS:
        raise ValueError(f"{MESSAGES['small']}, got shape {a.shape}")
    if a.dtype == np.uint8:
        ink = a.astype(np.float32) / 255.0
    else:
        ink = a.astype(np.float32)
        if not np.isfinite(ink).all():
            raise ValueError("the drawing holds NaN or infinite values")
        ink = np.clip(ink, 0.0, 1.0)
    mask = ink >= INK_THRESHOLD
    if mask.sum() < MIN_INK_PIXELS:
        raise BlankDrawingError(MESSAGES["blank"])
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    crop = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    h, w = crop.shape
    s = 20.0 / max(h, w)
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    img = Image.fromarray(np.round(crop * 255).astype(np.uint8), mode="L")
    grey = np.asarray(img.resize((nw, nh), Image.Resampling.LANCZOS), dtype=np.int64)  # 0..255
    total = int(grey.sum())
    if total <= 0:
        raise BlankDrawingError(MESSAGES["blank"])
    # The centre of mass from integer sums (exact), so that the page's twin (static/js/preprocess.js)
    # places the digit on the same pixel, not one that depends on the order of a float sum.
    yy, xx = np.mgrid[0:nh, 0:nw]
    cy, cx = int((yy * grey).sum()) / total, int((xx * grey).sum()) / total
    top = int(np.clip(round(13.5 - cy), 0, 28 - nh))
    left = int(np.clip(round(13.5 - cx), 0, 28 - nw))
    out = np.zeros((28, 28), dtype=np.float32)
    out[top : top + nh, left : left + nw] = grey.astype(np.float32) / 255.0
    return out / out.max()
