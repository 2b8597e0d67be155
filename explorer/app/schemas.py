"""The JSON bodies the routes accept, with their limits (pydantic checks them before any work)."""

from __future__ import annotations

import base64
import binascii
from typing import Literal

import numpy as np
from fastapi import HTTPException
from pydantic import BaseModel, ConfigDict, Field

from explorer.constants import (
    DEFAULT_K,
    INTERP_N,
    LOGPX_K,
    LOGPX_MAX_K,
    MAX_CANVAS,
    MAX_SAMPLES,
    TRAVERSE_ROWS,
    TRAVERSE_SPAN,
    TRAVERSE_STEPS,
)

MAX_PIXELS_B64 = 2 * MAX_CANVAS * MAX_CANVAS  # characters of base64: the largest canvas fits
MAX_REQUEST_BYTES = MAX_PIXELS_B64 + 64 * 1024  # any larger body is refused with 413 before it is read
SESSION_PATTERN = r"^[A-Za-z0-9_-]*$"


class Strict(BaseModel):
    """No NaN or infinity in any number, no unknown fields."""

    model_config = ConfigDict(allow_inf_nan=False, extra="forbid")


class EncodeRequest(Strict):
    """A drawing: ``width`` x ``height`` ink values (uint8, row-major), base64-encoded."""

    width: int = Field(ge=8, le=MAX_CANVAS)
    height: int = Field(ge=8, le=MAX_CANVAS)
    pixels: str = Field(max_length=MAX_PIXELS_B64)
    k: int = Field(default=DEFAULT_K, ge=1, le=MAX_SAMPLES)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    session: str = Field(default="", max_length=64, pattern=SESSION_PATTERN)  # the tab, for "newest wins"
    seq: int = Field(default=0, ge=0, le=2**53)  # the tab's request counter
    label: int | None = Field(default=None, ge=0, le=9)  # conditional VAE: the observed digit (default: p(y|x)'s best)
    estimator: Literal["trace", "meanfield"] = "trace"  # Trace_ELBO (Monte Carlo KL) or TraceMeanField_ELBO

    def canvas(self) -> np.ndarray:
        """The drawing as an ``(height, width)`` uint8 array; a 422 if the bytes do not fit."""
        try:
            raw = base64.b64decode(self.pixels, validate=True)
        except (binascii.Error, ValueError):
            raise HTTPException(422, "pixels must be base64-encoded bytes") from None
        if len(raw) != self.width * self.height:
            raise HTTPException(
                422, f"pixels hold {len(raw)} bytes, expected width*height = {self.width * self.height}")
        return np.frombuffer(raw, dtype=np.uint8).reshape(self.height, self.width)


class LogPxRequest(EncodeRequest):
    """A drawing, and the number of importance samples for log p(x)."""

    k: int = Field(default=LOGPX_K, ge=1, le=LOGPX_MAX_K)


class StepRequest(EncodeRequest):
    """A drawing, and how many Adam steps to take on a copy of the model (step 6 of the lens)."""

    steps: int = Field(default=1, ge=1, le=50)
    lr: float = Field(default=1e-3, ge=1e-6, le=0.1)


class CheckRequest(EncodeRequest):
    """A drawing and the page's samples z (``k`` rows of ``z_dim``): "check with Pyro" scores them with Pyro."""

    z: list[list[float]] = Field(min_length=1, max_length=MAX_SAMPLES)
    k: int = Field(default=DEFAULT_K, ge=1, le=MAX_SAMPLES)


class InterpolateRequest(Strict):
    a: list[float] = Field(max_length=512)
    b: list[float] = Field(max_length=512)
    n: int = Field(default=INTERP_N, ge=2, le=32)
    label: int | None = Field(default=None, ge=0, le=9)


class TraverseRequest(Strict):
    z: list[float] = Field(max_length=512)
    kl: list[float] | None = Field(default=None, max_length=512)
    steps: int = Field(default=TRAVERSE_STEPS, ge=3, le=15)
    span: float = Field(default=TRAVERSE_SPAN, ge=0.5, le=5.0)
    rows: int = Field(default=TRAVERSE_ROWS, ge=1, le=64)
    label: int | None = Field(default=None, ge=0, le=9)


class Bye(Strict):
    session: str = Field(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
