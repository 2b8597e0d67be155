"""The ``/api`` routes the page calls: thin callbacks over :mod:`explorer.views` (inference, tools, decoding).

The page computes a drawing's forward pass itself, from the model's files (:mod:`explorer.app.site`); these
routes are what needs Pyro (step 6's SVI step, "check with Pyro", log p(x) with many samples) and the
Python reference of what the page computes, for scripts and notebooks (``encode``, ``decode``, ``prior``,
``interpolate``, ``traverse``, ``digit``).

All per-user state (the drawing, the ring, the samples) lives in each browser tab; the server keeps only
read-only models and each tab's newest request number, so users never see each other's work.

Drawings from many students are computed together when they arrive together (``Batcher``: one encoder,
decoder and backward pass for all; each answer is the one its drawing gets alone, to float32 rounding).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import orjson
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from explorer.app import answers as A
from explorer.app.admission import Policy, admitted
from explorer.app.batching import Batcher, Busy
from explorer.app.schemas import (
    Bye,
    CheckRequest,
    EncodeRequest,
    InterpolateRequest,
    LogPxRequest,
    StepRequest,
    TraverseRequest,
)
from explorer.constants import LOGPX_K, MAX_SAMPLES, PRIOR_N
from explorer.store.registry import ModelRegistry, ServedModel
from explorer.views.preprocess import BlankDrawingError

MAX_BATCH = {"encode": 16, "logpx": 24}  # drawings one batch takes at most
# Importance samples of log p(x) that may wait: 48 of the page's (k = 1,000), or 9 of the largest (5,000);
# a waiting one whose tab has sent a newer drawing costs nothing. With 200 students a queue of 4 requests
# refused 4-5 % of the page's log p(x), one of 24,000 samples 0.7-1.4 % (README).
MAX_QUEUED_SAMPLES = {"logpx": 48 * LOGPX_K}
BULK_NICE = 10  # log p(x)'s lanes run this much nicer than step 6 and the check, which a student waits on


def json_response(answer: dict[str, Any]) -> Response:
    """An answer as JSON, made by orjson in the computing thread: FastAPI's own path walks every number of
    a 30 kB answer in Python on the event loop (1.3 ms; ``json.dumps`` 0.37 ms; orjson 0.03 ms, the same
    bytes). A number that is not finite (the s.e. of a single sample) is sent as ``null`` (orjson's rule);
    the page shows "–"."""
    return Response(orjson.dumps(answer), media_type="application/json")


def _inference():
    """The model computations import torch: imported on first use, so the page is served before torch."""
    from explorer.views import inference

    return inference


def _decoding():
    from explorer.views import decoding

    return decoding


def _tools():
    from explorer.views import tools

    return tools


def rss_mb() -> float:
    """Resident memory of this process, MiB (Linux; 0 elsewhere)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def make_router(registry: ModelRegistry, require_login: Callable, policy: Policy,
                on_warm: Callable[[str], None] | None = None) -> APIRouter:
    """The routes, each with its admission kind (:func:`explorer.app.admission.admitted`). How many run at
    once, and whose, is :mod:`explorer.app.admission`'s business: it admits each request before its body
    is read, and makes the refusals and the "newest wins" answers."""
    router = APIRouter(prefix="/api", dependencies=[Depends(require_login)])

    def model(name: str, built: bool = True) -> ServedModel:
        """The model ``name``; with ``built``, its torch model is built (or waited for) too."""
        try:
            m = registry.get(name)
            if built:
                m.ckpt  # noqa: B018 -- builds the torch model on first use; waits if another thread is
            return m
        except KeyError:
            raise HTTPException(404, f"no model named {name!r}; available: {registry.names()}") from None
        except ValueError as exc:  # CheckpointError / AtlasError: a broken file on disk; a missing device
            raise HTTPException(503, f"model {name!r} cannot be loaded: {exc}") from None

    def computed(fn: Callable, *args: Any) -> dict[str, Any]:
        """Run a model computation; a bad value is a 422, a missing index a 404."""
        try:
            return fn(*args)
        except IndexError as exc:
            raise HTTPException(404, str(exc)) from None
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None

    def drawing_route(name: str, req: EncodeRequest, compute_fn: Callable) -> dict[str, Any] | JSONResponse:
        """A route that takes a drawing, computed alone (step 6): newest request wins, a blank canvas is
        a message."""
        m, canvas = model(name), req.canvas()
        if stale := policy.stale(req):
            return stale  # the newest request wins; this one costs nothing

        def run() -> dict[str, Any] | JSONResponse:
            if stale := policy.stale(req):
                return stale  # overtaken while it waited
            try:
                return compute_fn(m, canvas, req)
            except BlankDrawingError as exc:
                return JSONResponse({"blank": True, "message": str(exc)})

        return computed(run)

    batchers: dict[tuple[str, str], Batcher] = {}

    def batcher(m: ServedModel, kind: str) -> Batcher:
        """The model's batcher for ``kind`` ("encode" or "logpx"): drawings that wait are computed together."""
        key = (m.name, kind)
        if key not in batchers:
            many = _inference().encode_drawings if kind == "encode" else _inference().log_px_drawings
            lanes = policy.lanes[kind]

            def overtaken(item: tuple[EncodeRequest, np.ndarray]) -> dict[str, Any] | None:
                return policy.stale(item[0])

            def compute(items: list[tuple[EncodeRequest, np.ndarray]]) -> list[Any]:
                # the batcher has answered the overtaken ones (newest wins): every item here is computed
                drawings = [_inference().Drawing(c, r.k, r.seed, r.label, r.estimator) for r, c in items]
                return [json_response(a) if isinstance(a, dict) else a for a in many(m, drawings)]  # JSON here

            batchers[key] = Batcher(compute, lanes=lanes, max_batch=MAX_BATCH[kind], name=f"{m.name}-{kind}",
                                    cost=lambda item: item[0].k, max_cost=MAX_QUEUED_SAMPLES.get(kind),
                                    overtaken=overtaken, nice=BULK_NICE if kind == "logpx" else 0)
        return batchers[key]

    async def batched_route(name: str, req: EncodeRequest, kind: str) -> Any:
        """A drawing computed with the others that wait (see :mod:`explorer.app.batching`): newest request
        wins, a blank canvas is a message, a bad value a 422."""
        m = model(name, built=False)
        if not m.ready:
            m = await run_in_threadpool(model, name)  # builds the torch model (or waits for it)
        canvas = req.canvas()
        if stale := policy.stale(req):
            return stale  # the newest request wins; this one costs nothing
        try:
            return await batcher(m, kind).submit((req, canvas))
        except Busy:
            return await policy.busy()
        except BlankDrawingError as exc:
            return JSONResponse({"blank": True, "message": str(exc)})
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None

    @router.get("/models", response_model=A.Models, **admitted("free"))
    def models() -> dict[str, Any]:
        out = []
        for n in registry.names():
            try:
                out.append(registry.get(n).summary())  # from the files alone: no torch needed
            except ValueError as exc:
                out.append({"name": n, "error": str(exc)})
        return {"default": registry.default, "models": out}

    @router.post("/models/{name}/warm", response_model=A.Warm, **admitted("free"))
    def warm(name: str) -> dict[str, Any]:
        """A page has drawn this model's map and will send drawings next: build its torch model now
        (in the background when ``on_warm`` is given) and answer once it is ready (503 if it cannot be)."""
        m = model(name, built=False)
        if on_warm is not None and not m.ready:
            on_warm(m.name)
        model(name)  # waits for the build (or builds it here)
        return {"name": m.name, "ready": True}

    @router.post("/models/{name}/encode", response_model=A.Encoded | A.Blank | A.Stale, **admitted("encode"))
    async def encode(name: str, req: EncodeRequest) -> Any:
        return await batched_route(name, req, "encode")

    @router.post("/models/{name}/logpx", response_model=A.LogPx | A.Blank | A.Stale, **admitted("logpx"))
    async def logpx(name: str, req: LogPxRequest) -> Any:
        return await batched_route(name, req, "logpx")

    @router.post("/models/{name}/step", response_model=A.Stepped | A.Blank | A.Stale, **admitted("heavy"))
    def step(name: str, req: StepRequest) -> Any:
        """Step 6: Adam steps of Pyro's SVI on a copy of the model, for this drawing (the model served
        to everyone is never changed)."""
        from explorer.views.backprop import adam_steps

        return drawing_route(name, req, lambda m, c, r: adam_steps(
            m, c, steps=r.steps, lr=r.lr, seed=r.seed, estimator=r.estimator,
            label=r.label if not m.config.labels or r.label is not None else 0))

    @router.post("/models/{name}/check", response_model=A.Checked | A.Blank | A.Stale, **admitted("heavy"))
    def check(name: str, req: CheckRequest) -> Any:
        """"Check with Pyro": Pyro's Trace_ELBO (or TraceMeanField_ELBO) on this drawing at the page's z."""
        from explorer.views.pyro_check import pyro_check

        if any(len(row) > 512 for row in req.z):
            raise HTTPException(422, "z: each row holds at most 512 numbers")
        return drawing_route(name, req, lambda m, c, r: pyro_check(m, c, r.z, r.estimator, r.label))

    @router.post("/models/{name}/interpolate", response_model=A.Interpolated, **admitted("light"))
    def interpolate(name: str, req: InterpolateRequest) -> dict[str, Any]:
        return computed(_tools().interpolate, model(name), req.a, req.b, req.n, req.label)

    @router.post("/models/{name}/traverse", response_model=A.Traversed, **admitted("light"))
    def traverse(name: str, req: TraverseRequest) -> dict[str, Any]:
        return computed(_tools().traverse, model(name), req.z, req.steps, req.span, req.rows, req.kl, req.label)

    @router.get("/models/{name}/map.csv", **admitted("file"))
    def map_csv(name: str, request: Request) -> Response:
        """The map as CSV: a file made once per model and sent as the site's files are (compressed once,
        revalidated by its ETag), under admission's file limits."""
        from explorer.app.page import file_response
        from explorer.app.site import SiteFile

        m = model(name, built=False)
        f = m.cached("map.csv", lambda: SiteFile(_tools().map_csv(m).encode(), "text/csv; charset=utf-8", False))
        return file_response(f, request, f"{m.name}/map.csv",
                             extra={"Content-Disposition": f'attachment; filename="{m.name}-map.csv"'})

    @router.post("/bye", response_model=A.Ok, **admitted("free"))
    def bye(req: Bye) -> dict[str, bool]:
        """A tab closing: forget its state now rather than when it expires."""
        policy.latest.forget(req.session)
        return {"ok": True}

    @router.get("/health", response_model=A.Health, **admitted("free"))
    async def health() -> dict[str, Any]:  # on the event loop: it answers even when every worker thread is busy
        torch = sys.modules.get("torch")  # the CPU kernels torch chose, once it is loaded
        kernels = torch.backends.cpu.get_cpu_capability() if torch is not None else None
        return {"ok": True, "sessions": policy.latest.live(), "models_loaded": registry.loaded(),
                "devices": registry.devices(), "cpu_kernels": kernels, "rss_mb": round(rss_mb(), 1),
                "admission": policy.counts()}

    @router.get("/models/{name}/prior", response_model=A.PriorSamples, **admitted("light"))
    def prior(name: str, n: int = Query(default=PRIOR_N, ge=1, le=MAX_SAMPLES),
              seed: int = Query(default=0, ge=0, le=2**31 - 1),
              label: int | None = Query(default=None, ge=0, le=9)) -> dict[str, Any]:
        return computed(_decoding().prior_samples, model(name), n, seed, label)

    @router.get("/models/{name}/decode", response_model=A.Decoded, **admitted("light"))
    def decode(name: str, x: float, y: float, label: int | None = Query(default=None, ge=0, le=9)) -> dict[str, Any]:
        return computed(_decoding().decode_point, model(name), x, y, label)

    @router.get("/models/{name}/digit/{index}", response_model=A.Digit, **admitted("lookup"))
    async def digit(name: str, index: int) -> dict[str, Any]:
        """A hover: a lookup, answered on the event loop (no thread, no compute slot) once the model's
        reconstructions are made."""
        m = model(name, built=False)
        if not m.ready or not m.has("reconstructions"):
            return await run_in_threadpool(computed, _decoding().digit_info, model(name), index)
        return computed(_decoding().digit_info, m, index)

    @router.get("/batches", response_model=dict[str, A.BatchStats], **admitted("free"))
    async def batches() -> dict[str, Any]:
        """How the drawings were batched, per model and kind (for the load tool and the tests)."""
        return {f"{name}/{kind}": b.stats() for (name, kind), b in batchers.items()}

    return router
