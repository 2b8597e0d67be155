"""CI: the wheel serves all shipped models. Builds the wheel, installs it (not editable, no -e) into a fresh
venv, starts the app from another folder on a free loopback port and asks for every model's files and the page's
modules (they ship in the wheel as package data).

The fresh venv borrows the CI venv's third-party packages through a ``.pth`` line instead of installing a
second copy of torch and its CUDA wheels (6 GB, which once filled the CI disk); the wheel itself goes into
the fresh venv, every requirement it declares is checked against what is importable, and the app is
checked to run from the wheel's files, not the checkout. The folder is removed afterwards.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Run inside the fresh venv: every requirement of the installed wheel is met (extras aside) and
# `explorer` comes from the venv's own site-packages.
PROBE = """
import sys, importlib.metadata as md, explorer
from packaging.requirements import Requirement
missing = []
for text in md.requires("vae-latent-explorer") or []:
    req = Requirement(text)
    if req.marker and not req.marker.evaluate({"extra": ""}):
        continue
    try:
        version = md.version(req.name)
    except md.PackageNotFoundError:
        missing.append(f"{req} (absent)")
        continue
    if not req.specifier.contains(version, prereleases=True):
        missing.append(f"{req} (found {version})")
print("explorer from", explorer.__file__)
if missing or not explorer.__file__.startswith(sys.prefix):
    print("unmet:", missing)
    sys.exit(1)
"""


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="wheel-check-"))
    try:
        return _check(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _check(work: Path) -> int:
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(work / "dist")],
                   check=True)
    wheel = next((work / "dist").glob("*.whl"))
    subprocess.run([sys.executable, "-m", "venv", str(work / "venv")], check=True)
    py = work / "venv" / "bin" / "python"
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    # A plain path line: the CI venv's packages become importable, but its .pth files (the editable
    # install of this checkout among them) are not run.
    Path(site, "zz_ci_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True)
    elsewhere = work / "elsewhere"
    elsewhere.mkdir()
    subprocess.run([str(py), "-c", PROBE], cwd=elsewhere, check=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = subprocess.Popen([str(py), "-m", "explorer", "--no-browser", "--port", str(port)], cwd=elsewhere,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 180
        for line in app.stdout:
            print("  app:", line.rstrip())
            if line.startswith("VAE explorer ready at http") or time.time() > deadline:
                break
        base = f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(f"{base}/api/models", timeout=60) as r:
            models = json.load(r)["models"]
        names = sorted(m["name"] for m in models if "error" not in m)
        print("  models served by the wheel install:", names)
        with urllib.request.urlopen(f"{base}/vx/models.json", timeout=60) as r:
            site = json.load(r)
        for entry in site["models"]:
            for kind, path in entry["files"].items():
                with urllib.request.urlopen(f"{base}/vx/{path}", timeout=60) as r:
                    assert r.status == 200 and len(r.read()) > 10_000, (entry["name"], kind)
        with urllib.request.urlopen(f"{base}/", timeout=60) as r:
            page = r.read().decode()
        for path in ("js/main.js", "js/worker.js", "js/panels/map.js", "explorer.css", "icons/icon-512.png"):
            with urllib.request.urlopen(f"{base}/vx/app/{site['app']}/{path}", timeout=60) as r:
                assert r.status == 200, path
        for path in ("/sw.js", "/manifest.webmanifest"):
            with urllib.request.urlopen(base + path, timeout=60) as r:
                assert r.status == 200, path
        assert f"/vx/app/{site['app']}/js/main.js" in page
        shipped = ["mnist-cvae-z16", "mnist-z16", "mnist-z2", "mnist-z2-ae", "mnist-z2-beta4", "mnist-z50"]
        timelines = sorted(e["name"] for e in site["models"] if "timeline" in e.get("files", {}))
        if names != shipped or any("error" in m for m in models) or \
                timelines != ["mnist-z16", "mnist-z2", "mnist-z2-ae", "mnist-z2-beta4"]:
            print("wheel check FAILED:", names, timelines, models)
            return 1
        print(f"wheel check passed: {len(shipped)} models ({len(timelines)} with timelines) served from a wheel "
              "install started in another folder")
        return 0
    finally:
        app.terminate()
        app.wait(10)


if __name__ == "__main__":
    raise SystemExit(main())
