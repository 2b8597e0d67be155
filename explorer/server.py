"""The web app: Gradio Blocks for the page, plus JSON/binary routes for the hot paths.

Gradio's event path costs 200-800 ms per event here, too slow for a drag. So the page decodes drags
itself from the decoder's weights (``/api/models/{name}/bundle``) and sends strokes to
``/api/models/{name}/encode``, a plain FastAPI route on the same server. Python stays the reference:
``/api/models/{name}/decode`` gives the image the page must show for a map position.

All per-user state (the drawing, the handle, the samples) lives in each browser tab; the server
keeps only read-only models, so users never see each other's work.
"""

from __future__ import annotations

import base64
import binascii
import html
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from explorer.gradio_import import import_gradio
from explorer.preprocess import BlankDrawingError
from explorer.registry import MAX_SAMPLES, Loaded, ModelRegistry
from explorer.sessions import LatestRequests

gr = import_gradio()
log = logging.getLogger(__name__)


# The model computations import torch; the routes import them on first use, so that the page can be
# served before torch is imported.
def _service():
    from explorer import service

    return service


def _tools():
    from explorer import tools

    return tools

STATIC = Path(__file__).resolve().parent / "static"
MAX_CANVAS = 1024  # largest drawing side accepted, pixels
MAX_BODY = 2 * MAX_CANVAS * MAX_CANVAS  # characters of base64: the largest canvas fits
MAX_REQUEST_BYTES = MAX_BODY + 64 * 1024  # any larger body to our routes is refused with 413


class BodyLimit:
    """ASGI middleware: our ``/api`` routes refuse bodies over ``limit`` bytes (413), streamed or not."""

    def __init__(self, app, limit: int = MAX_REQUEST_BYTES, prefix: str = "/api/"):
        self.app, self.limit, self.prefix = app, limit, prefix

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            return await _too_large(send, self.limit)
        seen = 0

        async def limited_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _BodyTooLarge:
            await _too_large(send, self.limit)


class _BodyTooLarge(Exception):
    pass


async def _too_large(send, limit: int) -> None:
    body = f'{{"detail": "request body over {limit} bytes"}}'.encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class PreloadLinks:
    """ASGI middleware: the page's HTML response names our scripts in a ``Link: rel=preload`` header,
    so the browser fetches them at once instead of after Gradio's own scripts have run (~0.5 s here)."""

    def __init__(self, app, links: list[str], path: str = "/"):
        self.app, self.path = app, path
        self.header = (b"link", ", ".join(f"<{u}>; rel=preload; as=script" for u in links).encode())

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] != self.path or scope["method"] != "GET":
            return await self.app(scope, receive, send)

        async def send_with_link(message):
            if message["type"] == "http.response.start" and message.get("status") == 200:
                message = {**message, "headers": [*message.get("headers", []), self.header]}
            await send(message)

        await self.app(scope, receive, send_with_link)


class EncodeRequest(BaseModel):
    """A drawing: ``width`` x ``height`` ink values (uint8, row-major), base64-encoded."""

    width: int = Field(ge=8, le=MAX_CANVAS)
    height: int = Field(ge=8, le=MAX_CANVAS)
    pixels: str = Field(max_length=MAX_BODY)
    k: int = Field(default=16, ge=1, le=MAX_SAMPLES)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    session: str = Field(default="", max_length=64, pattern=r"^[A-Za-z0-9_-]*$")  # the tab, for "newest wins"
    seq: int = Field(default=0, ge=0, le=2**53)  # the tab's request counter
    label: int | None = Field(default=None, ge=0, le=9)  # conditional VAE: the observed digit (default: p(y|x)'s best)


class LogPxRequest(EncodeRequest):
    """A drawing, and the number of importance samples for log p(x)."""

    k: int = Field(default=1000, ge=1, le=5000)


def _canvas(req: EncodeRequest) -> np.ndarray:
    try:
        raw = base64.b64decode(req.pixels, validate=True)
    except (binascii.Error, ValueError):
        raise HTTPException(422, "pixels must be base64-encoded bytes") from None
    if len(raw) != req.width * req.height:
        raise HTTPException(422, f"pixels hold {len(raw)} bytes, expected width*height = {req.width * req.height}")
    return np.frombuffer(raw, dtype=np.uint8).reshape(req.height, req.width)


