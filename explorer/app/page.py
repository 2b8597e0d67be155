"""The page: a Gradio Blocks shell around our own markup, its ``<head>``, its static files, the login page.

Gradio gives the page its frame (theme, fonts, layout), the login hook and the launch/share path. The
explorer itself is native ES modules (``static/js/``) that talk to the ``/api`` routes directly: Gradio's
event path costs 200-800 ms per event here, and a drag needs an image within a frame (16 ms). So the
Blocks hold one ``gr.HTML`` and no events.
"""

from __future__ import annotations

import functools
import html
from pathlib import Path
from urllib.parse import quote

from fastapi import HTTPException
from fastapi.responses import FileResponse

from explorer.app.gradio_import import import_gradio

STATIC = Path(__file__).resolve().parent / "static"
# plotly.js's official partial bundle that has scattergl (see the README beside it)
PLOTLY_JS = STATIC / "vendor" / "plotly-gl2d-3.7.0.min.js"
ROOT_HTML = '<div class="vx-root" data-vx="root"><div class="vx-loading">Loading the explorer…</div></div>'


@functools.cache
def static_files() -> dict[str, Path]:
    """URL path under ``/vx/`` -> file: the only files the app serves of its own (no traversal: a name
    not in this table is a 404). Listed once: the files ship with the package."""
    files = {"explorer.css": STATIC / "explorer.css", "login.css": STATIC / "login.css", "plotly.min.js": PLOTLY_JS}
    for p in sorted((STATIC / "js").rglob("*.js")):
        files[p.relative_to(STATIC).as_posix()] = p
    return files


def module_urls(default_model: str) -> list[str]:
    """The page's ES modules: ``main.js`` (naming the default model, which it fetches at once), then
    the modules it imports, as the browser resolves their URLs."""
    names = [k for k in static_files() if k.startswith("js/") and k != "js/main.js"]
    return [f"/vx/js/main.js?model={quote(default_model)}", *(f"/vx/{n}" for n in names)]


def preload_links(version: str, default_model: str) -> list[str]:
    """``Link`` header values: the browser fetches the page's scripts while Gradio's own still load."""
    return [f"<{u}>; rel=modulepreload" for u in module_urls(default_model)] + [
        f"</vx/plotly.min.js?v={version}>; rel=preload; as=script"]


def page_head(version: str, default_model: str) -> str:
    main = html.escape(module_urls(default_model)[0])
    return (f'<link rel="stylesheet" href="/vx/explorer.css?v={version}">'
            f'<script type="module" src="{main}"></script>'
            f'<script src="/vx/plotly.min.js?v={version}"></script>')


def serve_static(path: str) -> FileResponse:
    files = static_files()
    if path not in files:
        raise HTTPException(404, "not found")
    # Modules are imported by unversioned URLs: the browser revalidates them (a 304 when unchanged).
    cache = "no-cache" if path.startswith("js/") else "public, max-age=86400"
    media = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}[files[path].suffix]
    return FileResponse(files[path], media_type=media, headers={"Cache-Control": cache})


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
