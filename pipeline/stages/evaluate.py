"""Stage ``evaluate``: test-split metrics, curves for DVC plots, and predictions for the audits."""

from __future__ import annotations

import pandas as pd

from pipeline import contracts, io, manifest, paths, splits
from pipeline.audit import near_perfect, performance
from pipeline.config import Config
from pipeline.stats import class_counts
from pipeline.stats.groups import sensitive_views

#: What the fairness and explain stages read as one set (listed in outputs/evaluate.manifest.json).
OUTPUTS = (paths.PREDICTIONS, paths.EVALUATE_METRICS, paths.ROC_CURVE, paths.CALIBRATION_CURVE, paths.CONFUSION)


def predictions_frame(y, y_pred, proba, classes) -> pd.DataFrame:
    frame = pd.DataFrame({"y_true": y, "y_pred": y_pred})
    for i in range(len(classes)):
        frame[f"proba_{i}"] = proba[:, i]
    return frame


def split_metrics(cfg: Config, meta, y, y_pred, proba) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """The local engine: the test split's tables; with every row at hand the ROC AUC and curve are exact."""
    groups = splits.groups("test")
    views = {name: labels.to_numpy() for name, labels in sensitive_views(groups, meta.sensitive).items()}
    tables = class_counts.block_tables(y, y_pred, proba, meta.favourable_index, cfg.evaluate.calibration_bins, views)
    e = cfg.evaluate
    exact = performance.exact_roc_auc(y, proba, meta.classes)
    metrics, calibration = performance.metrics_from_tables(
        tables, meta.classes, e.degenerate_margin, e.degenerate_share, exact
    )
    return metrics, calibration, performance.roc_points(y, proba[:, meta.favourable_index], meta.favourable_index)


def every_row_on_ray(cfg: Config, meta) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """The ray engine: every test row of the shards scored in Ray actors, class tables merged on
    the driver (ROC AUC and curve from the merged histograms). The predictions file and the
    confusion plot stay the sample's (meta.scale says so): they feed the per-row audits."""
    from pipeline import shards
    from pipeline.scale import evaluate as scaled_evaluate
    from pipeline.scale import scoring
    from pipeline.scale.cluster import connected

    found = shards.verify(manifest.settings_of(cfg, "prepare"))
    fav, block_rows = meta.favourable_index, cfg.engine.block_rows
    model = scoring.TrainedModel(str(paths.MODEL_DIR.resolve()), fav, cfg.evaluate.threshold)
    n_classes, bins, sensitive = len(meta.classes), cfg.evaluate.calibration_bins, list(meta.sensitive)
    with connected(cfg.engine) as ray:
        files = scoring.split_files(found, "test")
        tables = scaled_evaluate.shard_tables(
            ray, files, n_classes, fav, bins, sensitive, block_rows=block_rows, model=model
        )
    e = cfg.evaluate
    margins = (e.degenerate_margin, e.degenerate_share)
    metrics, calibration = performance.metrics_from_tables(tables, meta.classes, *margins)
    print(f"evaluate: engine ray, {tables.rows} test rows from the shards in {tables.blocks} blocks")
    return metrics, calibration, performance.histogram_roc_points(tables)


def main(cfg: Config) -> None:
    from pipeline.models.predict import load_trained, predict_proba

    meta = contracts.read(paths.PREPARED_META)
    classes, fav = meta.classes, meta.favourable_index
    model = load_trained()  # a file that does not load is exit 4; one from another run is refused next (exit 2)
    upstream = manifest.require(cfg, "prepare", "train")
    test = splits.arrays("test")
    proba = predict_proba(model, test["X"])
    y, y_pred = test["y"], performance.predict_labels(proba, fav, cfg.evaluate.threshold)
    if cfg.engine.kind == "ray":
        metrics, calibration, roc = every_row_on_ray(cfg, meta)
    else:
        metrics, calibration, roc = split_metrics(cfg, meta, y, y_pred, proba)
    val = splits.arrays("val")  # on the ray engine: the hash-stratified sample's validation rows (meta.scale)
    metrics["near_perfect"] = near_perfect.check(
        lambda X: predict_proba(model, X), val["X"], val["y"], fav, meta.feature_groups, cfg.data.leakage_auc
    )
    contracts.validate(paths.EVALUATE_METRICS, metrics)  # before the first output is replaced
    manifest.begin("evaluate", OUTPUTS)
    io.write_csv(paths.PREDICTIONS, predictions_frame(y, y_pred, proba, classes), float_format="%.8g")
    for path, frame in (
        (paths.ROC_CURVE, roc),
        (paths.CALIBRATION_CURVE, calibration),
        (paths.CONFUSION, performance.confusion_long(metrics["confusion_matrix"], classes, y, y_pred)),
    ):
        io.write_csv(path, frame, float_format="%.6g")
    contracts.write(paths.EVALUATE_METRICS, metrics)
    manifest.finish("evaluate", OUTPUTS, cfg, upstream=upstream)
    print(f"evaluate: accuracy {metrics['accuracy']:.4f}, ROC AUC {metrics['roc_auc']}")
    if metrics["degenerate"]["degenerate"]:
        print(f"evaluate: DEGENERATE MODEL: {'; '.join(metrics['degenerate']['reasons'])}")
    if metrics["near_perfect"]["flagged"]:
        print(f"evaluate: SUSPECTED TARGET LEAKAGE AT THE MODEL: {metrics['near_perfect']['reason']}")
