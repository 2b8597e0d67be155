"""The app as an ASGI factory, for a standard server's own worker management.

``python -m explorer --workers N`` runs N of these under uvicorn's multiprocess supervisor on one port;
any ASGI server can run it the same way, configured by the environment::

    EXPLORER_CHECKPOINT=mnist-z16 EXPLORER_AUTH=class:pw EXPLORER_SESSION_KEY=... \\
    EXPLORER_SESSIONS_DB=/var/lib/explorer/sessions.sqlite \\
    uvicorn --factory explorer.app.asgi:create --workers 2 --host 0.0.0.0 --port 7860 \\
            --http explorer.app.connections:GuardedH11Protocol

Each process reads the models and builds its own torch models. What must hold across processes is a
logout (the sessions are signed with ``EXPLORER_SESSION_KEY``; the ended ones are listed in the SQLite
file ``EXPLORER_SESSIONS_DB``: :class:`explorer.app.auth.SqliteEnded`). Everything else a process keeps
is its own: a tab's newest request is the page's to track, and a drawing carries its seed, so any process
gives it the same numbers.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

ENV = {  # the settings, by the environment variable that gives each
    "checkpoint": "EXPLORER_CHECKPOINT",  # a shipped model's name or a .safetensors path (default mnist-z16)
    "device": "EXPLORER_DEVICE",  # cpu, cuda, cuda:1 or auto (default)
    "auth": "EXPLORER_AUTH",  # USER:PASSWORD of the class login (default: none)
    "lecturer": "EXPLORER_LECTURER",  # USER:PASSWORD that may start a live run (default: none)
    "threads": "EXPLORER_THREADS",  # torch threads per request (default 1)
    "cores": "EXPLORER_CORES",  # cores this process computes on (default: all of them)
}


@dataclass(frozen=True)
class Settings:
    """What one server process is started with (``python -m explorer``'s flags, or :data:`ENV`)."""

    checkpoint: str = "mnist-z16"
    device: str | None = None
    auth: str | None = None
    lecturer: str | None = None
    threads: int = 1
    cores: int | None = None

    def to_env(self) -> dict[str, str]:
        """These settings as the environment that :func:`settings_from_env` reads back."""
        return {ENV[k]: str(v) for k, v in self.__dict__.items() if v is not None}


def settings_from_env(env: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if env is None else env)
    got = {k: env[v] for k, v in ENV.items() if env.get(v)}
    for k in ("threads", "cores"):
        if k in got:
            try:
                got[k] = max(1, int(got[k]))
            except ValueError:
                raise ValueError(f"{ENV[k]} must be a whole number, not {got[k]!r}") from None
    return Settings(**got)


def build(settings: Settings, announce: Any = log.info) -> tuple[Any, Any]:
    """The ASGI app for ``settings`` and its :class:`~explorer.app.startup.ModelBuilder` (not started)."""
    from explorer.app.auth import parse_auth
    from explorer.app.server import create_server
    from explorer.app.startup import ModelBuilder
    from explorer.store.registry import ModelRegistry, read_served_model

    creds = parse_auth(settings.auth, ENV["auth"])
    lecturer = parse_auth(settings.lecturer, ENV["lecturer"])
    default = read_served_model(settings.checkpoint, settings.device, threads=settings.threads)
    registry = ModelRegistry(default, settings.device, directory=default.path.parent)
    builder = ModelBuilder(registry, announce)
    app = create_server(registry, auth=creds, on_warm=builder.request, cores=settings.cores, lecturer=lecturer)
    return app, builder


def create() -> Any:
    """The factory an ASGI server calls in each worker process: the app, with its models building."""
    from explorer.app.startup import prefer_vectorised_kernels

    prefer_vectorised_kernels()
    app, builder = build(settings_from_env())
    builder.start()
    return app
