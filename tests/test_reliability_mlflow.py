"""MLflow writes only where the project says, waits a bounded time, and keeps only finished versions
(issue 25, items 2, 3 and 5).

Real MLflow on real SQLite stores; a real socket server for the stalling tracking server. The one
fault injected by hand is a failure inside ``log`` after the model was registered (a function of our
own replaced by one that raises), since no input reaches that point and then fails.
"""

from __future__ import annotations

import shutil

import pytest
import yaml

from pipeline import cli, errors, io, paths, tracking
from pipeline.errors import BadInputError
from tests._report_support import run_stages
from tests.conftest import tiny_params
from tests.reliability_helpers import run_stage, trickle_server


def _log_once(project, monkeypatch) -> str:
    """What ``log`` does with a store, reduced to one run holding one artifact, in ``project``."""
    monkeypatch.chdir(project)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    tracking.connect("ethics-audit", 5)
    with tracking.run("r", {}) as run_id:
        tracking.log_dict({"a": 1}, "metrics/x.json")
    return run_id


def _files(folder) -> int:
    return sum(1 for p in folder.rglob("*") if p.is_file()) if folder.exists() else 0


def test_copied_and_moved_projects_log_into_their_own_artifacts(tmp_path, monkeypatch, capsys):
    """``cp -a`` brought ``mlflow.db`` along and the copy wrote into the original's ``mlartifacts/``; a
    renamed project re-created its old path. Now the experiment is set aside and recreated, with a message."""
    original = tmp_path / "original"
    original.mkdir()
    _log_once(original, monkeypatch)
    in_original = _files(original / "mlartifacts")
    assert in_original > 0

    copy = tmp_path / "copy"
    shutil.copytree(original, copy, symlinks=True)
    capsys.readouterr()
    _log_once(copy, monkeypatch)
    assert _files(original / "mlartifacts") == in_original
    assert _files(copy / "mlartifacts") > in_original  # the copied files plus this run's
    assert "a copied or moved project" in capsys.readouterr().out

    moved = tmp_path / "moved"
    copy.rename(moved)
    _log_once(moved, monkeypatch)
    assert not copy.exists(), "the old path was re-created"
    assert _files(original / "mlartifacts") == in_original
    import mlflow

    names = [e.name for e in mlflow.MlflowClient().search_experiments()]
    assert "ethics-audit" in names and sum(n.startswith("ethics-audit (artifacts at ") for n in names) == 2


def test_a_symlink_one_level_inside_mlartifacts_is_refused(tmp_path, monkeypatch):
    """``mlartifacts/models`` symlinked out sent 466 files outside: the guard checked only the top folder."""
    project, outside = tmp_path / "project", tmp_path / "outside"
    project.mkdir()
    outside.mkdir()
    _log_once(project, monkeypatch)
    models = project / "mlartifacts" / "models"
    shutil.rmtree(models, ignore_errors=True)
    models.symlink_to(outside, target_is_directory=True)
    with pytest.raises(BadInputError, match=r"refusing to write MLflow artifacts to .*mlartifacts/models: it resolves"):
        _log_once(project, monkeypatch)
    assert not any(outside.iterdir())


def test_a_run_outside_the_project_artifacts_is_refused(tmp_path, monkeypatch):
    """The check made at every run, whatever the experiment says."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with pytest.raises(BadInputError, match="refusing to write MLflow artifacts to /elsewhere/1/artifacts"):
        tracking.check_run_location("file:///elsewhere/1/artifacts")
    tracking.check_run_location((tmp_path / "mlartifacts" / "1" / "artifacts").as_uri())  # inside: accepted


@pytest.fixture(scope="module")
def upstream(module_project):
    from pipeline import config

    run_stages(config.load(module_project / "params.yaml"), ("prepare", "train", "evaluate", "fairness"))
    return module_project


def test_a_server_that_stalls_after_its_health_check_hits_the_overall_deadline(upstream):
    """Before: ``log`` waited past 180 s (the deadline covered only the first probe). Now exit 3 naming the
    server once ``tracking.deadline_s`` has passed."""
    server, stop = trickle_server(answer_health=True)
    port = server.getsockname()[1]
    params = upstream / "params.yaml"
    before = params.read_bytes()
    try:
        done = run_stage(
            "log",
            upstream,
            params=tiny_params({"tracking": {"timeout_s": 2, "deadline_s": 4}}),
            env={"MLFLOW_TRACKING_URI": f"http://127.0.0.1:{port}"},
            timeout=150,
        )
    finally:
        stop.set()
        server.close()
        params.write_bytes(before)
    assert done.returncode == errors.EXIT_TRACKING_UNAVAILABLE, done.stderr[-2000:]
    assert f"127.0.0.1:{port} did not complete the `log` stage's exchange within 4 s" in done.stderr
    assert "tracking.deadline_s" in done.stderr and "Traceback" not in done.stderr
    assert done.elapsed < 60


def source(folder):
    """A version's source folder (its contents do not matter to the registry)."""
    folder.mkdir()
    (folder / "MLmodel").write_text("flavors: {}\n")
    return folder


