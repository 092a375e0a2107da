"""The one association measure: bias-corrected Cramér's V (Bergsma 2013), 0/1 columns as categories, and the
explain stage reading the data audit's proxy list and values (one value per pair per report)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats.contingency import association as scipy_association

from pipeline.audit import proxies
from pipeline.data import audit
from pipeline.data.table import RawTable
from pipeline.stats import association


def test_cramers_v_is_bergsmas_bias_corrected_measure_worked_by_hand():
    """[[30, 10], [10, 30]], n = 80: chi2 = 4 * 10^2 / 20 = 20, phi2 = 0.25, minus 1/79 = 0.237342;
    each dimension 2 - 1/79 = 1.987342, so V = sqrt(0.237342 / 0.987342) = 0.490291 (plain V 0.5)."""
    a = pd.Series(["x"] * 40 + ["y"] * 40)
    b = pd.Series(["p"] * 30 + ["q"] * 10 + ["p"] * 10 + ["q"] * 30)
    assert association.cramers_v(a, b) == pytest.approx(0.490291, abs=1e-6)
    plain = scipy_association(pd.crosstab(a, b).to_numpy(), method="cramer", correction=False)
    assert plain == pytest.approx(0.5) and association.cramers_v(a, b) < plain


def test_a_column_with_a_level_per_row_has_no_association_whatever_its_plain_v():
    """The case-number trap: plain V of a unique-per-row column is 1 against anything."""
    rng = np.random.default_rng(0)
    race = pd.Series(rng.choice(["A", "B", "C"], 500))
    case_number = pd.Series([f"C{i:05d}" for i in range(500)])
    plain = scipy_association(pd.crosstab(case_number, race).to_numpy(), method="cramer", correction=False)
    assert plain > 0.99
    assert association.cramers_v(case_number, race) == 0.0
    assert association.adjusted_mutual_info(case_number, race) < 0.01


def test_a_0_1_complement_of_a_sensitive_column_has_v_one():
    """The old quantile binning put a 0/1 column into one bin and reported V = 0."""
    rng = np.random.default_rng(1)
    sex_2 = rng.integers(0, 2, 200)
    features = pd.DataFrame({"Sex_2": sex_2.astype(str), "Sex_1": (1 - sex_2).astype(float), "x": rng.normal(size=200)})
    table = RawTable(features, pd.Series(rng.choice(["y", "n"], 200)), ["n", "y"], "y", ["Sex_1", "x"], ["Sex_2"])
    result = audit.audit(table, ["Sex_2"], min_group_size=10)
    first = result["proxies"]["Sex_2"]["associations"][0]
    assert first["feature"] == "Sex_1" and first["cramers_v"] == pytest.approx(1.0)
    assert association.as_categories(pd.Series([0.0, 1.0, 1.0])).tolist() == [0.0, 1.0, 1.0]  # values, not one bin


def test_many_valued_numerics_are_quantile_bins():
    values = pd.Series(np.arange(100, dtype=float))
    assert association.as_categories(values).nunique() == association.NUMERIC_BINS


def test_explain_reads_the_data_audit_shape_and_uses_its_values():
    data_metrics = {
        "audit": {
            "proxies": {
                "sex": {
                    "associations": [
                        {"feature": "relationship", "cramers_v": 0.65, "normalized_mutual_info": 0.3},
                        {"feature": "marital_status", "cramers_v": 0.45, "normalized_mutual_info": 0.2},
                    ],
                    "strongest": ["relationship", "marital_status"],
                }
            }
        }
    }
    assert proxies.proxies_from_data_audit(data_metrics["audit"]["proxies"], ["sex"]) == {
        "sex": {"relationship": 0.65, "marital_status": 0.45}
    }


def test_adult_proxy_list_names_relationship_and_marital_status_for_sex(project):
    """On real Adult rows the data audit's list, read by explain, holds the two family columns."""
    from pipeline.data import adult

    table = adult.load(project / "data" / "raw")
    result = audit.audit(table, ["sex"], min_group_size=30)
    listed = proxies.proxies_from_data_audit(result["proxies"], ["sex"])["sex"]
    strong = {c for c, v in listed.items() if v >= 0.3}
    assert {"relationship", "marital_status"} <= strong
    # recomputing with the shared function gives the same figure the data audit printed
    cats = association.as_categories(table.features["relationship"], False)
    assert listed["relationship"] == pytest.approx(association.cramers_v(cats, table.features["sex"].astype(str)))
