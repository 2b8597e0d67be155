"""``explorer.launch(vae)``: explore a model from a notebook, on a free loopback port, shown inline.

Nothing runs at import: the model is imported, its atlas built if missing, and the server started only
when :func:`launch` is called. The returned :class:`Handle` stops the server (and frees its port).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class Handle:
    """A running explorer: its ``url``; :meth:`stop` ends it."""

    url: str
    port: int
    checkpoint: Path
    _server: Any = field(repr=False)
    _thread: threading.Thread = field(repr=False)
    _sock: Any = field(repr=False)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server, wait for its thread and close its socket (idempotent)."""
        self._server.should_exit = True
        self._thread.join(timeout)
        self._sock.close()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _repr_html_(self) -> str:  # a handle shown as a cell's value is the page itself
        import html

        return f'<iframe src="{html.escape(self.url)}" width="100%" height="900" style="border:0"></iframe>'


def launch(model: Any, name: str = "my-vae", out_dir: str | Path = "explorer-models",
           data_dir: str | Path | None = None, port: int = 0, show: bool = True) -> Handle:
    """Serve the explorer for ``model`` on ``127.0.0.1`` and show it inline in Jupyter.

    Parameters
    ----------
    model : a shipped model's name (``"mnist-z2"``, as ``--checkpoint`` takes it), a ``.safetensors``
        checkpoint of this project, a module with the tutorial's ``encoder``/``decoder`` (Pyro's
        ``examples/vae/vae.py`` VAE), or a file saved from one (state_dict or param store)
    name : the imported model's name (files ``OUT/NAME.safetensors`` and ``OUT/NAME.atlas.npz``)
    out_dir : where an imported model is written
    data_dir : the folder holding ``MNIST/`` (the atlas needs the test digits once)
    port : 0 picks a free port
    show : display the page in the notebook (an IFrame) when running under IPython
    """
    import uvicorn

    from explorer.app.server import create_server
    from explorer.app.startup import listen, uvicorn_config
    from explorer.store.atlas import atlas_path_for
    from explorer.store.checkpoint import SUFFIX, resolve_checkpoint
    from explorer.store.registry import ModelRegistry, read_served_model
    from explorer.vae.importer import ImportModelError, import_file, import_module

    shipped = resolve_checkpoint(model) if isinstance(model, (str, Path)) else None
    if shipped is not None and shipped.suffix == SUFFIX and shipped.exists() and atlas_path_for(shipped).exists():
        ckpt = shipped  # a shipped model's name, as --checkpoint takes it, or a checkpoint with its atlas
    else:
        if isinstance(model, (str, Path)) and not Path(model).exists():
            from explorer.store.checkpoint import available_checkpoints

            raise ImportModelError(f"{model}: no such file, nor a shipped model "
                                   f"({', '.join(available_checkpoints())})")
        res = (import_file(model, name, out_dir, data_dir) if isinstance(model, (str, Path))
               else import_module(model, name, out_dir, data_dir))
        if res["atlas"] is None:
            raise ImportModelError("the map needs MNIST's test digits once: pass data_dir= (the folder holding MNIST/)")
        ckpt = res["checkpoint"]
    registry = ModelRegistry(read_served_model(ckpt), directory=Path(ckpt).parent)
    sock = listen("127.0.0.1", port)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn_config(create_server(registry)))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"explorer-{port}", daemon=True)
    thread.start()
    deadline = time.time() + 60
    while not server.started and thread.is_alive() and time.time() < deadline:
        time.sleep(0.02)
    handle = Handle(url=f"http://127.0.0.1:{port}/", port=port, checkpoint=Path(ckpt), _server=server,
                    _thread=thread, _sock=sock)
    if show:
        _show_inline(handle)
    return handle


def _show_inline(handle: Handle) -> None:
    try:
        from IPython import get_ipython
        from IPython.display import IFrame, display
    except ImportError:
        log.info("explorer at %s", handle.url)
        return
    if get_ipython() is None:
        log.info("explorer at %s", handle.url)
        return
    display(IFrame(handle.url, width="100%", height=900))
