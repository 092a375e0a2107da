"""Better messages for the weak cases of issue 25 (item 7): a UTF-16 file, a one-value sensitive column,
and group names that read alike (Unicode normalisation, text-direction controls), on real CSV files."""

from __future__ import annotations

import pytest

from pipeline.data import audit
from pipeline.data.group_names import comparable, confusable
from pipeline.errors import BadInputError
from tests.data_helpers import load, table, write


def error_of(path, **data) -> str:
    with pytest.raises(BadInputError) as info:
        load(path, **data)
    return str(info.value)


@pytest.mark.parametrize(
    ("encoding", "expected"),
    [
        ("utf-16", "UTF-16 byte-order mark: set data.csv.encoding: utf-16"),
        ("utf-16-le", "NUL bytes between characters, as UTF-16 text without a byte-order mark does"),
        ("utf-32", "UTF-32 byte-order mark: set data.csv.encoding: utf-32"),
    ],
)
def test_a_utf16_file_is_named_as_such_not_sent_to_latin1(tmp_path, encoding, expected):
    """Before: 'set data.csv.encoding (e.g. latin-1 or cp1252)', which decodes UTF-16 into nonsense."""
    path = tmp_path / "wide.csv"
    path.write_bytes(write(table(), tmp_path / "x.csv").read_text().encode(encoding))
    message = error_of(path)
    assert "is not valid utf-8 text" in message or "holds NUL characters once read as utf-8" in message
    assert expected in message and "latin-1" not in message
    assert "female" in set(load(path, csv={"encoding": encoding}).features["sex"])


def test_a_latin1_file_still_gets_the_latin1_advice(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes(write(table(), tmp_path / "x.csv").read_bytes().replace(b"north", "Köln".encode("latin-1"), 1))
    assert "e.g. latin-1 or cp1252" in error_of(path)


def test_one_value_sensitive_column_gets_advice_the_config_accepts(tmp_path):
    """Before: 'remove it with data.csv.drop', which the config then refuses for a sensitive column. A
    one-value sensitive attribute is refused where the sensitive shapes are applied (issue 24 moved it
    there: a constant *input* column is now excluded with a warning, not an error)."""
    from pipeline.data.sensitive_shapes import refuse_single_group

    frame = table()
    frame["sex"] = "female"
    loaded = load(write(frame, tmp_path / "one.csv"))
    with pytest.raises(BadInputError) as info:
        refuse_single_group(loaded.features, ["sex"])
    message = str(info.value)
    assert "sensitive attribute 'sex' has a single group ('female')" in message and "data.sensitive" in message
    assert "data.csv.drop" not in message


NFC, NFD = "Caf\u00e9", "Cafe\u0301"


def test_names_equal_after_normalisation_are_one_flagged_pair():
    """Hand-worked: NFC and NFD spellings of one word, a fullwidth copy, and an unrelated name."""
    found = confusable("origin", [NFC, NFD, "ＣＡＦＥ", "Bar"])
    assert [f["groups"] for f in found] == [[NFD, NFC]]
    assert "read as 'Café'" in found[0]["reason"] and "NFC/NFD" in found[0]["reason"]
    assert comparable("ＣＡＦＥ") == "CAFE"  # NFKC: fullwidth letters read as ASCII ones (not equal to 'Café')


def test_text_direction_controls_are_flagged_and_ordinary_joiners_are_not():
    override = "\u202eelam"  # displays as 'male' right to left
    found = confusable("sex", [override, "female", "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"])
    assert [f["groups"] for f in found] == [[override]]
    assert "U+202E" in found[0]["reason"]
    assert confusable("sex", ["male", "female", "male\u200b"])[-1]["groups"] == ["male", "male\u200b"]


def test_the_data_audit_of_a_real_csv_flags_them(tmp_path):
    frame = table()
    frame.loc[:9, "sex"] = NFD
    frame.loc[10:19, "sex"] = NFC
    frame.loc[20:29, "sex"] = "\u202eelam"
    raw = load(write(frame, tmp_path / "names.csv"))
    flagged = audit.audit(raw, ["sex"], 5)["confusable_groups"]
    assert sorted(map(tuple, (f["groups"] for f in flagged))) == [(NFD, NFC), ("\u202eelam",)]
    assert all(f["column"] == "sex" for f in flagged)


def test_the_report_marks_them_with_escapes():
    """'Reach the report unmarked' (issue 25): the data section names them, escaped, with the reason."""
    from pipeline.report.sections_data import _confusable_paragraphs

    found = confusable("sex", [NFC, NFD, "\u202eelam"])
    text = " ".join(_confusable_paragraphs({"confusable_groups": found}))
    assert "'Cafe\\u0301', 'Caf\\xe9'" in text and "'\\u202eelam'" in text
    assert "\u202e" not in text and "\u0301" not in text
