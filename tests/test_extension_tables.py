"""The extension points are tables: a criterion or an explain method added as a row (and, for a
method, its function) reaches the config, the audit, the report and the glossary unchanged."""

import inspect
from pathlib import Path

import numpy as np
import pytest

from pipeline import config
from pipeline.audit import explain
from pipeline.audit.fairness import FairnessSettings, audit_decisions
from pipeline.audit.policy import Policy
from pipeline.errors import ConfigError
from pipeline.report import findings, glossary, sections_explain, sections_fairness
from pipeline.tables import criteria, explain_methods
from tests.data_helpers import rows_with_cells

DUMMY = criteria.Criterion(
    "false_negative_rate_balance",
    "difference",
    ("fnr",),
    "people who merit the favourable outcome are denied it at the same rate in every group (FNR)",
    term="False negative rate balance",
    definition="Equal FNR: people whose true outcome is favourable are denied it at the same rate in every group.",
)


def test_a_criterion_added_to_the_table_alone_reaches_config_policy_report_and_glossary(monkeypatch):
    monkeypatch.setitem(criteria.CRITERIA, DUMMY.name, DUMMY)
    cfg = config.Config.model_validate({"audit": {"policy": {"criteria": {DUMMY.name: 0.1}}}})
    assert dict(cfg.audit.policy.criteria) == {DUMMY.name: 0.1}

    # FNR by hand: a 20/200 = 0.10, b 100/200 = 0.50; the difference 0.40 is far beyond 0.1.
    y, p, g = rows_with_cells({"a": (180, 20, 20, 780), "b": (100, 20, 100, 780)})
    result = audit_decisions(
        y, p, None, g, ["g"], FairnessSettings(n_boot=0, policy=Policy(criteria={DUMMY.name: 0.1}))
    )
    verdict = next(v for v in result["verdicts"] if v["metric"] == DUMMY.name)
    assert verdict["gating"] and verdict["status"] == "fail"
    assert verdict["value"] == pytest.approx(0.4)
    assert result["policy"]["criteria"][DUMMY.name]["meaning"] == DUMMY.meaning

    fair = {**result, "favourable_class": ">50K"}
    assert any(DUMMY.meaning in text for text in sections_fairness._policy_paragraphs(fair))
    # an error-rate criterion gets the error sentence of the findings: b's TPR is 1 - 0.5, a's 1 - 0.1
    assert any("50.0% of b but 90.0% of a" in text for text in findings._fairness_findings(fair))
    assert dict(glossary.entries())[DUMMY.term] == DUMMY.definition


def test_config_refuses_a_criterion_or_method_the_tables_do_not_hold(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text((Path(__file__).resolve().parents[1] / "params.yaml").read_text())
    with pytest.raises(ConfigError, match="audit.policy.criteria.*unknown criterion 'fnr_parity'; expected one of"):
        config.load(params, {"audit": {"policy": {"criteria": {"fnr_parity": 0.1}}}})
    with pytest.raises(ConfigError, match="explain.methods.*unknown explain method 'shap'; expected one of"):
        config.load(params, {"explain": {"methods": ["shap"]}})


def test_every_explain_method_has_one_attribute_signature_and_a_title():
    for name, method in explain_methods.METHODS.items():
        function = getattr(explain, method.function)
        assert list(inspect.signature(function).parameters) == ["model", "X", "target", "feature_groups", "settings"]
        assert sections_explain._title(name) == method.title
        assert dict(glossary.entries())[method.title] == method.definition


def test_an_explain_method_added_to_the_table_is_run_and_reported(monkeypatch):
    def attribute_constant(model, X, target, feature_groups, settings):
        return np.ones((len(X), len(feature_groups))), {"note": "constant"}

    monkeypatch.setattr(explain, "attribute_constant", attribute_constant, raising=False)
    row = explain_methods.ExplainMethod("constant", "Constant", "attribute_constant", "Every column counts 1.")
    monkeypatch.setitem(explain_methods.METHODS, row.name, row)
    settings = config.ExplainSettings(methods=["constant"])
    import torch

    model = torch.nn.Linear(2, 2)  # attribute() hands the method a float64 copy of the network
    per_column, summary = explain.attribute("constant", model, np.zeros((3, 2)), 1, {"a": [0], "b": [1]}, settings)
    assert per_column.shape == (3, 2) and summary == {"note": "constant"}
    ex = {"constant": {"importance": {"a": 1.0, "b": 1.0}, "interval": {}}}
    assert sections_explain._methods(ex) == ["constant"]
    assert "Constant mean |attr| [interval]" in sections_explain._importance_table(ex, ["constant"]).headers


def tiny_source(settings, raw_dir: Path):
    """A dummy loader of the one signature (pipeline/tables/data_sources.py): 40 rows, made here."""
    import pandas as pd

    from pipeline.data.table import RawTable

    rows = 40
    features = pd.DataFrame(
        {
            "hours": np.arange(rows, dtype=float),
            "colour": ["red", "blue"] * (rows // 2),
            "group": ["a", "b", "a", "<missing>"] * (rows // 4),
        }
    )
    target = pd.Series(["yes", "no"] * (rows // 2))
    return RawTable(features, target, ["no", "yes"], "yes", ["hours"], ["colour", "group"], notes=[str(raw_dir)])


def test_a_data_source_added_to_the_table_alone_is_accepted_and_loaded(monkeypatch, tmp_path):
    """A row in the table: the config accepts the name, resolves its default sensitive columns, and
    load_source calls its loader and applies the bundled sources' policies (favourable label, missing groups)."""
    from pipeline.data import sources
    from pipeline.tables import data_sources

    row = data_sources.DataSource(
        "tiny", "tests.test_extension_tables:tiny_source", ("group",), (), "Forty made-up rows for a test."
    )
    with pytest.raises(ConfigError, match="unknown data source 'tiny'; expected one of adult, german, csv"):
        config.from_dict({"data": {"source": "tiny"}})
    monkeypatch.setitem(data_sources.SOURCES, row.name, row)
    cfg = config.from_dict({"data": {"source": "tiny", "missing_sensitive": "drop", "favourable_label": "no"}})
    assert sources.resolve(cfg.data).sensitive == ["group"]
    table = sources.load_source(cfg.data, raw_dir=tmp_path)
    assert table.notes[0] == str(tmp_path)  # its loader ran, handed the raw folder
    assert len(table.features) == 30 and "<missing>" not in set(table.features["group"])  # missing: drop
    assert table.favourable == "no"  # data.favourable_label applied after loading


def test_a_source_without_default_sensitive_columns_needs_them_named(monkeypatch):
    from pipeline.tables import data_sources

    row = data_sources.DataSource("mine", "tests.test_extension_tables:tiny_source", None, (), "Needs names.")
    monkeypatch.setitem(data_sources.SOURCES, row.name, row)
    with pytest.raises(ConfigError, match="data.source is 'mine': name its sensitive columns in data.sensitive"):
        config.from_dict({"data": {"source": "mine"}})
    assert config.from_dict({"data": {"source": "mine", "sensitive": ["group"]}}).data.source == "mine"