def _rss_mb() -> float:
    """Resident memory of this process, MiB (Linux; 0 elsewhere)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


# plotly.js's official partial bundle that has scattergl (see the README beside it)
PLOTLY_JS = STATIC / "vendor" / "plotly-gl2d-3.7.0.min.js"


class InterpolateRequest(BaseModel):
    a: list[float] = Field(max_length=512)
    b: list[float] = Field(max_length=512)
    n: int = Field(default=10, ge=2, le=32)
    label: int | None = Field(default=None, ge=0, le=9)


class TraverseRequest(BaseModel):
    z: list[float] = Field(max_length=512)
    kl: list[float] | None = Field(default=None, max_length=512)
    steps: int = Field(default=9, ge=3, le=15)
    span: float = Field(default=3.0, ge=0.5, le=5.0)
    rows: int = Field(default=16, ge=1, le=64)
    label: int | None = Field(default=None, ge=0, le=9)


class Bye(BaseModel):
    session: str = Field(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")


def make_router(registry: ModelRegistry, auth_check, latest: LatestRequests,
                on_warm: Callable[[str], None] | None = None) -> APIRouter:
    router = APIRouter(prefix="/api", dependencies=[Depends(auth_check)])
    stale = {"stale": True, "message": "a newer drawing from this tab was already received"}
    # At most one model computation per core at a time: more only fight over the cores (and each
    # thread's allocator arena grows the memory); the others wait their turn in order.
    compute = threading.BoundedSemaphore(max(1, os.cpu_count() or 1))

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
        return Response(model(name, built=False).bundle(), media_type="application/octet-stream",
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

    def drawing_route(name: str, req: EncodeRequest, compute_fn) -> dict[str, Any]:
        """Shared path of the routes that take a drawing: newest request wins, one computation per
        core, a blank canvas is a message, a bad value a 422."""
        m, canvas = model(name), _canvas(req)
        try:
            if req.session and latest.is_stale(req.session, req.seq):
                return stale  # the newest request wins; this one costs nothing
            with compute:
                if req.session and latest.is_stale(req.session, req.seq):
                    return stale  # overtaken while it waited
                return compute_fn(m, canvas, k=req.k, seed=req.seed, label=req.label)
        except BlankDrawingError as exc:
            return JSONResponse({"blank": True, "message": str(exc)}, status_code=200)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None

    @router.post("/models/{name}/encode")
    def encode(name: str, req: EncodeRequest) -> dict[str, Any]:
        return drawing_route(name, req, _service().encode_drawing)

    @router.post("/models/{name}/logpx")
    def logpx(name: str, req: LogPxRequest) -> dict[str, Any]:
        return drawing_route(name, req, _service().log_px_drawing)

    def computed(fn, *args) -> dict[str, Any]:
        """Run a model computation in its turn (one per core); a bad value is a 422, a missing index a 404."""
        try:
            with compute:
                return fn(*args)
        except IndexError as exc:
            raise HTTPException(404, str(exc)) from None
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None

    @router.post("/models/{name}/interpolate")
    def interpolate_route(name: str, req: InterpolateRequest) -> dict[str, Any]:
        return computed(_tools().interpolate, model(name), req.a, req.b, req.n, req.label)

    @router.post("/models/{name}/traverse")
    def traverse_route(name: str, req: TraverseRequest) -> dict[str, Any]:
        return computed(_tools().traverse, model(name), req.z, req.steps, req.span, req.rows, req.kl, req.label)

    @router.get("/models/{name}/map.csv")
    def map_csv_route(name: str) -> Response:
        m = model(name, built=False)
        return Response(_tools().map_csv(m), media_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{m.name}-map.csv"'})

    @router.post("/bye")
    def bye(req: Bye) -> dict[str, bool]:
        """A tab closing: forget its state now rather than when it expires."""
        latest.forget(req.session)
        return {"ok": True}

    @router.get("/health")
    def health() -> dict[str, Any]:
        return {"ok": True, "sessions": latest.live(), "models_loaded": registry.loaded(),
                "rss_mb": round(_rss_mb(), 1)}

    @router.get("/models/{name}/prior")
    def prior(name: str, n: int = 16, seed: int = 0, label: int | None = None) -> dict[str, Any]:
        if not (1 <= n <= MAX_SAMPLES and 0 <= seed < 2**31 and (label is None or 0 <= label <= 9)):
            raise HTTPException(422, f"n must be in 1..{MAX_SAMPLES}, seed in 0..2^31-1, label in 0..9")
        return computed(_service().prior_samples, model(name), n, seed, label)

    @router.get("/models/{name}/decode")
    def decode(name: str, x: float, y: float, label: int | None = Query(default=None, ge=0, le=9)) -> dict[str, Any]:
        return computed(_service().decode_point, model(name), x, y, label)

    @router.get("/models/{name}/digit/{index}")
    def digit(name: str, index: int) -> dict[str, Any]:
        return computed(_service().digit_info, model(name), index)

    return router


def page_scripts(version: str, default_model: str) -> list[str]:
    """The page's scripts in the order they run: explorer.js first, so that it starts fetching the
    default model (named in its URL) while the browser compiles Plotly."""
    return [f"/static/explorer.js?v={version}&model={quote(default_model)}", f"/static/plotly.min.js?v={version}"]


def page_head(version: str, default_model: str) -> str:
    return f'<link rel="stylesheet" href="/static/explorer.css?v={version}">' + "".join(
        f'<script src="{html.escape(src)}"></script>' for src in page_scripts(version, default_model))


MOUNT_JS = """
(function () {
  const start = () => window.VaeExplorer ? window.VaeExplorer.mount(element, props) : setTimeout(start, 15);
  start();
})();
"""

EXPLORER_HTML = '<div class="vx-root" data-vx="root"><div class="vx-loading">Loading the explorer…</div></div>'


def model_card(m: Loaded) -> str:
    s = m.summary()
    elbo = f"{s['test_elbo']:.2f}" if s["test_elbo"] is not None else "n/a"
    where = ("the latent space itself (z is 2-D: no projection)" if s["map"] == "latent"
             else "a UMAP projection of the guide means")
    acc = f" · label accuracy {s['test_accuracy']:.1%}" if s.get("test_accuracy") is not None else ""
    kind = " · conditional on the digit label" if s.get("kind") == "cvae" else ""
    return (
        f"**{s['name']}**{kind} · z = {s['z_dim']} · hidden {s['hidden']} ({s['activation']}) · "
        f"{s['epochs']} epochs · test ELBO **{elbo} nats/image**{acc} · active dims {s['active_dims']}/{s['z_dim']} · "
        f"map: {where}"
    )


def build_app(registry: ModelRegistry) -> gr.Blocks:
    """The page. Models come in through ``registry``; nothing is loaded at import time."""
    with gr.Blocks(title="VAE latent-space explorer", fill_width=True) as demo:
        gr.Markdown(
            "# VAE latent-space explorer\n"
            "Draw a digit: the guide encodes it to q(z|x), samples of z are decoded and placed on the map, "
            "and the ELBO is split into its terms. Drag the ring on the map to decode any place.",
            elem_id="vx-title",
        )
        card = gr.Markdown(model_card(registry.get(registry.default)), elem_id="vx-card")
        explorer = gr.HTML(
            value=registry.default, html_template=EXPLORER_HTML, js_on_load=MOUNT_JS,
            elem_id="vx-explorer", apply_default_css=False,
        )

        def on_model(name: str) -> str:
            try:
                return model_card(registry.get(name))
            except (KeyError, ValueError) as exc:
                return f"Model {name!r} is not available: {exc}"

        explorer.change(on_model, inputs=explorer, outputs=card, show_progress="hidden")
    return demo


def create_server(registry: ModelRegistry, auth: tuple[str, str] | None = None,
                  on_warm: Callable[[str], None] | None = None) -> FastAPI:
    """FastAPI app: our routes and static files first, Gradio mounted at ``/``.

    ``on_warm(name)`` is called when a page has drawn the map of a model whose torch model is not built
    yet (``serve`` builds it then, in the background)."""
    from explorer import __version__

    app = FastAPI(title="VAE latent-space explorer", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(BodyLimit)
    if auth is None:  # behind a login the page is the login form; its scripts come after
        app.add_middleware(PreloadLinks, links=page_scripts(__version__, registry.default))
    gradio_app: dict[str, Any] = {}

    async def auth_check(request: Request) -> None:
        if auth is None:
            return
        gapp = gradio_app.get("app")
        cookie_id = getattr(gapp, "cookie_id", None)
        token = request.cookies.get(f"access-token-{cookie_id}") or request.cookies.get(
            f"access-token-unsecure-{cookie_id}")
        if gapp is None or token not in gapp.tokens:
            raise HTTPException(401, "log in first")

    app.include_router(make_router(registry, auth_check, LatestRequests(), on_warm))

    @app.get("/static/{filename}", dependencies=[Depends(auth_check)])
    def static(filename: str) -> FileResponse:
        files = {"plotly.min.js": PLOTLY_JS, "explorer.js": STATIC / "explorer.js",
                 "explorer.css": STATIC / "explorer.css"}
        if filename not in files:
            raise HTTPException(404, "not found")
        return FileResponse(files[filename], headers={"Cache-Control": "public, max-age=86400"})

    demo = build_app(registry)
    app = gr.mount_gradio_app(app, demo, path="/", auth=auth, head=page_head(__version__, registry.default),
                              ssr_mode=False, footer_links=[])
    gradio_app["app"] = _find_gradio_app(app)
    return app


def _find_gradio_app(app: FastAPI):
    from starlette.routing import Mount

    for route in app.routes:
        if isinstance(route, Mount) and hasattr(route.app, "tokens"):
            return route.app
    return None
