"""The files stages hand each other are checked against their contracts (pipeline/contracts.py).

A tiny real run (prepare .. privacy on a few hundred Adult rows) writes every contracted file; each
must validate. Then the files are broken the ways an older or buggy stage would break them, and the
reader must refuse with exit 4 naming the file, the key and the stage to rerun, instead of a
KeyError inside the stage; a writer must refuse a bad payload before anything reaches the disk.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline import cli, contracts, io, paths
from pipeline.errors import EXIT_INTEGRITY, IntegrityError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ran(module_project):
    """Every stage that writes a contracted file, run in order through its ``main``."""
    from pipeline import config
    from pipeline.stages import evaluate, explain, fairness, mitigate, prepare, privacy, train

    cfg = config.load(module_project / "params.yaml")
    for stage in (prepare, train, evaluate, fairness, mitigate, explain, privacy):
        stage.main(cfg)
    return module_project


class Edited:
    """Edit a JSON output in place for one test and put the original bytes back afterwards."""

    def __init__(self, path: Path, change):
        self.path, self.change = path, change

    def __enter__(self):
        self.before = self.path.read_bytes()
        payload = json.loads(self.before)
        self.change(payload)
        self.path.write_text(json.dumps(payload))
        return self.path

    def __exit__(self, *exc):
        self.path.write_bytes(self.before)


def run_stage(stage: str, capsys) -> tuple[int, str]:
    code = cli.run([stage])
    return code, capsys.readouterr().err


def test_every_file_of_a_tiny_run_validates(ran):
    for path, (model, _) in contracts.CONTRACTS.items():
        assert isinstance(contracts.read(path), model)  # raises on any mismatch; the model, not a dict
    written = {p.relative_to(ran) for p in (ran / paths.METRICS_DIR).glob("*.json")} | {paths.PREPARED_META}
    assert written == set(contracts.CONTRACTS), "a stage writes a metrics file that has no contract"


def test_read_dict_returns_the_file_unchanged(ran):
    for path in contracts.CONTRACTS:
        assert contracts.read_dict(path) == io.read_json(path)


def test_read_gives_typed_fields(ran):
    meta, evaluation = contracts.read(paths.PREPARED_META), contracts.read(paths.EVALUATE_METRICS)
    on_disk = io.read_json(paths.PREPARED_META)
    assert meta.sensitive == on_disk["sensitive"] and meta.classes[meta.favourable_index] == meta.favourable
    assert meta.encoder_state.categorical == on_disk["encoder_state"]["categorical"]
    assert evaluation.degenerate.degenerate is io.read_json(paths.EVALUATE_METRICS)["degenerate"]["degenerate"]


def test_missing_meta_key_exits_4_naming_key_file_and_stage(ran, capsys):
    with Edited(ran / paths.PREPARED_META, lambda m: m.pop("favourable_index")):
        code, err = run_stage("evaluate", capsys)
    assert code == EXIT_INTEGRITY, err
    assert "data/prepared/meta.json" in err and "'favourable_index' is missing" in err
    assert "python -m pipeline prepare" in err
    assert "KeyError" not in err and "Traceback" not in err


def test_wrong_type_in_meta_exits_4_naming_key_and_type(ran, capsys):
    def corrupt(meta):
        meta["feature_groups"]["age"] = ["0"]  # a string where a position is expected

    with Edited(ran / paths.PREPARED_META, corrupt):
        code, err = run_stage("fairness", capsys)
    assert code == EXIT_INTEGRITY, err
    assert "feature_groups.age.0" in err and "valid integer" in err and "'prepare' stage" in err


def test_inconsistent_meta_is_refused(ran, capsys):
    """Keys of the right type that contradict each other: the favourable class is not at its index."""

    def swap(meta):
        meta["favourable_index"] = 1 - meta["favourable_index"]

    with Edited(ran / paths.PREPARED_META, swap):
        code, err = run_stage("privacy", capsys)
    assert code == EXIT_INTEGRITY, err
    assert "favourable_index" in err and "does not point at favourable" in err


def test_meta_from_an_older_prepare_is_refused(ran, capsys):
    """A meta.json written before ``sensitive_encodings`` existed: rerun prepare, not a silent default."""
    with Edited(ran / paths.PREPARED_META, lambda m: m.pop("sensitive_encodings")):
        code, err = run_stage("train", capsys)
    assert code == EXIT_INTEGRITY and "'sensitive_encodings' is missing" in err and "prepare" in err


def test_older_evaluate_output_is_refused_by_the_fairness_stage(ran, capsys):
    """evaluate.json without ``degenerate`` would let the fairness stage skip the degeneracy blocker."""
    fairness_before = (ran / paths.FAIRNESS_METRICS).read_bytes()
    with Edited(ran / paths.EVALUATE_METRICS, lambda m: m.pop("degenerate")):
        code, err = run_stage("fairness", capsys)
    assert code == EXIT_INTEGRITY
    assert "reports/metrics/evaluate.json" in err and "'degenerate' is missing" in err
    assert "python -m pipeline evaluate" in err
    assert (ran / paths.FAIRNESS_METRICS).read_bytes() == fairness_before  # nothing half-written


def test_gate_refuses_a_verdict_without_status(ran):
    """Before contracts, a verdict without ``status`` counted as 'unknown'; now the file is refused."""

    def strip(fairness):
        del fairness["verdicts"][0]["status"]

    with Edited(ran / paths.FAIRNESS_METRICS, strip):
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        done = subprocess.run(
            [sys.executable, "-m", "pipeline", "gate"], cwd=ran, capture_output=True, text=True, env=env
        )
    assert done.returncode == EXIT_INTEGRITY, done.stderr
    assert "verdicts.0.status" in done.stderr and "python -m pipeline fairness" in done.stderr


def test_file_that_is_not_json_exits_4(ran, capsys):
    target = ran / paths.PREPARED_META
    before = target.read_bytes()
    try:
        target.write_bytes(before[: len(before) // 2])  # truncated, as a copy cut short would leave it
        code, err = run_stage("train", capsys)
    finally:
        target.write_bytes(before)
    assert code == EXIT_INTEGRITY and "not valid JSON" in err and "prepare" in err


def test_missing_file_still_names_the_stage_to_run_first(ran, capsys):
    target = ran / paths.PREPARED_META
    before = target.read_bytes()
    target.unlink()
    try:
        code, err = run_stage("train", capsys)
    finally:
        target.write_bytes(before)
    assert code == 2 and "python -m pipeline prepare" in err


def test_wrong_type_is_refused_on_write_and_nothing_is_written(ran):
    good = io.read_json(paths.EVALUATE_METRICS)
    before = paths.EVALUATE_METRICS.read_bytes()
    with pytest.raises(IntegrityError) as caught:
        contracts.write(paths.EVALUATE_METRICS, {**good, "accuracy": "0.8"})
    message = str(caught.value)
    assert "refusing to write reports/metrics/evaluate.json" in message and "'accuracy'" in message
    assert paths.EVALUATE_METRICS.read_bytes() == before
    assert not list(paths.METRICS_DIR.glob(".*.tmp"))


def test_meta_with_an_undeclared_key_is_refused_on_write(ran):
    meta = io.read_json(paths.PREPARED_META)
    with pytest.raises(IntegrityError, match="'sensitive_columns' is not part of the contract"):
        contracts.write(paths.PREPARED_META, {**meta, "sensitive_columns": meta["sensitive"]})


@pytest.mark.parametrize(
    ("path", "where"),
    [
        (paths.FAIRNESS_METRICS, "new_section"),
        (paths.FAIRNESS_METRICS, "verdicts.0.explanation"),
        (paths.EVALUATE_METRICS, "degenerate.note"),
        (paths.DATA_METRICS, "leakage.extra_scores"),
        (paths.MITIGATION_METRICS, "candidates.*.comment"),
        (paths.TRAIN_METRICS, "cost.watts"),
        (paths.EXPLAIN_METRICS, "shap"),
    ],
)
def test_a_metrics_key_the_model_does_not_declare_is_refused_on_write(ran, path, where):
    """Closed contracts: a writer cannot add a key that readers do not know of (exit 4, the key named)."""
    payload = io.read_json(path)
    *parents, leaf = where.split(".")
    block, named = payload, []
    for key in parents:
        key = next(iter(block)) if key == "*" else key  # the first candidate, whatever its name
        block = block[int(key)] if isinstance(block, list) else block[key]
        named.append(key)
    block[leaf] = {"anything": [1, 2]}
    where = ".".join([*named, leaf])
    before = path.read_bytes()
    with pytest.raises(IntegrityError) as caught:
        contracts.write(path, payload)
    assert caught.value.exit_code == EXIT_INTEGRITY
    assert f"'{where if path != paths.EXPLAIN_METRICS else leaf}' is not part of the contract" in str(caught.value)
    assert path.read_bytes() == before


def test_a_metrics_file_with_an_undeclared_key_is_refused_by_its_reader(ran, capsys):
    """A file edited (or written by a newer stage) with a key no model declares: the reading stage exits 4."""

    def add(evaluation):
        evaluation["near_perfect"]["verdict"] = "fine"

    with Edited(ran / paths.EVALUATE_METRICS, add):
        code, err = run_stage("fairness", capsys)
    assert code == EXIT_INTEGRITY, err
    assert "'near_perfect.verdict' is not part of the contract" in err and "python -m pipeline evaluate" in err


def test_verdict_keys_keep_their_types(ran):
    before = paths.FAIRNESS_METRICS.read_bytes()
    fairness = io.read_json(paths.FAIRNESS_METRICS)
    fairness["verdicts"][0]["gating"] = "yes"
    with pytest.raises(IntegrityError, match=r"verdicts\.0\.gating"):
        contracts.write(paths.FAIRNESS_METRICS, fairness)
    assert paths.FAIRNESS_METRICS.read_bytes() == before


def test_numpy_values_and_nan_are_written_as_plain_json(ran):
    """Writers hand numpy scalars and NaN (an undefined AUC): accepted, written as numbers and null."""
    good = io.read_json(paths.EVALUATE_METRICS)
    payload = {**good, "accuracy": np.float64(good["accuracy"]), "n_test": np.int64(good["n_test"]), "roc_auc": np.nan}
    contracts.write(paths.EVALUATE_METRICS, payload)
    on_disk = contracts.read(paths.EVALUATE_METRICS)
    assert on_disk.roc_auc is None and on_disk.accuracy == good["accuracy"]
    contracts.write(paths.EVALUATE_METRICS, good)


def test_contract_is_found_for_a_copy_elsewhere(tmp_path, ran):
    """An experiment's copy (compare, tests) is checked by its path's tail."""
    copy = tmp_path / "elsewhere" / paths.EVALUATE_METRICS
    copy.parent.mkdir(parents=True)
    payload = io.read_json(paths.EVALUATE_METRICS)
    payload.pop("accuracy")
    copy.write_text(json.dumps(payload))
    with pytest.raises(IntegrityError, match="'accuracy' is missing"):
        contracts.read(copy)
    assert contracts.read_optional(tmp_path / "absent.json") is None


def test_a_prepare_bug_stops_before_any_output_is_replaced(ran, monkeypatch):
    """A meta.json that breaks its contract stops ``prepare`` before the splits are rewritten, so the
    prepared arrays, meta.json and data.json stay one consistent set."""
    from dataclasses import replace

    from pipeline import config
    from pipeline.stages import prepare

    real = prepare.prepare

    def buggy(*args, **kwargs):
        prepared = real(*args, **kwargs)
        return replace(prepared, meta={**prepared.meta, "rows": {"train": -1}})

    monkeypatch.setattr(prepare, "prepare", buggy)
    outputs = [paths.PREPARED_META, paths.DATA_METRICS, *map(paths.split_arrays, paths.SPLITS)]
    before = {p: p.read_bytes() for p in outputs}
    with pytest.raises(IntegrityError, match=r"refusing to write data/prepared/meta.json.*rows has negative counts"):
        prepare.main(config.load(ran / "params.yaml"))
    assert {p: p.read_bytes() for p in outputs} == before


def test_missing_metrics_file_names_its_stage(ran, capsys):
    """The contracts table is also the CLI's table of producers: a missing mitigation.json names ``mitigate``."""
    from pipeline.errors import BadInputError

    early = cli.missing_upstream(FileNotFoundError(2, "No such file", str(ran / paths.MITIGATION_METRICS)))
    assert isinstance(early, BadInputError) and "python -m pipeline mitigate" in str(early)


