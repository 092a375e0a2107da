"""German credit and user CSVs (binary with PII, 10 classes) through the stages, in a tmp dir."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline import config, io, paths
from pipeline.errors import BadInputError
from tests.conftest import tiny_params
from tests.data_helpers import FIRST, LAST, csv_config, table, write

STAGES = ("prepare", "train", "evaluate", "fairness", "explain", "report")


def run_stages(cfg) -> None:
    import importlib

    for name in STAGES:
        importlib.import_module(f"pipeline.stages.{name}").main(cfg)


@pytest.mark.slow
def test_german_source_end_to_end(project):
    cfg = config.from_dict(tiny_params({"data": {"source": "german", "max_rows": None}}))
    run_stages(cfg)
    meta = io.read_json(paths.PREPARED_META)
    assert meta["source"] == "german" and meta["sensitive"] == ["sex", "age_band"]
    assert sum(meta["rows"].values()) == 1000 and meta["favourable"] == "good"
    assert "german.data" in meta["provenance"]
    assert not {"sex", "age_band"} & set(meta["input_columns"])
    data = io.read_json(paths.DATA_METRICS)
    assert {"rows", "classes", "splits", "audit", "pii"} <= set(data)
    assert data["audit"]["proxies"]["sex"]["strongest"][0] == "status_sex"
    fairness = io.read_json(paths.FAIRNESS_METRICS)
    assert set(fairness["features"]) == {"sex", "age_band", "sex x age_band"}
    card = paths.MODEL_CARD.read_text()
    for heading in ("## Training data", "Strongest proxies for sex", "## Quantitative analyses"):
        assert heading in card
    assert "Groups by age\\_band" in card


def pii_table(n: int = 160) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    frame = table(n=n, seed=5)
    frame.insert(0, "full_name", [f"{rng.choice(FIRST)} {rng.choice(LAST)}" for _ in range(n)])
    frame.insert(1, "email", [f"person{i}@mail.example" for i in range(n)])
    return frame


@pytest.mark.slow
def test_csv_with_name_and_email_flags_and_excludes_them(project):
    path = write(pii_table(), project / "customers.csv")
    before = path.read_bytes()
    cfg = csv_config(path, pii={"quasi_identifiers": ["age", "sex"]})
    run_stages(cfg)
    meta = io.read_json(paths.PREPARED_META)
    assert {"full_name", "email"} <= set(meta["excluded_columns"])
    assert not {"full_name", "email"} & set(meta["input_columns"])
    assert not any(n.startswith(("full_name=", "email=")) for n in meta["feature_names"])
    findings = {f["column"]: f for f in io.read_json(paths.DATA_METRICS)["pii"]["findings"]}
    assert "personal name" in findings["full_name"]["reason"] and findings["full_name"]["excluded"]
    assert "e-mail address" in findings["email"]["reason"] and findings["email"]["excluded"]
    card = paths.MODEL_CARD.read_text()
    assert "Column 'full\\_name' looks like personal name" in card
    assert "excluded from the model's inputs (data.pii.exclude) because it identifies people directly" in card
    assert "person0@mail.example" not in card and "person0@mail.example" not in paths.REPORT_HTML.read_text()
    assert path.read_bytes() == before


@pytest.mark.slow
def test_ten_class_csv_trains_evaluates_and_reports_group_accuracy(project):
    path = write(table(n=600, seed=7, n_classes=10), project / "grades.csv")
    cfg = csv_config(path, csv={"positive_label": "9"})
    run_stages(cfg)
    meta = io.read_json(paths.PREPARED_META)
    assert meta["classes"] == [str(i) for i in range(10)] and meta["favourable"] == "9"
    predictions = pd.read_csv(paths.PREDICTIONS)
    assert [c for c in predictions.columns if c.startswith("proba_")] == [f"proba_{i}" for i in range(10)]
    metrics = io.read_json(paths.EVALUATE_METRICS)
    assert len(metrics["per_class"]) == 10
    groups = pd.read_csv(paths.split_groups("test"), dtype=str, keep_default_na=False)
    correct = predictions["y_true"] == predictions["y_pred"]
    for sex, block in metrics["group_accuracy"]["sex"].items():
        assert block["accuracy"] == pytest.approx(correct[groups["sex"] == sex].mean())
    card = paths.MODEL_CARD.read_text()
    assert "Accuracy over all classes by sex" in card
    assert "The target has 10 classes" in card
    assert io.read_json(paths.FAIRNESS_METRICS)["favourable_class"] == "9"


def test_target_typo_fails_in_prepare_and_writes_nothing(project):
    path = write(table(), project / "loans.csv")
    cfg = csv_config(path, csv={"target": "lable"})
    from pipeline.stages import prepare

    with pytest.raises(BadInputError, match=r"'lable'.*closest match: 'label'.*columns are: age, income, sex"):
        prepare.main(cfg)
    assert not paths.PREPARED_DIR.exists() and not paths.DATA_METRICS.exists()


def test_csv_config_needs_dep_to_cover_the_file(tmp_path):
    from pipeline.errors import ConfigError

    raw = {"data": {"source": "csv", "sensitive": ["sex"], "csv": {"path": str(tmp_path / "a.csv"), "target": "y"}}}
    with pytest.raises(ConfigError, match="data.dep .* must be data.csv.path"):
        config.from_dict(raw)


def test_cli_exits_2_on_a_target_typo(project, capsys):
    import yaml

    from pipeline import cli

    path = write(table(), project / "loans.csv")
    params = tiny_params(
        {
            "data": {
                "source": "csv",
                "dep": str(path),
                "sensitive": ["sex"],
                "csv": {"path": str(path), "target": "lable"},
            }
        }
    )
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    assert cli.run(["prepare"]) == 2
    err = capsys.readouterr().err
    assert "error [BadInputError]" in err and "'lable'" in err and "columns are: age, income" in err


@pytest.mark.slow
def test_dvc_tracks_the_users_csv_as_a_prepare_dependency(tmp_path):
    import yaml

    from tests.conftest import copy_repo, run_dvc

    repo = tmp_path / "repo"
    repo.mkdir()
    write(table(), repo / "loans.csv")
    params = tiny_params(
        {
            "data": {
                "source": "csv",
                "dep": "loans.csv",
                "sensitive": ["sex"],
                "csv": {"path": "loans.csv", "target": "label"},
            }
        }
    )
    copy_repo(repo, params)
    result = run_dvc(["repro", "prepare"], repo)
    assert result.returncode == 0, result.stdout + result.stderr
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    assert "loans.csv" in [d["path"] for d in lock["stages"]["prepare"]["deps"]]
    status = run_dvc(["status", "prepare"], repo)
    assert "up to date" in status.stdout, status.stdout
    (repo / "loans.csv").write_text((repo / "loans.csv").read_text().replace("north", "west", 1))
    assert "loans.csv" in run_dvc(["status", "prepare"], repo).stdout
