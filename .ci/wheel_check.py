"""CI: the wheel serves all shipped models. Builds the wheel, installs it (not editable) into a fresh
venv, starts the app from another folder on a free loopback port and asks for every model's bundle."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="wheel-check-"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(work / "dist")],
                   check=True)
    wheel = next((work / "dist").glob("*.whl"))
    subprocess.run([sys.executable, "-m", "venv", str(work / "venv")], check=True)
    py = work / "venv" / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", str(wheel)], check=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    elsewhere = work / "elsewhere"
    elsewhere.mkdir()
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
        for name in names:
            with urllib.request.urlopen(f"{base}/api/models/{name}/bundle", timeout=60) as r:
                assert r.status == 200 and len(r.read()) > 100_000, name
        if names != ["mnist-cvae-z16", "mnist-z16", "mnist-z2", "mnist-z50"] or any("error" in m for m in models):
            print("wheel check FAILED:", models)
            return 1
        print("wheel check passed: 4 models served from a wheel install started in another folder")
        return 0
    finally:
        app.terminate()
        app.wait(10)


if __name__ == "__main__":
    raise SystemExit(main())
