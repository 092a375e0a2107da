"""Target leakage on small adversarial CSVs: a later-outcome column, the target's complement,
an id column that must NOT be flagged, and the three settings warn / exclude / fail."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline import io, paths
from pipeline.data import leakage
from pipeline.errors import BadInputError
from tests.data_helpers import csv_config, table, write


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def leaky_table(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """A credit table plus 'label_0' (the target's complement, as 0/1), 'days_later' (a later
    outcome: large exactly when denied, with noise that keeps it far from a copy) and 'row_id'."""
    rng = np.random.default_rng(seed)
    frame = table(n=n, seed=seed)
    denied = (frame["label"] == "denied").to_numpy()
    frame["label_0"] = np.where(denied, 1, 0)
    frame["days_later"] = np.where(denied, rng.integers(100, 400, n), rng.integers(0, 90, n))
    frame["row_id"] = [f"id{i:05d}" for i in range(n)]
    return frame


def run_prepare(path, capsys=None, **data):
    from pipeline.stages import prepare

    cfg = csv_config(path, pii={"exclude": False, "quasi_identifiers": ["age", "sex"]}, **data)
    prepare.main(cfg)
    return io.read_json(paths.DATA_METRICS), io.read_json(paths.PREPARED_META)


def test_complement_and_later_outcome_are_suspected_and_ids_are_not(workdir, capsys):
    path = write(leaky_table(), workdir / "loans.csv")
    data, meta = run_prepare(path)
    leaks = data["leakage"]
    suspected = {s["column"]: s for s in leaks["suspected"]}
    assert set(suspected) == {"label_0", "days_later"}
    assert "deterministic function of the target" in suspected["label_0"]["reason"]
    assert suspected["label_0"]["score"] == 1.0
    assert suspected["days_later"]["reason"] == "single-feature ROC AUC" and suspected["days_later"]["score"] == 1.0
    # warn keeps the later outcome as an input (and says so); the complement is a one-to-one recoding of the
    # target, which the column screen excludes whatever data.leakage says; honest columns score far below
    assert leaks["action"] == "warn" and "days_later" in meta["input_columns"]
    assert "label_0" not in meta["input_columns"]
    assert {f["column"]: f["copy_of"] for f in data["screen"]["findings"]} == {"label_0": "target"}
    assert leaks["scores"]["row_id"]["auc"] < 0.7 and leaks["scores"]["region"]["auc"] < 0.7
    out = capsys.readouterr().out
    assert (
        "SUSPECTED TARGET LEAKAGE: 'label_0'" in out
        and "'days_later'" in out
        and "STILL A MODEL INPUT" in out
        and "blocks the 'audited' alias" in out
    )


def test_exclude_removes_the_suspects_from_the_inputs(workdir):
    path = write(leaky_table(), workdir / "loans.csv")
    data, meta = run_prepare(path, leakage="exclude")
    assert set(data["leakage"]["excluded"]) == {"label_0", "days_later"}
    assert not {"label_0", "days_later"} & set(meta["input_columns"])
    assert {"label_0", "days_later"} <= set(meta["excluded_columns"])


def test_fail_stops_with_exit_2_naming_the_columns_and_writes_nothing(workdir):
    path = write(leaky_table(), workdir / "loans.csv")
    with pytest.raises(BadInputError, match=r"suspected target leakage .*'label_0'.*data.csv.drop") as info:
        run_prepare(path, leakage="fail")
    assert info.value.exit_code == 2 and "'days_later'" in str(info.value)
    assert not paths.DATA_METRICS.exists() and not paths.PREPARED_META.exists()


def test_a_clean_table_has_no_suspects_but_reports_its_thresholds(workdir):
    path = write(table(n=300), workdir / "clean.csv")
    data, _ = run_prepare(path)
    assert data["leakage"]["suspected"] == []
    assert data["leakage"]["thresholds"] == {"auc": 0.98, "nmi": 0.8}


def test_single_feature_auc_matches_scikit_learn_and_is_symmetric():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 500)
    x = pd.Series(y + rng.normal(0, 1, 500))
    assert leakage.single_feature_auc(x, y, True, 0) == pytest.approx(roc_auc_score(y, x))
    assert leakage.single_feature_auc(-x, y, True, 0) == pytest.approx(roc_auc_score(y, x))


def test_report_section_names_suspects_first():
    from pipeline.report.sections_data import leakage_paragraphs

    data = {
        "leakage": {
            "action": "warn",
            "thresholds": {"auc": 0.98, "nmi": 0.8},
            "suspected": [{"column": "PF_0", "reason": "a deterministic function of the target", "score": 1.0}],
        }
    }
    [text] = leakage_paragraphs(data)
    assert text.startswith("SUSPECTED TARGET LEAKAGE in 1 column(s): 'PF_0'") and "STILL model inputs" in text
    assert "'audited' alias" in text


@pytest.mark.slow
def test_suspects_reach_the_model_card_and_the_html_report(project):
    """Through every stage to the report: the leak is named in the card's data section."""
    from tests.test_data_sources_e2e import run_stages

    path = write(leaky_table(n=300), project / "loans.csv")
    cfg = csv_config(path, pii={"quasi_identifiers": ["age", "sex"]})
    run_stages(cfg)
    card = paths.MODEL_CARD.read_text()
    assert "SUSPECTED TARGET LEAKAGE in 2 column(s)" in card
    assert "label\\_0" in card or "label_0" in card
    assert "SUSPECTED TARGET LEAKAGE" in paths.REPORT_HTML.read_text()
