"""A CSV file read in blocks (pipeline/data/csv_blocks.py through pipeline/scale/csv_read.py's ``serial``
runner, the same code Ray tasks run) types, validates and fills exactly as the whole-file loader does,
in one block and in several, whether the workers read byte ranges or the driver parses quoted records.
No Ray needed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.data import csv_blocks, hash_split
from pipeline.data.sources import load_source
from pipeline.errors import BadInputError
from pipeline.scale import csv_read
from tests.data_helpers import csv_config

ROWS = 3_500


def adversarial(n: int = ROWS, seed: int = 0, quoted: bool = False) -> pd.DataFrame:
    """Leading-zero codes, a column numeric in the first blocks and text in the last, missing numbers and
    missing-value tokens, a blank sensitive value, groups of 1-2 rows, an existing system's score."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 80, n).astype(str).astype(object)
    age[rng.choice(n, 40, replace=False)] = ""  # empty: missing numbers filled with the median
    age[[5, 2_900]] = "NA"  # a token: read as missing, the column stays numeric
    code = rng.integers(0, 500, n).astype(str).astype(object)
    code[3_300] = "A17"  # numeric for three blocks of 1,000 rows, text in the fourth: categorical
    sex = rng.choice(["F", "M"], n).astype(object)
    sex[[7, 2_500]] = ["X", "X"]  # a tiny group
    sex[1_200] = ""  # missing: kept as '<missing>'
    race = rng.choice(["01", "1", "02", "003"], n, p=[0.5, 0.3, 0.1999, 0.0001]).astype(object)
    race[3_000] = "1.0"  # codes with leading zeros and number look-alikes stay distinct groups
    zipcode = np.array([f"{z:05d}" for z in rng.integers(0, 3_000, n)], dtype=object)
    income = rng.normal(40_000, 12_000, n).round(2).astype(str).astype(object)
    income[[100, 1_500, 3_400]] = ["?", "", "1e3"]
    label = np.where(rng.random(n) < 0.3, ">50K", "<=50K")
    note = rng.choice(["plain", "with, comma" if quoted else "no comma", "NA"], n)
    return pd.DataFrame(
        {
            "age": age,
            "code": code,
            "sex": sex,
            "Race": race,  # matched to the setting 'race' ignoring case
            "zip": zipcode,
            "income": income,
            "note": note,
            "score": rng.random(n).round(4),
            "label": label,
        }
    )


def write(frame: pd.DataFrame, path, blank_line_at: int | None = 1_700):
    text = frame.to_csv(index=False)
    if blank_line_at is not None:
        lines = text.split("\n")
        lines.insert(blank_line_at, "")
        text = "\n".join(lines)
    path.write_text(text)
    return path


def settings_for(path, data: dict | None = None, **csv):
    csv = {"target": "label", "score": "score", "score_direction": "higher_is_favourable", **csv}
    cfg = csv_config(path, sensitive=["sex", "race"], csv=csv, **(data or {}))
    return cfg.data, cfg.seed


def blockwise(data, seed, block_rows: int, sample_rows: int = 10**6):
    return csv_read.scan(csv_read.serial, data, seed, sample_rows, block_rows)


def assert_same_table(ours, theirs) -> None:
    assert ours.numeric == theirs.numeric and ours.categorical == theirs.categorical
    assert ours.classes == theirs.classes and ours.favourable == theirs.favourable
    assert ours.notes == theirs.notes and ours.missing == theirs.missing
    assert ours.provenance == theirs.provenance
    pd.testing.assert_series_equal(ours.target, theirs.target, check_dtype=False)
    for column in theirs.numeric:
        np.testing.assert_array_equal(ours.features[column].to_numpy(), theirs.features[column].to_numpy())
    for column in theirs.categorical:
        assert (ours.features[column].astype(str).to_numpy() == theirs.features[column].astype(str).to_numpy()).all()
    np.testing.assert_array_equal(ours.extra["score"].to_numpy(), theirs.extra["score"].to_numpy())


