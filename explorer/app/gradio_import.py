"""Import Gradio without it re-parsing its own type stubs, which halves the app's start.

As each of Gradio's component classes is created, Gradio re-reads that class's source file, parses it
with ``ast`` and compares it with the matching ``.pyi`` stub inside Gradio's install folder
(``gradio.component_meta.create_or_modify_pyi``). The stubs already ship in the wheel and serve only
editors; the parsing is about half of ``import gradio`` (``benchmarks/bench_app.py`` prints both times).

:func:`import_gradio` turns only that step off, and only while ``gradio`` itself is imported: the
original function is put back as soon as the import ends, so a component class defined later is
handled by Gradio as usual. If a future Gradio renames the function, the import takes its usual time
(and ``tests/test_startup.py`` fails, so the change is noticed).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import threading
from types import ModuleType

_TARGET = "gradio.component_meta"
_STUB_WRITER = "create_or_modify_pyi"
_lock = threading.Lock()


def _no_stubs(*args: object, **kwargs: object) -> None:
    """Stands in for Gradio's stub writer during the import: the shipped ``.pyi`` files stay as they are."""


class _SkipStubWriter(importlib.abc.MetaPathFinder):
    """Finds ``gradio.component_meta`` as usual and, once it has run, swaps its stub writer out; the
    original is kept in ``self.original`` to be put back."""

    def __init__(self) -> None:
        self.module: ModuleType | None = None
        self.original: object = None

    def find_spec(self, fullname, path, target=None):
        if fullname != _TARGET:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        run = spec.loader.exec_module

        def exec_module(module: ModuleType) -> None:
            run(module)
            if callable(getattr(module, _STUB_WRITER, None)):
                self.module, self.original = module, getattr(module, _STUB_WRITER)
                setattr(module, _STUB_WRITER, _no_stubs)

        spec.loader.exec_module = exec_module  # this spec's loader only
        return spec


def import_gradio() -> ModuleType:
    """``import gradio``, with the stub parsing skipped for that one import (if Gradio is not imported yet)."""
    with _lock:
        if "gradio" in sys.modules:
            return sys.modules["gradio"]
        finder = _SkipStubWriter()
        sys.meta_path.insert(0, finder)
        try:
            import gradio
        finally:
            sys.meta_path.remove(finder)
            if finder.module is not None:
                setattr(finder.module, _STUB_WRITER, finder.original)
        return gradio
