"""The live run's routes (:mod:`explorer.views.live`): everyone watches, only the lecturer starts and stops.

* ``GET /api/live``: who you are (lecturer or not, and how one becomes it) and the run so far;
* ``GET /api/live/stream?since=V``: the updates after version ``V``, as server-sent events, as they come;
* ``POST /api/live/start`` (the settings as JSON) and ``POST /api/live/stop``: the lecturer's.

The lecturer is a browser on the machine itself when the app runs without ``--auth`` (a loopback client
whose request no proxy forwarded), or whoever gives the ``--lecturer USER:PASSWORD`` credentials (HTTP
Basic, checked in constant time). Everyone else is a student: 403.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import ipaddress
from collections.abc import Callable
from typing import Any

import orjson
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response, StreamingResponse

from explorer.app.admission import admitted
from explorer.app.answers import LiveState
from explorer.vae.data import DataMissingError
from explorer.views.live import Busy, LiveSettings, LiveTrainer

MAX_WATCHERS = 1000  # event streams held open at once; more: 503
KEEPALIVE = 15.0  # seconds of silence before a comment line keeps a stream (and its proxies) open
FORWARDED = (b"x-forwarded-for", b"forwarded", b"x-real-ip")


class Lecturer:
    """Who may start and stop a run: see the module docstring."""

    def __init__(self, credentials: tuple[str, str] | None, class_login: bool) -> None:
        self.credentials, self.class_login = credentials, class_login

    def how(self) -> str:
        if self.credentials:
            local = "" if self.class_login else ", or a browser on the server's machine"
            return f"the lecturer's login (--lecturer){local}"
        if self.class_login:
            return "nobody: the app runs with --auth and without --lecturer USER:PASSWORD"
        return "a browser on the server's machine"

    def check(self, request: Request) -> bool:
        if self.credentials and self._basic(request.headers.get("authorization", "")):
            return True
        return not self.class_login and self._local(request)

    def _basic(self, header: str) -> bool:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "basic" or not token or len(token) > 512:
            return False
        try:
            user, sep, password = base64.b64decode(token, validate=True).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        want_user, want_password = self.credentials or ("", "")
        ok_user = hmac.compare_digest(user.encode(), want_user.encode())
        ok_password = hmac.compare_digest(password.encode(), want_password.encode())
        return bool(sep) and ok_user & ok_password

    @staticmethod
    def _local(request: Request) -> bool:
        """A client on this machine, not forwarded by a proxy (which would make every student look local)."""
        if any(k in FORWARDED for k, _ in request.scope.get("headers") or []):
            return False
        host = request.client.host if request.client else ""
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False


def make_live_router(trainer: LiveTrainer, lecturer: Lecturer, require_login: Callable) -> APIRouter:
    router = APIRouter(prefix="/api/live", dependencies=[Depends(require_login)])
    watchers = {"n": 0}

    def lecturer_only(request: Request) -> None:
        if not lecturer.check(request):
            raise HTTPException(403, f"only the lecturer can start or stop a live run ({lecturer.how()})")

    @router.get("", response_model=LiveState, **admitted("free"))
    def state(request: Request) -> Response:
        out: dict[str, Any] = {"lecturer": lecturer.check(request), "how": lecturer.how(), **trainer.snapshot()}
        return Response(orjson.dumps(out), media_type="application/json", headers={"Cache-Control": "no-store"})

    @router.post("/start", dependencies=[Depends(lecturer_only)], status_code=202, response_model=LiveState,
                 **admitted("free"))
    async def start(request: Request) -> Response:
        try:
            raw = orjson.loads(await request.body() or b"{}")
            settings = LiveSettings.checked(raw)
        except orjson.JSONDecodeError:
            raise HTTPException(422, "the body must be a JSON object of settings") from None
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        try:
            snap = await asyncio.to_thread(trainer.start, settings)  # reads MNIST: not on the event loop
        except Busy as exc:
            raise HTTPException(409, str(exc)) from None
        except DataMissingError as exc:
            raise HTTPException(503, f"a live run needs MNIST's training digits: {exc}") from None
        return Response(orjson.dumps(snap), media_type="application/json", status_code=202)

    @router.post("/stop", dependencies=[Depends(lecturer_only)], response_model=LiveState, **admitted("free"))
    async def stop() -> Response:
        return Response(orjson.dumps(await asyncio.to_thread(trainer.stop)), media_type="application/json")

    @router.get("/stream", **admitted("free"))
    async def stream(request: Request, since: int = 0) -> StreamingResponse:
        last = request.headers.get("last-event-id", "")  # a reconnecting EventSource says what it saw
        since = max(since, int(last)) if last.isdigit() and len(last) < 16 else since
        if watchers["n"] >= MAX_WATCHERS:
            raise HTTPException(503, "too many watchers of the live run")
        loop, woken = asyncio.get_running_loop(), asyncio.Event()
        watchers["n"] += 1
        forget = trainer.listen(lambda: loop.call_soon_threadsafe(woken.set))

        async def events():
            seen = since
            try:
                yield b"retry: 3000\n\n"
                while True:
                    woken.clear()
                    for u in trainer.since(seen):
                        seen = u["version"]
                        yield b"id: %d\ndata: %s\n\n" % (seen, orjson.dumps(u))
                    try:
                        await asyncio.wait_for(woken.wait(), KEEPALIVE)
                    except TimeoutError:
                        yield b": still here\n\n"
            finally:
                forget()
                watchers["n"] -= 1

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    return router
