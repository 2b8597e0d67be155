"""A drawn stroke becomes an MNIST-like 28x28 array: 20x20 box, centred by mass, in [0, 1]."""

import numpy as np
import pytest

from explorer.views.preprocess import BlankDrawingError, to_mnist


def _stroke(h=280, w=280, r0=40, r1=240, c=200, width=18):
    """A vertical bar (a '1') drawn off-centre on a big canvas."""
    a = np.zeros((h, w), dtype=np.uint8)
    a[r0:r1, c - width // 2 : c + width // 2] = 255
    return a


def _com(img):
    yy, xx = np.mgrid[0:28, 0:28]
    return (yy * img).sum() / img.sum(), (xx * img).sum() / img.sum()


def test_bar_is_centred_and_scaled():
    out = to_mnist(_stroke())
    assert out.shape == (28, 28) and out.dtype == np.float32
    assert out.min() >= 0 and out.max() == pytest.approx(1.0)
    cy, cx = _com(out)
    assert abs(cy - 13.5) <= 0.5 and abs(cx - 13.5) <= 0.5
    rows = np.flatnonzero((out > 0.1).any(1))
    assert 19 <= rows[-1] - rows[0] + 1 <= 21  # the long side spans 20 pixels


def test_wide_shape_keeps_aspect_ratio():
    a = np.zeros((200, 300), dtype=np.float32)
    a[90:110, 20:280] = 1.0  # a horizontal bar, 13:1
    out = to_mnist(a)
    cols = np.flatnonzero((out > 0.1).any(0))
    rows = np.flatnonzero((out > 0.1).any(1))
    assert 19 <= cols[-1] - cols[0] + 1 <= 21
    assert rows[-1] - rows[0] + 1 <= 4


def test_position_on_canvas_does_not_matter():
    a, b = to_mnist(_stroke(c=60)), to_mnist(_stroke(c=220))
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_looks_like_mnist_digit(mnist_test):
    """Re-preprocessing a real MNIST digit (upscaled 10x, as if drawn) gives back nearly the same image."""
    from PIL import Image

    errs, others = [], []
    for i in range(20):
        digit = mnist_test.images[i].reshape(28, 28).numpy()
        big = np.asarray(Image.fromarray((digit * 255).astype(np.uint8)).resize((280, 280), Image.BILINEAR))
        errs.append(np.abs(to_mnist(big) - digit).mean())
        others.append(np.abs(to_mnist(big) - mnist_test.images[i + 1].reshape(28, 28).numpy()).mean())
    # Half-pixel shifts of the centring cost a few hundredths; another digit costs far more.
    assert np.median(errs) < 0.09, errs
    assert np.median(errs) < 0.5 * np.median(others)


@pytest.mark.parametrize("bad", [np.zeros((280, 280)), np.full((50, 50), 0.01)])
def test_blank_is_refused(bad):
    with pytest.raises(BlankDrawingError):
        to_mnist(bad)


def test_single_dot_and_full_canvas_still_give_valid_inputs():
    dot = np.zeros((280, 280), dtype=np.uint8)
    dot[100:104, 100:104] = 255
    full = np.full((280, 280), 255, dtype=np.uint8)
    for a in (dot, full):
        out = to_mnist(a)
        assert out.shape == (28, 28) and np.isfinite(out).all() and out.max() == pytest.approx(1.0)


@pytest.mark.parametrize("bad", [np.zeros((3, 3)), np.zeros((10, 10, 3)), np.full((20, 20), np.nan)])
def test_malformed_is_a_value_error(bad):
    with pytest.raises(ValueError):
        to_mnist(bad)
