"""Parsing the bundled Adult files and preparing encoded splits."""

import gzip

import numpy as np
import pytest

from pipeline import io, paths
from pipeline.data import adult
from pipeline.data.prepare import prepare
from pipeline.errors import IntegrityError
from pipeline.stages import prepare as prepare_stage


def test_adult_official_split_and_labels(project):
    table = adult.load(project / "data" / "raw")
    assert table.official_split.value_counts().to_dict() == {"train": 32561, "test": 16281}
    assert set(table.target.unique()) == {"<=50K", ">50K"}  # test labels lost their trailing dot
    assert not table.features.isna().any().any()  # '?' became the explicit level '<missing>'
    assert (table.features["workclass"] == "<missing>").sum() > 0


def test_checksum_mismatch_is_refused(project):
    path = project / "data" / "raw" / "adult.test.gz"
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes()).replace(b"Male", b"Mal3", 1)))
    with pytest.raises(IntegrityError, match=r"adult.test.gz: sha256 .* expected a2a9044b"):
        adult.load(project / "data" / "raw")


def test_encoders_fit_on_training_rows_only(cfg, project):
    table = adult.load(project / "data" / "raw")
    prepared = prepare(table, cfg.data, seed=cfg.seed)
    train_x = prepared.splits["train"].X
    numeric = [i for i, name in enumerate(prepared.meta["feature_names"]) if "=" not in name]
    # standardised on the training rows: mean 0, std 1 there, but not exactly on test
    assert np.allclose(train_x[:, numeric].mean(axis=0), 0, atol=1e-5)
    assert np.allclose(train_x[:, numeric].std(axis=0), 1, atol=1e-3)
    assert not any(name.startswith(("sex=", "race=")) for name in prepared.meta["feature_names"])
    assert set(prepared.meta["feature_groups"]) == set(prepared.meta["input_columns"])
    assert sum(len(v) for v in prepared.meta["feature_groups"].values()) == train_x.shape[1]


def test_sensitive_as_features_adds_them(project):
    from pipeline import config

    cfg = config.from_dict({"data": {"max_rows": 300, "sensitive_as_features": True}})
    prepared = prepare(adult.load(project / "data" / "raw"), cfg.data, seed=1)
    assert any(name.startswith("sex=") for name in prepared.meta["feature_names"])


def test_prepare_stage_writes_aligned_outputs(cfg, project):
    prepare_stage.main(cfg)
    meta = io.read_json(paths.PREPARED_META)
    for split in paths.SPLITS:
        arrays = io.read_npz(paths.split_arrays(split))
        groups = paths.split_groups(split).read_text().splitlines()
        assert arrays["X"].dtype == np.float32 and arrays["y"].dtype == np.int64
        assert len(arrays["y"]) == len(groups) - 1 == meta["rows"][split]
    assert sum(meta["rows"].values()) == 600
    assert io.read_json(paths.DATA_METRICS)["rows"] == meta["rows"]
