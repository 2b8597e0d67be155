"""Two app processes behind a real nginx (Debian's package, started here on loopback), as a class outgrows
one process: the login, a drawing's server-side work (step 6, "check with Pyro") and the logout all go
through nginx, and every answer equals the one a single process gives."""

import os
import shutil
import socket
import subprocess
import time

import httpx
import pytest

from conftest import AppProcess, bar_drawing, free_port

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
AUTH = ("prof", "s3cret")
CONF = """
{user}
daemon off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    client_max_body_size 3m;
    client_body_buffer_size 3m;
    upstream explorer {{ server 127.0.0.1:{a}; server 127.0.0.1:{b}; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://explorer;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_buffering off;
            proxy_read_timeout 120s;
        }}
    }}
}}
"""


def _drawing(**extra):
    return {"width": 40, "height": 40, "pixels": bar_drawing(), "seed": 7, **extra}


def _wait_port(port: int, timeout: float = 20) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


@pytest.fixture
def two_behind_nginx(tmp_path):
    if not os.path.exists(NGINX):
        pytest.skip("nginx not found (apt-get install nginx): the two-process test is skipped")
    env = {"EXPLORER_SESSION_KEY": "one key for the class " * 2,
           "EXPLORER_SESSIONS_DB": str(tmp_path / "ended.sqlite")}
    apps = [AppProcess("--checkpoint", "mnist-z2", "--auth", ":".join(AUTH), env=env) for _ in range(2)]
    port = free_port()
    conf = tmp_path / "nginx.conf"
    conf.write_text(CONF.format(tmp=tmp_path, a=apps[0].port, b=apps[1].port, port=port,
                                user="user root;" if os.geteuid() == 0 else ""))
    nginx = subprocess.Popen([NGINX, "-c", str(conf), "-p", str(tmp_path)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    try:
        _wait_port(port)
        yield f"http://127.0.0.1:{port}", apps
    finally:
        nginx.terminate()
        nginx.wait(10)
        for a in apps:
            a.stop()


def test_login_step6_check_and_logout_through_nginx_in_front_of_two_processes(two_behind_nginx):
    url, apps = two_behind_nginx
    origin = {"Origin": url}
    fresh = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(base_url=url, timeout=120, limits=fresh) as c:
        assert c.post("/login", data={"username": AUTH[0], "password": AUTH[1]}).status_code == 303
        token = c.cookies.get("vx-session")
        steps, checks, served_by = [], [], set()
        z = [[0.25, -0.5], [1.0, 0.125], [-0.75, 0.5]]
        for _ in range(3):  # nginx takes turns: each process answers three (within a login's burst of 4)
            r = c.post("/api/models/mnist-z2/step", json=_drawing(steps=2), headers=origin)
            assert r.status_code == 200, r.text
            steps.append(r.json())
            served_by.add(r.headers["x-vx-worker"])
            r = c.post("/api/models/mnist-z2/check", json=_drawing(z=z, k=3), headers=origin)
            assert r.status_code == 200, r.text
            checks.append(r.json())
            served_by.add(r.headers["x-vx-worker"])
        assert len(served_by) == 2, "nginx sent everything to one process"
    # one process alone, logged in there, gives the same answers
    with httpx.Client(base_url=apps[0].url, timeout=120) as one:
        assert one.post("/login", data={"username": AUTH[0], "password": AUTH[1]}).status_code == 303
        alone_step = one.post("/api/models/mnist-z2/step", json=_drawing(steps=2)).json()
        alone_check = one.post("/api/models/mnist-z2/check", json=_drawing(z=z, k=3)).json()
    # and the session nginx's two processes signed is good in that one alone (one key)
    with httpx.Client(base_url=apps[0].url, timeout=60, cookies={"vx-session": token}) as same:
        assert same.get("/api/models").status_code == 200
    assert all(s == alone_step for s in steps) and all(k == alone_check for k in checks)
    assert alone_step["steps"] == 2 and alone_step["loc_after"] != alone_step["loc_before"]  # real steps taken
    assert alone_check["k"] == 3 and alone_check["z"] == z and alone_check["how"].startswith("Trace_ELBO")
    assert all(r < 0 for r in alone_check["recon_samples"])  # a Bernoulli's log-probability of the drawing
    with httpx.Client(base_url=url, timeout=60, limits=fresh, cookies={"vx-session": token}) as c:
        assert c.post("/logout", headers=origin).status_code == 303
    refused_by = set()
    with httpx.Client(base_url=url, timeout=60, limits=fresh, cookies={"vx-session": token}) as c:
        for _ in range(6):  # the ended session, replayed through nginx: both processes refuse it
            r = c.get("/api/models")
            assert r.status_code == 401
            refused_by.add(r.headers["x-vx-worker"])
    assert refused_by == served_by
