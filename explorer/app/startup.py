"""``python -m explorer``: read the model, take the port, open the browser, serve (uvicorn; with
``--share``, Gradio's own ``Blocks.launch``)."""

from __future__ import annotations

import errno
import logging
import os
import queue
import socket
import threading
import time
import webbrowser
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from explorer.store.registry import ModelRegistry

log = logging.getLogger(__name__)

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


AVX512_FLAGS = frozenset({"avx512f", "avx512bw", "avx512vl", "avx512dq"})  # what torch's AVX-512 kernels need


def cpu_flags(path: str = "/proc/cpuinfo") -> frozenset[str]:
    """The instruction-set flags the CPU reports (Linux's ``/proc/cpuinfo``); empty where it cannot be read."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.partition(":")[2].split())
    except OSError:
        pass
    return frozenset()


def prefer_vectorised_kernels(flags: frozenset[str] | None = None) -> str | None:
    """Ask torch, before its first operation, for its AVX2 CPU kernels on a CPU that reports AVX-512 (and
    AVX2), unless ``ATEN_CPU_CAPABILITY`` is set already (then that choice stands). On any other CPU torch's
    own choice stands: it is AVX2 or less there, and asking for kernels the CPU lacks kills the process
    (SIGILL). Returns the choice made, or None. ``flags``: the CPU's flags (default: :func:`cpu_flags`).

    Measured on this project's AVX-512 machine (torch 2.14): torch's AVX-512 kernels compute ``log1p``
    and ``softplus`` one number at a time (8.6 and 9.7 ns per number), its AVX2 kernels vectorised (1.5 and
    2.8 ns), and those two are most of the Bernoulli score of log p(x): 42 ms -> 25 ms for 1,000 samples.
    The answers are the same to float32 rounding (``tests/test_batching.py`` compares the two kernel sets
    where the CPU has both)."""
    if "ATEN_CPU_CAPABILITY" in os.environ:
        return None
    flags = cpu_flags() if flags is None else flags
    if not flags >= AVX512_FLAGS | {"avx2", "fma"}:
        return None
    os.environ["ATEN_CPU_CAPABILITY"] = "avx2"
    return "avx2"


class ServeError(RuntimeError):
    """The app cannot start; the message says why and what to do."""


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port``; a clear :class:`ServeError` if the port is taken.

    Made as a TCP socket by name (``IPPROTO_TCP``, with ``TCP_NODELAY``, which its connections inherit):
    asyncio turns Nagle's algorithm off only on connections whose protocol says TCP, and with it on, a
    response's body waited for the client's delayed ACK of its headers: 40 ms on every request after the
    first on a kept-alive connection."""
    try:
        family, _, _, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise ServeError(f"cannot listen on {host}: {exc.strerror}") from None
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind(addr)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ServeError(f"port {port} on {host} is in use: stop the other server or pass "
                             f"--port {port + 1}") from None
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.set_inheritable(True)
    return sock


