"""PII scanner on crafted columns, including ones that must not be flagged, and k-anonymity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.data import pii
from tests.data_helpers import FIRST, LAST

N = 80


@pytest.fixture
def frame():
    rng = np.random.default_rng(3)
    return pd.DataFrame(
        {
            "full_name": [f"{rng.choice(FIRST)} {rng.choice(LAST)}" for _ in range(N)],
            "contact": [f"user{i}@example.org" for i in range(N)],
            "tel": [f"+49 30 {rng.integers(1_000_000, 9_999_999)}" for _ in range(N)],
            "ref": [f"{rng.integers(100, 999)}-{rng.integers(10, 99)}-{rng.integers(1000, 9999)}" for _ in range(N)],
            "home": [f"{rng.integers(1, 200)} {rng.choice(['Main', 'Oak', 'Elm'])} Street" for _ in range(N)],
            "born_on": [f"19{rng.integers(40, 99)}-0{rng.integers(1, 9)}-1{rng.integers(0, 9)}" for _ in range(N)],
            "customer_key": np.arange(N),
            # must NOT be flagged:
            "age": rng.integers(18, 80, N).astype(float),
            "income": rng.normal(50_000, 9_000, N),
            "city": rng.choice(["New York", "San Francisco", "Los Angeles"], N),
            "occupation": rng.choice(["Tech-support", "Sales", "Craft-repair"], N),
            "telephone": rng.choice(["True", "False"], N),  # German credit: owns a phone (not a number)
            "duration_months": rng.integers(6, 60, N),
        }
    )


def findings_by_column(frame):
    return {f["column"]: f for f in pii.scan(frame, seed=0)}


def test_direct_identifiers_are_flagged_with_reason_and_rate(frame):
    found = findings_by_column(frame)
    expected = {
        "full_name": "personal name",
        "contact": "e-mail address",
        "tel": "phone number",
        "ref": "government id",
        "home": "street address",
        "born_on": "date of birth",
        "customer_key": "unique among its non-empty values",
    }
    for column, reason in expected.items():
        assert column in found, column
        assert reason in found[column]["reason"], found[column]["reason"]
    assert found["contact"]["match_rate"] == 1.0
    assert "value pattern" in found["home"]["reason"]


def test_ordinary_columns_are_not_flagged(frame):
    found = findings_by_column(frame)
    for column in ("age", "income", "city", "occupation", "telephone", "duration_months"):
        assert column not in found, (column, found.get(column))


def test_findings_never_contain_values(frame):
    text = repr(pii.scan(frame, seed=0))
    for value in (frame["full_name"].iloc[0], frame["contact"].iloc[0], frame["tel"].iloc[0]):
        assert value not in text


def test_name_alone_is_enough_and_sensitive_columns_are_not_excludable():
    frame = pd.DataFrame({"e_mail": ["x"] * 30 + ["y"] * 30, "sex": ["a", "b"] * 30})
    found = pii.scan(frame, seed=0, protected={"e_mail"})
    assert [(f["column"], f["excludable"]) for f in found] == [("e_mail", False)]
    assert found[0]["reasons"][0]["detected_by"] == "column name"


def test_k_anonymity_counts_small_classes():
    frame = pd.DataFrame({"age": [30] * 6 + [40] * 3 + [50], "sex": ["f"] * 6 + ["m"] * 4})
    result = pii.k_anonymity(frame, ["age", "sex", "race"], k=5)
    # classes: (30,f)=6, (40,m)=3, (50,m)=1 -> smallest 1, four rows in classes under 5
    assert result["smallest_class"] == 1
    assert result["classes"] == 3 and result["classes_under_k"] == 2
    assert result["rows_in_classes_under_k"] == 4
    assert result["share_rows_under_k"] == pytest.approx(0.4)
    assert result["missing_quasi_identifiers"] == ["race"]
    assert result["satisfied"] is False
