"""--workers 2: one tab's newest-wins, its results and its logout hold whichever process answers."""

import os
import time
from pathlib import Path

import httpx

from conftest import AppProcess, bar_drawing

AUTH = ("prof", "s3cret")


def _body(seq, seed=3):
    return {"width": 40, "height": 40, "pixels": bar_drawing(), "session": "tab-1", "seq": seq, "seed": seed}


def test_two_workers_share_newest_wins_results_and_logout():
    app = AppProcess("--workers", "2", "--checkpoint", "mnist-z2", "--auth", ":".join(AUTH))
    fresh = httpx.Limits(max_keepalive_connections=0)  # a new connection per request: the kernel picks the worker
    try:
        with httpx.Client(base_url=app.url, timeout=60, limits=fresh) as c:
            assert c.post("/login", data={"username": AUTH[0], "password": AUTH[1]}).status_code == 303
            answers: dict[str, list[dict]] = {"0": [], "1": []}
            seq = 10
            for _ in range(60):
                seq += 1
                r = c.post("/api/models/mnist-z2/encode", json=_body(seq))
                assert r.status_code == 200, r.text
                answers[r.headers["x-vx-worker"]].append(r.json())
                if answers["0"] and answers["1"]:
                    break
            assert answers["0"] and answers["1"], "the kernel sent every connection to one worker"
            a, b = answers["0"][-1], answers["1"][-1]
            assert a["elbo"] == b["elbo"] and a["loc"] == b["loc"]  # the same drawing and seed: the same numbers
            stale_from = set()
            for _ in range(60):  # an overtaken request is stale in either process
                r = c.post("/api/models/mnist-z2/encode", json=_body(5))
                assert r.json().get("stale") is True
                stale_from.add(r.headers["x-vx-worker"])
                if stale_from == {"0", "1"}:
                    break
            assert stale_from == {"0", "1"}
            assert c.post("/api/bye", json={"session": "tab-1"}).status_code == 200
            gone_in = set()
            for _ in range(60):  # the tab's goodbye holds everywhere: a late request of it costs nothing
                r = c.post("/api/models/mnist-z2/encode", json=_body(10_000))
                assert r.json().get("stale") is True
                gone_in.add(r.headers["x-vx-worker"])
                if gone_in == {"0", "1"}:
                    break
            assert gone_in == {"0", "1"} and c.get("/api/health").json()["sessions"] == 0
            token = c.cookies.get("vx-session")
            assert c.post("/logout", headers={"Origin": app.url.rstrip("/")}).status_code == 303
        refused_by = set()
        with httpx.Client(base_url=app.url, timeout=60, limits=fresh, cookies={"vx-session": token}) as c2:
            for _ in range(60):  # the ended session's cookie, replayed: refused by both workers
                r = c2.get("/api/models")
                assert r.status_code == 401
                refused_by.add(r.headers["x-vx-worker"])
                if refused_by == {"0", "1"}:
                    break
        assert refused_by == {"0", "1"}
    finally:
        app.stop()
    time.sleep(1)
    assert _processes_on(app.port) == [], "a worker outlived the server"


def _processes_on(port: int) -> list[int]:
    """Processes whose command line names ``--port PORT``."""
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"--port" in cmd and str(port).encode() in cmd:
            out.append(int(pid))
    return out


def test_workers_die_with_the_server_however_it_dies():
    import signal

    app = AppProcess("--workers", "2", "--checkpoint", "mnist-z2")
    assert len(_processes_on(app.port)) == 2
    app.proc.send_signal(signal.SIGKILL)  # no chance to clean up: the workers must still go
    app.proc.wait(10)
    deadline = time.time() + 10
    while _processes_on(app.port) and time.time() < deadline:
        time.sleep(0.2)
    assert _processes_on(app.port) == []


def test_the_shared_table_is_bounded_and_expires():
    from explorer.app.shared import SharedLatestRequests

    lr = SharedLatestRequests(ttl=0.3, slots=64)
    for i in range(500):  # tabs killed mid-drag never say goodbye: the table stays 64 entries
        assert not lr.is_stale(f"tab-{i}", 1)
    assert lr.live() <= 64
    assert not lr.is_stale("tab-499", 5) and lr.is_stale("tab-499", 4) and not lr.is_stale("tab-499", 5)
    lr.forget("tab-499")
    assert lr.is_stale("tab-499", 10**9)  # a closed tab's late request
    time.sleep(0.4)
    assert lr.live() == 0