def test_discarding_a_runs_versions_gives_the_alias_back(tmp_path, monkeypatch):
    """Hand-worked on a real store: v1 holds ``audited``; a later ``log`` registers v2 (tagged with the holder
    before it) and moves the alias; that ``log`` fails: v2 goes, the alias returns to v1."""
    import mlflow

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    tracking.connect("ethics-audit", 5)
    client = mlflow.MlflowClient()
    client.create_registered_model("m")
    with tracking.run("first", {}) as first:
        pass
    v1 = client.create_model_version(
        "m", str(source(tmp_path / "x")), run_id=first, tags={tracking.ALIAS_BEFORE_TAG: "audited="}
    )
    client.set_registered_model_alias("m", "audited", v1.version)
    with pytest.raises(RuntimeError, match="injected"), tracking.run("second", {}) as second:
        v2 = client.create_model_version(
            "m", str(source(tmp_path / "y")), run_id=second, tags={tracking.ALIAS_BEFORE_TAG: "audited=1"}
        )
        client.set_registered_model_alias("m", "audited", v2.version)
        raise RuntimeError("injected")
    assert [v.version for v in client.search_model_versions("name = 'm'")] in (["1"], [1])
    assert {k: int(v) for k, v in client.get_registered_model("m").aliases.items()} == {"audited": 1}
    assert client.get_run(second).info.status == "FAILED" and client.get_run(first).info.status == "FINISHED"


@pytest.mark.slow
def test_a_log_that_fails_after_registering_removes_its_versions(upstream, monkeypatch, capsys):
    """Issue 25: a failed ``log`` kept its registered version. The real stage, twice: the second time a
    function of ours raises after the network's version was registered (here reused: same weights)."""
    import mlflow

    from pipeline import tracking

    assert cli.run(["log"]) == 0, capsys.readouterr().err
    first = io.read_json(paths.MLFLOW_RUN)["registry"]
    client = mlflow.MlflowClient()
    before = client.get_registered_model(first["name"]).aliases

    def fails_after_registration(*args, **kwargs):
        raise RuntimeError("injected: the registered model could not be described")

    # the last registry call of `log` (issue 26): the network's version is registered or reused before it
    monkeypatch.setattr(tracking, "describe_registered_model", fails_after_registration)
    params = upstream / "params.yaml"
    kept = params.read_bytes()
    try:  # another pipeline state (the config is part of it) that leaves every stage output valid
        params.write_text(yaml.safe_dump(tiny_params({"tracking": {"deadline_s": 901}})))
        assert cli.run(["log"]) == errors.EXIT_UNEXPECTED
    finally:
        params.write_bytes(kept)
    out = capsys.readouterr().out
    # the same weights reuse the first version (issue 26), so the failed run registered nothing of its own;
    # a version it had registered would be removed and named here
    assert "removed model version(s)" not in out or f"{first['name']} v{first['version'] + 1}" in out
    versions = client.search_model_versions(f"name = '{first['name']}'")
    assert sorted(int(v.version) for v in versions) == [first["version"]]
    assert client.get_registered_model(first["name"]).aliases == before
    failed = mlflow.search_runs(filter_string="attributes.status = 'FAILED'", output_format="list")
    assert len(failed) == 1


@pytest.mark.slow
def test_the_real_log_of_a_copied_then_moved_project_stays_in_its_own_folder(tmp_path):
    """Done-when of issue 25: a project copied with ``cp -a`` and then renamed each log into their own
    ``mlartifacts/`` only (the real stages and ``log``, as separate processes)."""
    from tests.conftest import make_project

    original = make_project(tmp_path / "original")
    for stage in ("prepare", "train", "evaluate", "fairness", "log"):
        done = run_stage(stage, original)
        assert done.returncode == 0, (stage, done.stderr[-2000:])
    in_original = _files(original / "mlartifacts")
    copy = tmp_path / "copy"
    shutil.copytree(original, copy, symlinks=True)
    done = run_stage("log", copy)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "(a copied or moved project)" in done.stdout
    assert io.read_json(copy / paths.MLFLOW_RUN)["reused"] is False
    assert _files(original / "mlartifacts") == in_original
    assert _files(copy / "mlartifacts") > in_original
    moved = tmp_path / "moved"
    copy.rename(moved)
    done = run_stage("log", moved)
    assert done.returncode == 0, done.stderr[-2000:]
    assert not copy.exists() and _files(original / "mlartifacts") == in_original
    assert io.read_json(moved / paths.MLFLOW_RUN)["reused"] is False
