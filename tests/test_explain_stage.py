"""The explain stage on a few hundred real Adult rows, with the sensitive columns out of and in the inputs."""

import numpy as np
import pytest

from pipeline import io, paths
from tests.conftest import make_project


def run_stages(root, monkeypatch, extra=None):
    from pipeline import config
    from pipeline.stages import evaluate, explain, prepare, train

    make_project(root, extra)
    monkeypatch.chdir(root)
    cfg = config.load(root / "params.yaml")
    for stage in (prepare, train, evaluate, explain):
        stage.main(cfg)
    return cfg, io.read_json(paths.EXPLAIN_METRICS), io.read_json(paths.PREPARED_META)


@pytest.fixture
def without_sensitive(tmp_path, monkeypatch):
    return run_stages(tmp_path / "p", monkeypatch, {"explain": {"n_boot": 30}})


def test_three_methods_give_importances_with_intervals_per_original_column(without_sensitive):
    cfg, result, meta = without_sensitive
    assert result["target_class"] == meta["favourable"]
    for method in ("integrated_gradients", "deeplift", "feature_ablation"):
        block = result[method]
        assert set(block["importance"]) == set(meta["input_columns"])
        assert all(lo <= block["importance"][c] <= hi for c, (lo, hi) in block["interval"].items())
        assert sum(block["share"].values()) == pytest.approx(1.0)
    ig = result["integrated_gradients"]
    assert ig["converged"] == (ig["convergence_delta_max_abs"] <= cfg.explain.delta_tol)
    assert len(result["agreement"]) == 3 and all(-1 <= p["spearman"] <= 1 for p in result["agreement"])


def test_groups_proxies_and_local_explanations_when_sensitive_columns_are_not_inputs(without_sensitive):
    cfg, result, meta = without_sensitive
    sex = result["by_group"]["by_sensitive"]["sex"]
    assert sex["reference"] == "Male" and set(sex["groups"]) == {"Female", "Male"}
    diff = sex["groups"]["Female"]["difference"]["age"]
    assert diff["low"] <= diff["value"] <= diff["high"]
    block = result["proxies"]["by_sensitive"]["sex"]
    assert block["is_model_input"] is False
    association = result["proxies"]["associations"]["sex"]  # JSON keys are sorted: find the strongest by value
    strongest = max(association, key=association.get)
    assert block["flip"]["column"] == strongest and strongest in meta["input_columns"]
    assert 0 <= block["flip"]["changed_share_overall"] <= 1
    for example in result["local"]["examples"]:
        assert len(example["top_columns"]) == cfg.explain.top_k
        assert example["kind"] in {"false_positive", "false_negative"}


def test_flip_runs_on_the_sensitive_input_itself_when_it_is_a_feature(tmp_path, monkeypatch):
    _, result, meta = run_stages(
        tmp_path / "q", monkeypatch, {"data": {"sensitive_as_features": True}, "explain": {"n_boot": 0}}
    )
    assert "sex" in meta["input_columns"]
    block = result["proxies"]["by_sensitive"]["sex"]
    assert block["is_model_input"] is True and block["flip"]["column"] == "sex"
    assert set(block["flip"]["groups"]["Female"]["to"]) == {"Male"}
    assert np.isfinite(block["flip"]["changed_share_overall"])


def test_report_section_shows_three_methods_groups_flips_and_individuals(without_sensitive):
    from pipeline.report import sections_explain

    _, result, _ = without_sensitive
    section = sections_explain.build({"explain": result})
    titles = [title for title, _ in section.tables]
    assert any(t.startswith("Global importance") for t in titles)
    assert {"By sex", "By race"} <= {t.split(" (")[0] for t in titles}
    assert "Proxies and counterfactual flips" in titles and any(t.startswith("Local explanations") for t in titles)
    headers = section.tables[0][1].headers
    assert sum("mean |attr|" in h for h in headers) == 3
    assert len(section.figures) == 3 and all(svg.startswith("<svg") for _, svg in section.figures)
