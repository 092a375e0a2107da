"""The column screen and identifiers on adversarial files: a case number unique where filled, a
renamed duplicate of the audited score, a mostly-empty date, empty and constant columns; sensitive
codes read as written. Each rule also has a hand-worked case."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline import io, paths
from pipeline.data import pii, screen
from pipeline.data.table import RawTable
from pipeline.errors import BadInputError
from tests.data_helpers import csv_config, load, table


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def risk_file(path, n: int = 300, seed: int = 0):
    """A risk-assessment-like file with the traps a real one holds; the header repeats
    'decile_score' and 'priors_count' (the second of each is an exact copy)."""
    rng = np.random.default_rng(seed)
    frame = table(n=n, seed=seed)
    decile = rng.integers(1, 11, n)
    case = np.array([f"13{i:06d}CF10A" for i in rng.permutation(n)], dtype=object)
    case[rng.choice(n, 12, replace=False)] = ""  # unique wherever it is filled
    violent = np.where(rng.random(n) < 0.2, "2014-03-01", "")
    priors = rng.integers(0, 8, n)
    columns = [
        ("case_number", case),
        ("decile_score", decile),
        ("priors_count", priors),
        ("violent_date", violent),
        ("country", np.full(n, "US")),
        ("notes", np.full(n, "")),
        ("decile_score", decile),
        ("priors_count", priors),
    ]
    header = list(frame.columns) + [c for c, _ in columns]
    body = pd.concat([frame, pd.DataFrame({i: v for i, (_, v) in enumerate(columns)})], axis=1)
    body.columns = header
    body.to_csv(path, index=False)
    return path


def run_prepare(path, **data):
    from pipeline.stages import prepare

    csv = {"score": "decile_score", "score_direction": "higher_is_unfavourable", "score_threshold": 5}
    cfg = csv_config(path, csv=csv, pii={"quasi_identifiers": ["age", "sex"]}, **data)
    prepare.main(cfg)
    return io.read_json(paths.DATA_METRICS), io.read_json(paths.PREPARED_META)


def test_identifier_copies_and_mostly_empty_columns_are_named_excluded_and_never_proxies(workdir, capsys):
    data, meta = run_prepare(risk_file(workdir / "risk.csv"))
    screened = {f["column"]: f for f in data["screen"]["findings"]}
    assert screened["decile_score.1"]["kind"] == "copy" and screened["decile_score.1"]["copy_of"] == "score"
    assert "exact copy of the existing system's score 'decile_score'" in screened["decile_score.1"]["reason"]
    assert screened["priors_count.1"]["reason"] == "an exact copy of 'priors_count'"
    assert screened["violent_date"]["kind"] == "mostly_empty" and "empty in 8" in screened["violent_date"]["reason"]
    assert screened["country"]["kind"] == "constant" and screened["notes"]["kind"] == "empty"
    identifiers = {f["column"]: f for f in data["pii"]["findings"]}
    assert "unique among its non-empty values" in identifiers["case_number"]["reason"]
    named = set(screened) | {"case_number"}
    assert not named & set(meta["input_columns"]) and named <= set(meta["excluded_columns"])
    assert "priors_count" in meta["input_columns"]  # the original stays
    proxies = {r["feature"] for r in data["audit"]["proxies"]["sex"]["associations"]}
    assert not named & proxies
    out = capsys.readouterr().out
    assert "WARNING: duplicate column 'decile_score' renamed to 'decile_score.1'" in out
    assert "WARNING: column 'violent_date' is mostly_empty" in out and "excluded from the inputs" in out


def test_keep_columns_and_max_missing_share_keep_them_named(workdir):
    data, meta = run_prepare(risk_file(workdir / "risk.csv"), keep_columns=["priors_count.1"], max_missing_share=None)
    screened = {f["column"]: f for f in data["screen"]["findings"]}
    assert "violent_date" not in screened and "violent_date" in meta["input_columns"]
    assert screened["priors_count.1"]["excluded"] is False and "priors_count.1" in meta["input_columns"]


def test_duplicate_headers_still_refused_when_asked(workdir):
    with pytest.raises(BadInputError, match="duplicate column name"):
        load(risk_file(workdir / "risk.csv"), csv={"duplicate_columns": "error"})


def _table(features: pd.DataFrame, target, missing=None, extra=None) -> RawTable:
    numeric = [c for c in features if pd.api.types.is_numeric_dtype(features[c])]
    return RawTable(
        features,
        pd.Series(target),
        ["n", "y"],
        "y",
        numeric,
        [c for c in features if c not in numeric],
        missing=missing or {},
        extra=extra or {},
    )


def test_copy_rule_by_hand():
    """Eight rows. b recodes a (x->1, y->2): 2 levels <= 8 / 2, a copy. c equals a: an exact copy.
    d and e are distinct in every row, so they map one-to-one by construction: not evidence,
    not copies. f is the target's complement; s repeats the score exactly."""
    a = ["x", "y", "x", "x", "y", "y", "x", "y"]
    target = ["y", "n", "n", "y", "y", "n", "y", "n"]
    features = pd.DataFrame(
        {
            "a": a,
            "b": [1.0 if v == "x" else 2.0 for v in a],
            "c": a,
            "d": [f"id{i}" for i in range(8)],
            "e": [f"k{7 - i}" for i in range(8)],
            "f": ["0" if t == "y" else "1" for t in target],
            "s": [3.0, 7.0, 1.0, 2.0, 9.0, 4.0, 5.0, 6.0],
        }
    )
    raw = _table(features, target, extra={"score": features["s"].copy()})
    found = screen.copies(raw, list(features.columns))
    assert found == {
        "b": {"reason": "a one-to-one recoding of 'a'", "of": "a"},
        "c": {"reason": "an exact copy of 'a'", "of": "a"},
        "f": {"reason": "a one-to-one recoding of the target", "of": "target"},
        "s": {"reason": "an exact copy of the score", "of": "score"},
    }


