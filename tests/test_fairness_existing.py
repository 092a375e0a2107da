"""An existing system (a risk score and a decision column) audited as the user meant, through the
real stages on a synthetic file whose per-group error rates are known by construction; the gate
and reference-group errors through the real command line."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml

from pipeline import config, io, paths
from pipeline.audit import existing
from pipeline.errors import BadInputError
from tests.conftest import REPO
from tests.test_fairness_policy import assert_intervals_contain_estimates

# (group, truth, decided favourable, rows). Favourable = "0" (did not reoffend); the favourable
# decision is "low risk". A: TP 300, FN 100, FP 60, TN 140; B: TP 120, FN 80, FP 20, TN 180.
CELLS = [
    ("A", "0", True, 300),
    ("A", "0", False, 100),
    ("A", "1", True, 60),
    ("A", "1", False, 140),
    ("B", "0", True, 120),
    ("B", "0", False, 80),
    ("B", "1", True, 20),
    ("B", "1", False, 180),
]
EXPECTED = {
    "A": {"tpr": 0.75, "fnr": 0.25, "fpr": 0.3, "selection_rate": 0.6, "precision": 300 / 360},
    "B": {"tpr": 0.6, "fnr": 0.4, "fpr": 0.1, "selection_rate": 0.35, "precision": 120 / 140},
}


def risk_file(path):
    rng = np.random.default_rng(0)
    rows = []
    for group, truth, low_risk, n in CELLS:
        for _ in range(n):
            decile = int(rng.integers(1, 5) if low_risk else rng.integers(5, 11))  # threshold 5: high risk from 5
            rows.append(
                {
                    "race": group,
                    "priors": int(rng.poisson(3 if truth == "1" else 1)),
                    "charge": rng.choice(["F", "M"]),
                    "decile_score": decile,
                    "score_text": "Low" if low_risk else "High",
                    "two_year_recid": truth,
                }
            )
    frame = pd.DataFrame(rows).sample(frac=1.0, random_state=1).reset_index(drop=True)
    frame.to_csv(path, index=False)
    return path


def raw_params(path, **audit_extra) -> dict:
    csv = {
        "path": str(path),
        "target": "two_year_recid",
        "positive_label": "0",
        "score": "decile_score",
        "score_threshold": 5,
        "score_direction": "higher_is_unfavourable",
        "decision": "score_text",
        "favourable_decision": "Low",
    }
    return {
        "data": {"source": "csv", "dep": str(path), "sensitive": ["race"], "csv": csv},
        "train": {"epochs": 1, "batch_size": 64},
        "audit": {"n_boot": 20, **audit_extra},
        "mitigation": {"enabled": False},
        "explain": {"n_steps": 8, "batch_size": 256},
    }


@pytest.fixture(scope="module")
def risk_project(tmp_path_factory):
    from pipeline.stages import evaluate, fairness, prepare, train

    root = tmp_path_factory.mktemp("risk")
    mp = pytest.MonkeyPatch()
    mp.chdir(root)
    path = risk_file(root / "risk.csv")
    (root / "params.yaml").write_text(yaml.safe_dump(raw_params("risk.csv")))
    cfg = config.load(root / "params.yaml")
    for stage in (prepare, train, evaluate, fairness):
        stage.main(cfg)
    yield root, path
    mp.undo()


def cli(root, *args):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=root, capture_output=True, text=True, env=env)


@pytest.mark.parametrize("role", ["score", "decision"])
def test_existing_system_reproduces_known_error_rates_on_all_rows(risk_project, role):
    root, _ = risk_project
    result = io.read_json(root / paths.FAIRNESS_METRICS)["external"][role]
    system = result["system"]
    assert system["rows"] == 1000 and system["splits"] == ["train", "val", "test"]
    assert system["column"] == ("decile_score" if role == "score" else "score_text")
    if role == "score":
        assert (system["threshold"], system["direction"]) == (5, "higher_is_unfavourable")
    for group, rates in EXPECTED.items():
        measured = result["features"]["race"]["groups"][group]
        for rate, value in rates.items():
            assert round(measured[rate], 3) == round(value, 3), (group, rate)
            low, high = measured["ci"][rate]
            assert low <= measured[rate] <= high
    assert "did not receive" not in system["definitions"]["fnr"]  # the words are this data's
    assert "two_year_recid = '0' who were refused" in system["definitions"]["fnr"]


def test_fairness_json_intervals_all_contain_their_estimates(risk_project):
    root, _ = risk_project
    result = io.read_json(root / paths.FAIRNESS_METRICS)
    assert assert_intervals_contain_estimates(result) > 50
    assert any(v["gating"] for v in result["verdicts"]) and all("reason" in v for v in result["verdicts"])


def test_decision_values_not_among_the_labels_exit_2(risk_project):
    root, _ = risk_project
    params = raw_params("risk.csv")
    del params["data"]["csv"]["favourable_decision"]
    (root / "bad.yaml").write_text(yaml.safe_dump(params))
    done = cli(root, "--params", "bad.yaml", "fairness")
    assert done.returncode == 2, done.stderr
    assert "found ['High', 'Low'], classes ['0', '1']" in done.stderr and "data.csv.favourable_decision" in done.stderr


def test_decision_labels_are_read_against_the_classes():
    values = pd.Series(["0", "1", "0", ""])
    decided, usable = existing.decisions_from_labels(values, ["0", "1"], "0", None, "pred")
    assert decided.tolist() == [1, 0, 1, 0] and usable.tolist() == [True, True, True, False]
    with pytest.raises(BadInputError, match="'Medium' is not a value"):
        existing.decisions_from_labels(values, ["0", "1"], "0", "Medium", "pred")


def test_score_without_direction_is_refused():
    raw = raw_params("risk.csv")
    del raw["data"]["csv"]["score_direction"]
    with pytest.raises(BadInputError, match="score_direction: higher_is_favourable"):
        config.from_dict(raw)


def test_unknown_reference_exits_2_naming_the_groups(risk_project):
    root, _ = risk_project
    (root / "martian.yaml").write_text(yaml.safe_dump(raw_params("risk.csv", reference="Martian")))
    done = cli(root, "--params", "martian.yaml", "fairness")
    assert done.returncode == 2, done.stderr
    assert "'Martian' is not a group of any audited attribute; groups that exist: race: 'A', 'B'" in done.stderr


def test_gate_exit_code_follows_the_policy(risk_project, tmp_path):
    from pipeline import contracts
    from pipeline.audit.gate import gate, upstream

    root, _ = risk_project
    evaluation = contracts.read(root / paths.EVALUATE_METRICS)
    on_disk = gate(io.read_json(root / paths.FAIRNESS_METRICS), **upstream(None, evaluation))
    done = cli(root, "gate")
    assert done.returncode == (0 if on_disk.passed else 5), done.stderr
    # a passing and a failing audit, written where the gate reads them
    from pipeline.audit.fairness import FairnessSettings, audit_decisions
    from tests.data_helpers import rows_with_cells

    (tmp_path / "params.yaml").write_text("{}\n")
    y, p, g = rows_with_cells({"a": (2000, 500, 500, 7000), "b": (1900, 600, 600, 6900)})
    io.write_json(tmp_path / paths.FAIRNESS_METRICS, audit_decisions(y, p, None, g, ["g"], FairnessSettings(n_boot=0)))
    done = cli(tmp_path, "gate")
    assert done.returncode == 0 and "audit policy passes" in done.stdout
    y, p, g = rows_with_cells({"a": (2000, 500, 500, 7000), "b": (400, 100, 100, 4400)})
    io.write_json(tmp_path / paths.FAIRNESS_METRICS, audit_decisions(y, p, None, g, ["g"], FairnessSettings(n_boot=0)))
    done = cli(tmp_path, "gate")
    assert done.returncode == 5 and "the audit policy does not pass" in done.stderr
    assert "FAIL           g: selection_rate_ratio" in done.stderr


def test_report_states_the_policy_base_rates_and_the_existing_system(risk_project):
    from pipeline.stages import report

    root, _ = risk_project
    report.main(config.load(root / "params.yaml"))
    card = (root / paths.MODEL_CARD).read_text()
    for text in (
        "Gating criteria (audit.policy), on race",
        "Why not every criterion at once",
        "Base rates (share with the favourable outcome) by race: A ",
        "Bonferroni over",
        "Existing system (score): column 'decile\\_score'",
        "direction higher\\_is\\_unfavourable",
        "audited on 1000 rows",
        "refused the favourable decision",
    ):
        assert text in card, text


def test_existing_rows_test_restricts_the_audit_and_leakage_blocks_the_gate(risk_project):
    """``existing_rows: test`` audits the test split only; suspected leakage in data.json reaches
    fairness.json's blockers, so the registry's ``gate(fairness)`` alone refuses the alias."""
    from pipeline.audit.gate import gate
    from pipeline.stages import fairness

    root, _ = risk_project
    data_file, fair_file = root / paths.DATA_METRICS, root / paths.FAIRNESS_METRICS
    data_before, fair_before = data_file.read_bytes(), fair_file.read_bytes()
    try:
        raw = raw_params("risk.csv")
        raw["data"]["csv"]["existing_rows"] = "test"
        data = io.read_json(data_file)
        io.write_json(data_file, {**data, "leakage": {"suspected": ["priors"]}})
        fairness.main(config.from_dict(raw))
        result = io.read_json(fair_file)
        assert result["external"]["score"]["system"]["rows"] == 200
        assert result["external"]["score"]["system"]["splits"] == ["test"]
        assert result["blockers"] == ["suspected target leakage: priors"]
        g = gate(result)
        assert not g.passed and g.failed[-1] == "suspected target leakage: priors"
    finally:
        data_file.write_bytes(data_before)
        fair_file.write_bytes(fair_before)


def test_first_screen_states_the_existing_system_with_harmed_group_first_and_rates_in_words(risk_project):
    """B's decisions are favourable for 35% against A's 60% (ratio 0.58, outside [0.8, 1.25]): B is
    the disadvantaged group and is named first. FNR is how a person meets it: refused the favourable
    decision though their two_year_recid was '0' (labelled high risk, did not reoffend)."""
    from pipeline.report import findings
    from pipeline.stages import report

    root, _ = risk_project
    fair = io.read_json(root / paths.FAIRNESS_METRICS)
    lines = findings.existing_system_findings(fair)
    score = next(line for line in lines if "score 'decile_score'" in line)
    assert score.startswith("EXISTING SYSTEM (score 'decile_score', favourable when decile_score < 5), audited on 1000")
    assert "does NOT meet the audit policy" in score
    assert "By race, 'B' is disadvantaged against 'A': given the favourable decision — 35.0% of 'B', 60.0% of 'A'" in (
        score
    )
    assert "FNR: refused the favourable decision though their two_year_recid was '0'" in score
    assert "FPR: given the favourable decision though their two_year_recid was '1'" in score
    report.main(config.load(root / "params.yaml"))
    card = (root / paths.MODEL_CARD).read_text()
    assert "EXISTING SYSTEM (score 'decile\\_score'" in card  # in the summary, before the fairness section
    assert card.index("EXISTING SYSTEM") < card.index("Existing system (score)")
