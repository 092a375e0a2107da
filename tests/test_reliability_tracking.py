"""MLflow under stress: a fresh store from many processes, SIGTERM mid-run, a real local server.

All real: real SQLite stores, a real ``mlflow server`` process on 127.0.0.1, real signals.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from pipeline import errors
from tests import reliability_helpers
from tests.reliability_helpers import stage_env

CONNECT = """
import json, sys
from pipeline import tracking
uri = tracking.connect("parallel", 10)
import mlflow
with tracking.run("r", {"worker": sys.argv[1]}) as run_id:
    tracking.log_metrics({"x": float(sys.argv[1])})
print(json.dumps({"run_id": run_id}))
"""


@pytest.mark.slow
def test_parallel_connect_on_a_fresh_store_all_succeed(tmp_path):
    """Six processes create the same fresh SQLite store at once: all log a finished run into one experiment."""
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CONNECT, str(i)],
            cwd=tmp_path,
            env=stage_env({"MLFLOW_TRACKING_URI": uri}),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(6)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, [err[-2000:] for _, err in outs]
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("parallel")
    runs = client.search_runs([experiment.experiment_id])
    assert sorted(r.data.metrics["x"] for r in runs) == [float(i) for i in range(6)]
    assert {r.info.status for r in runs} == {"FINISHED"}


SLEEPER = """
import signal, sys, time
from pipeline import cli, tracking
signal.signal(signal.SIGTERM, cli._terminate)
tracking.connect("sigterm", 10)
try:
    with tracking.run("long", {}) as run_id:
        print(run_id, flush=True)
        time.sleep(120)
except KeyboardInterrupt:
    sys.exit(130)
"""


@pytest.mark.slow
def test_sigterm_ends_the_mlflow_run_killed(tmp_path):
    """SIGTERM while a run is open (as the CLI handles it): exit 130 and the run is KILLED with an end time."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    proc = subprocess.Popen(
        [sys.executable, "-c", SLEEPER],
        cwd=tmp_path,
        env=stage_env({"MLFLOW_TRACKING_URI": uri}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    run_id = proc.stdout.readline().strip()
    assert run_id, proc.stderr.read()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == errors.EXIT_INTERRUPTED
    from mlflow import MlflowClient

    info = MlflowClient(tracking_uri=uri).get_run(run_id).info
    assert info.status == "KILLED" and info.end_time is not None


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """A real ``mlflow server`` bound to 127.0.0.1 with a plain artifact root."""
    root = tmp_path_factory.mktemp("server")
    with reliability_helpers.mlflow_server(root, "--default-artifact-root", str(root / "art")) as url:
        yield url


@pytest.mark.slow
def test_reachable_server_connects_and_logs(mlflow_server, tmp_path):
    """The positive case: with a live server the same connect + run succeeds and the run is FINISHED."""
    done = subprocess.run(
        [sys.executable, "-c", CONNECT, "7"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=stage_env({"MLFLOW_TRACKING_URI": mlflow_server}),
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    run_id = json.loads(done.stdout.strip().splitlines()[-1])["run_id"]
    from mlflow import MlflowClient

    assert MlflowClient(tracking_uri=mlflow_server).get_run(run_id).info.status == "FINISHED"


@pytest.mark.slow
def test_foreign_host_header_is_refused(mlflow_server):
    """DNS-rebinding guard: the server bound to 127.0.0.1 refuses ``Host: evil.example`` with a 4xx."""
    request = urllib.request.Request(
        mlflow_server + "/api/2.0/mlflow/experiments/search?max_results=1", headers={"Host": "evil.example"}
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=10)
    assert 400 <= info.value.code < 500
    ok = urllib.request.urlopen(mlflow_server + "/api/2.0/mlflow/experiments/search?max_results=1", timeout=10)
    assert ok.status == 200


def test_make_ui_binds_localhost_only():
    """``make ui`` passes ``--host 127.0.0.1`` (MLflow's Host-header guard assumes a local bind)."""
    from tests.conftest import REPO

    recipe = (REPO / "Makefile").read_text().split("\nui:", 1)[1].split("\n\n", 1)[0]
    assert "mlflow ui --host 127.0.0.1" in recipe and "0.0.0.0" not in recipe
