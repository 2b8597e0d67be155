"""The JSON bodies the ``/api`` routes answer with, declared field by field (the requests' are in
:mod:`explorer.app.schemas`).

Every model forbids undeclared fields, so an answer that grows a field no model declares fails loudly
(a route's response validation, and ``tests/test_answers.py`` for the routes that send their JSON
themselves, made by orjson in the computing thread). Images travel as base64 of uint8 grey levels
(``*_img``, ``images``, ``thumb``) or as lists of grey levels (``image``); a number that is not finite
(the s.e. of a single sample) is ``null``. Shapes: ``K`` samples, ``D`` latent dimensions.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Se = float | None  # a standard error: null for a single sample


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Blank(Answer):
    """A drawing with too little ink to encode: the page's message for it."""

    blank: Literal[True]
    message: str


class Stale(Answer):
    """This tab sent a newer drawing first: this one was not computed ("newest wins")."""

    stale: Literal[True]
    message: str


class Encoded(Answer):
    """Steps 1-5 of the lens for one drawing (``explorer.views.inference.encode_drawing``)."""

    model: str
    seed: int
    k: int
    estimator: Literal["trace", "meanfield"]
    input: str  # the 28x28 input, base64 grey levels
    loc: list[float]  # (D,) the guide's mean
    scale: list[float]  # (D,) the guide's standard deviations
    eps: list[list[float]]  # (K, D) the generator's standard normals
    z: list[list[float]]  # (K, D) loc + scale * eps
    grad_loc: list[float]  # (D,) d log p(x|z) / d loc through z = loc + scale * eps, mean over the samples
    grad_scale: list[float]
    grad_loc_norm: float
    grad_loc_norm_se: Se
    grad_loc_norm_naive: float
    grad_scale_norm: float
    grad_scale_norm_se: Se
    grad_scale_norm_naive: float
    mean_img: str  # the decoder's probabilities at loc
    samples_img: str  # (K, 28, 28) the decoded samples
    mean_xy: list[float]  # (2,) loc on the map
    samples_xy: list[list[float]]  # (K, 2)
    recon: float  # E_q[log p(x|z)], nats
    recon_se: Se
    recon_samples: list[float]  # (K,)
    pixel_nats: list[float]  # (784,) each pixel's -log p(x_i|z), mean over the samples
    kl: float  # KL(q(z|x) || p(z)) in closed form
    kl_mc: float  # Trace_ELBO's Monte Carlo estimate of it
    kl_mc_se: Se
    kl_dims: list[float]  # (D,) the closed form per dimension
    elbo: float
    elbo_se: Se
    elbo_sd: Se
    elbo_samples: list[float]  # (K,)
    kl_weight: float  # beta (1 for a VAE)
    objective: float  # what SVI maximises: recon - beta * KL (the ELBO when beta = 1)
    objective_samples: list[float]
    active_dims: int
    # the conditional model only: the observed label, p(y|x), log p(y), one decoded row per digit
    label: int | None = None
    label_probs: list[float] | None = None  # (10,)
    log_py: float | None = None
    styles: str | None = None


class LogPx(Answer):
    """The importance-weighted log p(x) with ``k`` samples."""

    model: str
    k: int
    seed: int
    label: int | None
    log_px: float
    log_px_se: Se
    ess: float  # the importance weights' effective sample size


class LayerGradient(Answer):
    layer: str
    shape: list[int]
    grad_norm: float


class Stepped(Answer):
    """Step 6: Adam steps of Pyro's SVI on a copy of the model, for this drawing."""

    model: str
    steps: int
    lr: float
    seed: int
    estimator: Literal["trace", "meanfield"]
    label: int | None
    losses: list[float]  # (steps,) SVI's loss at each step
    encoder: list[LayerGradient]
    decoder: list[LayerGradient]
    torch_loss: float  # the first step's loss computed by hand in PyTorch
    loc_before: list[float]
    loc_after: list[float]
    scale_before: list[float]
    scale_after: list[float]
    image_before: list[int]  # (784,) grey levels of the decoded mean
    image_after: list[int]


