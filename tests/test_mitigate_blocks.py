"""The ray engine's candidate audit without Ray: each block scored by the very class the engine's
actors use (:class:`pipeline.scale.scoring.Scorer` with a saved candidate), turned into count
tables by the engine's block function, merged, then audited by the local engine's function. It
equals the local audit of the same rows (1 block and several; rates, intervals and verdicts to
1e-12), for every shape a candidate takes."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.config import Config
from pipeline.mitigation import build
from pipeline.stats import counts
from pipeline.stats.groups import joint_groups
from tests.candidate_helpers import (
    SENSITIVE,
    SETTINGS,
    assert_same_candidate_audit,
    candidate_rows,
    candidates,
    shard_frame,
)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("candidates")
    models = candidates()
    for name, model in models.items():
        model.save(folder / name)
    return folder, models


def merged_block_tables(folder, X, y, groups, blocks: int) -> counts.CountTables:
    """What the Ray path computes, block by block in this process (row ids: the row's position)."""
    import torch

    from pipeline.audit.fairness import table_spec
    from pipeline.scale import audit as scale_audit
    from pipeline.scale.mitigate import CandidateModel
    from pipeline.scale.scoring import Scorer

    threads = torch.get_num_threads()
    scorer = Scorer(CandidateModel(str(folder)))  # an actor's one thread ...
    torch.set_num_threads(threads)  # ... not left to the rest of this test process
    frame = shard_frame(X, y, groups, np.arange(len(y), dtype=np.int64))
    out = []
    for part in np.array_split(np.arange(len(y)), blocks):
        scored = scorer(frame.iloc[part].reset_index(drop=True))
        out.append(scale_audit.block_tables(scored, table_spec(SETTINGS), SENSITIVE, 1, 0.5))
    return counts.merge_all(out)


@pytest.mark.parametrize("blocks", [1, 7])
@pytest.mark.parametrize("kind", ["network", "everyone", "mixture", "thresholds"])
def test_block_wise_candidate_audit_equals_the_local_one(saved, kind, blocks):
    folder, models = saved
    cfg = Config()
    X, y, groups = candidate_rows()
    model = models[kind]
    joint = joint_groups(groups, model.sensitive_columns) if model.sensitive else None
    test = {"y01": y, "groups": groups}
    # The network's float32 output for a row can move in its last bit with the batch's row count
    # (BLAS kernels; up to 4e-8 seen at 2,857-row batches): the local reference scores the same
    # batches, so what is compared is the audit, on identical decisions and scores.
    parts = np.array_split(np.arange(len(y)), blocks)
    pick = (lambda p: None) if joint is None else (lambda p: joint[p])  # noqa: E731
    decisions = np.concatenate([model.decide(X[p], pick(p)) for p in parts])
    score = np.concatenate([model.score(X[p], pick(p)) for p in parts])
    np.testing.assert_allclose(score, model.score(X, joint), rtol=0, atol=1e-6)
    local = build.audit_candidate(decisions, score, test, SENSITIVE, SETTINGS, cfg=cfg, data=None)
    tables = merged_block_tables(folder / kind, X, y, groups, blocks)
    assert tables.blocks == blocks and tables.rows == len(y)
    got = build.audit_candidate_tables(tables, SENSITIVE, SETTINGS, cfg=cfg, data=None)
    assert_same_candidate_audit(local, got)
    assert build.denominators_from_tables(tables, SENSITIVE) == build.denominators(test, SENSITIVE)
    if kind == "everyone":  # the degenerate branch: every verdict inconclusive, the gate blocks
        assert got["degenerate"]["degenerate"] and not got["passed"]
        assert all(v["status"] == "inconclusive" for v in got["audit"]["verdicts"])
    if kind in ("mixture", "thresholds"):  # randomised rules really randomise some rows
        p = model.favourable_probability(X, joint)
        assert ((p > 0) & (p < 1)).any()


def test_one_pass_of_the_networks_gives_decide_and_score(saved):
    _, models = saved
    X, _, groups = candidate_rows(n=500, seed=4)
    for model in models.values():
        joint = joint_groups(groups, model.sensitive_columns) if model.sensitive else None
        decision, score = model.decide_and_score(X, joint)
        np.testing.assert_array_equal(decision, model.decide(X, joint))
        np.testing.assert_array_equal(score, model.score(X, joint))


def test_pooled_tables_equal_one_group_built_from_the_rows():
    """Hand-worked: 5 rows in groups a, a, b, b, b; the pooled group's cells are the rows' own."""
    from pipeline.audit.fairness import table_spec

    y, decision = np.array([1, 0, 1, 1, 0]), np.array([1, 1, 0, 1, 0])
    score = np.array([0.9, 0.6, 0.2, 0.7, 0.1])
    spec, rows = table_spec(SETTINGS), np.arange(5, dtype=np.int64)
    by_group = counts.block_tables(y, decision, score, {"g": np.array(list("aabbb"))}, spec, rows)
    pooled = counts.pooled(by_group, "g", "all rows", "all").views["all rows"]["all"]
    whole = counts.block_tables(y, decision, score, {"all rows": np.full(5, "all")}, spec, rows).views["all rows"]
    # truth 0: decided 0 once (row 5), 1 once (row 2); truth 1: decided 0 once (row 3), 1 twice (rows 1, 4)
    np.testing.assert_array_equal(pooled.cells, [[1, 1], [1, 2]])
    for field in ("cells", "bin_rows", "bin_labels", "auc", "boot"):
        np.testing.assert_array_equal(getattr(pooled, field), getattr(whole["all"], field))
    with pytest.raises(ValueError, match="no groups"):
        counts.pooled(counts.block_tables(y[:0], decision[:0], None, {"g": np.array([])}, spec), "g", "x", "y")


def test_a_group_the_thresholds_never_saw_is_refused_before_scoring(saved):
    """The ray engine's precheck: the test shards' label combinations (one block function) against a
    group-threshold candidate's rule; an unseen joint group exits 2 naming it, other candidates pass."""
    import pandas as pd

    from pipeline.errors import BadInputError
    from pipeline.scale.mitigate import block_groups, check_decidable

    folder, _ = saved
    batch = pd.DataFrame({"group:sex": ["F", "M", "F", None], "group:race": ["a", "b", "a", "c"], "y": [1, 0, 1, 0]})
    combos = block_groups(batch, ["sex", "race"])
    assert combos.values.tolist() == [["F", "a"], ["M", "b"], ["nan", "c"]]
    with pytest.raises(BadInputError, match="group:race"):
        block_groups(batch.drop(columns="group:race"), ["sex", "race"])
    seen = pd.DataFrame({"sex": ["F", "M"], "race": ["a", "c"]})
    check_decidable("thresholds", folder / "thresholds", seen)
    with pytest.raises(BadInputError, match=r"'thresholds'.*\['nan,c'\] occur in the test shards"):
        check_decidable("thresholds", folder / "thresholds", combos)
    check_decidable("network", folder / "network", combos)  # no group rule: every row is decidable


def test_the_report_says_which_rows_the_candidates_were_audited_on():
    """With ``audited_on`` (the ray engine) the section names every test row and the sample the
    candidates were built on; without it (the local engine) it reads as before: the test split."""
    import json
    from pathlib import Path

    from pipeline import paths
    from pipeline.report import sections_mitigation

    local = json.loads((Path(__file__).resolve().parents[1] / paths.MITIGATION_METRICS).read_text())
    assert "audited_on" not in local
    section = sections_mitigation.build({"mitigation": local})
    assert section.tables[0][0] == "Candidates (test split)"
    assert not any("Engine:" in p for p in section.paragraphs)
    on_ray = {
        **local,
        "audited_on": {
            "engine": "ray",
            "test_rows": 1_234_567,
            "blocks": 13,
            "built_on": {"train": 60_000, "val": 20_000},
            "sample_test_rows": 20_000,
        },
    }
    from pipeline.contracts import MitigationMetrics

    MitigationMetrics.model_validate(on_ray)  # the contract takes the key
    section = sections_mitigation.build({"mitigation": on_ray})
    words = " ".join(section.paragraphs)
    assert section.tables[0][0].startswith("Candidates (every test row: 1")
    assert "audited on every test row of the shards" in words and "13 blocks" in words
    assert "train 60" in words
