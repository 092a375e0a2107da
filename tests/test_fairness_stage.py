"""The fairness stage on a small prepared project: outputs, external decisions, exit 5 gate."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from pipeline import cli, errors, paths

ROOT = Path(__file__).resolve().parents[1]


def _project(tmp: Path, fail_on_violation: bool) -> Path:
    rng = np.random.default_rng(0)
    n = 400
    sex = rng.choice(["Female", "Male"], size=n)
    race = rng.choice(["A", "B"], size=n)
    y = (rng.random(n) < np.where(sex == "Male", 0.4, 0.15)).astype(int)
    proba = np.clip(0.5 * y + 0.4 * rng.random(n) + np.where(sex == "Male", 0.15, 0.0), 0, 1)
    pred = (proba >= 0.5).astype(int)
    (tmp / paths.PREPARED_DIR).mkdir(parents=True)
    (tmp / paths.OUTPUTS_DIR).mkdir()
    meta = {"classes": ["no", "yes"], "favourable": "yes", "favourable_index": 1, "sensitive": ["sex", "race"]}
    (tmp / paths.PREPARED_META).write_text(json.dumps(meta))
    ext = np.where(rng.random(n) < 0.5, "yes", "no")
    pd.DataFrame({"sex": sex, "race": race, "__decision": ext}).to_csv(tmp / paths.split_groups("test"), index=False)
    pd.DataFrame({"y_true": y, "y_pred": pred, "proba_0": 1 - proba, "proba_1": proba}).to_csv(tmp / paths.PREDICTIONS, index=False)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["audit"].update({"n_boot": 50, "mitigation": False, "fail_on_violation": fail_on_violation})
    (tmp / "params.yaml").write_text(yaml.safe_dump(params))
    return tmp


def test_fail_on_violation_exits_5_after_writing_outputs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(_project(tmp_path, fail_on_violation=True))
    assert cli.run(["fairness"]) == errors.EXIT_AUDIT_FAILED
    assert "demographic_parity_difference by sex" in capsys.readouterr().err
    result = json.loads((tmp_path / paths.FAIRNESS_METRICS).read_text())
    assert {"sex", "race", "sex x race"} == set(result["features"])
    assert any(v["status"] == "fail" for v in result["verdicts"])
    assert set(result["external"]) == {"decision"}
    rates = pd.read_csv(tmp_path / paths.GROUP_RATES)
    assert list(rates.columns) == ["feature", "group", "selection_rate"] and len(rates) == 2 + 2 + 4


def test_without_gate_the_stage_succeeds(tmp_path, monkeypatch):
    monkeypatch.chdir(_project(tmp_path, fail_on_violation=False))
    assert cli.run(["fairness"]) == errors.EXIT_OK
    result = json.loads((tmp_path / paths.FAIRNESS_METRICS).read_text())
    assert result["favourable_class"] == "yes"
    sex = result["features"]["sex"]
    assert sex["demographic_parity_difference"] > 0 and len(sex["ci"]["demographic_parity_difference"]) == 2


def test_report_section_shows_intervals_and_verdicts(tmp_path, monkeypatch):
    from pipeline.report import sections_fairness

    monkeypatch.chdir(_project(tmp_path, fail_on_violation=False))
    assert cli.run(["fairness"]) == errors.EXIT_OK
    ctx = {"fairness": json.loads((tmp_path / paths.FAIRNESS_METRICS).read_text())}
    section = sections_fairness.build(ctx)
    titles = [title for title, _ in section.tables]
    assert titles[0] == "Verdicts (our network)" and "Verdicts (external decision)" in titles
    verdict_rows = section.tables[0][1].rows
    assert {row[-1] for row in verdict_rows} <= {"pass", "fail", "inconclusive"} and len(verdict_rows) == 21
    assert sections_fairness.verdict_lines(ctx)[0].startswith("Fairness checks:")
    assert not sections_fairness.build({"fairness": None}).available
