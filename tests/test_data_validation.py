"""Validation of a user's CSV: one test per problem, each asserting the message the user sees."""

from __future__ import annotations

import os
import re

import pytest

from pipeline.errors import BadInputError
from tests.data_helpers import load, table, write


@pytest.fixture
def good(tmp_path):
    return write(table(), tmp_path / "loans.csv")


def error_of(path, **data) -> str:
    with pytest.raises(BadInputError) as info:
        load(path, **data)
    return str(info.value)


def test_a_valid_file_loads_and_keeps_literal_na_as_a_category(good):
    loaded = load(good)
    assert loaded.classes == ["approved", "denied"]
    assert "NA" in set(loaded.features["region"])  # read with keep_default_na=False
    assert loaded.features["region"].notna().all()
    assert loaded.numeric == ["age", "income"]


def test_the_file_is_never_modified(good):
    before = (good.read_bytes(), os.stat(good).st_mtime_ns)
    load(good)
    assert (good.read_bytes(), os.stat(good).st_mtime_ns) == before


def test_missing_file(tmp_path):
    message = error_of(tmp_path / "nope.csv")
    assert message == f"{tmp_path / 'nope.csv'}: file not found (data.csv.path)"


def test_unreadable_path_is_named(tmp_path):
    folder = tmp_path / "folder.csv"
    folder.mkdir()
    assert "is not a regular file" in error_of(folder)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read a file without read permission")
def test_unreadable_file(good):
    good.chmod(0)
    assert "cannot be read" in error_of(good)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    assert error_of(path) == f"{path}: file is empty: expected a header line and data rows"


def test_header_without_rows(tmp_path):
    path = tmp_path / "header.csv"
    path.write_text("age,sex,label\n")
    assert "has a header but no data rows" in error_of(path)


def test_wrong_delimiter_suggests_the_right_one(tmp_path):
    path = write(table(), tmp_path / "semi.csv", sep=";")
    message = error_of(path)
    assert "splits into one column with delimiter ','" in message
    assert "set data.csv.delimiter to ';'" in message


def test_duplicate_column_names(tmp_path):
    frame = table()
    frame.insert(1, "dup", 1)
    path = tmp_path / "dup.csv"
    text = write(frame, path).read_text().replace("dup", "age", 1)
    path.write_text(text)
    message = error_of(path, csv={"duplicate_columns": "error"})
    assert "column 'age': duplicate column name, appears 2 times in the header" in message
    raw = load(path)  # the default renames the second, with a note the console prints as a warning
    assert "age.1" in raw.features.columns and any("renamed to 'age.1'" in n for n in raw.notes)


def test_target_typo_names_closest_match_and_columns(good):
    message = error_of(good, csv={"target": "lable"})
    assert "data.csv.target names column 'lable', which the file does not have" in message
    assert "closest match: 'label'" in message
    assert "columns are: age, income, sex, region, occupation, label" in message


def test_missing_sensitive_column(good):
    message = error_of(good, sensitive=["gender"])
    assert "data.sensitive names column 'gender'" in message
    assert "columns are: age, income, sex, region, occupation, label" in message


def test_single_class_target(tmp_path):
    frame = table()
    frame["label"] = "approved"
    message = error_of(write(frame, tmp_path / "one.csv"))
    assert "column 'label': the target has a single class; a classifier needs at least two" in message
    assert "120 rows; e.g. 'approved'" in message


def test_labels_outside_configured_classes_show_the_mapping(good):
    message = error_of(good, csv={"classes": ["approved", "rejected"]})
    assert "column 'label': labels outside data.csv.classes" in message
    assert "configured mapping: 'approved' -> 0, 'rejected' -> 1" in message
    assert "e.g. 'denied'" in message


def test_non_numeric_values_in_numeric_column_give_line_numbers(tmp_path):
    frame = table()
    frame["income"] = frame["income"].astype(object)
    frame.loc[[3, 7], "income"] = "n/a"
    path = write(frame, tmp_path / "bad_income.csv")
    message = error_of(path, csv={"column_types": {"income": "numeric"}})
    assert "column 'income': non-numeric values in a column declared numeric" in message
    assert "2 rows; e.g. 'n/a'; lines 5, 9" in message  # header is line 1, row 3 is line 5


def test_missing_sensitive_values_fail_when_asked(tmp_path):
    frame = table()
    frame.loc[[0, 10, 11], "sex"] = None
    path = write(frame, tmp_path / "gaps.csv")
    message = error_of(path, missing_sensitive="fail")
    assert "column 'sex': missing values in a sensitive column and data.missing_sensitive is 'fail'" in message
    assert "3 rows; lines 2, 12, 13" in message


