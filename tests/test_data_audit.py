"""Data audit on the real Adult and German data: groups, base rates and proxies."""

from __future__ import annotations

import pandas as pd
import pytest

from pipeline.data import adult, audit, german
from pipeline.data.table import RawTable


def test_relationship_is_the_strongest_proxy_for_sex_on_adult(project):
    table = adult.load(project / "data" / "raw")
    result = audit.audit(table, ["sex", "race"], min_group_size=30)
    assert result["proxies"]["sex"]["strongest"][0] == "relationship"
    sex = result["groups"]["sex"]
    assert sex["Male"]["count"] + sex["Female"]["count"] == result["n_rows"] == len(table.target)
    # base rates recomputed by hand
    male = table.target[table.features["sex"] == "Male"]
    assert sex["Male"]["base_rate"] == pytest.approx((male == ">50K").mean())
    assert "sex x race" in result["groups"]
    assert result["missing"]["workclass"]["count"] == int((table.features["workclass"] == "<missing>").sum()) > 0


def test_german_is_decoded_and_status_sex_proxies_sex(project):
    table = german.load(project / "data" / "raw")
    assert len(table.target) == 1000 and set(table.target) == {"good", "bad"}
    assert set(table.features["sex"]) == {"male", "female"}
    assert set(table.features["age_band"]) == {"<=25", ">25"}
    assert not table.features["purpose"].str.match(r"^A\d+$").any()  # codes decoded
    result = audit.audit(table, ["sex", "age_band"], min_group_size=30)
    assert result["proxies"]["sex"]["strongest"][0] == "status_sex"
    assert result["proxies"]["sex"]["associations"][0]["cramers_v"] > 0.95


def test_small_groups_are_flagged():
    features = pd.DataFrame({"g": ["a"] * 40 + ["b"] * 5, "x": ["u", "v"] * 22 + ["u"]})
    table = RawTable(features, pd.Series(["y", "n"] * 22 + ["y"]), ["n", "y"], "y", [], ["g", "x"])
    result = audit.audit(table, ["g"], min_group_size=10)
    assert result["small_groups"] == [{"feature": "g", "group": "b", "count": 5}]
    assert result["groups"]["g"]["a"]["small"] is False


def test_cramers_v_is_one_for_a_copy_and_near_zero_for_noise():
    a = pd.Series(list("xyz") * 100)
    assert audit.cramers_v(a, a) == pytest.approx(1.0)
    noise = pd.Series(list("pq") * 150)
    assert audit.cramers_v(a, noise) < 0.05


@pytest.mark.parametrize(("policy", "rows"), [("group", 48842), ("drop", 46043)])
def test_missing_sensitive_policy_on_adult(project, policy, rows):
    from pipeline import config
    from pipeline.data.sources import load_source

    cfg = config.from_dict({"data": {"sensitive": ["sex", "workclass"], "missing_sensitive": policy}})
    table = load_source(cfg.data)
    assert len(table.target) == len(table.features) == len(table.official_split) == rows
    assert ((table.features["workclass"] == "<missing>").sum() == 0) == (policy == "drop")


def test_missing_sensitive_fail_on_adult_names_the_column(project):
    from pipeline import config
    from pipeline.data.sources import load_source
    from pipeline.errors import BadInputError

    cfg = config.from_dict({"data": {"sensitive": ["sex", "workclass"], "missing_sensitive": "fail"}})
    with pytest.raises(BadInputError, match=r"'workclass': 2799\} and data.missing_sensitive is 'fail'"):
        load_source(cfg.data)
