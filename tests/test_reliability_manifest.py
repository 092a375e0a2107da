"""Stage inputs are checked as one set (issue 25, item 1): torn, mismatched and stale sets exit 2.

Real stages on a few hundred Adult rows. A torn set is made the two ways it happens: files of two
``prepare`` runs side by side (what a ``kill -9`` between two renames left), and a real SIGKILL of
a real ``prepare`` at each of its file writes.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from pipeline import cli, config, errors, io, manifest, paths
from tests.reliability_helpers import run_stage, stage_env

#: Every stage that reads another stage's set.
READERS = ("train", "evaluate", "fairness", "mitigate", "explain", "privacy", "log")


@pytest.fixture(scope="module")
def ran(module_project):
    """prepare .. mitigate, in-process, on the tiny project (cwd is the project)."""
    from pipeline.stages import evaluate, fairness, mitigate, prepare, train

    cfg = config.load(module_project / "params.yaml")
    for stage in (prepare, train, evaluate, fairness, mitigate):
        stage.main(cfg)
    return module_project


@pytest.fixture(scope="module")
def other_prepared(tmp_path_factory):
    """``data/prepared`` from a ``prepare`` run on other data (500 rows instead of 600), in its own folder."""
    from tests.conftest import make_project

    project = make_project(tmp_path_factory.mktemp("other") / "project", {"data": {"max_rows": 500}})
    done = run_stage("prepare", project)
    assert done.returncode == 0, done.stderr
    return project / paths.PREPARED_DIR


class Swapped:
    """Put files from elsewhere in place for one test, restoring the originals afterwards."""

    def __init__(self, pairs: dict):
        self.pairs = pairs

    def __enter__(self):
        self.before = {target: target.read_bytes() for target in self.pairs}
        for target, source in self.pairs.items():
            shutil.copyfile(source, target)

    def __exit__(self, *exc):
        for target, data in self.before.items():
            target.write_bytes(data)


def cli_run(stage: str, capsys) -> tuple[int, str]:
    capsys.readouterr()
    code = cli.run([stage])
    return code, capsys.readouterr().err


def test_an_identical_rerun_writes_an_identical_manifest(ran):
    """No clock in the manifest: DVC sees an unchanged output, and downstream sets stay valid."""
    from pipeline.stages import prepare

    before = paths.PREPARED_MANIFEST.read_bytes()
    prepare.main(config.load(ran / "params.yaml"))
    assert paths.PREPARED_MANIFEST.read_bytes() == before
    listed = io.read_json(paths.PREPARED_MANIFEST)
    assert set(listed["files"]) == {p.as_posix() for p in prepare.outputs()}
    assert listed["rows"] == io.read_json(paths.PREPARED_META)["rows"]
    assert manifest.require(config.load(ran / "params.yaml"), "prepare", "train", "evaluate", "mitigate")


@pytest.mark.parametrize("stage", READERS)
def test_a_new_train_split_beside_old_files_is_refused_by_every_reader(ran, other_prepared, capsys, stage):
    """The kill -9 of issue 25: a new ``train.npz`` beside the old validation, test, groups and meta.
    Before: train, evaluate and fairness exited 0 on misaligned splits."""
    target = paths.split_arrays("train")
    with Swapped({target: other_prepared / target.name}):
        code, err = cli_run(stage, capsys)
    assert code == errors.EXIT_BAD_INPUT, err
    assert "data/prepared/train.npz is not the file the last 'prepare' run wrote" in err
    assert "the set is torn" in err and "rerun `python -m pipeline prepare`" in err
    assert "Traceback" not in err


def test_prepare_on_other_data_then_evaluate_or_fairness_names_the_stage_to_rerun(ran, other_prepared, capsys):
    """Before: ``mat1 and mat2 shapes cannot be multiplied`` (evaluate) and ``IndexError: boolean index did not
    match`` (fairness), both exit 1. Now the model and the predictions are refused as made from other data."""
    pairs = {paths.PREPARED_DIR / p.name: p for p in other_prepared.iterdir() if p.is_file()}
    other = other_prepared.parents[1]
    pairs[paths.DATA_METRICS] = other / paths.DATA_METRICS
    # the other project was prepared with data.max_rows 500: use its settings, so only the sets disagree
    with Swapped({**pairs, ran / "params.yaml": other / "params.yaml"}):
        evaluate_code, evaluate_err = cli_run("evaluate", capsys)
        fairness_code, fairness_err = cli_run("fairness", capsys)
    assert evaluate_code == errors.EXIT_BAD_INPUT, evaluate_err
    assert "the outputs of 'train' were made from other 'prepare' outputs" in evaluate_err
    assert "rerun `python -m pipeline train`" in evaluate_err
    assert fairness_code == errors.EXIT_BAD_INPUT, fairness_err
    assert "the outputs of 'evaluate' were made from other 'prepare' outputs" in fairness_err
    for err in (evaluate_err, fairness_err):
        assert "Traceback" not in err and "mat1" not in err and "IndexError" not in err


def test_changed_data_settings_make_the_prepared_set_stale(ran, capsys):
    """params.yaml edited after ``prepare`` (without ``dvc repro``): the next stage says the set is stale."""
    import yaml

    from tests.conftest import tiny_params

    params = ran / "params.yaml"
    before = params.read_bytes()
    try:
        params.write_text(yaml.safe_dump(tiny_params({"data": {"max_rows": 700}})))
        code, err = cli_run("train", capsys)
    finally:
        params.write_bytes(before)
    assert code == errors.EXIT_BAD_INPUT, err
    assert "data.max_rows: 600 -> 700" in err and "stale" in err and "rerun `python -m pipeline prepare`" in err


def test_missing_candidates_folder_names_mitigate(ran, capsys):
    """Issue 25: a missing ``models/candidates/`` was blamed on ``train``."""
    moved = paths.CANDIDATES_DIR.with_name("candidates.moved")
    paths.CANDIDATES_DIR.rename(moved)
    try:
        code, err = cli_run("log", capsys)
        early = cli.missing_upstream(FileNotFoundError(2, "No such file", str(ran / paths.candidate_dir("x") / "a")))
    finally:
        moved.rename(paths.CANDIDATES_DIR)
    assert code == errors.EXIT_BAD_INPUT, err
    assert "models/candidates/" in err and "rerun `python -m pipeline mitigate`" in err
    assert early is not None and "'mitigate' stage" in str(early)


#: Runs the real CLI's ``prepare`` with a SIGKILL at write number ``argv[1]``: the temporary file is
#: complete and fsynced, the rename over the target has not happened (equivalently: just after the
#: previous write's rename, plus a stray temporary).
KILL_AT_WRITE = """
import os, signal, sys
from contextlib import contextmanager
from pipeline import io