@pytest.mark.parametrize("quoted", [False, True], ids=["byte-ranges", "driver-chunks"])
@pytest.mark.parametrize("block_rows", [10_000, 1_000])
def test_blocks_type_the_file_as_the_whole_file_loader_does(tmp_path, quoted, block_rows):
    path = write(adversarial(quoted=quoted), tmp_path / "people.csv")
    data, seed = settings_for(path)
    local = load_source(data)
    assert "code" in local.categorical and "zip" in local.numeric and "age" in local.numeric  # the local rules
    assert set(local.features["race"].astype(str)) == {"01", "1", "02", "003", "1.0"}

    scanned = blockwise(data, seed, block_rows)
    assert scanned.mode.startswith("chunks" if quoted else "byte")
    assert scanned.rows == ROWS and (scanned.sample_row_id == np.arange(ROWS)).all()  # the sample: every row
    assert_same_table(scanned.sample, local)
    raw = adversarial(quoted=quoted)
    medians = {
        c: pd.to_numeric(raw[c].where(raw[c] != "NA").replace({"?": None, "": None})).median()
        for c in ("age", "income")
    }
    assert scanned.decisions.medians == medians  # the columns with a missing number, and only those
    # every block typed in its own task, with the file's decisions: the local table's rows, cut in blocks
    parts = list(scanned.parts())
    assert len(parts) == -(-(ROWS + 1) // block_rows)  # the blank line is a record too
    ids, frames = zip(*(csv_blocks.typed_block(p, scanned.layout, scanned.decisions) for p in parts))
    assert (np.concatenate(ids) == np.arange(ROWS)).all()
    whole = pd.concat(frames, ignore_index=True)
    for column in local.numeric:
        np.testing.assert_array_equal(whole[column].to_numpy(), local.features[column].to_numpy())
    for column in local.categorical:
        assert (whole[column].astype(str).to_numpy() == local.features[column].astype(str).to_numpy()).all()


@pytest.mark.parametrize("block_rows", [10_000, 1_000, 300])
def test_the_sample_is_the_rows_hash_split_picks_among_all(tmp_path, block_rows):
    """The hash-stratified sample of the file read in 1, 4 or 12 blocks is the one the whole table
    gives; its tiny groups (sex 'X': 2 rows, race '003' and '1.0': 1 row each) are in it whole."""
    path = write(adversarial(), tmp_path / "people.csv")
    data, seed = settings_for(path)
    local = load_source(data)
    scanned = blockwise(data, seed, block_rows, sample_rows=500)
    strata = hash_split.strata_of(local.target, local.features[["sex", "race"]])
    expected = hash_split.stratified_sample(np.arange(ROWS), strata, seed, 500)
    assert (scanned.sample_row_id == expected).all()
    assert len(expected) > 500 and set(hash_split.sample(np.arange(ROWS), seed, 500)) < set(expected)
    for column, tiny in (("sex", "X"), ("race", "003"), ("race", "1.0")):
        rows = np.flatnonzero(local.features[column].astype(str).to_numpy() == tiny)
        assert 0 < len(rows) <= 2 and set(rows) <= set(expected), (column, tiny)
    assert (scanned.sample.target.to_numpy() == local.target.iloc[expected].to_numpy()).all()
    np.testing.assert_array_equal(scanned.sample.features["age"], local.features["age"].iloc[expected])


def test_dropped_sensitive_gaps_shift_the_row_ids_as_in_the_local_table(tmp_path):
    path = write(adversarial(), tmp_path / "people.csv")
    data, seed = settings_for(path, {"missing_sensitive": "drop"})
    local = load_source(data)
    scanned = blockwise(data, seed, 1_000)
    assert scanned.rows == ROWS - 1 == len(local.target)
    assert_same_table(scanned.sample, local)


def test_a_median_between_two_values_of_different_buckets(tmp_path):
    """Hand-worked: ages 1, 2, 100, 1000 and a gap: median (2 + 100) / 2 = 51, in one block or four."""
    frame = pd.DataFrame(
        {
            "age": ["1", "100", "", "2", "1000"] * 400,
            "sex": ["F", "M"] * 1_000,
            "race": ["a", "b", "c", "d"] * 500,
            "score": ["0.5"] * 2_000,
            "label": ["yes", "no", "no", "yes", "no"] * 400,
        }
    )
    path = write(frame, tmp_path / "m.csv", blank_line_at=None)
    data, seed = settings_for(path)
    for block_rows in (10_000, 1_000):
        scanned = blockwise(data, seed, block_rows)
        assert scanned.decisions.medians == {"age": 51.0} == {"age": load_source(data).features["age"].iloc[2]}


def test_bad_values_in_several_blocks_are_reported_as_the_whole_file_loader_reports_them(tmp_path):
    frame = adversarial()
    frame.loc[[10, 2_200, 3_100], "income"] = ["lots", "1e200", "n/a"]
    path = write(frame, tmp_path / "bad.csv")
    data, seed = settings_for(path, column_types={"income": "numeric"})
    with pytest.raises(BadInputError) as whole:
        load_source(data)
    with pytest.raises(BadInputError) as blocks:
        blockwise(data, seed, 1_000)
    assert str(blocks.value) == str(whole.value)
    # data rows 10, 100 ("?") and 3101 (after the blank line) sit on lines 12, 102 and 3103; 1e200 on 2203
    assert "column 'income': non-numeric values" in str(whole.value) and "lines 12, 102, 3103" in str(whole.value)


def test_a_row_with_too_many_fields_is_named_by_its_line(tmp_path):
    path = write(adversarial(), tmp_path / "wide.csv", blank_line_at=None)
    lines = path.read_text().split("\n")
    lines[2_345] += ",extra"
    path.write_text("\n".join(lines))
    data, seed = settings_for(path)
    with pytest.raises(BadInputError) as whole:
        load_source(data)
    with pytest.raises(BadInputError) as blocks:
        blockwise(data, seed, 1_000)
    assert "line 2346" in str(whole.value) and "line 2346" in str(blocks.value)
