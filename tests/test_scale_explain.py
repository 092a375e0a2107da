"""Explanations on every row (engine ray): summed attributions per block equal the local engine's
means on the same rows, from 1 block and from 8, and the intervals do not depend on the blocks.

The pieces without Ray run here always; the Ray pass (one local cluster of 2 CPUs for the module)
only where Ray is installed.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from pipeline.config import ExplainSettings
from pipeline.scale import explain as scale_explain
from tests.audit_helpers import audit_data

SENSITIVE = ["sex", "race"]
#: 7 encoded inputs regrouped into 4 original columns (a one-hot block of 3, one of 2, two numbers)
FEATURE_GROUPS = {"age": [0], "job": [1, 2, 3], "hours": [4], "region": [5, 6]}
SETTINGS = ExplainSettings(n_boot=30, n_steps=8, max_steps=32, delta_tol=0.001, batch_size=256, min_group_size=20)
META = SimpleNamespace(favourable_index=1, feature_groups=FEATURE_GROUPS, sensitive=SENSITIVE)


def test_weighted_sums_by_hand():
    """3 rows, 2 columns, one replicate weighting the rows 1, 0, 2: the replicate's mean is
    (1*[1,2] + 2*[5,6]) / 3 = [11/3, 14/3]; merging two halves gives the sums of the whole."""
    absolute = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    weights = [np.array([[1.0, 0.0, 2.0]])]
    whole = scale_explain.WeightedSums.of(absolute, weights)
    assert whole.rows == 3
    np.testing.assert_array_equal(whole.mean(), [3.0, 4.0])
    np.testing.assert_allclose(whole.boot_means(), [[11 / 3, 14 / 3]], rtol=1e-15)
    halves = scale_explain.WeightedSums.of(absolute[:1], [weights[0][:, :1]]).merge(
        scale_explain.WeightedSums.of(absolute[1:], [weights[0][:, 1:]])
    )
    np.testing.assert_array_equal(halves.total, whole.total)
    np.testing.assert_array_equal(halves.boot_total, whole.boot_total)
    empty = scale_explain.WeightedSums.of(absolute, [np.zeros((1, 3))])
    assert np.isnan(empty.boot_means()).all()  # a replicate that weighted no row is left out, not 0


def save_model(folder, seed: int = 0) -> None:
    import torch

    from pipeline import io
    from pipeline.models.mlp import MLP, MlpSpec

    torch.manual_seed(seed)
    spec = MlpSpec(7, (8,), 2)
    torch.save(MLP(spec).state_dict(), folder / "model.pt")
    io.write_json(folder / "model.json", spec.to_dict())


def rows(n: int = 1_200):
    _, _, _, groups, row_id = audit_data(n=n, seed=4)
    X = np.random.default_rng(9).normal(size=(n, 7)).astype(np.float32)
    frame = pd.DataFrame({"row_id": row_id, "y": np.zeros(n, dtype=np.int64)})
    for i in range(7):
        frame[f"f{i:04d}"] = X[:, i]
    for a in SENSITIVE:
        frame[f"group:{a}"] = groups[a].to_numpy()
    return X, groups, frame


def local_figures(model_dir, X, groups) -> dict:
    """The local engine's means (what explain.json holds on the local engine), from its own functions."""
    import torch

    from pipeline.audit import explain_audit, explain_groups
    from pipeline.models.predict import load_trained

    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # an actor runs on one thread: the float64 attributions agree anyway
    per_column, summaries, _ = explain_audit.attribute_all(load_trained(model_dir), X, META, SETTINGS)
    torch.set_num_threads(threads)
    columns = list(FEATURE_GROUPS)
    first = per_column[SETTINGS.methods[0]]
    return {
        "importance": {m: np.abs(v).astype(np.float64).mean(axis=0) for m, v in per_column.items()},
        "ig": summaries["integrated_gradients"],
        "by_group": {
            s: explain_groups.by_group(
                first, columns, groups[s], k=3, n_boot=0, ci=0.95, seed=0, min_group_size=SETTINGS.min_group_size
            )
            for s in SENSITIVE
        },
    }


