"""ASGI middleware. :func:`explorer.app.server.server_parts` stacks them, outermost first: the security
headers (and the ``Link`` header that preloads the page's scripts), the origin check, the body limit, the
404 of paths no route serves, the login gate, then admission (:mod:`explorer.app.admission`). Each looks
only at the request line and headers: none reads a body."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection

from explorer.app.auth import Login

ASGIApp = Callable[[dict, Callable, Callable], Awaitable[None]]


async def respond(send: Callable, status: int, detail: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """Every request's body is limited to ``limit`` bytes, declared or streamed (chunked): 413, and the
    route never sees more than the limit (it is told the client went away)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            return await respond(send, 413, f"request body over {self.limit} bytes")
        seen, started, refused = 0, False, False

        async def limited_receive() -> dict:
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    refused = True
                    if not started:
                        await respond(send, 413, f"request body over {self.limit} bytes")
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: dict) -> None:
            nonlocal started
            if refused:
                return  # the 413 was the answer
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, limited_receive, guarded_send)


class Unrouted:
    """Routes the page never uses answer 404 before any body is read: Gradio's file upload (a student could
    fill the server's temp folder) and API docs."""

    BLOCKED = ("/gradio_api/upload", "/gradio_api/upload_progress", "/upload", "/gradio_api/docs", "/docs",
               "/openapi.json", "/gradio_api/openapi.json", "/redoc")

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "http" and scope["path"].rstrip("/").startswith(self.BLOCKED):
            return await respond(send, 404, "not found")
        await self.app(scope, receive, send)


class LoginGate:
    """Behind ``--auth``, only the login page answers until the browser has a session: the page's address
    redirects to ``/login``, everything else is a 401. Runs before any body is read."""

    PUBLIC = frozenset({"/login", "/vx/login.css", "/favicon.ico"})

    def __init__(self, app: ASGIApp, login: Login | None) -> None:
        self.app, self.login = app, login

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if self.login is None or scope["type"] not in ("http", "websocket") or scope["path"] in self.PUBLIC:
            return await self.app(scope, receive, send)
        if self.login.user(HTTPConnection(scope)) is not None:
            return await self.app(scope, receive, send)
        if scope["type"] == "websocket":
            return await send({"type": "websocket.close", "code": 1008})
        if scope["method"] == "GET" and scope["path"] == "/":
            return await send_redirect(send, "/login")
        return await respond(send, 401, "log in first")


async def send_redirect(send: Callable, location: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    await send({"type": "http.response.start", "status": 303,
                "headers": [(b"location", location.encode()), (b"content-length", b"0"), *(headers or [])]})
    await send({"type": "http.response.body", "body": b""})


class SameOrigin:
    """Requests that change state (anything but GET/HEAD/OPTIONS) from a page of another origin: 403.

    A browser names the page's origin in ``Origin``; it must be the address the request was sent to."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "http" and scope["method"] not in ("GET", "HEAD", "OPTIONS"):
            headers = dict(scope.get("headers") or [])
            origin = headers.get(b"origin", b"").decode("latin-1")
            host = headers.get(b"host", b"").decode("latin-1")
            if origin and (origin == "null" or urlsplit(origin).netloc != host):
                return await respond(send, 403, "cross-origin request refused")
        await self.app(scope, receive, send)


WORKER = [str(os.getpid())]  # the process that answers, named in every response (x-vx-worker)
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"SAMEORIGIN"),
]
# Scripts only from this server, plus the page's own inline scripts by their hashes (Gradio writes its
# config inline). No inline event handlers or injected <script>: markup that slipped into the page could
# not run. 'unsafe-eval' because Gradio's gr.HTML compiles its template with Function(); styles may be
# inline (Gradio sets them on its elements); nothing may frame the page.
CSP = ("default-src 'self'; script-src 'self' 'unsafe-eval'{hashes}; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
       "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'self'")
_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.S | re.I)
MAX_HTML = 4 * 1024 * 1024  # an HTML page larger than this is passed on with a CSP that allows no inline script


def csp_for(html: bytes) -> bytes:
    """The Content-Security-Policy of an HTML page: its inline scripts allowed by their SHA-256, no others."""
    hashes = "".join(f" 'sha256-{base64.b64encode(hashlib.sha256(m.group(1)).digest()).decode()}'"
                     for m in _INLINE_SCRIPT.finditer(html))
    return CSP.format(hashes=hashes).encode()


class SecurityHeaders:
    """Adds :data:`SECURITY_HEADERS` to every response, a CSP to every HTML page (and a ``Link`` preload
    header to the page's)."""

    def __init__(self, app: ASGIApp, preload: list[str] | None = None, page_path: str = "/") -> None:
        self.app, self.page_path = app, page_path
        self.link = (b"link", ", ".join(preload).encode()) if preload else None

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        is_page = scope["path"] == self.page_path and scope["method"] == "GET"
        held: dict[str, Any] = {}

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                extra = [*SECURITY_HEADERS, (b"x-vx-worker", WORKER[0].encode())]
                if is_page and self.link and message.get("status") == 200:
                    extra.append(self.link)
                headers = [*message.get("headers", []), *extra]
                ctype = dict(headers).get(b"content-type", b"")
                if ctype.startswith(b"text/html"):
                    held["start"], held["body"] = {**message, "headers": headers}, []
                    return
                headers.append((b"content-security-policy", CSP.format(hashes="").encode()))
                return await send({**message, "headers": headers})
            if "start" in held and message["type"] == "http.response.body":
                held["body"].append(message.get("body", b""))
                if message.get("more_body") and sum(map(len, held["body"])) < MAX_HTML:
                    return
                html = b"".join(held["body"])
                policy = csp_for(html) if not message.get("more_body") else CSP.format(hashes="").encode()
                start = held.pop("start")
                await send({**start, "headers": [*start["headers"], (b"content-security-policy", policy)]})
                return await send({**message, "body": html})
            await send(message)

        await self.app(scope, receive, send_with_headers)
