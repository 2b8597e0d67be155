"""The page: a Gradio Blocks shell around our own markup, its ``<head>``, the site's files, the login page.

Gradio gives the page its frame (theme, fonts, layout), the login hook and the launch/share path. The
explorer itself is native ES modules (``static/js/``) that talk to the ``/api`` routes directly: Gradio's
event path costs 200-800 ms per event here, and a drag needs an image within a frame (16 ms). So the
Blocks hold one ``gr.HTML`` and no events.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import html
import threading
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import HTTPException, Request
from fastapi.responses import FileResponse, Response

from explorer.app import site
from explorer.app.bundle import file_of, kinds_of
from explorer.app.gradio_import import import_gradio
from explorer.app.site import ROOT_HTML, SiteFile
from explorer.store.registry import ModelRegistry

STATIC = Path(__file__).resolve().parent / "static"
LOGIN_CSS = STATIC / "login.css"


def accepted_encoding(accept: str) -> str | None:
    """"br" or "gzip" if the request's ``Accept-Encoding`` takes it (brotli first), else None."""
    offered = {}
    for part in accept.lower().split(","):
        name, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        offered[name.strip()] = q
    for enc in ("br", "gzip"):
        if offered.get(enc, offered.get("*", 0.0)) > 0:
            return enc
    return None


class Site:
    """The server's side of :mod:`explorer.app.site`: each file found by its path when asked for (a model's
    files are built on first use), compressed as the browser accepts, cached by the browser for good when
    its name carries its hash."""

    def __init__(self, registry: ModelRegistry) -> None:
        self.registry = registry
        self._lock = threading.Lock()
        self._fixed: dict[str, SiteFile] | None = None

    def fixed(self) -> dict[str, SiteFile]:
        """models.json, sw.js and manifest.webmanifest (made once: the models do not change while serving)."""
        with self._lock:
            if self._fixed is None:
                self._fixed = site.fixed_files(site.manifest(self.registry, server=True))
            return self._fixed

    def find(self, path: str) -> tuple[SiteFile, Any] | None:
        """The file at ``path`` and, for a model file, its :class:`~explorer.app.bundle.ModelFile`."""
        if path in ("vx/models.json", "sw.js", "manifest.webmanifest"):
            return self.fixed()[path], None
        if path.startswith(site.app_prefix()):
            data = site.app_files()[1].get(path.removeprefix(site.app_prefix()))
            return (SiteFile(data, site.MEDIA[Path(path).suffix], True), None) if data is not None else None
        if path.startswith("vx/data/"):
            name = path.removeprefix("vx/data/")
            parts = name.rsplit(".", 3)  # NAME.KIND.HASH.bin (a model's name may hold dots)
            if len(parts) != 4:
                return None
            model, kind = parts[0], parts[1]
            if model not in self.registry.names():
                return None
            try:
                mm = self.registry.get(model)
                if kind not in kinds_of(mm):
                    return None
                f = file_of(mm, kind)
            except ValueError:
                return None
            return (SiteFile(f.data, site.MEDIA[".bin"], True), f) if f.name == name else None
        return None

    def response(self, path: str, request: Request) -> Response:
        found = self.find(path)
        if found is None:
            raise HTTPException(404, "not found")
        f, model_file = found
        return file_response(f, request, path, model_file,
                             {"Service-Worker-Allowed": "/"} if path == "sw.js" else None)


def file_response(f: SiteFile, request: Request, key: str, model_file: Any = None,
                  extra: dict[str, str] | None = None) -> Response:
    """A file as the site sends it: cached for good when its name carries its hash, else revalidated by its
    ETag (304); compressed once (per ``key`` and content) for a browser that accepts it."""
    cache = "public, max-age=31536000, immutable" if f.immutable else "no-cache"
    headers = {"Cache-Control": cache, "ETag": f.etag, "Vary": "Accept-Encoding", **(extra or {})}
    if request.headers.get("if-none-match") == f.etag:
        return Response(status_code=304, headers=headers)
    data, enc = f.data, accepted_encoding(request.headers.get("accept-encoding", ""))
    if enc and len(data) > 1024 and f.media != "image/png":
        data = model_file.encoded(enc) if model_file else _compressed(key, f.data, enc)
        headers["Content-Encoding"] = enc
    return Response(data, media_type=f.media, headers=headers)


@functools.lru_cache(maxsize=256)
def _compressed(path: str, data: bytes, encoding: str) -> bytes:
    """A file compressed (brotli, at its best for a small file, or gzip), once per path and content."""
    if encoding == "br":
        import brotli

        return brotli.compress(data, quality=11 if len(data) < 512 * 1024 else 9)
    return gzip.compress(data, 9, mtime=0)


def preload_links(registry: ModelRegistry) -> list[str]:
    """``Link`` header values for the page: its modules, the model list and the default model's map file,
    fetched while Gradio's own scripts still load (the map is drawn as soon as Gradio shows the page)."""
    app = "/" + site.app_prefix()
    mods = [f"<{app}{n}>; rel=modulepreload" for n in site.app_files()[1]
            if n.startswith("js/") and n != "js/worker.js"]
    fetches = ["/vx/models.json"]
    with contextlib.suppress(ValueError):  # a default model that cannot be read: the page says so
        fetches.append(f"/vx/data/{quote(file_of(registry.get(registry.default), 'map').name)}")
    return [*mods, *(f"<{u}>; rel=preload; as=fetch; crossorigin=anonymous" for u in fetches)]


def page_head() -> str:
    return site.head_tags("/")


def serve_login_css() -> FileResponse:
    return FileResponse(LOGIN_CSS, media_type="text/css; charset=utf-8",
                        headers={"Cache-Control": "public, max-age=86400"})


def build_app():
    """The Gradio Blocks: the page's frame and one ``gr.HTML`` that ``static/js/main.js`` mounts into.

    Nothing is loaded here: the models reach the page through the ``/api`` routes."""
    gr = import_gradio()
    with gr.Blocks(title="VAE latent-space explorer", fill_width=True) as demo:
        gr.HTML(value="", html_template=ROOT_HTML, elem_id="vx-explorer", apply_default_css=False)
    return demo


LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><link rel="stylesheet" href="/vx/login.css"></head>
<body><main class="card"><h1>VAE latent-space explorer</h1>{body}</main></body></html>
"""


def login_page(message: str = "") -> str:
    note = f'<p class="msg" role="alert">{html.escape(message)}</p>' if message else ""
    return LOGIN_PAGE.format(title="Log in · VAE explorer", body=note + """
<form method="post" action="/login">
  <label>User <input name="username" autocomplete="username" required autofocus></label>
  <label>Password <input name="password" type="password" autocomplete="current-password" required></label>
  <button type="submit">Log in</button>
</form>""")


def logout_page() -> str:
    return LOGIN_PAGE.format(title="Log out · VAE explorer", body="""
<p>Log out of this browser? Other students' sessions are not affected.</p>
<form method="post" action="/logout"><button type="submit">Log out</button></form>""")
