"""Accuracy-side metrics of the test predictions (scikit-learn's definitions)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from pipeline.stats import calibration


def predict_labels(proba: np.ndarray, favourable_index: int, threshold: float) -> np.ndarray:
    """Binary: favourable when its probability reaches ``threshold``; multiclass: argmax."""
    if proba.shape[1] == 2:
        other = 1 - favourable_index
        return np.where(proba[:, favourable_index] >= threshold, favourable_index, other)
    return proba.argmax(axis=1)


def summary(y: np.ndarray, proba: np.ndarray, y_pred: np.ndarray, classes: list[str]) -> dict:
    """Headline metrics; binary AUC on the second class, multiclass AUC one-vs-rest macro."""
    labels = list(range(len(classes)))
    result = {
        "accuracy": skm.accuracy_score(y, y_pred),
        "balanced_accuracy": skm.balanced_accuracy_score(y, y_pred),
        "log_loss": skm.log_loss(y, np.clip(proba, 1e-15, 1), labels=labels),
        "n_test": int(len(y)),
    }
    present = np.unique(y)
    if len(classes) == 2 and len(present) == 2:
        result["roc_auc"] = skm.roc_auc_score(y, proba[:, 1])
    elif len(present) == len(classes):
        result["roc_auc"] = skm.roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=labels)
    else:
        result["roc_auc"] = None
    precision, recall, f1, support = skm.precision_recall_fscore_support(y, y_pred, labels=labels, zero_division=np.nan)
    result["per_class"] = {
        name: {"precision": p, "recall": r, "f1": f, "support": int(s)}
        for name, p, r, f, s in zip(classes, precision, recall, f1, support)
    }
    result["confusion_matrix"] = skm.confusion_matrix(y, y_pred, labels=labels).tolist()
    return result


def roc_points(y: np.ndarray, score: np.ndarray, positive: int, max_points: int = 200) -> pd.DataFrame:
    """ROC curve thinned to at most ``max_points`` rows, so DVC plots stay light."""
    fpr, tpr, _ = skm.roc_curve(y == positive, score)
    keep = np.unique(np.linspace(0, len(fpr) - 1, min(max_points, len(fpr))).round().astype(int))
    return pd.DataFrame({"fpr": fpr[keep], "tpr": tpr[keep]})


def calibration_points(y: np.ndarray, score: np.ndarray, positive: int, bins: int) -> tuple[pd.DataFrame, float]:
    """Reliability curve and expected calibration error from the same bins
    (:mod:`pipeline.stats.calibration`: uniform, right-closed, ECE weighted by bin size)."""
    truth = (y == positive).astype(int)
    fraction_positive, mean_predicted, _ = calibration.reliability(truth, score, bins)
    curve = pd.DataFrame({"mean_predicted": mean_predicted, "fraction_positive": fraction_positive})
    return curve, calibration.expected_calibration_error(truth, score, bins)


def confusion_long(matrix: list[list[int]], classes: list[str], y: np.ndarray, y_pred: np.ndarray) -> pd.DataFrame:
    """One row per test example (actual, predicted), the format DVC's confusion template wants."""
    names = np.asarray(classes, dtype=object)
    return pd.DataFrame({"actual": names[y], "predicted": names[y_pred]})


def degeneracy(
    y: np.ndarray, y_pred: np.ndarray, n_classes: int, margin: float, max_share: float, classes: list[str] | None = None
) -> dict:
    """Whether the model is degenerate: balanced accuracy within ``margin`` of chance (1 / classes),
    or one class predicted for at least ``max_share`` of the rows.

    Such a model's parity checks pass trivially (nobody is refused, or everybody is), so its
    fairness verdicts say nothing; the fairness stage turns them inconclusive and the gate blocks.
    """
    chance = 1 / n_classes
    balanced = float(skm.balanced_accuracy_score(y, y_pred)) if len(np.unique(y)) > 1 else float("nan")
    shares = np.bincount(np.asarray(y_pred), minlength=n_classes) / max(len(y_pred), 1)
    top = int(shares.argmax())
    reasons = []
    if not balanced >= chance + margin:
        reasons.append(f"balanced accuracy {balanced:.3f} is within {margin} of chance ({chance:.3f})")
    if shares[top] >= max_share:
        name = f"'{classes[top]}'" if classes else f"index {top}"
        reasons.append(
            f"one class ({name}) is predicted for {shares[top]:.1%} of the test rows (limit {max_share:.0%})"
        )
    return {
        "degenerate": bool(reasons),
        "reasons": reasons,
        "balanced_accuracy": balanced,
        "chance": chance,
        "margin": margin,
        "largest_predicted_share": float(shares[top]),
        "max_share": max_share,
    }
