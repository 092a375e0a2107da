"""PII found by values: lower-case single-word name columns (headers 'first'/'last' or neutral),
event dates that are NOT dates of birth, birth dates by their span or an age column, and
quasi-identifiers named in another case."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.data import pii
from pipeline.errors import BadInputError

N = 600


def name_pool(kind: str, rng) -> list[str]:
    """Listed names (the common ones) mixed with invented rare ones, as a real column has."""
    listed = sorted(pii.known_names())
    invented = [f"{a}{b}" for a in ("zor", "quib", "vask", "trel") for b in ("anu", "ith", "orv", "elk")]
    return list(rng.choice(listed, 80)) + invented if kind == "mix" else listed


@pytest.fixture
def frame():
    rng = np.random.default_rng(8)
    pool = name_pool("mix", rng)
    first = rng.choice(pool, N)
    return pd.DataFrame(
        {
            "first": first,
            "last": rng.choice(pool, N),
            "col_a": rng.choice(pool, N),  # a neutral header: found by values alone
            "screening_date": pd.to_datetime("2013-01-01") + pd.to_timedelta(rng.integers(0, 700, N), "D"),
            "birth": pd.to_datetime("1950-01-01") + pd.to_timedelta(rng.integers(0, 365 * 45, N), "D"),
            "city": rng.choice(["Springfield", "Riverside", "Fairview", "Madison"], N),
            "charge": rng.choice(["theft", "battery", "burglary", "fraud", "assault"], N),
        }
    ).assign(
        screening_date=lambda f: f["screening_date"].dt.strftime("%Y-%m-%d"),
        birth=lambda f: f["birth"].dt.strftime("%Y-%m-%d"),
    )


def found(frame):
    return {f["column"]: f["reason"] for f in pii.scan(frame, seed=0)}


def test_lower_case_name_columns_are_flagged_by_header_and_values(frame):
    reasons = found(frame)
    assert "personal name (column name)" in reasons["first"]
    assert "personal name (common names list)" in reasons["last"]
    assert reasons["col_a"].startswith("personal name (common names list)")


def test_event_dates_are_dates_not_births_and_births_are_recognised(frame):
    reasons = found(frame)
    assert reasons["screening_date"].startswith("date (a quasi-identifier")
    assert "date of birth" not in reasons["screening_date"]
    assert reasons["birth"].startswith("date of birth (dates span")


def test_dates_tracking_an_age_column_are_births():
    rng = np.random.default_rng(2)
    age = rng.integers(30, 40, 200)  # a narrow span, so only the age column can tell
    born = pd.to_datetime("2020-06-01") - pd.to_timedelta(age * 365.25 + rng.integers(0, 300, 200), "D")
    frame = pd.DataFrame({"AGE": age.astype(float), "when": born.strftime("%Y-%m-%d")})
    assert "implied ages track the column 'AGE'" in found(frame)["when"]


def test_ordinary_words_are_not_names(frame):
    reasons = found(frame)
    assert "city" not in reasons and "charge" not in reasons


def test_names_list_has_provenance_and_no_values_are_emitted(frame):
    readme = pii.NAMES_DIR / "README.md"
    assert "not downloaded" in readme.read_text() and len(pii.known_names()) > 1000
    text = str(pii.scan(frame, seed=0))
    assert not any(name in text for name in frame["col_a"].head(20))


def test_quasi_identifiers_match_ignoring_case_and_missing_ones_name_the_closest():
    frame = pd.DataFrame({"AGE": [20, 20, 30], "Sex": ["f", "f", "m"], "zip": ["1", "1", "2"]})
    result = pii.k_anonymity(frame, ["age", "sex", "race"], 2)
    assert result["quasi_identifiers"] == ["AGE", "Sex"] and result["missing_quasi_identifiers"] == ["race"]
    assert result["smallest_class"] == 1
    with pytest.raises(BadInputError, match=r"'age' \(closest match: 'ages'\)"):
        pii.k_anonymity(pd.DataFrame({"ages": [1, 2]}), ["age"], 2)
