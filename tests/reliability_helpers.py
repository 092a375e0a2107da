"""Helpers shared by the reliability tests: run the real CLI in a subprocess, find a free port."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import yaml

from tests.conftest import REPO


def stage_env(extra: dict | None = None) -> dict:
    """The environment of a CLI subprocess: this worktree's package first, no inherited tracking URI."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("MLFLOW_TRACKING_URI", None)
    env.update(extra or {})
    return env


def run_stage(stage: str, cwd: Path, *, params: dict | None = None, env: dict | None = None, timeout: float = 300):
    """``python -m pipeline <stage>`` in ``cwd`` (optionally writing ``params.yaml`` first); returns the result
    with the wall time in ``.elapsed``."""
    if params is not None:
        (cwd / "params.yaml").write_text(yaml.safe_dump(params))
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pipeline", stage],
        cwd=cwd,
        env=stage_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    done.elapsed = time.monotonic() - start
    return done


def free_port() -> int:
    """A TCP port nothing listens on right now (bound then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def full_disk_available() -> bool:
    """Whether this machine lets a test mount a tiny private tmpfs (``unshare -m``, needs root or user namespaces)."""
    import shutil

    if not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=16k tmpfs /mnt"], capture_output=True)
    return probe.returncode == 0


def run_on_full_disk(
    folder: Path, script: str, size_kb: int = 256, timeout: float = 120
) -> subprocess.CompletedProcess:
    """Run ``python -c script`` (cwd ``folder``) with ``folder`` a private tmpfs of ``size_kb`` KiB: a real
    file system that really fills up (ENOSPC from the kernel), visible to that process only."""
    folder.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [
            "unshare",
            "-m",
            "sh",
            "-c",
            f'mount -t tmpfs -o size={size_kb}k tmpfs "$0" && cd "$0" && exec "$@"',
            str(folder),
            sys.executable,
            "-c",
            script,
        ],
        env=stage_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def trickle_server(*, answer_health: bool = False):
    """A TCP server on 127.0.0.1 that answers with one byte every 0.5 s and never finishes a response
    (``answer_health``: ``GET /health`` gets a whole 200 at once first). Returns ``(server, stop)``."""
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    stop = threading.Event()

    def serve(conn):
        with conn:
            if answer_health and conn.recv(65536).startswith(b"GET /health"):
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK")
                return
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 1000:
                if stop.is_set():
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return
                time.sleep(0.5)

    def accept():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return server, stop


@contextlib.contextmanager
def mlflow_server(root: Path, *store_args: str):
    """A real ``mlflow server`` on 127.0.0.1 (a free port, one worker) with its database under
    ``root`` and ``store_args`` for the artifacts; yields its URL, stops it with SIGTERM. Its log
    goes to a file (a pipe nobody reads would stall the server once full)."""
    import urllib.request

    port = free_port()
    server_log = open(root / "mlflow_server.log", "w")  # noqa: SIM115 - closed below
    command = [str(Path(sys.executable).parent / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--workers", "1", "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}", *store_args]
    proc = subprocess.Popen(command, cwd=root, env=stage_env(), stdout=server_log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(url + "/health", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    tail = (root / "mlflow_server.log").read_text()[-2000:]
                    raise RuntimeError(f"mlflow server did not start: {tail}") from None
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        server_log.close()
