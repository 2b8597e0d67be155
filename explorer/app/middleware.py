"""ASGI middleware, outermost first: body limits, the login gate, origin checks, security headers, and
the ``Link`` header that preloads the page's scripts. Each looks only at the request line and headers:
none reads a body."""

from __future__ import annotations

import json
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


class _BodyTooLarge(Exception):
    pass


class BodyLimit:
    """Every request's body is limited to ``limit`` bytes, declared or streamed (chunked): 413."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            return await respond(send, 413, f"request body over {self.limit} bytes")
        seen, started = 0, False

        async def limited_receive() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _BodyTooLarge
            return message

        async def watch_send(message: dict) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, watch_send)
        except _BodyTooLarge:
            if not started:
                await respond(send, 413, f"request body over {self.limit} bytes")


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


SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"content-security-policy", b"frame-ancestors 'self'; object-src 'none'; base-uri 'self'"),
    (b"x-frame-options", b"SAMEORIGIN"),
]


class SecurityHeaders:
    """Adds :data:`SECURITY_HEADERS` to every response (and a ``Link`` preload header to the page's)."""

    def __init__(self, app: ASGIApp, preload: list[str] | None = None, page_path: str = "/") -> None:
        self.app, self.page_path = app, page_path
        self.link = (b"link", ", ".join(preload).encode()) if preload else None

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        is_page = scope["path"] == self.page_path and scope["method"] == "GET"

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                extra = list(SECURITY_HEADERS)
                if is_page and self.link and message.get("status") == 200:
                    extra.append(self.link)
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