real, count = io.atomic_path, [0]

@contextmanager
def dying(target):
    with real(target) as tmp:
        yield tmp
        count[0] += 1
        if count[0] == int(sys.argv[1]):
            os.kill(os.getpid(), signal.SIGKILL)

io.atomic_path = dying
from pipeline.cli import run
sys.exit(run(["prepare"]))
"""


def prepared_bytes(project) -> dict:
    return {p.relative_to(project).as_posix(): p.read_bytes() for p in (project / paths.PREPARED_DIR).iterdir()}


@pytest.mark.slow
def test_sigkill_of_prepare_at_each_write_is_refused_and_a_rerun_recovers(tmp_path):
    """Every write of a real ``prepare`` (6 split files, meta.json, data.json, the manifest): killed there,
    ``train`` and ``fairness`` exit 2 naming ``prepare``; a rerun then gives byte-identical outputs."""
    from tests.conftest import make_project

    project = make_project(tmp_path / "project", {"data": {"max_rows": 300}})
    for stage in ("prepare", "train", "evaluate"):
        first = run_stage(stage, project)
        assert first.returncode == 0, first.stderr
    good = prepared_bytes(project)
    writes = len(prepared_bytes(project)) + 1  # every file of data/prepared, and reports/metrics/data.json
    for k in range(1, writes + 1):
        killed = subprocess.run(
            [sys.executable, "-c", KILL_AT_WRITE, str(k)], cwd=project, env=stage_env(), capture_output=True
        )
        assert killed.returncode == -9, (k, killed.stderr)
        for stage in ("train", "fairness"):
            done = run_stage(stage, project)
            assert done.returncode == errors.EXIT_BAD_INPUT, (k, stage, done.stderr)
            assert "python -m pipeline prepare" in done.stderr and "Traceback" not in done.stderr, (k, done.stderr)
    again = run_stage("prepare", project)
    assert again.returncode == 0, again.stderr
    assert prepared_bytes(project) == good  # no stray temporary either
    assert run_stage("train", project).returncode == 0
