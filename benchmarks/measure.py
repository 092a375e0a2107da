"""Run a command as a child process and measure its wall time and peak memory.

Peak memory comes from ``os.wait4``: the kernel's ``ru_maxrss`` of the child (the largest
resident set it, or any descendant it waited for, ever had). Nothing is sampled, so a short
spike cannot be missed the way a polling loop can miss it.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from pathlib import Path


def run_measured(
    cmd: list[str] | str, *, cwd: Path, env: dict | None = None, log: Path | None = None, timeout_s: float = 1800
) -> dict:
    """Run ``cmd`` (list, or a shell string) and return wall seconds, peak RSS (MiB) and exit code.

    stdout and stderr go to ``log`` (or are discarded), so a chatty child cannot block on a
    full pipe. A child that outlives ``timeout_s`` is killed and reported with rc -9.
    """
    out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115 - closed below
    try:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, shell=isinstance(cmd, str))
        deadline = start + timeout_s
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.005)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
    finally:
        if log:
            out.close()
    return {"wall_s": wall, "peak_rss_mib": usage.ru_maxrss / 1024.0, "rc": proc.returncode}


def summary(values: list[float]) -> dict:
    """Median, min and max (and the runs themselves), the form every figure is reported in."""
    clean = [v for v in values if v is not None]
    if not clean:
        return {"median": None, "min": None, "max": None, "runs": []}
    return {"median": statistics.median(clean), "min": min(clean), "max": max(clean), "runs": clean}


def tail(path: Path, lines: int = 15) -> str:
    """The last lines of a log file, for error messages that name what failed."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


SHIM = '''#!{python} -S
"""Stand-in for ``python`` on PATH during a benchmarked ``dvc repro``: runs the real
interpreter, then appends the stage's wall time and peak RSS to $BENCH_STAGE_LOG."""
import json, os, subprocess, sys, time
start = time.perf_counter()
proc = subprocess.Popen([{python!r}, *sys.argv[1:]])
_, status, usage = os.wait4(proc.pid, 0)
wall = time.perf_counter() - start
rc = os.waitstatus_to_exitcode(status)
with open(os.environ["BENCH_STAGE_LOG"], "a") as fh:
    fh.write(json.dumps({{"argv": sys.argv[1:], "wall_s": wall, "peak_rss_mib": usage.ru_maxrss / 1024.0, "rc": rc}}) + "\\n")
sys.exit(rc)
'''  # noqa: E501 (the shim's text, written as is)


def write_shim(folder: Path, python: str) -> Path:
    """A ``python`` executable in ``folder`` that measures every stage command DVC runs."""
    folder.mkdir(parents=True, exist_ok=True)
    shim = folder / "python"
    shim.write_text(SHIM.format(python=python))
    shim.chmod(0o755)
    return folder
