"""Stage ``log``: one MLflow run per pipeline state, holding everything a reviewer needs.

The run is tagged with ``pipeline_state`` (the hash the report's manifest shows, computed by
:func:`pipeline.report.context.pipeline_state`) and ``report_sha256``: rerunning this stage on an
unchanged pipeline finds the existing run instead of adding a duplicate, so each ``dvc repro`` or
``dvc exp run`` that changes something gives exactly one run.

Speed: datasets are logged from their npz files' sha256 and a schema built from ``meta.json``
(MLflow's own inference scans every cell, ~3 s per split on Adult); metrics go in batches; the
model is saved in the pt2 format (no pickle on load) with pinned ``pip_requirements`` so MLflow
does not infer them.
"""

from __future__ import annotations

from pathlib import Path

from pipeline import contracts, io, paths
from pipeline.config import Config
from pipeline.report import verdicts
from pipeline.report.context import pipeline_state

REQUIREMENTS_PACKAGES = ("torch", "numpy")
METRIC_FILES = {
    "data": paths.DATA_METRICS,
    "train": paths.TRAIN_METRICS,
    "evaluate": paths.EVALUATE_METRICS,
    "fairness": paths.FAIRNESS_METRICS,
    "explain": paths.EXPLAIN_METRICS,
    "privacy": paths.PRIVACY_METRICS,
    "compute": paths.TRAIN_COST,  # measured, varies run to run: logged, never part of the state hash
    "compute_explain": paths.EXPLAIN_COST,
}
#: Levels dropped from metric names so the UI groups them as ``fairness/sex/demographic_parity_ratio``.
COLLAPSE = {"fairness/features/": "fairness/", "explain/methods/": "explain/"}


def flatten(value, prefix: str = "", sep: str = "/") -> dict[str, object]:
    """Nested dicts to ``a/b/c`` keys; lists and strings are kept as leaves."""
    if isinstance(value, dict):
        out: dict[str, object] = {}
        for key, child in value.items():
            out.update(flatten(child, f"{prefix}{sep}{key}" if prefix else str(key), sep))
        return out
    return {prefix: value}


def numeric_metrics(prefix: str, payload: dict) -> dict[str, float]:
    """Finite numbers only (undefined values are left out rather than logged as 0)."""
    clean = {}
    for key, value in flatten(payload, prefix).items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            continue
        for long, short in COLLAPSE.items():
            key = key.replace(long, short, 1) if key.startswith(long) else key
        clean[_metric_key(key)] = float(value)
    return clean


def _metric_key(key: str) -> str:
    """MLflow allows letters, digits and ``_-. /``; group names may hold anything else."""
    return "".join(ch if ch.isalnum() or ch in "_-. /" else "_" for ch in key)[:250]


def verdict_metrics(fairness: dict | None) -> dict[str, float]:
    """``audit/checks_<status>`` counts and ``audit/passed`` (1/0), so runs sort by audit outcome in the UI."""
    g = verdicts.gate(fairness)
    out = {f"audit/checks_{status}": float(n) for status, n in g.counts.items()}
    out["audit/passed"] = 1.0 if g.passed else 0.0
    return out


def requirements() -> list[str]:
    from importlib import metadata

    return [f"{name}=={metadata.version(name)}" for name in REQUIREMENTS_PACKAGES]


def log_datasets(meta: dict) -> None:
    from pipeline import tracking

    columns = [*meta["feature_names"], "target"]
    types = ["float"] * len(meta["feature_names"]) + ["string"]
    for split, context in (("train", "training"), ("test", "evaluation")):
        path = paths.split_arrays(split)
        rows = int((meta.get("rows") or {}).get(split, 0))
        tracking.log_dataset_file(
            path, f"{meta['source']}-{split}", io.sha256_file(path), columns, types, rows, context
        )