def test_mostly_empty_rule_by_hand():
    """10 rows: 'six' misses 6 (0.6 > 0.5, excluded), 'five' misses 5 (0.5 is not more than half)."""
    features = pd.DataFrame({"six": ["a"] * 4 + ["<missing>"] * 6, "five": ["a", "b"] * 2 + ["c"] + ["<missing>"] * 5})
    result = screen.screen(_table(features, ["y", "n"] * 5), ["six", "five"])
    assert [(f["column"], f["kind"]) for f in result["findings"]] == [("six", "mostly_empty")]
    assert result["findings"][0]["reason"] == "empty in 60% of rows (data.max_missing_share 0.5)"


def test_identifier_rule_by_hand():
    """30 codes + 5 empties: unique where filled (30 of 35 filled >= half). A repeated code is not an
    id. Numbers: 3 gaps filled with the median 15.0, which also occurs once: 15.0 four times (<= 3 + 1)
    and the rest once: an id. Non-integer distinct values are measurements. 12 filled of 35: too few."""
    codes = pd.Series([f"A{i}" for i in range(30)] + ["<missing>"] * 5)
    assert pii.unique_per_row(codes)
    assert not pii.unique_per_row(pd.Series([f"A{i}" for i in range(29)] + ["A0"] + ["<missing>"] * 5))
    numbers = pd.Series([float(i) for i in range(1, 30) if i != 15] + [15.0] * 4)
    assert pii.unique_per_row(numbers, n_missing=3)
    assert not pii.unique_per_row(numbers, n_missing=2)
    assert not pii.unique_per_row(pd.Series(np.arange(35) + 0.5))
    assert not pii.unique_per_row(pd.Series([f"A{i}" for i in range(12)] + ["<missing>"] * 23))


def test_sensitive_codes_stay_as_written(workdir):
    frame = table(n=120)
    frame["group"] = np.array(["01", "1", "1.0"] * 40)
    raw = load(io_write(frame, workdir / "codes.csv"), sensitive=["group"])
    assert "group" in raw.categorical
    assert sorted(raw.features["group"].astype(str).unique()) == ["01", "1", "1.0"]


def test_a_single_group_sensitive_attribute_is_refused_and_nothing_encodes_a_constant(workdir):
    from pipeline.data import sensitive_shapes
    from pipeline.data.sources import resolve

    frame = table(n=120)
    frame["group"] = "A"
    path = io_write(frame, workdir / "one.csv")
    cfg = csv_config(path, sensitive=["group"])
    raw = load(path, sensitive=["group"])
    with pytest.raises(BadInputError, match="sensitive attribute 'group' has a single group \\('A'\\)") as info:
        sensitive_shapes.derive(raw, resolve(cfg.data))
    assert info.value.exit_code == 2
    encodings = {"group": []}
    sensitive_shapes.add_dependent_columns(raw, encodings)
    assert encodings == {"group": []}


def io_write(frame: pd.DataFrame, path):
    frame.to_csv(path, index=False)
    return path


def test_missing_sensitive_points_to_sensitive_onehot_when_one_hot_columns_match(workdir):
    frame = table(n=120)
    sex = frame.pop("sex")
    frame["Sex_female"], frame["Sex_male"] = (sex == "female").astype(int), (sex == "male").astype(int)
    with pytest.raises(BadInputError) as info:
        load(io_write(frame, workdir / "onehot.csv"), sensitive=["sex"])
    message = str(info.value)
    assert "the file has one-hot columns Sex_female, Sex_male" in message
    assert "data.sensitive_onehot: {sex: [Sex_female, Sex_male]}" in message
    assert "dvc exp run -S '++data.sensitive_onehot.sex=[Sex_female, Sex_male]'" in message