def test_a_multiclass_csv_with_an_existing_system_writes_only_declared_keys(tmp_path, monkeypatch):
    """The closed models cover the keys written only on some runs: a multiclass target (the
    fairness stage's ``binary_note`` and ``accuracy_all_classes``) and an existing system's score
    audited beside the model (``external``); every file is read back as its model."""
    from pipeline.stages import evaluate, explain, fairness, prepare, privacy, train
    from tests.data_helpers import csv_config, table, write

    monkeypatch.chdir(tmp_path)
    frame = table(n=400, seed=3, n_classes=3)
    frame["old_score"] = np.random.default_rng(1).uniform(0, 10, len(frame)).round(2)
    cfg = csv_config(
        write(frame, tmp_path / "three.csv"),
        csv={
            "positive_label": "2",
            "score": "old_score",
            "score_threshold": 5,
            "score_direction": "higher_is_favourable",
        },
    )
    for stage in (prepare, train, evaluate, fairness, explain, privacy):
        stage.main(cfg)
    written = contracts.read(paths.FAIRNESS_METRICS)
    assert len(contracts.read(paths.PREPARED_META).classes) == 3
    assert written.binary_note and set(written.accuracy_all_classes) == {"sex"}
    assert set(written.external) == {"score"} and written.external["score"].system["role"] == "score"
    for path in (paths.DATA_METRICS, paths.TRAIN_METRICS, paths.EVALUATE_METRICS, paths.EXPLAIN_METRICS):
        assert isinstance(contracts.read(path), contracts.contract_for(path)[0])
    assert contracts.read(paths.PRIVACY_METRICS).membership_inference.rows_per_side > 0
