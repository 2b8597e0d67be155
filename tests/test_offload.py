"""Log p(x) in a process of its own: the same answers as in the server, a fallback when the child is
gone, a lower CPU priority, and no child left behind when the server dies."""

import os
import signal
import time

import httpx
import numpy as np
import orjson
import pytest

from explorer.app.offload import NICE, LogPxProcess, pack, unpack
from explorer.inference import Drawing, log_px_drawings
from explorer.preprocess import BlankDrawingError
from explorer.registry import load_model

from conftest import AppProcess, bar_drawing, varied_drawings


def children(pid: int) -> list[int]:
    out = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            out += [int(c) for c in f.read().split()]
    return out


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_frames_carry_drawings_exactly():
    ds = [Drawing(c, k=k, seed=s, label=lab) for c, k, s, lab in
          zip(varied_drawings()[:3], (1000, 5, 5000), (0, 7, 2**31 - 1), (None, 3, 9), strict=True)]
    back = unpack(pack(ds))
    for a, b in zip(ds, back, strict=True):
        assert (a.k, a.seed, a.label) == (b.k, b.seed, b.label) and np.array_equal(a.canvas, b.canvas)


def test_the_child_answers_as_the_server_would_and_the_server_takes_over_when_it_dies(caplog):
    m = load_model("mnist-z16")
    child = LogPxProcess(m.path)
    try:
        assert child.ready.wait(120), "the log p(x) process did not start"
        ds = [Drawing(c, k=k, seed=i) for i, (c, k) in enumerate(zip(varied_drawings(), (1000, 10, 1, 5000, 300, 1000,
                                                                                  1000, 2), strict=True))]
        ds += [Drawing(np.zeros((40, 40), np.uint8)), Drawing(varied_drawings()[0], k=0)]
        here = log_px_drawings(m, ds)
        there = child.compute(m, ds)
        as_sent = [orjson.loads(orjson.dumps(a)) for a in here[:-2]]  # as the server sends them (NaN: null)
        assert there[:-2] == as_sent  # the same code and kernels: the same numbers, bit for bit
        assert isinstance(there[-2], BlankDrawingError) and isinstance(there[-1], ValueError)
        assert os.getpriority(os.PRIO_PROCESS, child.pid) == os.getpriority(os.PRIO_PROCESS, 0) + NICE
        os.kill(child.pid, signal.SIGKILL)
        child.proc.wait(10)
        again = child.compute(m, ds[:3])  # the child is gone: computed here, the same answers
        assert orjson.dumps(again) == orjson.dumps(log_px_drawings(m, ds[:3])) and child.proc is None
        assert "computed in the server now" in caplog.text
    finally:
        child.stop()


@pytest.mark.parametrize("offload", ["1", "0"])
def test_the_server_runs_log_px_in_a_child_that_dies_with_it(offload):
    app = AppProcess("--checkpoint", "mnist-z2", env={"EXPLORER_LOGPX_PROCESS": offload})
    try:
        body = {"width": 40, "height": 40, "pixels": bar_drawing(), "k": 1000}
        first = httpx.post(f"{app.url}api/models/mnist-z2/logpx", json=body, timeout=60)
        assert first.status_code == 200
        deadline = time.time() + 120
        state = httpx.get(f"{app.url}api/batches", timeout=10).json()["mnist-z2/logpx"].get("process")
        while offload == "1" and not state["ready"] and time.time() < deadline:
            time.sleep(0.2)
            state = httpx.get(f"{app.url}api/batches", timeout=10).json()["mnist-z2/logpx"]["process"]
        kids = children(app.proc.pid)
        if offload == "1":
            assert state["ready"] and kids == [state["pid"]]  # ready: the next answer comes from it
        else:
            assert state is None and kids == []
        second = httpx.post(f"{app.url}api/models/mnist-z2/logpx", json=body, timeout=60).json()
        assert second == first.json()  # the same drawing and seed: the same answer, wherever computed
        os.kill(app.proc.pid, signal.SIGKILL)  # however the server dies, its child goes too
        app.proc.wait(10)
        deadline = time.time() + 15
        while any(alive(k) for k in kids) and time.time() < deadline:
            time.sleep(0.2)
        assert not any(alive(k) for k in kids)
    finally:
        app.stop()