def test_blocks_in_this_process_equal_the_local_means(tmp_path):
    """The reduce function of the pass, called here on 1 and on 5 slices: the same means as the
    local engine's, the same IG counts, and block-independent Poisson intervals."""
    save_model(tmp_path)
    X, groups, frame = rows()
    local = local_figures(tmp_path, X, groups)
    results = []
    import torch

    from pipeline.stats import counts

    for blocks in (1, 5):
        threads = torch.get_num_threads()
        reduce = scale_explain.ExplainBlock(str(tmp_path), META, SETTINGS, seed=7)
        parts = [reduce(frame.iloc[i].reset_index(drop=True)) for i in np.array_split(np.arange(len(frame)), blocks)]
        torch.set_num_threads(threads)
        sums = counts.merge_all(parts)
        assert sums.blocks == blocks
        results.append(scale_explain.explained(sums, list(FEATURE_GROUPS), SETTINGS))
        assert_like_local(results[-1], sums, local)
    one, five = results
    for m in SETTINGS.methods:
        for c, interval in one[m]["interval"].items():
            np.testing.assert_allclose(five[m]["interval"][c], interval, rtol=1e-12)


def assert_like_local(result: dict, sums, local: dict) -> None:
    for m in SETTINGS.methods:
        got = np.array([result[m]["importance"][c] for c in FEATURE_GROUPS])
        np.testing.assert_allclose(got, local["importance"][m], rtol=1e-9)
        lows = [result[m]["interval"][c][0] for c in FEATURE_GROUPS]
        highs = [result[m]["interval"][c][1] for c in FEATURE_GROUPS]
        assert np.all(np.array(lows) <= got) and np.all(got <= np.array(highs))
    ig = result["integrated_gradients"]
    for key in ("rows_refined", "rows_over_tol", "n_steps_max_used", "converged"):
        assert ig[key] == local["ig"][key], key
    assert ig["convergence_delta_max_abs"] == pytest.approx(local["ig"]["convergence_delta_max_abs"], rel=1e-9)
    assert ig["convergence_delta_mean_abs"] == pytest.approx(local["ig"]["convergence_delta_mean_abs"], rel=1e-9)
    for s in SENSITIVE:
        mine, theirs = result["by_group"]["by_sensitive"][s], local["by_group"][s]
        assert mine["reference"] == theirs["reference"]
        assert list(mine["groups"]) == list(theirs["groups"])
        for g, entry in theirs["groups"].items():
            assert mine["groups"][g]["count"] == entry["count"] and mine["groups"][g]["small"] == entry["small"]
            for c, v in entry["importance"].items():
                assert mine["groups"][g]["importance"][c] == pytest.approx(v, rel=1e-9)
    assert sums.methods[SETTINGS.methods[0]].rows == sum(
        e["count"] for e in local["by_group"]["sex"]["groups"].values()
    )


def test_a_block_without_row_ids_is_refused_naming_the_column(tmp_path):
    from pipeline.errors import BadInputError

    save_model(tmp_path)
    _, _, frame = rows(50)
    with pytest.raises(BadInputError, match=r"\['row_id'\]"):
        scale_explain.ExplainBlock(str(tmp_path), META, SETTINGS, seed=7)(frame.drop(columns="row_id"))


@pytest.fixture(scope="module")
def cluster():
    pytest.importorskip("ray")
    from pipeline.config import EngineSettings
    from pipeline.scale import cluster as scale_cluster

    with scale_cluster.connected(EngineSettings(kind="ray", num_cpus=2)) as connected:
        yield connected


@pytest.mark.slow
@pytest.mark.scale
@pytest.mark.parametrize("blocks", [1, 8])
def test_explain_on_ray_equals_the_local_means(cluster, tmp_path, blocks):
    """The pass in Ray actors over Parquet files (blocks of 400 rows): the local engine's means."""
    save_model(tmp_path)
    X, groups, frame = rows()
    local = local_figures(tmp_path, X, groups)
    files = []
    for i, part in enumerate(np.array_split(np.arange(len(frame)), blocks)):
        files.append(str(tmp_path / f"part-{i:05d}.parquet"))
        frame.iloc[part].to_parquet(files[-1], index=False)
    sums = scale_explain.shard_sums(cluster, files, str(tmp_path), META, SETTINGS, seed=7, block_rows=400)
    assert sums.blocks == sum(-(-len(part) // 400) for part in np.array_split(np.arange(len(frame)), blocks))
    assert_like_local(scale_explain.explained(sums, list(FEATURE_GROUPS), SETTINGS), sums, local)