def log_everything(cfg: Config, meta: dict, metrics: dict) -> dict:
    import pandas as pd

    from pipeline import tracking
    from pipeline.models.predict import load_trained

    tracking.log_params({k: str(v) for k, v in flatten(cfg.model_dump(mode="json"), sep=".").items()})
    test_x = io.read_npz(paths.split_arrays("test"))["X"][:5]
    model_info = tracking.log_model(load_trained(), test_x, requirements())  # before the metrics: see log_model
    tracking.set_tag("model_uri", model_info.model_uri)  # so a reused run still names its model
    flat: dict[str, float] = verdict_metrics(metrics.get("fairness"))
    for name, payload in metrics.items():
        if payload is not None:
            flat.update(numeric_metrics(name, payload))
    tracking.log_metrics(flat, model_id=model_info.model_id)
    curves = io.read_csv(paths.TRAIN_CURVES) if paths.TRAIN_CURVES.is_file() else pd.DataFrame()
    tracking.log_curves(curves.to_dict("records"))
    log_datasets(meta)
    for path, folder in (
        (paths.REPORT_HTML, "report"),
        (paths.MODEL_CARD, "report"),
        (Path("params.yaml"), None),
        (Path("dvc.lock"), None),
    ):
        if path.is_file():
            tracking.log_artifact(path, folder)
    for folder, target in ((paths.METRICS_DIR, "metrics"), (paths.PLOTS_DIR, "plots")):
        if folder.is_dir():
            tracking.log_artifacts(folder, target)
    result = {"model_uri": model_info.model_uri}
    if cfg.tracking.register_model:
        g = verdicts.gate(metrics.get("fairness"))
        result["registry"] = tracking.register(model_info.model_uri, cfg.tracking.model_name, g.passed, g.failed)
        from pipeline.stages.log_mitigation import log_candidates  # mitigation candidates: their own models, the alias

        result["candidates"] = log_candidates(cfg, meta, tracking.active_run_id(), requirements())
    return result


def run_tags(meta: dict, state: str, report_sha: str | None, fairness: dict | None) -> dict[str, str]:
    from pipeline.report.context import git_commit

    git = git_commit()
    g = verdicts.gate(fairness)
    return {
        "pipeline_state": state,
        "report_sha256": report_sha or "none",
        "git_commit": str(git["sha"]),
        "git_dirty": str(git["dirty"]),
        "data_source": meta["source"],
        "data_sha256": ",".join(f"{k}:{v}" for k, v in sorted((meta.get("provenance") or {}).items())),
        "audit_passed": str(g.passed).lower(),
        "audit_failed_checks": ", ".join(g.failed)[:5000],
    }


def main(cfg: Config) -> None:
    from pipeline import tracking

    uri = tracking.connect(cfg.tracking.experiment, cfg.tracking.timeout_s)
    meta = contracts.read(paths.PREPARED_META)
    metrics = {name: contracts.read_optional(p) for name, p in METRIC_FILES.items()}
    state = pipeline_state(cfg)
    report_sha = io.sha256_file(paths.REPORT_HTML) if paths.REPORT_HTML.is_file() else None
    with tracking.exclusive(state):  # one run per state under concurrent `log`s; ends runs a kill left RUNNING
        existing = tracking.find_run(state, report_sha)  # only a run whose artifacts still exist
        if existing:
            model_uri = tracking.get_tags(existing).get("model_uri")
            summary = {"run_id": existing, "reused": True, "model_uri": model_uri, **tracking.registry_of(existing)}
        else:
            tags = run_tags(meta, state, report_sha, metrics.get("fairness"))
            with tracking.run(run_name=f"{meta['source']}-{state[:8]}", tags=tags) as run_id:
                summary = {"run_id": run_id, "reused": False, **log_everything(cfg, meta, metrics)}
    summary.update(
        {"tracking_uri": tracking.redact(uri), "experiment": cfg.tracking.experiment, "pipeline_state": state}
    )
    io.write_json(paths.MLFLOW_RUN, summary)
    print(
        f"log: MLflow run {summary['run_id']} ({'existing' if summary['reused'] else 'new'}) in {summary['tracking_uri']}"
    )
