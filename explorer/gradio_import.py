"""Import Gradio without it rewriting its own type stubs, which halves the app's start.

As each of Gradio's component classes is created, Gradio re-reads that class's source file, parses it
with ``ast`` and rewrites the matching ``.pyi`` stub inside Gradio's install folder
(``gradio.component_meta.create_or_modify_pyi``). The stubs already ship in the wheel and serve only
editors; the rewriting is about half of ``import gradio`` here (measured: 3.2 s -> 1.6 s on this
2-core machine) and writes into site-packages at every start. :func:`import_gradio` turns only that
step off, for the one import; everything Gradio does at run time is unchanged. If a future Gradio
renames the function, the import simply takes its usual time (``stub_writer_skipped`` says which).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import logging
import sys
import threading
from types import ModuleType

log = logging.getLogger(__name__)

_TARGET = "gradio.component_meta"
_STUB_WRITER = "create_or_modify_pyi"
_lock = threading.Lock()
stub_writer_skipped = False  # set when the stub writer was found and turned off


def _no_stubs(*args: object, **kwargs: object) -> None:
    """Stands in for Gradio's stub writer: the shipped ``.pyi`` files stay as they are."""


class _SkipStubWriter(importlib.abc.MetaPathFinder):
    """Finds ``gradio.component_meta`` as usual and, once it has run, replaces its stub writer."""

    def find_spec(self, fullname, path, target=None):
        if fullname != _TARGET:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        run = spec.loader.exec_module

        def exec_module(module: ModuleType) -> None:
            global stub_writer_skipped
            run(module)
            if callable(getattr(module, _STUB_WRITER, None)):
                setattr(module, _STUB_WRITER, _no_stubs)
                stub_writer_skipped = True

        spec.loader.exec_module = exec_module  # this spec's loader only
        return spec


def import_gradio() -> ModuleType:
    """``import gradio``, with the stub rewriting skipped when Gradio is not imported yet."""
    with _lock:
        if "gradio" in sys.modules:
            return sys.modules["gradio"]
        finder = _SkipStubWriter()
        sys.meta_path.insert(0, finder)
        try:
            import gradio
        finally:
            sys.meta_path.remove(finder)
        if not stub_writer_skipped:
            log.debug("gradio.%s not found: Gradio imported as usual", _STUB_WRITER)
        return gradio
