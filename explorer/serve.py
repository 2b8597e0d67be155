"""``python -m explorer``: start the app (uvicorn serving FastAPI + Gradio)."""

from __future__ import annotations

import errno
import logging
import secrets
import socket
import threading
import time
import webbrowser
from collections.abc import Callable

log = logging.getLogger(__name__)

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class ServeError(RuntimeError):
    """The app cannot start; the message says why and what to do."""


def parse_auth(text: str | None) -> tuple[str, str] | None:
    if not text:
        return None
    user, sep, password = text.partition(":")
    if not sep or not user or not password:
        raise ServeError("--auth takes USER:PASSWORD (both non-empty)")
    return user, password


def check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ServeError(f"port {port} on {host} is in use: stop the other server or pass "
                                 f"--port {port + 1}") from None
            raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def serve(checkpoint: str, device: str | None, host: str, port: int, auth: str | None, share: bool,
          open_browser: bool, threads: int = 1, announce: Callable[[str], None] = log.info) -> None:
    """Start the app and block until Ctrl-C. ``announce`` receives the "ready at URL" line (the CLI
    prints it)."""
    import torch
    import uvicorn  # heavy imports only when serving

    from explorer.server import create_server
    from explorer.service import ModelRegistry, load_model
    from explorer.utils import pick_device

    # Requests are small (one drawing): one thread per request beats several fighting over 2 cores
    # with each other and with the browser; concurrent users still run in parallel.
    torch.set_num_threads(max(1, threads))
    creds = parse_auth(auth)
    if host not in LOOPBACK and creds is None:
        log.warning("listening on %s without --auth: anyone who can reach this machine can use the app", host)
    check_port_free(host, port)
    dev = pick_device(device)
    t0 = time.perf_counter()
    default = load_model(checkpoint, dev)
    registry = ModelRegistry(default, dev, directory=default.ckpt.path.parent)
    app = create_server(registry, auth=creds)
    log.info("loaded %s on %s in %.2f s", default.name, dev, time.perf_counter() - t0)
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}/"
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)

    def when_started() -> None:
        while not server.started:
            time.sleep(0.05)
        announce(f"VAE explorer ready at {url}  (model {default.name} on {dev}; Ctrl-C stops)")
        if share:
            announce(f"public link: {_share(host, port)}")
        if open_browser:
            webbrowser.open(url)

    threading.Thread(target=when_started, daemon=True).start()
    server.run()


def _share(host: str, port: int) -> str:
    try:
        from gradio.networking import setup_tunnel

        return setup_tunnel("127.0.0.1" if host in ("0.0.0.0", "::") else host, port,
                            secrets.token_urlsafe(32), None, None)
    except Exception as exc:  # offline, blocked, or the tunnel binary missing
        return f"not available ({exc}); the app still serves locally"
