"""Numbers shared by the Python side and the page, written once.

The page receives them in each model's bundle (``explorer.app.bundle``), so a change here reaches both
sides; a test holds the page to them.
"""

from __future__ import annotations

from typing import Any

MAX_SAMPLES = 64  # samples of z per request at most (the page's largest K)
K_CHOICES = (4, 8, 16, 32, 64)  # the page's choices of K, samples z ~ q(z|x) per drawing
DEFAULT_K = 16  # the page's K at start: enough for a visible cloud, fast on 2 cores
LOGPX_K = 1000  # importance samples for the page's log p(x): s.e. of a few tenths of a nat
LOGPX_MAX_K = 5000  # most importance samples a request may ask for
PRIOR_N = 16  # prior samples z ~ N(0, I) the page overlays
INTERP_N = 10  # images per interpolation strip
TRAVERSE_STEPS = 9  # values per traversed dimension, from -span to +span
TRAVERSE_SPAN = 3.0  # three prior standard deviations each way
TRAVERSE_ROWS = 16  # dimensions traversed at most, most used first
KNN = 10  # a latent point reaches the map as the inverse-distance-weighted mean of its k nearest test digits
ACTIVE_KL = 0.01  # a latent dimension is "active" when its mean KL on the test set exceeds this (nats)
TAIL_RADIUS = 3.0  # on a 2-D latent map, |z| beyond this is the prior's far tail (P = e^-4.5, about 1 %)
MAX_CANVAS = 1024  # largest drawing side a request may send, pixels
SEND_SIZE = 140  # side of the drawing the page sends (the 280 px pad, halved: the model sees 28 anyway)
LIVE_INTERVAL_MS = 200  # while a stroke is drawn, the page encodes it at most this often

LABEL_K = 16  # conditional model: samples per label behind p(y|x) (the ELBO of each label, Bayes' rule)
BOOTSTRAP = 200  # bootstrap resamples behind the s.e. of a gradient norm
# The streams of the seeded generator (explorer/vae/rng.py, static/js/rng.js): one per use, so they never overlap
RNG_STREAMS = {"eps": 1, "labels": 2, "boot_loc": 3, "boot_scale": 4, "logpx": 5, "prior": 6}
INK_THRESHOLD = 0.1  # a pixel at or above this fraction of full ink counts for a drawing's bounding box
MIN_INK_PIXELS = 3  # fewer inked pixels than this: nothing drawn
MIN_CANVAS = 8  # smallest drawing side, pixels
# What a drawing that cannot be encoded is told, by the server and by the page alike
MESSAGES = {
    "blank": "the canvas is blank: draw a digit",
    "small": f"expected a 2-D grey image of at least {MIN_CANVAS}x{MIN_CANVAS} pixels",
}

# Where a map position lies; Python's Atlas.inverse and the page's geometry give the same word.
REGIONS = ("inside", "gap", "outside", "latent", "tail")


def page_constants() -> dict[str, Any]:
    """The constants the page uses, as sent in every bundle's header."""
    return {
        "max_samples": MAX_SAMPLES, "k_choices": list(K_CHOICES), "default_k": DEFAULT_K, "logpx_k": LOGPX_K,
        "prior_n": PRIOR_N, "interp_n": INTERP_N, "traverse_steps": TRAVERSE_STEPS,
        "traverse_span": TRAVERSE_SPAN, "traverse_rows": TRAVERSE_ROWS, "active_kl": ACTIVE_KL, "knn": KNN,
        "tail_radius": TAIL_RADIUS, "send_size": SEND_SIZE, "live_interval_ms": LIVE_INTERVAL_MS,
        "regions": list(REGIONS), "ink_threshold": INK_THRESHOLD, "min_ink_pixels": MIN_INK_PIXELS,
        "messages": dict(MESSAGES), "label_k": LABEL_K, "bootstrap": BOOTSTRAP, "rng_streams": dict(RNG_STREAMS),
        "logpx_max_k": LOGPX_MAX_K,
    }
