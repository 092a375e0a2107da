"""Accuracy-side metrics of the test predictions (scikit-learn's definitions).

The headline metrics, the reliability curve, the ECE, the degeneracy check and the accuracy per
group are computed from mergeable tables (:mod:`pipeline.stats.class_counts`): the local engine
builds one block from the test split, the Ray engine merges many, and the same functions here
turn either into ``evaluate.json``. Only the ROC AUC differs: the local engine has every row and
passes scikit-learn's exact AUC; at scale it comes from the tables' score histograms.
"""

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


def _divide(num, den) -> np.ndarray:
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def balanced_accuracy_from_confusion(confusion: np.ndarray) -> float:
    """Mean recall over the classes present in the truth (scikit-learn's balanced accuracy)."""
    recall = _divide(np.diag(confusion), confusion.sum(axis=1))
    present = recall[~np.isnan(recall)]
    return float(present.mean()) if len(present) else float("nan")


def exact_roc_auc(y: np.ndarray, proba: np.ndarray, classes: list[str]) -> float | None:
    """Binary AUC on the second class, multiclass one-vs-rest macro; None when a class is missing."""
    labels = list(range(len(classes)))
    present = np.unique(y)
    if len(classes) == 2 and len(present) == 2:
        return float(skm.roc_auc_score(y, proba[:, 1]))
    if len(present) == len(classes):
        return float(skm.roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=labels))
    return None


def histogram_roc_auc(tables) -> float | None:
    """:func:`exact_roc_auc` from the tables' score histograms (within their resolution)."""
    from pipeline.stats.counts import histogram_auc

    per_class = histogram_auc(tables.auc)
    if np.isnan(per_class).any():
        return None
    return float(per_class[1]) if tables.n_classes == 2 else float(per_class.mean())


def summary(tables, classes: list[str], roc_auc=None) -> dict:
    """Headline metrics from :class:`pipeline.stats.class_counts.ClassTables`; ``roc_auc`` (the
    exact one, when the caller has the rows) replaces the histogram's."""
    c = tables.confusion
    n = int(c.sum())
    tp, true_sum, pred_sum = np.diag(c), c.sum(axis=1), c.sum(axis=0)
    precision, recall = _divide(tp, pred_sum), _divide(tp, true_sum)
    f1 = _divide(2.0 * tp, true_sum + pred_sum)  # scikit-learn's (1 + b^2) tp / ((1 + b^2) tp + b^2 fn + fp)
    result = {
        "accuracy": float(np.trace(c) / n) if n else float("nan"),
        "balanced_accuracy": balanced_accuracy_from_confusion(c),
        "log_loss": tables.loss_sum / n if n else float("nan"),
        "n_test": n,
        "roc_auc": histogram_roc_auc(tables) if roc_auc is None else roc_auc,
    }
    result["per_class"] = {
        name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        for name, p, r, f, s in zip(classes, precision, recall, f1, true_sum)
    }
    result["confusion_matrix"] = c.tolist()
    return result


def roc_points(y: np.ndarray, score: np.ndarray, positive: int, max_points: int = 200) -> pd.DataFrame:
    """ROC curve thinned to at most ``max_points`` rows, so DVC plots stay light."""
    fpr, tpr, _ = skm.roc_curve(y == positive, score)
    keep = np.unique(np.linspace(0, len(fpr) - 1, min(max_points, len(fpr))).round().astype(int))
    return pd.DataFrame({"fpr": fpr[keep], "tpr": tpr[keep]})


def histogram_roc_points(tables, max_points: int = 200) -> pd.DataFrame:
    """The favourable class's ROC curve from the merged score histograms (the ray engine has no
    rows on the driver): one point per non-empty bin edge from the top, thinned like :func:`roc_points`."""
    negatives, positives = tables.auc[tables.favourable]
    keep_bins = (negatives + positives)[::-1] > 0
    tp = np.concatenate([[0], positives[::-1].cumsum()[keep_bins]])
    fp = np.concatenate([[0], negatives[::-1].cumsum()[keep_bins]])
    tpr = tp / tp[-1] if tp[-1] else np.full(len(tp), np.nan)
    fpr = fp / fp[-1] if fp[-1] else np.full(len(fp), np.nan)
    keep = np.unique(np.linspace(0, len(fpr) - 1, min(max_points, len(fpr))).round().astype(int))
    return pd.DataFrame({"fpr": fpr[keep], "tpr": tpr[keep]})


def calibration_points(tables) -> tuple[pd.DataFrame, float]:
    """Reliability curve over the non-empty bins and the expected calibration error, from the
    tables' bins (:mod:`pipeline.stats.calibration`: uniform, right-closed, ECE weighted by bin size)."""
    rows, labels, scores = tables.bin_rows, tables.bin_labels, tables.bin_scores
    nonzero = rows > 0
    curve = pd.DataFrame(
        {"mean_predicted": scores[nonzero] / rows[nonzero], "fraction_positive": labels[nonzero] / rows[nonzero]}
    )
    return curve, float(calibration.ece_from_sums(rows, labels, scores))


def confusion_long(matrix: list[list[int]], classes: list[str], y: np.ndarray, y_pred: np.ndarray) -> pd.DataFrame:
    """One row per test example (actual, predicted), the format DVC's confusion template wants."""
    names = np.asarray(classes, dtype=object)
    return pd.DataFrame({"actual": names[y], "predicted": names[y_pred]})


def degeneracy(
    y: np.ndarray, y_pred: np.ndarray, n_classes: int, margin: float, max_share: float, classes: list[str] | None = None
) -> dict:
    """:func:`degeneracy_of` the confusion matrix of ``y`` and ``y_pred``."""
    y, y_pred = np.asarray(y, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    confusion = np.bincount(y * n_classes + y_pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)
    return degeneracy_of(confusion, margin, max_share, classes)


def degeneracy_of(confusion: np.ndarray, margin: float, max_share: float, classes: list[str] | None = None) -> dict:
    """Whether the model is degenerate: balanced accuracy within ``margin`` of chance (1 / classes),
    or one class predicted for at least ``max_share`` of the rows.

    Such a model's parity checks pass trivially (nobody is refused, or everybody is), so its
    fairness verdicts say nothing; the fairness stage turns them inconclusive and the gate blocks.
    """
    n_classes = len(confusion)
    chance = 1 / n_classes
    present = int((confusion.sum(axis=1) > 0).sum())
    balanced = balanced_accuracy_from_confusion(confusion) if present > 1 else float("nan")
    shares = confusion.sum(axis=0) / max(int(confusion.sum()), 1)
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


def metrics_from_tables(tables, classes: list[str], margin: float, max_share: float, roc_auc=None):
    """``evaluate.json``'s figures (less the leakage probe) and the reliability curve from class
    tables: one block of the test split locally (with the exact ``roc_auc``), every row merged on Ray."""
    from pipeline.audit.group_accuracy import accuracy_from_counts

    metrics = summary(tables, classes, roc_auc=roc_auc)
    curve, metrics["expected_calibration_error"] = calibration_points(tables)
    metrics["favourable_class"] = classes[tables.favourable]
    metrics["degenerate"] = degeneracy_of(tables.confusion, margin, max_share, classes)
    metrics["group_accuracy"] = accuracy_from_counts(tables.groups)
    return metrics, curve
