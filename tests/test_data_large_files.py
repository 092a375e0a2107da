"""The memory-saving paths of the CSV reader and ``prepare`` (issue 16: a 300 MB file peaked at
2.7 GB) give the same table, lines and encodings as the plain ones. Memory itself is measured
by benchmarks/big_csv.py (figures in benchmarks/big_csv.json), never asserted here."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.data import csv_source, encode, quality
from pipeline.errors import BadInputError
from tests.data_helpers import load, table, write


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(csv_source, "READ_CHUNK_ROWS", 7)


def test_chunked_reading_gives_the_same_table_and_lines(tmp_path, small_chunks):
    frame = table(n=60)
    frame["income"] = frame["income"].astype(object)
    frame.loc[40, "income"] = "lots"
    lines = write(frame, tmp_path / "loans.csv").read_text().splitlines()
    lines.insert(30, "")  # a blank line in a later chunk
    path = tmp_path / "loans.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(BadInputError, match=r"e.g. 'lots'; line 43\]"):  # header 1, row 40 -> 42, +1 blank
        load(path, csv={"column_types": {"income": "numeric"}})
    good = write(table(n=60), tmp_path / "good.csv")
    loaded = load(good)
    expected = table(n=60)
    assert len(loaded.features) == 60
    assert loaded.features["occupation"].astype(str).tolist() == expected["occupation"].tolist()
    np.testing.assert_array_equal(loaded.features["income"].to_numpy(), expected["income"].to_numpy())


def test_categorical_columns_are_categories_holding_the_files_text(tmp_path):
    frame = table(n=60)
    frame["region"] = frame["region"].astype(object)
    frame.loc[3, "region"] = ""  # missing -> the '<missing>' level
    loaded = load(write(frame, tmp_path / "loans.csv"))
    region = loaded.features["region"]
    assert isinstance(region.dtype, pd.CategoricalDtype)
    expected = frame["region"].replace("", csv_source.MISSING_LEVEL).tolist()
    assert region.astype(str).tolist() == expected and "NA" in set(region)


def test_encoding_rows_by_position_equals_encoding_a_copy_of_them(monkeypatch):
    monkeypatch.setattr(encode, "CHUNK_ROWS", 5)
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=40), "c": pd.Categorical(rng.choice(["a", "b", "c"], 40))})
    encoding = encode.fit(frame.iloc[:30], ["x"], ["c"])
    rows = rng.permutation(40)[:17]
    np.testing.assert_array_equal(
        encode.transform(encoding, frame, rows=rows), encode.transform(encoding, frame.iloc[rows].astype({"c": str}))
    )


def test_duplicate_rows_are_rows_of_equal_values():
    frame = pd.DataFrame({"x": [1.5, 1.5, 0.0, -0.0, 2.0, 2.0], "c": pd.Categorical(["a", "a", "b", "b", "c", "d"])})
    target = pd.Series(["y", "y", "n", "n", "y", "y"])
    labels = pd.Series(["train", "test", "train", "test", "train", "test"], index=range(6))
    found = quality.duplicates_and_overlap(frame, target, labels)
    # Rows 0/1 and 2/3 (0.0 equals -0.0 as a number, though not as text); categories compare by value.
    assert found["duplicate_rows"] == int(frame.assign(t=target).duplicated().sum()) == 2
    assert found["train_test_overlap"]["identical_rows"] == 2


def test_a_ragged_row_in_a_later_chunk_names_its_physical_line(tmp_path, small_chunks):
    rows = ["age,note,label"] + [f'{i},"two\nlines",yes' for i in range(29)] + ["99,x,no,extra"] + ["1,a,no"] * 5
    path = tmp_path / "ragged.csv"
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(BadInputError, match=r"Expected 3 fields in line 60, saw 4"):  # 1 + 29 * 2 + 1
        csv_source.read_frame(path, ",", "utf-8")