def test_missing_sensitive_values_dropped_or_grouped_with_a_note(tmp_path):
    frame = table()
    frame.loc[[0, 10, 11], "sex"] = None
    path = write(frame, tmp_path / "gaps.csv")
    dropped = load(path, missing_sensitive="drop")
    assert len(dropped.target) == 117
    assert any("dropped 3 rows" in note for note in dropped.notes)
    grouped = load(path, missing_sensitive="group")
    assert (grouped.features["sex"] == "<missing>").sum() == 3
    assert grouped.missing["sex"] == 3


def test_constant_and_empty_columns_are_not_errors(tmp_path):
    """They used to stop the run; the column screen now excludes them with a warning (test_data_screen)."""
    frame = table()
    frame["country"] = "DE"
    frame["notes"] = None
    raw = load(write(frame, tmp_path / "const.csv"))
    assert {"country", "notes"} <= set(raw.features.columns)


def test_too_few_rows_for_the_splits(tmp_path):
    path = write(table(n=8), tmp_path / "tiny.csv")
    message = error_of(path)
    assert "column 'label': too few rows for the splits: 8 rows in 2 classes" in message
    assert "data.test_size=0.2, data.val_size=0.1" in message


def test_bad_encoding_names_line_and_setting(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes(write(table(), tmp_path / "x.csv").read_bytes().replace(b"north", "Köln".encode("latin-1"), 1))
    message = error_of(path)
    assert "is not valid utf-8 text" in message and "set data.csv.encoding" in message
    loaded = load(path, csv={"encoding": "latin-1"})
    assert "Köln" in set(loaded.features["region"])


def test_all_problems_are_reported_at_once(tmp_path):
    frame = table()
    frame["age"] = frame["age"].astype(object)
    frame["income"] = frame["income"].astype(object)
    frame.loc[5, "age"] = "old"
    frame.loc[7, "income"] = "rich"
    frame.loc[9, "label"] = None
    types = {"age": "numeric", "income": "numeric"}
    message = error_of(write(frame, tmp_path / "many.csv"), csv={"column_types": types})
    assert message.startswith("3 problems with the input data:")
    for column in ("age", "income", "label"):
        assert f"column '{column}'" in message


def test_line_numbers_count_blank_lines(tmp_path):
    frame = table()
    frame["income"] = frame["income"].astype(object)
    frame.loc[3, "income"] = "n/a"
    lines = write(frame, tmp_path / "blank.csv").read_text().splitlines()
    lines.insert(2, "")  # a blank line after the first data row
    path = tmp_path / "blank.csv"
    path.write_text("\n".join(lines) + "\n")
    message = error_of(path, csv={"column_types": {"income": "numeric"}})
    assert lines[5].split(",")[1] == "n/a"  # file line 6
    assert "1 row; e.g. 'n/a'; line 6]" in message


def _multiline_file(path, newline="\n"):
    """Rows 0-2 carry a quoted note spanning 3, 1 and 2 lines; row 4's income is bad."""
    frame = table(n=40)
    frame["income"] = frame["income"].astype(object)
    frame.loc[4, "income"] = "lots"
    frame["note"] = "plain"
    frame.loc[0, "note"] = "first line\nsecond, with a comma\nthird"
    frame.loc[2, "note"] = 'says "hi"\n'
    frame.to_csv(path, index=False, lineterminator=newline)
    return path


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_line_numbers_are_physical_lines_after_multiline_quoted_fields(tmp_path, newline):
    path = _multiline_file(tmp_path / "notes.csv", newline)
    physical = re.split(r"\r\n|\r|\n", path.read_bytes().decode())  # as an editor numbers lines
    bad = next(i for i, line in enumerate(physical, start=1) if ",lots," in line)
    assert bad == 9  # header 1, row 0 on lines 2-4, row 1 on 5, row 2 on 6-7, row 3 on 8, row 4 on 9
    message = error_of(path, csv={"column_types": {"income": "numeric"}})
    assert f"1 row; e.g. 'lots'; line {bad}]" in message


def test_parser_error_names_the_physical_line(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text('age,note,label\n30,"a\nb\nc",yes\n\n40,"d",no\n50,"e\nf",yes,extra\n')
    message = error_of(path)
    assert "cannot be parsed with delimiter ','" in message
    assert "Expected 3 fields in line 7, saw 4" in message  # the record starts on line 7 (pandas says 5)
