"""Stage ``evaluate``: test-split metrics, curves for DVC plots, and predictions for the audits."""

from __future__ import annotations

import pandas as pd

from pipeline import contracts, io, manifest, paths, splits
from pipeline.audit import near_perfect, performance
from pipeline.audit.group_accuracy import accuracy_from_counts
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


def main(cfg: Config) -> None:
    from pipeline.models.predict import load_trained, predict_proba

    meta = contracts.read(paths.PREPARED_META)
    classes, fav = meta.classes, meta.favourable_index
    model = load_trained()  # a file that does not load is exit 4; one from another run is refused next (exit 2)
    upstream = manifest.require(cfg, "prepare", "train")
    test = splits.arrays("test")
    proba = predict_proba(model, test["X"])
    y, y_pred = test["y"], performance.predict_labels(proba, fav, cfg.evaluate.threshold)
    test_groups = splits.groups("test")
    views = {name: labels.to_numpy() for name, labels in sensitive_views(test_groups, meta.sensitive).items()}
    tables = class_counts.block_tables(y, y_pred, proba, fav, cfg.evaluate.calibration_bins, views)
    # the same tables the Ray engine merges; with every row at hand the ROC AUC is the exact one
    metrics = performance.summary(tables, classes, roc_auc=performance.exact_roc_auc(y, proba, classes))
    calibration, ece = performance.calibration_points(tables)
    metrics["expected_calibration_error"] = ece
    metrics["favourable_class"] = classes[fav]
    metrics["degenerate"] = performance.degeneracy_of(
        tables.confusion, cfg.evaluate.degenerate_margin, cfg.evaluate.degenerate_share, classes
    )
    val = splits.arrays("val")
    metrics["near_perfect"] = near_perfect.check(
        lambda X: predict_proba(model, X), val["X"], val["y"], fav, meta.feature_groups, cfg.data.leakage_auc
    )
    metrics["group_accuracy"] = accuracy_from_counts(tables.groups)
    contracts.validate(paths.EVALUATE_METRICS, metrics)  # before the first output is replaced
    manifest.begin("evaluate", OUTPUTS)
    io.write_csv(paths.PREDICTIONS, predictions_frame(y, y_pred, proba, classes), float_format="%.8g")
    for path, frame in (
        (paths.ROC_CURVE, performance.roc_points(y, proba[:, fav], fav)),
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
