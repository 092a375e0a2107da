"""The fairness audit and the evaluate metrics on Ray equal the local engine's: the same count
tables, rates, intervals and verdicts from 1 block and from 8, and the same scores from the model
in an actor.

One local Ray cluster (2 CPUs, no dashboard) for the module: starting one costs 6-16 s here.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from pipeline.audit import performance
from pipeline.audit.fairness import FairnessSettings, audit_decisions, table_spec
from pipeline.config import EngineSettings
from pipeline.errors import BadInputError
from tests.audit_helpers import assert_same_audit, assert_same_tables, audit_data, class_rows

ray = pytest.importorskip("ray")
pytestmark = [pytest.mark.slow, pytest.mark.scale]

SENSITIVE = ["sex", "race"]
SETTINGS = FairnessSettings(n_boot=40, seed=3, min_group_size=20)


@pytest.fixture(scope="module")
def cluster():
    from pipeline.scale import cluster as scale_cluster

    with scale_cluster.connected(EngineSettings(kind="ray", num_cpus=2)) as connected:
        yield connected
    assert not ray.is_initialized()  # the cluster this module started is gone


def save_random_mlp(folder, n_inputs: int, seed: int) -> None:
    """A small untrained MLP saved as the train stage saves one (model.pt + model.json)."""
    import torch

    from pipeline import io
    from pipeline.models.mlp import MLP, MlpSpec

    torch.manual_seed(seed)
    spec = MlpSpec(n_inputs, (8,), 2)
    torch.save(MLP(spec).state_dict(), folder / "model.pt")
    io.write_json(folder / "model.json", spec.to_dict())


def _frame(y, score, groups, row_id) -> pd.DataFrame:
    return pd.DataFrame(
        {"row_id": row_id, "y": y, "score": score, "group:sex": groups["sex"], "group:race": groups["race"]}
    )


def parquet_parts(frame: pd.DataFrame, folder, parts: int) -> list[str]:
    """``frame`` written as ``parts`` Parquet files of consecutive rows (as prepare writes shards)."""
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for i, rows in enumerate(np.array_split(np.arange(len(frame)), parts)):
        target = folder / f"part-{i:05d}.parquet"
        frame.iloc[rows].reset_index(drop=True).to_parquet(target, index=False)
        files.append(str(target))
    return files


@pytest.mark.parametrize("blocks", [1, 8])
def test_ray_audit_equals_the_local_one(cluster, tmp_path, blocks):
    from pipeline.scale import audit as scale_audit
    from pipeline.stats import counts
    from pipeline.stats.groups import sensitive_views

    y, p, score, groups, row_id = audit_data()
    local = audit_decisions(y, p, score, groups, SENSITIVE, SETTINGS, row_id=row_id)
    files = parquet_parts(_frame(y, score, groups, row_id), tmp_path, blocks)
    block_rows = -(-len(y) // blocks)
    tables = scale_audit.shard_tables(ray, files, SENSITIVE, table_spec(SETTINGS), block_rows=block_rows)
    assert tables.blocks == blocks and tables.rows == len(y)
    views = {k: v.to_numpy() for k, v in sensitive_views(groups, SENSITIVE).items()}
    assert_same_tables(tables, counts.block_tables(y, p, score, views, table_spec(SETTINGS), row_id))
    assert_same_audit(local, scale_audit.audit_shards(ray, files, SENSITIVE, SETTINGS, block_rows=block_rows))


def test_blocks_within_a_file_and_the_number_of_actors_change_nothing(cluster, tmp_path):
    """One file read in 9 blocks by one actor, or 3 files by 2 actors: the same tables, merged in
    the files' order whichever actor finished first."""
    from pipeline.scale import audit as scale_audit

    y, p, score, groups, row_id = audit_data()
    frame, spec = _frame(y, score, groups, row_id), table_spec(SETTINGS)
    one = scale_audit.shard_tables(ray, parquet_parts(frame, tmp_path / "one", 1), SENSITIVE, spec, block_rows=300)
    assert one.blocks == -(-len(y) // 300)
    three = parquet_parts(frame, tmp_path / "three", 3)
    by_two = scale_audit.shard_tables(ray, three, SENSITIVE, spec, block_rows=len(y), actors=2)
    assert by_two.blocks == 3
    assert_same_tables(one, by_two)


def test_the_model_scores_in_an_actor_as_it_does_locally(cluster, tmp_path):
    from pipeline.models.predict import load_trained, predict_proba
    from pipeline.scale import audit as scale_audit
    from pipeline.scale import evaluate as scale_evaluate
    from pipeline.scale import scoring as scale_scoring
    from pipeline.stats import class_counts

    save_random_mlp(tmp_path, n_inputs=6, seed=0)
    y, _, _, groups, row_id = audit_data(n=2_000)
    X = np.random.default_rng(5).normal(size=(len(y), 6)).astype(np.float32)
    proba = predict_proba(load_trained(tmp_path), X)
    decisions = (proba[:, 1] >= 0.5).astype(int)
    local = audit_decisions(y, decisions, proba[:, 1], groups, SENSITIVE, SETTINGS, row_id=row_id)

    frame = pd.DataFrame(X, columns=[f"f{i:04d}" for i in range(6)])
    frame = pd.concat([_frame(y, 0.0, groups, row_id).drop(columns="score"), frame], axis=1)
    files = parquet_parts(frame, tmp_path / "shards", 4)
    model = scale_scoring.TrainedModel(str(tmp_path), 1, 0.5)
    scored = pd.concat(
        scale_scoring.per_block(
            ray, files, pd.DataFrame.copy, block_rows=500, model=model
        )  # the scored rows, ignore_index=True
    )
    assert not any(c.startswith("f0") for c in scored.columns)
    np.testing.assert_allclose(scored["score"].to_numpy(), proba[:, 1], rtol=0, atol=1e-12)
    assert_same_audit(local, scale_audit.audit_shards(ray, files, SENSITIVE, SETTINGS, block_rows=500, model=model))

    views = {"sex": groups["sex"].to_numpy(), "race": groups["race"].to_numpy()}
    local_tables = class_counts.block_tables(y, decisions, proba, 1, 10, {**views, "sex x race": _joined(views)})
    ray_tables = scale_evaluate.shard_tables(ray, files, 2, 1, 10, SENSITIVE, block_rows=500, model=model)
    _same_metrics(
        performance.metrics_from_tables(local_tables, ["no", "yes"], 0.05, 0.98)[0],
        performance.metrics_from_tables(ray_tables, ["no", "yes"], 0.05, 0.98)[0],
    )


def test_a_missing_group_column_is_named(cluster, tmp_path):
    from pipeline.scale import audit as scale_audit

    y, _, score, groups, row_id = audit_data(n=200)
    files = parquet_parts(_frame(y, score, groups, row_id).drop(columns="group:race"), tmp_path, 2)
    with pytest.raises(BadInputError, match="group:race"):  # the actor's own error, not Ray's wrapper
        scale_audit.audit_shards(ray, files, SENSITIVE, SETTINGS, block_rows=100)


def test_a_model_that_does_not_load_is_the_projects_error(cluster, tmp_path):
    """The model is loaded in the actor's first call, so its error arrives as itself (exit code intact)."""
    from pipeline.errors import IntegrityError
    from pipeline.scale import audit as scale_audit
    from pipeline.scale import scoring as scale_scoring

    y, _, score, groups, row_id = audit_data(n=200)
    files = parquet_parts(_frame(y, score, groups, row_id), tmp_path / "shards", 2)
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "model.json").write_text("{not json")
    model = scale_scoring.TrainedModel(str(tmp_path / "model"), 1, 0.5)
    with pytest.raises(IntegrityError, match="not a valid network description"):
        scale_audit.audit_shards(ray, files, SENSITIVE, SETTINGS, block_rows=100, model=model)


