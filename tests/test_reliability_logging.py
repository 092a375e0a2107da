"""MLflow bookkeeping of the ``log`` stage under adversarial conditions (issue 16, items 3, 4, 6, 7, 9).

Real everything: the real ``python -m pipeline log`` in subprocesses on a real SQLite store, real
SIGKILL, real concurrent processes, a real socket server that trickles bytes. The upstream stages
run once per module on a few hundred Adult rows; each test changes fairness.json's verdicts so it
logs a pipeline state of its own.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time

import pytest

from pipeline import errors, io, paths
from tests._report_support import run_stages, with_audit
from tests.conftest import make_project
from tests.reliability_helpers import run_stage, stage_env, trickle_server


@pytest.fixture(scope="module")
def upstream(module_project):
    """prepare, train, evaluate and fairness, in-process, once; ``log`` then runs as a subprocess in this folder."""
    from pipeline import config

    run_stages(config.load(module_project / "params.yaml"), ("prepare", "train", "evaluate", "fairness"))
    return module_project


def _client(project):
    """A client on the project's store, creating it under the store's lock if needed: the test polls while a
    ``log`` subprocess may be creating it, and two creators at once corrupt a fresh SQLite store."""
    from filelock import FileLock
    from mlflow import MlflowClient

    uri = f"sqlite:///{project / 'mlflow.db'}"
    with FileLock(str(project / "mlflow.db.lock"), timeout=120):
        client = MlflowClient(tracking_uri=uri)
        client.search_experiments(max_results=1)
    return client


def _runs(project, status: str | None = None):
    client = _client(project)
    experiment = client.get_experiment_by_name("ethics-audit")
    if experiment is None:
        return []
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    return [r for r in runs if status is None or r.info.status == status]


def _log(project) -> tuple[subprocess.CompletedProcess, dict]:
    done = run_stage("log", project)
    assert done.returncode == 0, done.stderr[-3000:]
    return done, io.read_json(project / paths.MLFLOW_RUN)


@pytest.mark.slow
def test_rerun_reuses_the_run_and_keeps_the_registry_entry(upstream):
    """Smaller item of issue 16: a rerun wrote outputs/mlflow_run.json without ``registry``."""
    with_audit("pass", variant=1)
    first_done, first = _log(upstream)
    assert "(new)" in first_done.stdout and first["registry"]["alias"] == "audited"
    again_done, again = _log(upstream)
    assert "(existing)" in again_done.stdout
    assert again["run_id"] == first["run_id"] and again["registry"] == first["registry"]


@pytest.mark.slow
def test_compare_reads_a_logged_run_and_writes_inside_the_project(upstream):
    """``compare <run id> workspace`` downloads the run's metrics through ``tracking`` into a temporary folder."""
    _, summary = _log(upstream)
    done = subprocess.run(
        [sys.executable, "-m", "pipeline", "compare", summary["run_id"], "workspace"],
        cwd=upstream,
        env=stage_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"MLflow run {summary['run_id']}" in (upstream / "reports" / "compare.md").read_text()


@pytest.mark.slow
def test_deleted_artifacts_are_logged_afresh(upstream):
    """Item 3: with ``mlartifacts/`` deleted the run was reused ("(existing)") while its model answered
    "No such artifact". Now the stale run is tagged and a new, complete run is logged."""
    import mlflow

    with_audit("pass", variant=2)
    _, first = _log(upstream)
    shutil.rmtree(upstream / "mlartifacts")
    done, second = _log(upstream)
    assert "(new)" in done.stdout and second["run_id"] != first["run_id"]
    client = _client(upstream)
    assert client.get_run(first["run_id"]).data.tags["artifacts_missing"] == "true"
    mlflow.set_tracking_uri(f"sqlite:///{upstream / 'mlflow.db'}")
    assert mlflow.artifacts.list_artifacts(artifact_uri=second["model_uri"])
    assert client.list_artifacts(second["run_id"], "metrics")


def _state_runs(project, state: str):
    return [r for r in _runs(project) if r.data.tags.get("pipeline_state") == state]


def _current_state(project) -> str:
    from pipeline import config
    from pipeline.provenance import pipeline_state

    return pipeline_state(config.load(project / "params.yaml"))


@pytest.mark.slow
def test_a_killed_log_does_not_leave_its_run_running(upstream):
    """Item 6: SIGKILL during ``log`` left the run RUNNING forever. The next ``log`` of that state ends it KILLED
    (and logs a complete run)."""
    with_audit("fail", variant=3)
    state = _current_state(upstream)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "log"],
        cwd=upstream,
        env=stage_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if [r for r in _state_runs(upstream, state) if r.info.status == "RUNNING"]:
            break
        time.sleep(0.1)
    assert proc.poll() is None, "log finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    (orphan,) = [r for r in _state_runs(upstream, state) if r.info.status == "RUNNING"]
    _, summary = _log(upstream)
    ended = _client(upstream).get_run(orphan.info.run_id)
    assert ended.info.status == "KILLED" and ended.info.end_time is not None
    assert summary["run_id"] != orphan.info.run_id
    assert {r.info.status for r in _state_runs(upstream, state)} == {"KILLED", "FINISHED"}


