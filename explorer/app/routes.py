"""The ``/api`` routes the page calls: thin callbacks over :mod:`explorer.inference` and :mod:`explorer.tools`.

Gradio's event path costs 200-800 ms per event here, too slow for a drag, so the page decodes drags
itself from the decoder's weights (``/api/models/{name}/bundle``) and sends strokes to
``/api/models/{name}/encode``. Python stays the reference: ``/api/models/{name}/decode`` gives the image
the page must show for a map position.

All per-user state (the drawing, the ring, the samples) lives in each browser tab; the server keeps only
read-only models and each tab's newest request number, so users never see each other's work.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import JSONResponse, Response

from explorer.app.admission import Policy
from explorer.app.bundle import bundle_of
from explorer.app.schemas import (
    Bye,
    EncodeRequest,
    InterpolateRequest,
    LogPxRequest,
    StepRequest,
    TraverseRequest,
)
from explorer.app.sessions import LatestRequests
from explorer.constants import MAX_SAMPLES, PRIOR_N
from explorer.preprocess import BlankDrawingError
from explorer.registry import Loaded, ModelRegistry

STALE = {"stale": True, "message": "a newer drawing from this tab was already received"}


def _inference():
    """The model computations import torch: imported on first use, so the page is served before torch."""
    from explorer import inference

    return inference


def _tools():
    from explorer import tools

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


def make_router(registry: ModelRegistry, require_login: Callable, latest: LatestRequests, policy: Policy,
                on_warm: Callable[[str], None] | None = None) -> APIRouter:
    """The routes. How many computations run at once, and whose, is :mod:`explorer.app.admission`'s
    business: it admits each request before its body is read."""
    router = APIRouter(prefix="/api", dependencies=[Depends(require_login)])

    def model(name: str, built: bool = True) -> Loaded:
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
        """The routes that take a drawing: newest request wins, a blank canvas is a message."""
        m, canvas = model(name), req.canvas()
        if req.session and latest.is_stale(req.session, req.seq):
            return STALE  # the newest request wins; this one costs nothing

        def run() -> dict[str, Any] | JSONResponse:
            if req.session and latest.is_stale(req.session, req.seq):
                return STALE  # overtaken while it waited
            try:
                return compute_fn(m, canvas, req)
            except BlankDrawingError as exc:
                return JSONResponse({"blank": True, "message": str(exc)})

        return computed(run)

    @router.get("/models")
    def models() -> dict[str, Any]:
        out = []
        for n in registry.names():
            try:
                out.append(registry.get(n).summary())  # from the files alone: no torch needed
            except ValueError as exc:
                out.append({"name": n, "error": str(exc)})
        return {"default": registry.default, "models": out}

    @router.get("/models/{name}/bundle")
    def bundle(name: str) -> Response:
        return Response(bundle_of(model(name, built=False)), media_type="application/octet-stream",
                        headers={"Cache-Control": "private, max-age=3600"})

    @router.post("/models/{name}/warm")
    def warm(name: str) -> dict[str, Any]:
        """A page has drawn this model's map and will send drawings next: build its torch model now
        (in the background when ``on_warm`` is given) and answer once it is ready (503 if it cannot be)."""
        m = model(name, built=False)
        if on_warm is not None and not m.ready:
            on_warm(m.name)
        model(name)  # waits for the build (or builds it here)
        return {"name": m.name, "ready": True}

    @router.post("/models/{name}/encode")
    def encode(name: str, req: EncodeRequest) -> Any:
        return drawing_route(name, req, lambda m, c, r: _inference().encode_drawing(
            m, c, k=r.k, seed=r.seed, label=r.label, estimator=r.estimator))

    @router.post("/models/{name}/logpx")
    def logpx(name: str, req: LogPxRequest) -> Any:
        return drawing_route(name, req, lambda m, c, r: _inference().log_px_drawing(m, c, k=r.k, seed=r.seed,
                                                                                    label=r.label))

    @router.post("/models/{name}/step")
    def step(name: str, req: StepRequest) -> Any:
        """Step 6: Adam steps of Pyro's SVI on a copy of the model, for this drawing (the model served
        to everyone is never changed)."""
        from explorer.backprop import adam_steps

        return drawing_route(name, req, lambda m, c, r: adam_steps(
            m, c, steps=r.steps, lr=r.lr, seed=r.seed, estimator=r.estimator,
            label=r.label if not m.config.labels or r.label is not None else 0))

    @router.post("/models/{name}/interpolate")
    def interpolate(name: str, req: InterpolateRequest) -> dict[str, Any]:
        return computed(_tools().interpolate, model(name), req.a, req.b, req.n, req.label)

    @router.post("/models/{name}/traverse")
    def traverse(name: str, req: TraverseRequest) -> dict[str, Any]:
        return computed(_tools().traverse, model(name), req.z, req.steps, req.span, req.rows, req.kl, req.label)

    @router.get("/models/{name}/map.csv")
    def map_csv(name: str) -> Response:
        m = model(name, built=False)
        text = m.cached("map.csv", lambda: _tools().map_csv(m))  # never changes: made once
        return Response(text, media_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{m.name}-map.csv"'})

    @router.post("/bye")
    def bye(req: Bye) -> dict[str, bool]:
        """A tab closing: forget its state now rather than when it expires."""
        latest.forget(req.session)
        return {"ok": True}

    @router.get("/health")
    async def health() -> dict[str, Any]:  # on the event loop: it answers even when every worker thread is busy
        return {"ok": True, "sessions": latest.live(), "models_loaded": registry.loaded(),
                "rss_mb": round(rss_mb(), 1), "admission": policy.counts()}

    @router.get("/models/{name}/prior")
    def prior(name: str, n: int = Query(default=PRIOR_N, ge=1, le=MAX_SAMPLES),
              seed: int = Query(default=0, ge=0, le=2**31 - 1),
              label: int | None = Query(default=None, ge=0, le=9)) -> dict[str, Any]:
        return computed(_inference().prior_samples, model(name), n, seed, label)

    @router.get("/models/{name}/decode")
    def decode(name: str, x: float, y: float, label: int | None = Query(default=None, ge=0, le=9)) -> dict[str, Any]:
        return computed(_inference().decode_point, model(name), x, y, label)

    @router.get("/models/{name}/digit/{index}")
    def digit(name: str, index: int) -> dict[str, Any]:
        return computed(_inference().digit_info, model(name), index)

    return router
