"""Leakage spread over several columns: no column reaches the single-column threshold, together
they carry the outcome. The probe must name exactly those columns and block the alias; an honest
table must get no alarm."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline import io, paths
from pipeline.audit.gate import blockers
from pipeline.contracts import Leakage
from pipeline.data import leakage_probe
from tests.data_helpers import csv_config, table, write


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def spread_leak_table(n: int = 500, seed: int = 0) -> pd.DataFrame:
    """Weak honest columns, and a later event recorded in one of three registers: every denied
    applicant shows up in exactly one of 'days_to_event' (a short delay), 'later_fine' (a large
    fine) or 'later_charge' (a felony code), chosen at random; everyone else has ordinary values.
    Each column alone reveals a third of the denied (ROC AUC about 0.67), two reveal two thirds,
    only the three together decide the label."""
    rng = np.random.default_rng(seed)
    h1, h2 = rng.normal(size=n), rng.normal(size=n)
    denied = 0.6 * (h1 + h2) / np.sqrt(2) + rng.logistic(size=n) < 0
    register = np.where(denied, rng.integers(0, 3, n), -1)
    frame = pd.DataFrame(
        {
            "age": np.round(40 + 10 * h1),
            "income": np.round(30_000 + 8_000 * h2, 2),
            "sex": rng.choice(["female", "male"], n),
            "region": rng.choice(["north", "south", "east", "west"], n),
            "days_to_event": np.where(register == 0, rng.integers(1, 200, n), rng.integers(200, 1000, n)),
            "later_fine": np.where(register == 1, rng.integers(700, 900, n), rng.integers(0, 600, n)),
            "later_charge": np.where(register == 2, rng.choice(["F1", "F2"], n), rng.choice(["M1", "M2", "none"], n)),
        }
    )
    frame["label"] = np.where(denied, "denied", "approved")
    return frame


def run_prepare(path, **data):
    from pipeline.stages import prepare

    cfg = csv_config(path, pii={"exclude": False, "quasi_identifiers": ["age", "sex"]}, **data)
    prepare.main(cfg)
    return io.read_json(paths.DATA_METRICS), io.read_json(paths.PREPARED_META)


LEAKS = {"days_to_event", "later_fine", "later_charge"}


def test_three_columns_each_under_the_threshold_are_named_together_and_block_the_alias(workdir, capsys):
    data, meta = run_prepare(write(spread_leak_table(), workdir / "spread.csv"))
    leaks = data["leakage"]
    for column in LEAKS:  # each one alone stays under both single-column thresholds
        assert leaks["scores"][column]["auc"] < 0.98 and leaks["scores"][column]["nmi"] < 0.8, column
    suspected = {s["column"]: s for s in leaks["suspected"]}
    assert set(suspected) == LEAKS
    assert leaks["probe"]["auc"] >= 0.98 and [set(s["columns"]) for s in leaks["probe"]["sets"]] == [LEAKS]
    assert leaks["probe"]["sets"][0]["auc_without"] < 0.98  # what is left is honest
    assert "carries the outcome together with" in suspected["later_fine"]["reason"]
    # the same handling as a single-column suspect: console, data.json, the gate's blockers
    out = capsys.readouterr().out
    assert "SUSPECTED TARGET LEAKAGE: 'later_charge'" in out and "blocks the 'audited' alias" in out
    [blocker] = blockers(None, leakage=Leakage.model_validate(data["leakage"]))
    assert blocker.startswith("suspected target leakage:") and all(c in blocker for c in LEAKS)
    assert LEAKS <= set(meta["input_columns"])  # data.leakage: warn keeps them, named


def test_exclude_removes_the_set_from_the_inputs(workdir):
    data, meta = run_prepare(write(spread_leak_table(), workdir / "spread.csv"), leakage="exclude")
    assert set(data["leakage"]["excluded"]) == LEAKS and not LEAKS & set(meta["input_columns"])


def test_an_honest_table_gets_no_alarm(workdir):
    data, _ = run_prepare(write(table(n=400), workdir / "clean.csv"))
    assert data["leakage"]["suspected"] == [] and data["leakage"]["probe"]["auc"] < 0.98
    assert data["leakage"]["probe"]["sets"] == []


def test_the_probe_can_be_turned_off(workdir):
    data, _ = run_prepare(write(spread_leak_table(), workdir / "spread.csv"), leakage_probe=False)
    assert data["leakage"]["suspected"] == [] and data["leakage"]["probe"] is None


def test_hand_worked_xor_pair_is_the_smallest_set():
    """y = a XOR b: a alone and b alone say nothing (each level holds half of each class, AUC 0.5
    by construction); together they decide y exactly. The search must name {a, b} and not the
    noise column c; without the pair the AUC falls back to about 0.5."""
    rng = np.random.default_rng(0)
    n = 800
    a, b = rng.integers(0, 2, n), rng.integers(0, 2, n)
    y = a ^ b
    frame = pd.DataFrame({"a": a.astype(str), "b": b.astype(str), "c": rng.normal(size=n)})
    for column in ("a", "b"):  # the hand-worked premise: each alone is uninformative
        rates = pd.Series(y).groupby(frame[column]).mean()
        assert rates.between(0.45, 0.55).all()
    result = leakage_probe.probe(frame, y, numeric=["c"], columns=["a", "b", "c"], threshold=0.98, seed=0)
    assert result["auc"] >= 0.99
    [found] = result["sets"]
    assert sorted(found["columns"]) == ["a", "b"] and found["auc_without"] < 0.6


def test_near_perfect_network_is_named_with_the_columns_it_leans_on_by_hand():
    """A 'network' whose favourable probability is the first encoded column: validation AUC 1.0 >=
    0.98, flagged; replacing column 'leak' (block [0]) by its mean makes every score equal, AUC 0.5,
    a drop of 0.5; 'noise' (block [1, 2]) is never read, a drop of 0. A network reading only noise
    scores about 0.5 and is not flagged."""
    from pipeline.audit import near_perfect

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    X = np.column_stack([y + rng.uniform(0, 0.5, 200), rng.normal(size=(200, 2))])
    groups = {"leak": [0], "noise": [1, 2]}

    def reads(column):
        return lambda M: np.column_stack([1 - M[:, column] / 2, M[:, column] / 2])

    found = near_perfect.check(reads(0), X, y, 1, groups, 0.98)
    assert found["flagged"] and found["validation_auc"] == pytest.approx(1.0)
    assert found["top_columns"] == [{"column": "leak", "auc_drop": 0.5}, {"column": "noise", "auc_drop": 0.0}]
    assert "near-perfect on its validation rows (ROC AUC 1.000 >= data.leakage_auc 0.98)" in found["reason"]
    honest = near_perfect.check(reads(1), X, y, 1, groups, 0.98)
    assert not honest["flagged"] and honest["validation_auc"] < 0.7 and honest["top_columns"] == []


def test_a_leak_wider_than_the_largest_set_is_still_named(monkeypatch):
    """With sets limited to one column, the XOR pair cannot be isolated: the single most important
    column is named anyway, marked incomplete, so a probe at the threshold never blocks nothing."""
    monkeypatch.setattr(leakage_probe, "MAX_SET", 1)
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 2, 800), rng.integers(0, 2, 800)
    frame = pd.DataFrame({"a": a.astype(str), "b": b.astype(str), "c": rng.normal(size=800)})
    result = leakage_probe.probe(frame, a ^ b, numeric=["c"], columns=["a", "b", "c"], threshold=0.98, seed=0)
    [found] = result["sets"]
    assert found["complete"] is False and len(found["columns"]) == 1 and found["auc"] < 0.98
    [suspect] = result["suspected"]
    assert "no set of at most 1 columns reaches the threshold" in suspect["reason"]


def test_report_data_section_names_a_near_perfect_network_first():
    from pipeline.report import sections_data

    data = {
        "audit": {
            "n_rows": 10,
            "favourable": "y",
            "base_rate": 0.5,
            "class_counts": {"n": 5, "y": 5},
            "small_groups": [],
            "missing": {},
            "groups": {},
            "proxies": {},
            "min_group_size": 1,
        },
        "pii": {
            "findings": [],
            "k_anonymity": {
                "quasi_identifiers": [],
                "missing_quasi_identifiers": [],
                "k": 5,
                "smallest_class": None,
                "classes": 0,
                "rows_in_classes_under_k": 0,
                "share_rows_under_k": None,
                "satisfied": None,
            },
        },
        "leakage": {"action": "warn", "thresholds": {"auc": 0.98, "nmi": 0.8}, "suspected": []},
    }
    near = {"flagged": True, "reason": "the network is near-perfect on its validation rows (ROC AUC 0.997 ...)"}
    section = sections_data.build({"data": data, "evaluate": {"near_perfect": near}})
    text = " ".join(section.paragraphs)
    assert text.startswith("SUSPECTED TARGET LEAKAGE AT THE MODEL: the network is near-perfect")


def test_dates_after_the_decision_by_hand():
    """Decision on 2013-01-10 in every row. 'offense' is later in 3 of the 4 rows where both are known
    (0.75 >= 0.5: named); 'arrest' is later in 1 of 4 (0.25: not); 'charge' holds no dates."""
    from pipeline.data import post_decision

    features = pd.DataFrame(
        {
            "screening": ["2013-01-10"] * 5,
            "offense": ["2013-02-01", "2013-03-01", "2012-12-01", "2014-01-01", "<missing>"],
            "arrest": ["2013-01-01", "2013-01-02", "2013-01-03", "2013-05-01", "2013-01-04"],
            "charge": ["F1", "M2", "F3", "M1", "F2"],
        }
    )
    [found] = post_decision.suspects(features, "screening", ["offense", "arrest", "charge"])
    assert found["column"] == "offense" and found["score"] == 0.75
    assert found["reason"] == (
        "dated after the decision date 'screening' in 75% of the 4 rows where both are known (recorded after the "
        "decision)"
    )


def test_a_later_date_column_is_named_and_blocks_when_it_is_an_input(workdir):
    rng = np.random.default_rng(0)
    frame = table(n=300)
    days = pd.to_timedelta(rng.integers(1, 400, 300), unit="D")
    frame["screening_date"] = "2013-06-01"
    frame["offense_date"] = (pd.Timestamp("2013-06-01") + days).strftime("%Y-%m-%d")
    frame.loc[::7, "offense_date"] = ""
    data, meta = run_prepare(write(frame, workdir / "dated.csv"), csv={"decision_date": "screening_date"})
    [dated] = data["leakage"]["post_decision"]
    assert dated["column"] == "offense_date" and dated["score"] == 1.0
    assert "offense_date" in {s["column"] for s in data["leakage"]["suspected"]}
    assert any("offense_date" in b for b in blockers(None, leakage=Leakage.model_validate(data["leakage"])))