@pytest.mark.slow
def test_two_concurrent_logs_give_one_run_and_one_model_version(upstream):
    """Item 6: two ``log`` calls at once on one new state gave two FINISHED runs and two model versions.
    Since issue 26 the same weights keep one registered version across states, so this state adds at most one."""
    with_audit("fail", variant=5)
    state = _current_state(upstream)
    before = {v.version for v in _client(upstream).search_model_versions()}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "pipeline", "log"],
            cwd=upstream,
            env=stage_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err[-2000:] for _, err in outs]
    (run,) = _state_runs(upstream, state)
    assert run.info.status == "FINISHED"
    assert sorted("(new)" in out for out, _ in outs) == [False, True]
    # one registered network version at most (the same weights as an earlier state reuse its version,
    # issue 26), named by the run, and never two versions with the same decision fingerprint
    client = _client(upstream)
    versions = client.search_model_versions()
    assert len({v.version for v in versions} - before) <= 1
    name, version = run.data.tags["registered_version"].rsplit(":", 1)
    assert client.get_model_version(name, version) is not None
    prints = [v.tags["decision_fingerprint"] for v in versions if "decision_fingerprint" in v.tags]
    assert len(prints) == len(set(prints))


@pytest.mark.slow
def test_symlinked_artifact_folder_of_an_existing_store_is_refused(upstream, tmp_path):
    """Item 4: ``mlartifacts/`` replaced by a symlink out of the project: exit 2 before MLflow writes a file there."""
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.rmtree(upstream / "mlartifacts")
    (upstream / "mlartifacts").symlink_to(outside, target_is_directory=True)
    with_audit("inconclusive", variant=4)
    before = len(_runs(upstream))
    try:
        done = run_stage("log", upstream)
    finally:
        (upstream / "mlartifacts").unlink()
    assert done.returncode == errors.EXIT_BAD_INPUT, done.stderr[-2000:]
    assert "refusing to write MLflow artifacts to" in done.stderr and "outside the project root" in done.stderr
    assert list(outside.iterdir()) == [] and len(_runs(upstream)) == before


def test_symlinked_artifact_folder_of_a_new_store_is_refused(tmp_path):
    project = make_project(tmp_path / "project")
    outside = tmp_path / "outside"
    outside.mkdir()
    (project / "mlartifacts").symlink_to(outside, target_is_directory=True)
    done = run_stage("log", project)
    assert done.returncode == errors.EXIT_BAD_INPUT, done.stderr[-2000:]
    assert "mlartifacts" in done.stderr and "outside the project root" in done.stderr
    assert list(outside.iterdir()) == [] and not (project / "mlflow.db").exists()


def test_corrupt_store_exits_4_naming_it_and_leaves_it_alone(tmp_path):
    """Item 7: a corrupt ``mlflow.db`` ended in exit 1 with a traceback."""
    project = make_project(tmp_path / "project")
    garbage = b"SQLite format 3\0" + bytes(range(256)) * 16
    (project / "mlflow.db").write_bytes(garbage)
    done = run_stage("log", project)
    assert done.returncode == errors.EXIT_INTEGRITY, done.stderr[-2000:]
    assert "mlflow.db: not a usable MLflow store" in done.stderr and "Traceback" not in done.stderr
    assert (project / "mlflow.db").read_bytes() == garbage


def test_trickling_server_hits_the_overall_probe_deadline(tmp_path):
    """Item 9: a server sending one byte at a time kept ``log`` waiting indefinitely (the timeout was per read)."""
    project = make_project(tmp_path / "project", {"tracking": {"timeout_s": 2}})
    server, stop = trickle_server()
    try:
        uri = f"http://127.0.0.1:{server.getsockname()[1]}"
        done = run_stage("log", project, env={"MLFLOW_TRACKING_URI": uri}, timeout=60)
    finally:
        stop.set()
        server.close()
    assert done.returncode == errors.EXIT_TRACKING_UNAVAILABLE, done.stderr[-2000:]
    assert "no complete answer within 2 s" in done.stderr
    assert done.elapsed < 30, f"took {done.elapsed:.1f}s"


def test_only_old_running_runs_count_as_orphans_when_the_lock_may_not_see_their_owner(tmp_path, monkeypatch):
    """On a tracking server other machines' ``log`` calls are outside our lock: a fresh RUNNING run of the
    state is left alone there (``min_age_s``), and ended at once where the lock is authoritative (SQLite)."""
    from pipeline import tracking

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)
    tracking.connect("orphans", 10)
    import mlflow

    live = mlflow.start_run(tags={"pipeline_state": "s1"}).info.run_id
    try:
        assert tracking.end_orphaned_runs("s1", min_age_s=tracking.SERVER_ORPHAN_AGE_S) == []
        assert tracking.end_orphaned_runs("other-state") == []
        assert tracking.end_orphaned_runs("s1") == [live]
        assert mlflow.MlflowClient().get_run(live).info.status == "KILLED"
    finally:
        mlflow.end_run()
