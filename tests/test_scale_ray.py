"""The ray engine on a real local Ray cluster (issue 28, items 2 and 3): ``prepare`` writes encoded shards
that cover every row, the same rows and encodings whatever the block size, and ``train`` fits the project's
LightningModule on 2 Ray Train workers whose weights end equal. Needs the optional `scale` extra."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

ray = pytest.importorskip("ray")

from pipeline import config, contracts, io, manifest, paths, shards  # noqa: E402
from pipeline.config import EngineSettings  # noqa: E402
from pipeline.data import hash_split  # noqa: E402
from pipeline.data.sources import load_source  # noqa: E402
from tests.conftest import make_project  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.scale]

ROWS = 3_000


@pytest.fixture(scope="module")
def cluster():
    """One local cluster (2 CPUs, no dashboard) for the module: each ``ray.init`` costs 6-16 s here."""
    from pipeline.scale.cluster import connected

    with connected(EngineSettings(kind="ray", num_cpus=2)) as connected_ray:
        yield connected_ray


def ray_project(root, block_rows: int):
    extra = {"data": {"max_rows": ROWS}, "engine": {"kind": "ray", "block_rows": block_rows, "num_cpus": 2}}
    return make_project(root, extra)


def prepared(cluster, root, monkeypatch):
    from pipeline.stages import prepare

    monkeypatch.chdir(root)
    cfg = config.load(root / "params.yaml")
    prepare.main(cfg)
    return cfg


def read_split(found: dict, split: str) -> pd.DataFrame:
    return pd.concat([pd.read_parquet(f) for f in shards.split_files(found, split)], ignore_index=True)


@pytest.fixture(scope="module")
def two_runs(cluster, tmp_path_factory):
    """The same tiny project prepared with blocks of 1,000 and of 2,000 rows: the shards of each, and its cfg."""
    out = {}
    for block_rows in (1_000, 2_000):
        root = ray_project(tmp_path_factory.mktemp(f"b{block_rows}") / "project", block_rows)
        mp = pytest.MonkeyPatch()
        try:
            cfg = prepared(cluster, root, mp)
            found = shards.verify(manifest.settings_of(cfg, "prepare"))
            out[block_rows] = (root, cfg, found, {s: read_split(found, s) for s in paths.SPLITS})
        finally:
            mp.undo()
    return out


def test_prepare_on_ray_covers_every_row_once_with_the_hash_split(two_runs, monkeypatch):
    root, cfg, found, frames = two_runs[1_000]
    monkeypatch.chdir(root)
    ids = np.concatenate([frames[s]["row_id"].to_numpy() for s in paths.SPLITS])
    assert len(ids) == ROWS == len(np.unique(ids)) and ids.dtype == np.int64
    # 3 blocks of 1,000 rows, one file per split a block has rows of (Adult's test rows sit in the last blocks)
    assert {name.rsplit("/", 1)[1] for name in found["files"]} == {f"part-0000{i}.parquet" for i in range(3)}
    official = load_source(cfg.data).official_split.to_numpy()  # Adult's publisher split wins, as locally
    for split, frame in frames.items():
        ids = frame["row_id"].to_numpy()
        expected = hash_split.assign(ids, cfg.seed, val_size=0.1, test_size=0.2, official=official[ids])
        assert (expected == split).all()
        assert (official[ids] == ("test" if split == "test" else "train")).all()
        assert frame["y"].dtype == np.int64 and frame[found["feature_columns"]].dtypes.eq(np.float32).all()
        assert list(frame.columns[-2:]) == ["group:sex", "group:race"]
    manifest.require(cfg, "prepare")  # the prepare stage's own manifest covers the shard manifest
    listed = json.loads(paths.PREPARED_MANIFEST.read_text())["files"]
    assert paths.SHARDS_MANIFEST.as_posix() in listed


def test_counts_in_data_json_are_the_shards_counts(two_runs, monkeypatch):
    root, cfg, found, frames = two_runs[1_000]
    monkeypatch.chdir(root)
    data = io.read_json(paths.DATA_METRICS)
    meta = contracts.read(paths.PREPARED_META)
    for split, frame in frames.items():
        assert data["rows"][split] == len(frame) == found["rows"][split]
        classes = frame["y"].map(dict(enumerate(meta.classes))).value_counts()
        assert data["splits"][split]["class_counts"] == {k: int(classes[k]) for k in sorted(classes.index)}
        sexes = frame["group:sex"].value_counts()
        assert data["splits"][split]["groups"]["sex"] == {k: int(sexes[k]) for k in sorted(sexes.index)}
    assert meta.scale.rows == found["rows"] and meta.scale.engine == "ray"


def test_the_sample_split_files_are_the_shards_rows_when_the_sample_holds_every_row(two_runs, monkeypatch):
    root, _, found, frames = two_runs[1_000]
    monkeypatch.chdir(root)
    for split, frame in frames.items():
        arrays = io.read_npz(paths.split_arrays(split))
        assert (arrays["y"] == frame["y"].to_numpy()).all()
        assert (arrays["X"] == frame[found["feature_columns"]].to_numpy()).all()


def test_block_size_changes_neither_rows_nor_encoding(two_runs):
    _, _, small, small_frames = two_runs[1_000]
    _, _, large, large_frames = two_runs[2_000]
    assert small["feature_names"] == large["feature_names"] and small["rows"] == large["rows"]
    for split in paths.SPLITS:
        a = small_frames[split].sort_values("row_id", ignore_index=True)
        b = large_frames[split].sort_values("row_id", ignore_index=True)
        assert a["row_id"].equals(b["row_id"]) and a["y"].equals(b["y"]) and a["group:race"].equals(b["group:race"])
        # the merged means and variances may differ in their last bits between merge orders
        np.testing.assert_allclose(a[small["feature_columns"]], b[large["feature_columns"]], rtol=1e-6, atol=1e-6)


def test_train_on_ray_train_two_workers_equal_weights_written_once(two_runs, tmp_path, monkeypatch):
    import torch

    from pipeline.scale import train as scaled
    from pipeline.scale.train import state_sha256
    from pipeline.stages import evaluate, train

    root, cfg, found, _ = two_runs[1_000]
    monkeypatch.chdir(root)
    n_classes = len(contracts.read(paths.PREPARED_META).classes)
    planned = scaled.plan(cfg, found, n_classes)
    assert planned[0]["epochs"] == 1
    result = scaled.fit(ray, cfg, found, planned, tmp_path)
    assert len(result.weight_hashes) == 2 and len(set(result.weight_hashes)) == 1
    assert state_sha256(result.model.state_dict()) == result.weight_hashes[0]
    assert result.summary["epochs_run"] == 1 and np.isfinite(result.history[-1]["val_loss"])
    again = scaled.fit(ray, cfg, found, planned, tmp_path / "again")
    assert again.weight_hashes == result.weight_hashes  # a rerun gives bitwise the same weights

    train.main(cfg)  # the stage: the same fit, the usual outputs written by the driver
    saved = torch.load(paths.MODEL_WEIGHTS, weights_only=True)
    assert set(saved) == set(result.model.state_dict())
    manifest.require(cfg, "prepare", "train")
    evaluate.main(cfg)  # later stages read the model as always (here on the sample split files)
    assert io.read_json(paths.EVALUATE_METRICS)["favourable_class"]


def test_train_refuses_a_torn_shard_set_with_exit_2_before_ray_works(two_runs, monkeypatch, capsys):
    from pipeline import cli, errors

    root, _, found, _ = two_runs[2_000]  # last user of this project: the tear stays
    monkeypatch.chdir(root)
    victim = next(iter(found["files"]))
    (root / victim).write_bytes((root / victim).read_bytes()[:-8])
    assert cli.run(["train"]) == errors.EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert victim in err and "python -m pipeline prepare" in err


def test_the_encoding_from_merged_statistics_is_the_local_encoders_on_the_same_rows(two_runs, monkeypatch):
    from pipeline.data import encode, sensitive_shapes
    from pipeline.data.sources import resolve

    root, cfg, found, frames = two_runs[1_000]
    monkeypatch.chdir(root)
    meta = contracts.read(paths.PREPARED_META)
    table, _, _ = sensitive_shapes.derive(load_source(cfg.data), resolve(cfg.data))
    numeric = [c for c in meta.input_columns if c in meta.encoder_state.numeric]  # json keys are sorted
    categorical = [c for c in meta.input_columns if c not in numeric]
    train_rows = table.features.iloc[frames["train"]["row_id"].to_numpy()]
    local = encode.fit(train_rows, numeric, categorical, cfg.data.max_categories)
    assert meta.feature_names == local.feature_names == found["feature_names"]
    assert meta.encoder_state.categorical == local.state["categorical"]
    for column in numeric:
        for key in ("mean", "scale"):
            ours, theirs = getattr(meta.encoder_state.numeric[column], key), local.state["numeric"][column][key]
            assert ours == pytest.approx(theirs, rel=1e-11), (column, key)  # meta.json keeps 12 digits
    X = encode.transform(local, train_rows.reset_index(drop=True))
    np.testing.assert_allclose(frames["train"][found["feature_columns"]].to_numpy(), X, rtol=1e-6, atol=1e-6)