def _same_metrics(a: dict, b: dict) -> None:
    """Identical figures, but the float sums (log loss, ECE) to 1e-9 relative."""
    a, b = dict(a), dict(b)
    for key in ("log_loss", "expected_calibration_error"):
        assert b.pop(key) == pytest.approx(a.pop(key), rel=1e-9)
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


@pytest.mark.parametrize("blocks", [1, 8])
def test_ray_evaluate_equals_the_local_tables(cluster, tmp_path, blocks):
    from pipeline.scale import evaluate as scale_evaluate
    from pipeline.stats import class_counts

    y, y_pred, proba, views = class_rows(n=2_000, k=3)
    frame = pd.DataFrame({"y": y, "y_pred": y_pred, **{f"proba_{k}": proba[:, k] for k in range(3)}})
    frame["group:sex"], frame["group:race"] = views["sex"], views["race"]
    local = class_counts.block_tables(y, y_pred, proba, 1, 10, {**views, "sex x race": _joined(views)})
    files = parquet_parts(frame, tmp_path, blocks)
    merged = scale_evaluate.shard_tables(ray, files, 3, 1, 10, SENSITIVE, block_rows=-(-len(y) // blocks))
    assert merged.blocks == blocks
    np.testing.assert_array_equal(merged.confusion, local.confusion)
    expected, curve = performance.metrics_from_tables(local, ["a", "b", "c"], 0.05, 0.98)
    got, got_curve = performance.metrics_from_tables(merged, ["a", "b", "c"], 0.05, 0.98)
    _same_metrics(expected, got)
    np.testing.assert_allclose(got_curve.to_numpy(), curve.to_numpy(), rtol=1e-9)


def _joined(views: dict) -> np.ndarray:
    return np.char.add(np.char.add(views["sex"].astype(str), " & "), views["race"].astype(str))


def test_shards_written_as_prepare_writes_them_audit_like_local(cluster, tmp_path):
    """Parquet shards from pipeline.shards.write_shard (prepare's writer), read back in actors and
    scored by the model there: the audit equals the local one on the same rows."""

    from pipeline import shards
    from pipeline.models.predict import load_trained, predict_proba
    from pipeline.scale import audit as scale_audit
    from pipeline.scale import scoring as scale_scoring

    save_random_mlp(tmp_path, n_inputs=4, seed=1)
    y, _, _, groups, row_id = audit_data(n=1_500)
    X = np.random.default_rng(6).normal(size=(len(y), 4)).astype(np.float32)
    files = []
    for i, part in enumerate(np.array_split(np.arange(len(y)), 3)):
        target = tmp_path / "test" / f"part-{i:05d}.parquet"
        target.parent.mkdir(exist_ok=True)
        text = {f"{shards.GROUP_PREFIX}{a}": groups[a].to_numpy()[part] for a in SENSITIVE}
        shards.write_shard(target, row_id[part], y[part], X[part], text)
        files.append(str(target))
    proba = predict_proba(load_trained(tmp_path), X)
    local = audit_decisions(
        y, (proba[:, 1] >= 0.5).astype(int), proba[:, 1], groups, SENSITIVE, SETTINGS, row_id=row_id
    )
    model = scale_scoring.TrainedModel(str(tmp_path), 1, 0.5)
    assert_same_audit(local, scale_audit.audit_shards(ray, files, SENSITIVE, SETTINGS, block_rows=400, model=model))


def test_mitigation_candidates_audited_on_every_shard_row_equal_the_local_audit(cluster, tmp_path):
    """Each saved candidate (network, degenerate, mixture, joint-group thresholds) loaded in a Ray
    actor over Parquet shards written by prepare's writer: the merged tables' candidate audit equals
    the local one of the same rows; a group the thresholds never saw is refused naming it."""
    from pipeline import shards
    from pipeline.config import Config
    from pipeline.mitigation import build
    from pipeline.scale import mitigate as scale_mitigate
    from pipeline.stats.groups import joint_groups
    from tests.candidate_helpers import SENSITIVE as CANDIDATE_SENSITIVE
    from tests.candidate_helpers import SETTINGS as CANDIDATE_SETTINGS
    from tests.candidate_helpers import assert_same_candidate_audit, candidate_rows, candidates

    models = candidates()
    folders = {}
    for name, model in models.items():
        model.save(tmp_path / "candidates" / name)
        folders[name] = tmp_path / "candidates" / name
    X, y, groups = candidate_rows(n=1_500, seed=2)
    row_id = np.arange(len(y), dtype=np.int64)  # the local audit keys its bootstrap by position

    def write(folder, race):
        found = {"files": {}}
        for i, part in enumerate(np.array_split(np.arange(len(y)), 3)):
            target = folder / "test" / f"part-{i:05d}.parquet"
            target.parent.mkdir(parents=True, exist_ok=True)
            text = {"group:sex": groups["sex"].to_numpy()[part], "group:race": race[part]}
            found["files"][str(target)] = {
                "split": "test",
                **shards.write_shard(target, row_id[part], y[part], X[part], text),
            }
        return found

    found = write(tmp_path / "shards", groups["race"].to_numpy())
    spec = table_spec(CANDIDATE_SETTINGS)
    tables = scale_mitigate.candidate_tables(ray, found, folders, CANDIDATE_SENSITIVE, spec, 1, 500)
    cfg, test = Config(), {"y01": y, "groups": groups}
    for name, model in models.items():
        joint = joint_groups(groups, model.sensitive_columns) if model.sensitive else None
        local = build.audit_candidate(
            model.decide(X, joint),
            model.score(X, joint),
            test,
            CANDIDATE_SENSITIVE,
            CANDIDATE_SETTINGS,
            cfg=cfg,
            data=None,
        )
        assert tables[name].rows == len(y)
        got = build.audit_candidate_tables(tables[name], CANDIDATE_SENSITIVE, CANDIDATE_SETTINGS, cfg=cfg, data=None)
        assert_same_candidate_audit(local, got)

    unseen = groups["race"].to_numpy().copy()
    unseen[7] = "never fitted"
    stray = write(tmp_path / "stray", unseen)
    with pytest.raises(BadInputError, match="never fitted"):
        scale_mitigate.candidate_tables(
            ray, stray, {"thresholds": folders["thresholds"]}, CANDIDATE_SENSITIVE, spec, 1, 500
        )
