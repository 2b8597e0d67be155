"""The page as a tree of files, every one named by its content: what the server serves and what
``python -m explorer export`` writes, from one description.

::

    index.html                 the page (the static export's; the server's page is Gradio's shell)
    sw.js                      the service worker: the page keeps working without the network
    manifest.webmanifest       the page as an installable app
    vx/models.json             the models, their summaries and their files; "server": whether /api is there
    vx/app/<hash>/...          the page's modules, its CSS and icons (<hash>: of all of them)
    vx/data/<name>.<kind>.<hash>.bin   each model's files (explorer.app.bundle)

Files whose names carry a hash never change (``Cache-Control: immutable``); the three that do not are
revalidated (``no-cache`` with an ETag). Every path is relative, so the export works from any folder of
any static host.
"""

from __future__ import annotations

import functools
import hashlib
import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from explorer.app.bundle import file_of, kinds_of
from explorer.store.registry import ModelRegistry

STATIC = Path(__file__).resolve().parent / "static"
APP_SUFFIXES = {".js", ".css", ".png"}
TITLE = "VAE latent-space explorer"
THEME = "#0b3d91"
ROOT_HTML = '<div class="vx-root" data-vx="root"><div class="vx-loading">Loading the explorer…</div></div>'


@functools.cache
def app_files() -> tuple[str, dict[str, bytes]]:
    """The page's own files (``static/js/**``, the CSS, the icons) and the hash of all of them."""
    files = {p.relative_to(STATIC).as_posix(): p.read_bytes() for p in sorted(STATIC.rglob("*"))
             if p.is_file() and p.suffix in APP_SUFFIXES and p.name != "login.css"}
    h = hashlib.sha256()
    for name, data in files.items():
        h.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    return h.hexdigest()[:12], files


def app_prefix() -> str:
    return f"vx/app/{app_files()[0]}/"


def manifest(registry: ModelRegistry, server: bool, names: list[str] | None = None) -> dict[str, Any]:
    """``vx/models.json``: each model's summary and its files (paths relative to ``vx/``), or its error."""
    out = []
    for n in names or registry.names():
        try:
            m = registry.get(n)
            files = {kind: file_of(m, kind) for kind in kinds_of(m) if kind != "timeline"}
        except ValueError as exc:  # a broken file: listed unavailable, the others are served
            out.append({"name": n, "error": str(exc)})
            continue
        extra: dict[str, Any] = {}
        if "timeline" in kinds_of(m):
            try:
                files["timeline"] = file_of(m, "timeline")
            except ValueError as exc:  # the model is served; its timeline is said to be unavailable
                extra["timeline_error"] = str(exc)
        out.append({**m.summary(), **extra, "files": {k: f"data/{quote(f.name)}" for k, f in files.items()},
                    "bytes": {k: len(f.data) for k, f in files.items()}})
    default = registry.default if registry.default in [m["name"] for m in out] else (out[0]["name"] if out else None)
    return {"format": "explorer-site/1", "app": app_files()[0], "server": server, "default": default, "models": out}


def head_tags(prefix: str) -> str:
    """The page's ``<head>`` additions, with URLs under ``prefix`` (the site's root, ending in ``/``)."""
    app = prefix + app_prefix()
    return (f'<link rel="manifest" href="{prefix}manifest.webmanifest" crossorigin="use-credentials">'
            f'<meta name="theme-color" content="{THEME}">'
            f'<link rel="icon" href="{app}icons/icon-192.png">'
            f'<link rel="stylesheet" href="{app}explorer.css">'
            f'<script type="module" src="{app}js/main.js"></script>')


def index_html() -> str:
    """The static export's page: the same modules as the server's, without Gradio's frame."""
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>{html.escape(TITLE)}</title>{head_tags("./")}</head>\n'
            f'<body class="vx-standalone">{ROOT_HTML}</body></html>\n')


def webmanifest() -> str:
    icons = [{"src": f"{app_prefix()}icons/icon-{s}.png", "sizes": f"{s}x{s}", "type": "image/png", "purpose": "any"}
             for s in (192, 512)]
    return json.dumps({"name": TITLE, "short_name": "VAE explorer", "start_url": "./", "scope": "./",
                       "display": "standalone", "background_color": "#ffffff", "theme_color": THEME,
                       "description": "Draw a digit and watch a VAE's forward pass, live, in your browser.",
                       "icons": icons}, indent=1)


def service_worker(models: dict[str, Any], precache_models: list[str]) -> str:
    """``sw.js``: the page's files and the named models' files cached at install, the rest as used."""
    files = [f"{app_prefix()}{name}" for name in app_files()[1]]
    for m in models["models"]:
        if m["name"] in precache_models and "files" in m:
            files += [f"vx/{path}" for kind, path in m["files"].items() if kind not in ("thumbs", "timeline")]
    version = hashlib.sha256(json.dumps([files, models["app"]]).encode()).hexdigest()[:12]
    template = (Path(__file__).resolve().parent / "service_worker.js").read_text()
    return (template.replace("__VERSION__", json.dumps(version))
            .replace("__PRECACHE__", json.dumps(["./", "vx/models.json", "manifest.webmanifest", *files])))


@dataclass(frozen=True)
class SiteFile:
    """One file of the site: its bytes, its media type, and whether its name carries its hash."""

    data: bytes
    media: str
    immutable: bool

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.data).hexdigest()[:20] + '"'


MEDIA = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".png": "image/png",
         ".json": "application/json", ".webmanifest": "application/manifest+json", ".html": "text/html; charset=utf-8",
         ".bin": "application/octet-stream"}


def fixed_files(models: dict[str, Any]) -> dict[str, SiteFile]:
    """The site's files whose names do not change: the model list, the service worker, the app manifest."""
    return {
        "vx/models.json": SiteFile(json.dumps(models).encode(), MEDIA[".json"], False),
        "sw.js": SiteFile(service_worker(models, [models["default"]]).encode(), MEDIA[".js"], False),
        "manifest.webmanifest": SiteFile(webmanifest().encode(), MEDIA[".webmanifest"], False),
    }


def site_tree(registry: ModelRegistry, server: bool, names: list[str] | None = None) -> dict[str, SiteFile]:
    """Every file of the site, by its path (the model files' bytes come from :mod:`explorer.app.bundle`)."""
    models = manifest(registry, server, names)
    tree: dict[str, SiteFile] = fixed_files(models)
    for name, data in app_files()[1].items():
        tree[app_prefix() + name] = SiteFile(data, MEDIA[Path(name).suffix], True)
    for m in models["models"]:
        for kind, path in m.get("files", {}).items():
            tree[f"vx/{unquote(path)}"] = SiteFile(file_of(registry.get(m["name"]), kind).data, MEDIA[".bin"], True)
    tree["index.html"] = SiteFile(index_html().encode(), MEDIA[".html"], False)
    return tree