def serve(checkpoint: str, device: str | None, host: str, port: int, auth: str | None, share: bool,
          open_browser: bool, threads: int = 1, announce: Callable[[str], None] = log.info,
          workers: int = 1, lecturer: str | None = None) -> None:
    """Start the app and block until Ctrl-C. ``announce`` receives the "ready at URL" line and, once
    the model is built, the line that says where it runs (the CLI prints both).

    Start-up order, for a page that is ready soon: read the model's files (NumPy only: the page needs
    only the atlas and the decoder's weights), take the port and open the browser tab (the browser
    starts while Gradio is imported; its request waits for the server), build the page, serve. The
    torch model is built in a background thread once the page has drawn the map (``import torch``
    alone takes seconds: README, "How it works"); a drawing sent before that waits for it."""
    from explorer.app.auth import parse_auth
    from explorer.store.registry import ModelRegistry, read_served_model

    try:
        creds = parse_auth(auth)
        lecturer_creds = parse_auth(lecturer, "--lecturer")
    except ValueError as exc:
        raise ServeError(str(exc)) from None
    if host not in LOOPBACK and creds is None:
        log.warning("listening on %s without --auth: anyone who can reach this machine can use the app", host)
    if device not in (None, "", "auto", "cpu"):  # a GPU asked for by name: say now if it is missing
        from explorer.vae.runtime import pick_device

        pick_device(device)
    prefer_vectorised_kernels()  # before torch's first operation (the model is built later, in a thread)
    t0 = time.perf_counter()
    # Requests are small (one drawing): one thread per request beats several fighting over 2 cores
    # with each other and with the browser; concurrent users still run in parallel.
    default = read_served_model(checkpoint, device, threads=max(1, threads))
    registry = ModelRegistry(default, device, directory=default.path.parent)
    sock = listen(host, port)
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}/"
    if open_browser:  # in a thread: a console browser (w3m, lynx) would otherwise hold up the start
        threading.Thread(target=webbrowser.open, args=(url,), name="open-browser", daemon=True).start()
    builder = ModelBuilder(registry, announce)
    if share:
        sock.close()  # Gradio's launch takes the port itself
        return _serve_shared(registry, creds, host, port, builder, announce, url, lecturer_creds)
    if workers > 1:
        from explorer.app.asgi import Settings

        settings = Settings(checkpoint=str(default.path), device=device, auth=auth, lecturer=lecturer,
                            threads=max(1, threads), cores=max(1, (os.cpu_count() or 1) // workers))
        return _serve_workers(settings, workers, sock, url, announce)
    try:
        import uvicorn

        from explorer.app.server import create_server  # imports Gradio

        app = create_server(registry, auth=creds, on_warm=builder.request, lecturer=lecturer_creds)
        log.info("read %s and built the page in %.2f s", default.name, time.perf_counter() - t0)
        server = uvicorn.Server(uvicorn_config(app))

        def when_started() -> None:
            while not server.started:
                time.sleep(0.02)
            announce(f"VAE explorer ready at {url}  (model {default.name}; Ctrl-C stops)")
            builder.start()

        threading.Thread(target=when_started, daemon=True).start()
        server.run(sockets=[sock])
    finally:
        sock.close()


def _serve_workers(settings: Any, workers: int, sock: socket.socket, url: str,
                   announce: Callable[[str], None]) -> None:
    """``--workers N``: uvicorn's own multiprocess supervisor runs N processes of
    :func:`explorer.app.asgi.create` on our listening socket; a logout holds in all of them through a
    SQLite revocation list (``EXPLORER_SESSIONS_DB``, made here unless given) and one session key."""
    import secrets
    import tempfile

    from uvicorn.supervisors import Multiprocess

    made = None
    if not os.environ.get("EXPLORER_SESSIONS_DB"):
        made = tempfile.TemporaryDirectory(prefix="explorer-sessions-")
        os.environ["EXPLORER_SESSIONS_DB"] = os.path.join(made.name, "ended.sqlite")
    os.environ.setdefault("EXPLORER_SESSION_KEY", secrets.token_hex(32))  # one key, so all accept a session
    os.environ.update(settings.to_env())  # the spawned workers read their settings from here
    config = uvicorn_config("explorer.app.asgi:create", factory=True, workers=workers)

    def when_up() -> None:
        import urllib.error
        import urllib.request

        addr, port = sock.getsockname()[:2]
        addr = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(addr, addr)
        health = f"http://{f'[{addr}]' if ':' in addr else addr}:{port}/api/health"
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(health, timeout=2):
                    break
            except urllib.error.HTTPError:  # an answer (401 behind --auth): a worker is serving
                break
            except OSError:
                time.sleep(0.2)
        announce(f"VAE explorer ready at {url}  (model {Path(settings.checkpoint).stem}; {workers} worker "
                 "processes; Ctrl-C stops)")

    threading.Thread(target=when_up, daemon=True).start()
    try:
        Multiprocess(config, sockets=[sock]).run()
    finally:
        sock.close()
        if made is not None:
            made.cleanup()


def _serve_shared(registry: ModelRegistry, creds: tuple[str, str] | None, host: str, port: int,
                  builder: ModelBuilder, announce: Callable[[str], None], url: str,
                  lecturer: tuple[str, str] | None = None) -> None:
    """``--share``: the same routes and middleware, served by Gradio's public ``Blocks.launch``, which
    opens the share link (through Gradio's relay; it needs the internet)."""
    from explorer.app.auth import Login
    from explorer.app.page import build_app, page_head
    from explorer.app.server import EXCEPTION_HANDLERS, GRADIO_OPTIONS, server_parts

    login = Login(*creds) if creds else None
    routes, middleware = server_parts(registry, login, builder.request, lecturer=lecturer)
    demo = build_app()
    try:
        _, _, share_url = demo.launch(
            server_name=host, server_port=port, share=True, prevent_thread_lock=True, quiet=True,
            auth_dependency=login.user if login else None, head=page_head(),
            app_kwargs={"routes": routes, "middleware": middleware, "exception_handlers": EXCEPTION_HANDLERS,
                        "docs_url": None, "redoc_url": None, "openapi_url": None}, **GRADIO_OPTIONS)
    except OSError as exc:
        raise ServeError(f"cannot serve on {host}:{port}: {exc}") from None
    announce(f"VAE explorer ready at {url}  (model {registry.default}; Ctrl-C stops)")
    announce(f"public link: {share_url}" if share_url else
             "public link: not available (Gradio could not open its share tunnel); the app still serves locally")
    builder.start()
    try:
        demo.block_thread()
    finally:
        demo.close()


def uvicorn_config(app: Any, **options: Any) -> Any:
    """Uvicorn as the app runs it: the h11 protocol with read deadlines and a connection cap
    (:mod:`explorer.app.connections`, which sets the cap from the open-file limit in each process).
    ``options``: more of ``uvicorn.Config``'s own (``factory``, ``workers``)."""
    import uvicorn

    return uvicorn.Config(app, http="explorer.app.connections:GuardedH11Protocol", log_level="warning",
                          access_log=False, timeout_keep_alive=5, timeout_graceful_shutdown=5, **options)


class ModelBuilder:
    """Builds the torch models in one background thread, each once.

    The default model is built when a page has drawn its map (``POST /api/models/NAME/warm``; sooner,
    importing torch competes with the page's loading for the two cores here: +0.5 s to page ready),
    or ``delay`` seconds after the server starts, whichever comes first; another model when a page
    switches to it. A request that needs a model not built yet builds it, or waits for it."""

    def __init__(self, registry: ModelRegistry, announce: Callable[[str], None], delay: float = 4.0) -> None:
        self.registry, self.announce, self.delay = registry, announce, delay
        self._queue: queue.Queue[str] = queue.Queue()
        self._done: set[str] = set()

    def request(self, name: str) -> None:
        """Ask for model ``name`` to be built (a no-op once it is)."""
        if name not in self._done:
            self._queue.put(name)

    def start(self) -> None:
        threading.Thread(target=self._run, name="model-builder", daemon=True).start()

    def _run(self) -> None:
        try:
            first = self._queue.get(timeout=self.delay)
        except queue.Empty:
            first = self.registry.default
        self._build(self.registry.default)  # the default first: a new page's first drawing uses it
        self._build(first)
        while True:
            self._build(self._queue.get())

    def _build(self, name: str) -> None:
        if name in self._done:
            return
        self._done.add(name)
        t0 = time.perf_counter()
        try:
            m = self.registry.get(name)
            vae = m.ckpt.vae
            from explorer.views import decoding, inference, tools  # noqa: F401 -- imported here, not on a first request

            stroke = np.pad(np.full((40, 8), 255, np.uint8), 20)  # a "1": warms a drawing's code path
            inference.encode_drawing(m, stroke, k=2, label=0 if m.config.labels else None)
            decoding.reconstructions(m)  # every test digit's reconstruction, for hovers
        except Exception as exc:
            log.error("cannot build model %s: %s", name, exc)
            return
        self.announce(f"model {name} runs on {vae.device} (built in {time.perf_counter() - t0:.1f} s)")
