"""The ASGI app: our middleware and routes, the login, and Gradio's Blocks mounted at ``/`` as the shell.

The same parts serve both ways the app can run: :func:`create_server` (our uvicorn, the default) and,
for ``--share``, Gradio's own ``Blocks.launch`` (its public path to a share link), which receives our
routes and middleware through its documented ``app_kwargs``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from explorer.app.admission import Admission, Policy, admitted
from explorer.app.auth import COOKIE, Login
from explorer.app.live_routes import Lecturer, make_live_router
from explorer.app.middleware import BodyLimit, LoginGate, SameOrigin, SecurityHeaders, Unrouted
from explorer.app.page import Site, build_app, login_page, logout_page, page_head, preload_links, serve_login_css
from explorer.app.routes import make_router
from explorer.app.schemas import MAX_REQUEST_BYTES
from explorer.store.registry import ModelRegistry
from explorer.views.live import LiveTrainer

GRADIO_OPTIONS: dict[str, Any] = {"ssr_mode": False, "footer_links": []}


async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 naming each bad field and why, without echoing the input (it may be NaN, or huge)."""
    errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "invalid")} for e in exc.errors()[:10]]
    return JSONResponse({"detail": "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors),
                         "errors": errors}, status_code=422)


EXCEPTION_HANDLERS = {RequestValidationError: invalid_request}


def server_parts(registry: ModelRegistry, login: Login | None, on_warm: Callable[[str], None] | None = None,
                 latest: Any = None, cores: int | None = None,
                 lecturer: tuple[str, str] | None = None) -> tuple[list[BaseRoute], list[Middleware]]:
    """Our routes and middleware (outermost first), for whichever server hosts the page (with
    :data:`EXCEPTION_HANDLERS`). ``lecturer``: the credentials that may start a live run (``--lecturer``)."""
    async def require_login(request: Request) -> None:
        if login is not None and login.user(request) is None:
            raise HTTPException(401, "log in first")

    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)  # only to collect the routes
    policy = Policy(cores=cores, latest=latest)
    routers = [make_router(registry, require_login, policy, on_warm),
               make_live_router(LiveTrainer(device=registry.device), Lecturer(lecturer, class_login=login is not None),
                                require_login)]
    for router in routers:
        app.include_router(router)
    site = Site(registry)
    app.add_api_route("/vx/login.css", serve_login_css, methods=["GET"], include_in_schema=False, **admitted("file"))
    for path in ("/vx/{path:path}", "/sw.js", "/manifest.webmanifest"):
        app.add_api_route(path, _site_route(site), methods=["GET"], include_in_schema=False, **admitted("file"))
    if login is not None:
        _add_login_routes(app, login, policy)
    # each route's admission kind, as it declared it (an APIRouter's routes carry their full paths)
    policy.declare([*routers[0].routes, *routers[1].routes, *app.router.routes])
    # Behind a login the page's address answers with the login form: nothing to preload then.
    preload = None if login is not None else preload_links(registry)
    middleware = [  # outermost first: nothing is counted or read before the origin check and the login gate
        Middleware(SecurityHeaders, preload=preload),
        Middleware(SameOrigin),
        Middleware(BodyLimit, limit=MAX_REQUEST_BYTES),
        Middleware(Unrouted),
        Middleware(LoginGate, login=login),
        Middleware(Admission, policy=policy),
        # Our own (empty) CORS policy: no other origin may read any route; Gradio then adds none of its own.
        Middleware(CORSMiddleware, allow_origins=[]),
    ]
    return list(app.router.routes), middleware


def _site_route(site: Site) -> Callable:
    def serve(request: Request) -> Response:
        return site.response(request.url.path.lstrip("/"), request)

    return serve


def _add_login_routes(app: FastAPI, login: Login, policy: Policy) -> None:
    @app.get("/login", include_in_schema=False, **admitted("file"))
    def login_form() -> HTMLResponse:
        return HTMLResponse(login_page())

    @app.post("/login", include_in_schema=False, **admitted("free"))
    async def login_submit(request: Request) -> Response:
        client = request.client.host if request.client else "?"
        wait = login.retry_after(client)
        if wait:
            await policy.refuse(429)  # counted and held as admission's refusals are: a script slows down
            return HTMLResponse(login_page(f"Too many wrong passwords: try again in {wait} s."), 429,
                                headers={"Retry-After": str(wait)})
        form = await request.form(max_files=0, max_fields=4, max_part_size=4096)
        user, password = form.get("username"), form.get("password")
        if isinstance(user, str) and isinstance(password, str) and login.verify(user, password):
            r = RedirectResponse("/", status_code=303)
            r.set_cookie(COOKIE, login.new_session(), max_age=int(login.ttl), httponly=True, samesite="strict",
                         secure=request.url.scheme == "https", path="/")
            return r
        login.failed(client)
        return HTMLResponse(login_page("Wrong user or password."), 401)

    @app.get("/logout", include_in_schema=False, **admitted("file"))
    def logout_form() -> HTMLResponse:
        return HTMLResponse(logout_page())  # a link can't log anyone out: the form POSTs, same origin only

    @app.post("/logout", include_in_schema=False, **admitted("free"))
    def logout(request: Request) -> Response:
        login.end(request.cookies.get(COOKIE))  # this browser's session only
        r = RedirectResponse("/login", status_code=303)
        r.delete_cookie(COOKIE, path="/")
        return r


def create_server(registry: ModelRegistry, auth: tuple[str, str] | None = None,
                  on_warm: Callable[[str], None] | None = None,
                  cores: int | None = None, lecturer: tuple[str, str] | None = None) -> FastAPI:
    """The app our uvicorn serves: our routes and static files first, Gradio mounted at ``/``.

    ``on_warm(name)`` is called when a page has drawn the map of a model whose torch model is not built
    yet (``startup.serve`` builds it then, in the background); ``cores``: the cores this process may
    compute on (all of them unless several processes share the machine)."""
    from explorer.app.gradio_import import import_gradio

    gr = import_gradio()
    login = Login(*auth) if auth else None
    routes, middleware = server_parts(registry, login, on_warm, cores=cores, lecturer=lecturer)
    app = FastAPI(title="VAE latent-space explorer", docs_url=None, redoc_url=None, openapi_url=None,
                  routes=routes, middleware=middleware, exception_handlers=EXCEPTION_HANDLERS)
    return gr.mount_gradio_app(app, build_app(), path="/", auth_dependency=login.user if login else None,
                               head=page_head(), **GRADIO_OPTIONS)
