"""``log`` against a tracking server set up for many users: a database backend and a proxied
artifact store (``mlflow server --artifacts-destination``), as the README documents.

All real: the tiny pipeline's stages run in-process, ``log`` runs as the CLI does, and the server
is a real ``mlflow server`` process on 127.0.0.1. Only the driver's ``log`` stage talks to it:
artifacts travel over HTTP to the server's store, nothing lands in the project's own store.
"""

from __future__ import annotations

import pytest

from pipeline import io, paths
from tests import reliability_helpers
from tests._report_support import run_stages

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def proxied_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("server")
    store = root / "artifact-store"
    with reliability_helpers.mlflow_server(root, "--artifacts-destination", str(store)) as url:
        yield url, store


def _files(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_log_sends_run_and_artifacts_through_the_server(module_project, proxied_server):
    from mlflow import MlflowClient

    from pipeline import config
    from pipeline.stages import report

    url, store = proxied_server
    cfg = config.load(module_project / "params.yaml")
    run_stages(cfg)
    report.main(cfg)
    done = reliability_helpers.run_stage("log", module_project, env={"MLFLOW_TRACKING_URI": url})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]

    run_id = io.read_json(module_project / paths.MLFLOW_RUN)["run_id"]
    run = MlflowClient(tracking_uri=url).get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.info.artifact_uri.startswith("mlflow-artifacts:/"), run.info.artifact_uri  # proxied, not a path
    stored = _files(store)
    assert any(f.endswith("audit_report.html") for f in stored), stored[:20]
    assert any(f.endswith("MLmodel") for f in stored), stored[:20]
    assert _files(module_project / "mlartifacts") == []  # the project's own store stays untouched
    assert not (module_project / "mlflow.db").exists()
