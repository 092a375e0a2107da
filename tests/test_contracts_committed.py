"""Every typed reader works on the outputs committed in the repository (reports/metrics/*.json).

The tiny run in test_contracts.py checks what this code writes; these check that what the last
full ``dvc repro`` on Adult wrote is read by the same models and readers, attribute by attribute,
with the figures the files hold. (``data/prepared/meta.json`` is a DVC output, not in git: its
typed readers run on the tiny run's copy in test_contracts.py.)
"""

from __future__ import annotations

import shutil

import pytest
import yaml

from pipeline import config, contracts, io, paths
from pipeline.stats.groups import VIEW_SEP
from tests.conftest import REPO

COMMITTED = {p: REPO / p for p in contracts.CONTRACTS if p.parts[0] == "reports"}


def test_every_committed_metrics_file_reads_as_its_closed_model():
    assert len(COMMITTED) == 7
    for rel, path in COMMITTED.items():
        model = contracts.contract_for(rel)[0]
        assert isinstance(contracts.read(path), model)
        assert contracts.read_dict(path) == io.read_json(path)  # the raw path changes nothing
        assert model.model_config["extra"] == "forbid" or model is contracts.ExplainMetrics


def test_the_gate_reads_the_committed_blocks():
    from pipeline.audit.gate import gate, upstream

    fairness = contracts.read_dict(COMMITTED[paths.FAIRNESS_METRICS])
    data = contracts.read(COMMITTED[paths.DATA_METRICS])
    evaluation = contracts.read(COMMITTED[paths.EVALUATE_METRICS])
    g = gate(fairness, **upstream(data, evaluation))
    raw_evaluation = io.read_json(COMMITTED[paths.EVALUATE_METRICS])
    assert evaluation.degenerate.degenerate is raw_evaluation["degenerate"]["degenerate"]
    assert evaluation.near_perfect.flagged is raw_evaluation["near_perfect"]["flagged"]
    assert data.leakage.suspected == io.read_json(COMMITTED[paths.DATA_METRICS])["leakage"]["suspected"]
    not_passing = [v["check"] for v in fairness["verdicts"] if v["gating"] and v["status"] != "pass"]
    assert g.available and g.failed[: len(not_passing)] == not_passing


def test_the_privacy_stage_reads_dp_accuracy_and_parity_gaps(tmp_path, monkeypatch):
    """train.json's ``cost.dp``, evaluate.json's accuracy and fairness.json's per-view gaps, typed."""
    from pipeline.stages import privacy

    (tmp_path / paths.METRICS_DIR).mkdir(parents=True)
    for rel in (paths.EVALUATE_METRICS, paths.FAIRNESS_METRICS):
        shutil.copy(COMMITTED[rel], tmp_path / rel)
    train = io.read_json(COMMITTED[paths.TRAIN_METRICS])
    train["cost"]["dp"] = {"epsilon": 2.5, "delta": 1e-5, "accountant": "rdp"}
    io.write_figures(tmp_path / paths.TRAIN_METRICS, train)
    monkeypatch.chdir(tmp_path)
    summary = privacy._dp_summary()
    evaluation, fairness = (io.read_json(COMMITTED[p]) for p in (paths.EVALUATE_METRICS, paths.FAIRNESS_METRICS))
    assert summary["epsilon"] == 2.5 and summary["accuracy"] == evaluation["accuracy"]
    gaps = {v: b["demographic_parity_difference"] for v, b in fairness["features"].items()}
    assert summary["demographic_parity_difference"] == gaps
    shutil.copy(COMMITTED[paths.TRAIN_METRICS], tmp_path / paths.TRAIN_METRICS)  # as committed: no DP ran
    assert privacy._dp_summary() is None


def test_the_registry_reads_the_committed_candidates(tmp_path):
    from pipeline.evidence import verify_candidates
    from pipeline.mitigation.registry import candidate_description, lineage_tags

    mitigation = contracts.read(COMMITTED[paths.MITIGATION_METRICS])
    raw = io.read_json(COMMITTED[paths.MITIGATION_METRICS])
    assert mitigation.candidates, "the committed run audited no candidate"
    for name, row in mitigation.candidates.items():
        tags = lineage_tags(name, row, "run-1", mitigation.attribute)
        assert tags["test_accuracy"] == f"{raw['candidates'][name]['accuracy']['value']:.6f}"
        assert tags["verdict"] == ("pass" if raw["candidates"][name]["passed"] else "fail")
        assert candidate_description(name, row, "run-1").startswith("AUDIT PASSED" if row.passed else "AUDIT FAILED")
    fairness = io.read_json(COMMITTED[paths.FAIRNESS_METRICS])
    sensitive = [v for v in fairness["features"] if VIEW_SEP not in v]
    # under the policy the committed run was audited with (params.yaml may have moved on since)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["audit"]["policy"]["attributes"] = raw["attributes"]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    verify_candidates(config.load(tmp_path / "params.yaml"), mitigation, sensitive)  # each audit recomputes


def test_explain_reads_the_committed_data_audit_proxies():
    from pipeline.audit.proxies import proxies_from_data_audit

    data = contracts.read(COMMITTED[paths.DATA_METRICS])
    raw = io.read_json(COMMITTED[paths.DATA_METRICS])["audit"]["proxies"]
    listed = proxies_from_data_audit(data.audit.proxies, list(raw))
    for sensitive, block in raw.items():
        expected = {a["feature"]: a["cramers_v"] for a in block["associations"]}
        assert listed[sensitive] == pytest.approx(expected)


def test_the_explain_file_is_read_per_method_of_the_table():
    from pipeline.tables.explain_methods import METHODS

    explain = contracts.read(COMMITTED[paths.EXPLAIN_METRICS])
    raw = io.read_json(COMMITTED[paths.EXPLAIN_METRICS])
    for name in METHODS:
        assert explain.method(name).importance == raw[name]["importance"]
    assert explain.method("not_a_method") is None
