"""Log p(x) in a process of its own, at a lower CPU priority.

The server's threads share one interpreter lock; under a hall's load the log p(x) lane waited for it
between torch operations and got about half the CPU it could use (README, "How many students one laptop
carries"). Here a child process (``python -m explorer.app.offload CHECKPOINT``) computes
:func:`explorer.inference.log_px_drawings` for the server: its own interpreter, its own lock, and a nice
value of +5, so the strokes in the server keep the cores they need and log p(x) takes what they leave.

The two talk over the child's stdin/stdout in length-prefixed frames of JSON and raw canvas bytes (no
pickle). If the child is not ready yet, or dies, the server computes in its own process as before: the
answers are the same either way (the same code, the same kernels, each drawing its own seeded generator).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import struct
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

import numpy as np

log = logging.getLogger(__name__)

FRAME = struct.Struct("<I")  # each message: its length, then its bytes
MAX_FRAME = 256 * 1024**2
NICE = 5  # the child's CPU priority below the server's


def write_frame(f: IO[bytes], data: bytes) -> None:
    f.write(FRAME.pack(len(data)) + data)
    f.flush()


def read_frame(f: IO[bytes]) -> bytes:
    head = f.read(FRAME.size)
    if len(head) < FRAME.size:
        raise EOFError("the other side closed the pipe")
    (n,) = FRAME.unpack(head)
    if n > MAX_FRAME:
        raise EOFError(f"a frame of {n} bytes")
    data = f.read(n)
    if len(data) < n:
        raise EOFError("the other side closed the pipe")
    return data


def pack(drawings: list[Any]) -> bytes:
    """Drawings (uint8 canvases) as one frame: a JSON header line, then the canvases' bytes in order."""
    header = [{"k": d.k, "seed": d.seed, "label": d.label, "h": d.canvas.shape[0], "w": d.canvas.shape[1]}
              for d in drawings]
    return json.dumps(header).encode() + b"\n" + b"".join(np.ascontiguousarray(d.canvas, np.uint8).tobytes()
                                                         for d in drawings)


def unpack(data: bytes) -> list[Any]:
    from explorer.inference import Drawing

    head, _, raw = data.partition(b"\n")
    out, at = [], 0
    for h in json.loads(head):
        n = int(h["h"]) * int(h["w"])
        canvas = np.frombuffer(raw[at : at + n], np.uint8).reshape(int(h["h"]), int(h["w"]))
        at += n
        out.append(Drawing(canvas, int(h["k"]), int(h["seed"]), None if h["label"] is None else int(h["label"])))
    return out


class LogPxProcess:
    """The child process that computes log p(x) for one checkpoint; :meth:`compute` falls back to this
    process while the child starts (seconds: it imports torch) and if it dies."""

    def __init__(self, checkpoint: Path, device: str | None = None) -> None:
        self.checkpoint, self.lock, self.ready = checkpoint, threading.Lock(), threading.Event()
        self.proc: subprocess.Popen | None = subprocess.Popen(
            [sys.executable, "-m", "explorer.app.offload", str(checkpoint), device or ""],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        threading.Thread(target=self._await_ready, name="logpx-process-start", daemon=True).start()

    def _await_ready(self) -> None:
        try:
            if read_frame(self.proc.stdout) == b"ready":
                self.ready.set()
                log.info("log p(x) runs in process %d (nice +%d)", self.proc.pid, NICE)
        except (EOFError, OSError, ValueError):
            log.warning("the log p(x) process did not start; log p(x) is computed in the server")

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def compute(self, m: Any, drawings: list[Any]) -> list[Any]:
        """``log_px_drawings(m, drawings)``, in the child when it is ready."""
        from explorer.inference import log_px_drawings
        from explorer.preprocess import BlankDrawingError

        if self.ready.is_set() and self.proc is not None and all(d.canvas.dtype == np.uint8 for d in drawings):
            try:
                with self.lock:
                    write_frame(self.proc.stdin, pack(drawings))
                    reply = json.loads(read_frame(self.proc.stdout))
                return [a["ok"] if "ok" in a else (BlankDrawingError if a["error"] == "blank" else ValueError)(
                    a["message"]) for a in reply]
            except (EOFError, OSError, ValueError, KeyError) as exc:
                log.warning("the log p(x) process failed (%s): log p(x) is computed in the server now", exc)
                self.ready.clear()
                self.stop()
        return log_px_drawings(m, drawings)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        for f in (proc.stdin, proc.stdout):
            with contextlib.suppress(OSError):
                f.close()
        try:
            proc.wait(5)  # it exits when its stdin closes
        except subprocess.TimeoutExpired:
            proc.kill()


def _child(checkpoint: str, device: str) -> None:
    """The child's loop: read drawings, answer their log p(x), until the server closes the pipe."""
    from explorer.app.startup import _die_with_parent
    from explorer.inference import log_px_drawings
    from explorer.preprocess import BlankDrawingError
    from explorer.registry import load_model

    _die_with_parent()
    os.nice(NICE)
    out = os.fdopen(os.dup(1), "wb")  # the frames' pipe; anything printed goes to stderr instead
    os.dup2(2, 1)
    inp = sys.stdin.buffer
    m = load_model(checkpoint, device or None, threads=1)
    m.ckpt  # noqa: B018 -- build the torch model before saying ready
    write_frame(out, b"ready")
    import orjson

    while True:
        try:
            drawings = unpack(read_frame(inp))
        except EOFError:
            return
        answers = log_px_drawings(m, drawings)
        write_frame(out, orjson.dumps([
            {"ok": a} if isinstance(a, dict) else
            {"error": "blank" if isinstance(a, BlankDrawingError) else "value", "message": str(a)}
            for a in answers]))


if __name__ == "__main__":
    _child(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "")
