"""The Ray engine's pieces that run without Ray: the per-block function and the cluster settings."""

from __future__ import annotations

import pickle
from functools import partial
from pathlib import Path

import pytest

from pipeline.audit.fairness import FairnessSettings, table_spec
from pipeline.config import EngineSettings
from pipeline.errors import BadInputError
from pipeline.scale import audit as scale_audit
from pipeline.scale import cluster
from pipeline.scale import scoring as scale_scoring
from tests.audit_helpers import assert_same_tables, audit_data

SETTINGS = FairnessSettings(n_boot=5, seed=1)


def _frame(n=300):
    import pandas as pd

    y, _, score, groups, row_id = audit_data(n=n)
    return pd.DataFrame(
        {"row_id": row_id, "y": y, "score": score, "group:sex": groups["sex"], "group:race": groups["race"]}
    )


def test_a_worker_reads_a_file_block_by_block_and_sends_back_each_blocks_tables(tmp_path):
    """The actor body in this process: 1,000 rows in one file, blocks of 300 -> 4 tables (300,
    300, 300, 100) that merge to the whole file's, shipped compressed."""
    from pipeline.stats import counts

    frame = _frame(1_000)
    frame.to_parquet(tmp_path / "part.parquet", index=False)
    reduce = partial(
        scale_audit.block_tables,
        spec=table_spec(SETTINGS),
        sensitive=["sex", "race"],
        favourable_index=1,
        threshold=0.5,
    )
    payload = scale_scoring.BlockWorker(reduce).run(str(tmp_path / "part.parquet"), None, 300)
    tables = scale_scoring.unpacked(payload)
    assert [t.rows for t in tables] == [300, 300, 300, 100]
    assert_same_tables(counts.merge_all(tables), reduce(frame))  # the merged blocks equal one pass
    assert len(payload) < len(pickle.dumps(tables)) / 10  # mostly-empty histograms compress


def test_a_block_without_a_needed_column_is_refused_naming_it():
    with pytest.raises(BadInputError, match=r"\['group:race'\]"):
        scale_audit.block_tables(_frame().drop(columns="group:race"), table_spec(SETTINGS), ["sex", "race"], 1, 0.5)


def test_feature_columns_in_numeric_order():
    assert scale_scoring.feature_columns(["y", "f0010", "f0002", "group:sex", "f1", "fx"]) == ["f1", "f0002", "f0010"]


def test_cluster_arguments_start_a_small_local_cluster_or_join_an_address():
    local = cluster.init_kwargs(EngineSettings(kind="ray", num_cpus=2))
    assert local["num_cpus"] == 2 and local["include_dashboard"] is False and local["address"] == "local"
    joined = cluster.init_kwargs(EngineSettings(kind="ray", address="ray://head:10001"))
    assert joined["address"] == "ray://head:10001" and "num_cpus" not in joined
    # the workers import this checkout's pipeline (shipped with the job), whatever else is installed
    package = str(Path(scale_audit.__file__).resolve().parents[1])
    assert local["runtime_env"]["py_modules"] == joined["runtime_env"]["py_modules"] == [package]


def test_ray_missing_is_bad_input_with_the_install_command(monkeypatch):
    monkeypatch.setattr(cluster, "installed", lambda name: None)  # no ray (and no lightning pair)
    with pytest.raises(BadInputError, match=r"engine.kind is 'ray'.*\[scale\]"):
        cluster.check_packages()


def test_missing_group_values_are_labelled_as_the_local_engine_labels_them():
    import numpy as np
    import pandas as pd

    arrow_backed = pd.Series(["a", None, "b"], dtype="string[pyarrow]")
    assert scale_scoring.text_labels(arrow_backed).tolist() == ["a", "nan", "b"]
    local = pd.Series(["a", float("nan"), "b"]).astype(str).to_numpy()  # sensitive_views, then counts.block_tables:
    assert np.asarray(local, dtype=str).tolist() == ["a", "nan", "b"]


def test_decisions_without_scores_audit_like_the_local_engine():
    """An existing system's decisions: no score column, no AUC or calibration, the same verdicts."""
    from pipeline.audit.fairness import audit_decisions, audit_tables

    y, p, _, groups, row_id = audit_data(n=500)
    frame = _frame(500).drop(columns="score")
    frame["decision"] = p
    tables = scale_audit.block_tables(frame, table_spec(SETTINGS), ["sex", "race"], 1, 0.5)
    assert not tables.scored
    local = audit_decisions(y, p, None, groups, ["sex", "race"], SETTINGS, row_id=row_id)
    assert audit_tables(tables, ["sex", "race"], SETTINGS) == local
    with pytest.raises(BadInputError, match="score or decision"):
        scale_audit.block_tables(frame.drop(columns="decision"), table_spec(SETTINGS), ["sex", "race"], 1, 0.5)
