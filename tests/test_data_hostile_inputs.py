"""Hostile or odd CSV inputs (issue 16): overflowing numbers, sensitive = target or dropped,
NaN tokens, duplicated rows and train/test overlap, paths leaving the project, numeric labels,
duplicate column names. Each must end in exit 2 with a clear message or be handled and reported."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from pipeline import config, io, paths
from pipeline.errors import BadInputError, ConfigError
from tests.conftest import tiny_params
from tests.data_helpers import csv_config, load, table, write


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run_cli(workdir, path, capsys, **data):
    from pipeline import cli

    csv = {"path": str(path), "target": "label", **data.pop("csv", {})}
    params = tiny_params({"data": {"source": "csv", "dep": str(path), "sensitive": ["sex"], "csv": csv, **data}})
    (workdir / "params.yaml").write_text(yaml.safe_dump(params))
    code = cli.run(["prepare"])
    return code, capsys.readouterr()


@pytest.mark.parametrize("value", ["1e308", "1e999", "-1e200"])
def test_overflowing_numbers_exit_2_naming_file_column_and_line(workdir, capsys, value):
    frame = table(n=120)
    frame["income"] = frame["income"].astype(object)
    frame.loc[5, "income"] = value
    path = write(frame, workdir / "loans.csv")
    code, out = run_cli(workdir, path, capsys)
    assert code == 2, out.err
    assert "Traceback" not in out.err
    assert f"{path}: column 'income': numbers that are infinite or larger than 1e+100" in out.err
    assert f"e.g. '{value}'; line 7" in out.err  # header is line 1, row 5 is line 7
    assert not paths.PREPARED_DIR.exists() and not paths.DATA_METRICS.exists()


def test_encoded_matrix_is_checked_for_finite_values():
    from pipeline.data.prepare import check_finite

    X = np.ones((3, 2), dtype=np.float32)
    X[1, 1] = np.nan
    with pytest.raises(BadInputError, match=r"train split produced non-finite values .* \['income'\]"):
        check_finite(X, ["age", "income"], "train")


def test_sensitive_equal_to_the_target_or_dropped_is_a_config_error(tmp_path):
    path = tmp_path / "a.csv"
    with pytest.raises(ConfigError, match="data.sensitive names the target column 'label'"):
        csv_config(path, sensitive=["label"])
    with pytest.raises(ConfigError, match=r"\['sex'\] are both in data.sensitive and in data.csv.drop"):
        csv_config(path, csv={"drop": ["sex"]})


def test_sensitive_equal_to_the_target_exits_2_through_the_cli(workdir, capsys):
    path = write(table(), workdir / "loans.csv")
    code, out = run_cli(workdir, path, capsys, sensitive=["label"])
    assert code == 2 and "Traceback" not in out.err and "target column 'label'" in out.err


def test_nan_tokens_keep_a_numeric_column_numeric_and_say_so(tmp_path):
    frame = table(n=120)
    frame["income"] = frame["income"].astype(object)
    frame.loc[[2, 9], "income"] = "NaN"
    frame.loc[4, "income"] = "null"
    path = write(frame, tmp_path / "loans.csv")
    loaded = load(path)
    assert "income" in loaded.numeric
    assert any("'income': 3 cells holding 'NaN', 'null' read as missing numbers" in n for n in loaded.notes)
    assert loaded.missing["income"] == 3


def test_duplicated_rows_and_train_test_overlap_are_reported(workdir):
    from pipeline.stages import prepare

    frame = table(n=200)
    frame = pd.concat([frame, frame.iloc[:60]], ignore_index=True)
    path = write(frame, workdir / "loans.csv")
    prepare.main(csv_config(path, pii={"quasi_identifiers": ["age", "sex"]}))
    rows = io.read_json(paths.DATA_METRICS)["rows_quality"]
    assert rows["duplicate_rows"] == 60
    overlap = rows["train_test_overlap"]
    assert 0 < overlap["identical_rows"] <= overlap["identical_inputs"] <= overlap["test_rows"]


def test_a_path_leaving_the_project_is_refused_before_reading(workdir):
    secret = workdir.parent / "secret.txt"
    secret.write_text("root:$6$saltsalt$hash:19000:0:99999:7:::\n")
    cfg = csv_config("../secret.txt")
    from pipeline.data.sources import load_source

    with pytest.raises(BadInputError) as info:
        load_source(cfg.data)
    assert "leads outside the project folder" in str(info.value) and "saltsalt" not in str(info.value)


def test_a_file_that_is_not_a_table_is_never_echoed(workdir):
    path = workdir / "passwd"
    path.write_text("root:$6$saltsalt$hash:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n")
    with pytest.raises(BadInputError) as info:
        load(path)
    assert "reads as a single column" in str(info.value) and "saltsalt" not in str(info.value)


def test_positive_label_zero_means_the_label_0(tmp_path):
    frame = table(n=120)
    frame["label"] = np.where(frame["label"] == "approved", 1, 0)
    path = write(frame, tmp_path / "loans.csv")
    raw = {
        "data": {
            "source": "csv",
            "dep": str(path),
            "sensitive": ["sex"],
            "csv": {"path": str(path), "target": "label", "positive_label": 0, "classes": [0, 1]},
        }
    }
    cfg = config.from_dict(raw)
    assert cfg.data.csv.positive_label == "0" and cfg.data.csv.classes == ["0", "1"]
    from pipeline.data.sources import load_source

    assert load_source(cfg.data).favourable == "0"


def test_duplicate_columns_error_or_rename(tmp_path):
    path = tmp_path / "dup.csv"
    frame = table(n=120)
    text = frame.to_csv(index=False).splitlines()
    text[0] = text[0].replace("occupation", "region")
    path.write_text("\n".join(text) + "\n")
    with pytest.raises(BadInputError, match=r"column 'region': duplicate column name.*duplicate_columns: rename"):
        load(path, csv={"duplicate_columns": "error"})
    loaded = load(path)  # rename is the default
    assert "region.1" in loaded.features.columns
    assert "duplicate column 'region' renamed to 'region.1' (data.csv.duplicate_columns: rename)" in loaded.notes


def test_configured_names_match_the_file_ignoring_case(tmp_path):
    frame = table(n=120).rename(columns={"sex": "SEX", "label": "Label", "region": "Region"})
    path = write(frame, tmp_path / "loans.csv")
    loaded = load(path, csv={"drop": ["region"]})
    assert "sex" in loaded.features.columns and "Region" not in loaded.features.columns
    assert "column 'SEX' matched the setting 'sex' ignoring case" in loaded.notes
    misspelt = write(frame.rename(columns={"SEX": "gendr"}), tmp_path / "g.csv")
    with pytest.raises(BadInputError, match=r"data.sensitive names column 'gender'.*closest match: 'gendr'"):
        load(misspelt, sensitive=["gender"])


def test_a_float_label_finds_the_class_equal_as_a_number(tmp_path):
    frame = table(n=120)
    frame["label"] = np.where(frame["label"] == "approved", 1, 0)
    path = write(frame, tmp_path / "loans.csv")
    assert load(path, csv={"positive_label": 1.0}).favourable == "1"