class Checked(Answer):
    """"Check with Pyro": Pyro's ELBO on the drawing at the page's z."""

    model: str
    estimator: Literal["trace", "meanfield"]
    k: int
    label: int | None
    losses: list[float]  # (K,) Pyro's loss at each z
    kl_weight: float
    objective: float
    elbo: float
    elbo_se: Se
    recon: float
    recon_se: Se
    recon_samples: list[float]
    kl_mc: float
    kl_mc_se: Se
    kl: float
    log_py: float | None
    input: str
    z: list[list[float]]
    pyro: str  # Pyro's version
    how: str  # the Pyro call, as code


class LatentPath(Answer):
    z: list[list[float]]  # (n, D)
    images: str  # (n, 28, 28)
    xy: list[list[float]]  # (n, 2)


class Interpolated(Answer):
    model: str
    n: int
    t: list[float]
    linear: LatentPath
    slerp: LatentPath


class Traversed(Answer):
    model: str
    dims: list[int]  # each row's latent dimension, the most KL first
    values: list[float]  # (steps,)
    kl: list[float]
    steps: int
    images: str  # (rows, steps, 28, 28)


class PriorSamples(Answer):
    model: str
    seed: int
    n: int
    z: list[list[float]]
    xy: list[list[float]]
    images: str


class Decoded(Answer):
    """The image at a map position."""

    z: list[float]
    region: str  # where the position lies: one of constants.REGIONS ("inside", "gap", "outside", ...)
    image: list[int]
    probs: list[float]


class Digit(Answer):
    """A test digit, for the hover."""

    index: int
    label: int
    thumb: str
    recon: str
    loc: list[float]
    scale: list[float]
    xy: list[float]


class ModelSummary(Answer):
    name: str
    z_dim: int
    hidden: list[int]
    activation: str
    epochs: int | None
    test_elbo: float | None
    test_elbo_se: float | None
    test_elbo_seeds: int | None
    log_px: float | None
    map: str | None  # "umap" or "latent"
    active_dims: int
    kind: str  # "vae", "beta-vae", "ae", "cvae"
    kl_weight: float
    test_kl: float
    test_recon: float | None
    test_accuracy: float | None


class ModelBroken(Answer):
    name: str
    error: str


class Models(Answer):
    default: str
    models: list[ModelSummary | ModelBroken]


class Warm(Answer):
    name: str
    ready: bool


class Ok(Answer):
    ok: bool


class Admission(Answer):
    waiting: dict[str, int]  # per admission kind
    clients: int
    refused: dict[str, int]  # per status code


class Health(Answer):
    ok: bool
    sessions: int
    models_loaded: int
    devices: dict[str, str]
    cpu_kernels: str | None
    rss_mb: float
    admission: Admission


class BatchStats(Answer):
    batches: int
    items: int
    largest: int
    queued: int
    queued_cost: int
    lanes: int
    busy_lanes: int


class LiveSettings(Answer):
    steps: int
    lr: float
    batch: int
    kl_weight: float
    subset: int
    seed: int


class LiveRun(Answer):
    settings: LiveSettings
    started: float
    labels: str  # the test digits' labels, base64 uint8
    n: int
    limits: dict[str, list[float]]


class LiveUpdate(Answer):
    state: Literal["running", "finished", "stopped", "failed"]
    run: float  # the run's start time: which run this update belongs to
    version: int
    message: str | None = None
    step: int | None = None
    steps: int | None = None
    epoch: float | None = None
    seconds: float | None = None
    loss: float | None = None
    elbo: float | None = None
    recon: float | None = None
    kl: float | None = None
    active: int | None = None
    xy: str | None = Field(default=None, description="the test digits' guide means, base64 float16 (N, 2)")


class LiveState(Answer):
    running: bool
    version: int
    run: LiveRun | None
    updates: list[LiveUpdate]
    lecturer: bool | None = None  # GET /api/live only: whether this browser may start and stop
    how: str | None = None
