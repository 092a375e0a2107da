"""Sensitive attributes as users have them: a one-hot race in 5 columns, a numeric age in bands,
a complement column; none of their columns may be a model input, and meta says so."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline import io, paths
from pipeline.errors import BadInputError
from tests.data_helpers import csv_config, table, write

RACES = ["Black", "White", "Hispanic", "Asian", "Other"]


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def shaped_table(n: int = 500, seed: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = table(n=n, seed=seed)
    race = rng.choice(RACES, n, p=[0.3, 0.4, 0.15, 0.1, 0.05])
    for level in RACES:
        frame[f"Race_{level}"] = (race == level).astype(int)
    frame["Sex_1"] = (frame["sex"] == "female").astype(int)  # a complement of the sensitive 'sex'
    return frame


def prepare_with(path, **data):
    from pipeline.stages import prepare

    cfg = csv_config(path, pii={"quasi_identifiers": ["age", "sex"]}, **data)
    prepare.main(cfg)
    return io.read_json(paths.PREPARED_META), io.read_json(paths.DATA_METRICS)


def test_one_hot_race_and_banded_age_audit_as_single_attributes(workdir):
    path = write(shaped_table(), workdir / "people.csv")
    meta, data = prepare_with(
        path,
        sensitive=["sex", "race", "age"],
        sensitive_onehot={"race": [f"Race_{r}" for r in RACES]},
        sensitive_bins={"age": [25, 40, 60]},
    )
    assert meta["sensitive"] == ["sex", "race", "age_band"]
    groups = pd.read_csv(paths.split_groups("train"), dtype=str, keep_default_na=False)
    assert set(groups["race"]) == set(RACES)
    assert set(groups["age_band"]) <= {"under 25", "[25, 40)", "[40, 60)", "60 and over"}
    assert len(set(groups["age_band"])) == 4
    # none of the columns encoding a sensitive attribute is an input
    encoding = {f"Race_{r}" for r in RACES} | {"age", "Sex_1", "sex"}
    assert not encoding & set(meta["input_columns"]), meta["input_columns"]
    assert set(meta["sensitive_encodings"]["race"]) == {f"Race_{r}" for r in RACES}
    assert meta["sensitive_encodings"]["age_band"] == ["age"]
    assert meta["sensitive_encodings"]["sex"] == ["Sex_1"]
    assert meta["sensitive_inputs"] == [] and meta["sensitive_as_features"] is False
    # the data audit groups by the readable labels
    assert set(data["audit"]["groups"]["race"]) == set(RACES)


def test_sensitive_as_features_keeps_them_and_meta_says_so(workdir):
    path = write(shaped_table(), workdir / "people.csv")
    meta, _ = prepare_with(path, sensitive=["sex"], sensitive_as_features=True)
    assert "Sex_1" in meta["input_columns"] and "Sex_1" in meta["sensitive_inputs"]
    assert meta["sensitive_as_features"] is True


def test_without_the_setting_a_plain_complement_is_still_excluded(workdir):
    path = write(shaped_table(), workdir / "people.csv")
    meta, data = prepare_with(path, sensitive=["sex"])
    assert "Sex_1" not in meta["input_columns"]
    assert data["sensitive_inputs"] == []


def test_onehot_columns_must_be_indicators(workdir):
    frame = shaped_table()
    frame.loc[3, "Race_Black"] = 7
    path = write(frame, workdir / "people.csv")
    with pytest.raises(BadInputError, match=r"data.sensitive_onehot.race: column\(s\) \['Race_Black'\] hold values"):
        prepare_with(path, sensitive=["sex", "race"], sensitive_onehot={"race": [f"Race_{r}" for r in RACES]})


def test_bins_need_a_numeric_column_and_increasing_edges(workdir):
    from pipeline.errors import ConfigError

    path = write(shaped_table(), workdir / "people.csv")
    with pytest.raises(BadInputError, match="'region' is not numeric"):
        prepare_with(path, sensitive=["region"], sensitive_bins={"region": [1, 2]})
    with pytest.raises(ConfigError, match="strictly increasing"):
        csv_config(path, sensitive=["age"], sensitive_bins={"age": [40, 25]})
    with pytest.raises(ConfigError, match="data.sensitive does not list"):
        csv_config(path, sensitive=["sex"], sensitive_bins={"age": [25, 40]})


def test_a_column_the_attribute_can_be_read_from_encodes_it(workdir):
    """Like German 'status_sex' ('male: single', 'female: divorced', ...): sex is a function of it."""
    rng = np.random.default_rng(6)
    frame = shaped_table().drop(columns=["Sex_1"])
    status = np.where(
        frame["sex"] == "male",
        rng.choice(["male: single", "male: married"], len(frame)),
        rng.choice(["female: single", "female: married"], len(frame)),
    )
    frame["status_sex"] = status
    path = write(frame, workdir / "people.csv")
    meta, _ = prepare_with(path, sensitive=["sex"])
    assert meta["sensitive_encodings"]["sex"] == ["status_sex"]
    assert "status_sex" not in meta["input_columns"] and "occupation" in meta["input_columns"]


def test_german_sources_of_sex_and_age_band_are_not_inputs(project):
    from pipeline import config
    from pipeline.data import sensitive_shapes
    from pipeline.data.sources import load_source, resolve

    cfg = config.from_dict({"data": {"source": "german"}})
    _, settings, encodings = sensitive_shapes.derive(load_source(cfg.data), resolve(cfg.data))
    assert encodings == {"sex": ["status_sex"], "age_band": ["age"]}
