"""--workers 2: uvicorn's own supervisor runs two processes of explorer.app.asgi:create on one port; a
drawing gets the same numbers from either, and a logout holds in both (the SQLite revocation list)."""

import os
import time
from pathlib import Path

import httpx

from conftest import AppProcess, bar_drawing

AUTH = ("prof", "s3cret")


def _body(seq, seed=3):
    return {"width": 40, "height": 40, "pixels": bar_drawing(), "session": "tab-1", "seq": seq, "seed": seed}


def test_two_workers_give_the_same_numbers_and_a_logout_holds_in_both():
    app = AppProcess("--workers", "2", "--checkpoint", "mnist-z2", "--auth", ":".join(AUTH))
    fresh = httpx.Limits(max_keepalive_connections=0)  # a new connection per request: the kernel picks the worker
    try:
        assert len(_processes_on(app.port)) >= 1 and "2 worker processes" in "".join(app.output)
        with httpx.Client(base_url=app.url, timeout=60, limits=fresh) as c:
            assert c.post("/login", data={"username": AUTH[0], "password": AUTH[1]}).status_code == 303
            answers: dict[str, list[dict]] = {}
            for seq in range(11, 200):
                r = c.post("/api/models/mnist-z2/encode", json=_body(seq))
                assert r.status_code == 200, r.text
                answers.setdefault(r.headers["x-vx-worker"], []).append(r.json())
                if len(answers) == 2:
                    break
            assert len(answers) == 2, "the kernel sent every connection to one worker"
            assert os.getpid() not in map(int, answers)
            a, b = (v[-1] for v in answers.values())
            assert a["elbo"] == b["elbo"] and a["loc"] == b["loc"]  # the same drawing and seed: the same numbers
            token = c.cookies.get("vx-session")
            assert c.post("/logout", headers={"Origin": app.url.rstrip("/")}).status_code == 303
        refused_by = set()
        with httpx.Client(base_url=app.url, timeout=60, limits=fresh, cookies={"vx-session": token}) as c2:
            for _ in range(200):  # the ended session's cookie, replayed: refused by both workers
                r = c2.get("/api/models")
                assert r.status_code == 401
                refused_by.add(r.headers["x-vx-worker"])
                if refused_by == set(answers):
                    break
        assert refused_by == set(answers)
    finally:
        app.stop()
    deadline = time.time() + 10
    while _processes_on(app.port) and time.time() < deadline:
        time.sleep(0.2)
    assert _processes_on(app.port) == [], "a worker outlived the server"


def test_the_revocation_list_is_shared_through_its_file_and_forgets_expired_sessions(tmp_path):
    from explorer.app.auth import Login, SqliteEnded

    db = str(tmp_path / "ended.sqlite")
    one, two = Login("u", "p", key=b"k" * 32, ended=SqliteEnded(db)), Login("u", "p", key=b"k" * 32,
                                                                           ended=SqliteEnded(db))
    token = one.new_session()

    from types import SimpleNamespace

    Req = SimpleNamespace(cookies={"vx-session": token})
    assert one.user(Req) == "u" and two.user(Req) == "u"  # one key: each accepts the other's session
    two.end(token)
    assert one.user(Req) is None and two.user(Req) is None
    old = SqliteEnded(db, ttl=0.0)
    old.add("another")  # adding drops every entry older than the ttl
    assert token.split(".")[0] not in old and "another" in old


def _processes_on(port: int) -> list[int]:
    """Processes whose command line names ``--port PORT``, or whose parent's does (uvicorn's spawned workers)."""
    out, parents = [], {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        parents[int(pid)] = ppid
        if b"--port" in cmd and str(port).encode() in cmd:
            out.append(int(pid))
    return out + [p for p, pp in parents.items() if pp in out and p not in out]
