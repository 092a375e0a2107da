"""The evaluate stage's mergeable tables: the metrics equal scikit-learn's on the rows, and 1 block
equals 8 shuffled blocks."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from pipeline.audit import performance
from pipeline.audit.group_accuracy import accuracy_from_counts
from pipeline.stats import class_counts
from tests.audit_helpers import class_rows


@pytest.mark.parametrize("k", [2, 3])
def test_metrics_from_one_block_equal_scikit_learns(k):
    y, y_pred, proba, views = class_rows(k=k)
    classes = [f"c{i}" for i in range(k)]
    tables = class_counts.block_tables(y, y_pred, proba, 1, 10, views)
    got = performance.summary(tables, classes)
    labels = list(range(k))
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(y, y_pred), abs=1e-12)
    assert got["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, y_pred), abs=1e-12)
    assert got["log_loss"] == pytest.approx(skm.log_loss(y, np.clip(proba, 1e-15, 1), labels=labels), rel=1e-12)
    assert got["confusion_matrix"] == skm.confusion_matrix(y, y_pred, labels=labels).tolist()
    p, r, f, s = skm.precision_recall_fscore_support(y, y_pred, labels=labels, zero_division=np.nan)
    for i, name in enumerate(classes):
        row = got["per_class"][name]
        np.testing.assert_allclose([row["precision"], row["recall"], row["f1"]], [p[i], r[i], f[i]], atol=1e-12)
        assert row["support"] == s[i]
    assert np.isnan(got["per_class"][classes[-1]]["precision"])
    # the ROC AUC from the 2**16-bin histograms: pairs within one bin count as ties
    assert got["roc_auc"] == pytest.approx(performance.exact_roc_auc(y, proba, classes), abs=1e-4)
    assert performance.summary(tables, classes, roc_auc=0.5)["roc_auc"] == 0.5


def test_calibration_and_group_accuracy_equal_the_row_wise_figures():
    y, y_pred, proba, views = class_rows(k=2)
    tables = class_counts.block_tables(y, y_pred, proba, 1, 10, views)
    curve, ece = performance.calibration_points(tables)
    from pipeline.stats import calibration

    truth = (y == 1).astype(int)
    fraction, mean, _ = calibration.reliability(truth, proba[:, 1], 10)
    np.testing.assert_array_equal(curve["fraction_positive"], fraction)
    np.testing.assert_array_equal(curve["mean_predicted"], mean)
    assert ece == calibration.expected_calibration_error(truth, proba[:, 1], 10)
    by_group = accuracy_from_counts(tables.groups)
    correct = pd.Series(y == y_pred, dtype=float)
    for view, labels in views.items():
        expected = correct.groupby(labels).mean()
        assert {g: v["accuracy"] for g, v in by_group[view].items()} == expected.to_dict()


def test_one_block_and_eight_shuffled_blocks_give_the_same_metrics():
    y, y_pred, proba, views = class_rows(k=3, n=3_000)
    classes = ["a", "b", "c"]
    one = class_counts.block_tables(y, y_pred, proba, 1, 10, views)
    order = np.random.default_rng(1).permutation(len(y))
    parts = [
        class_counts.block_tables(y[i], y_pred[i], proba[i], 1, 10, {k: v[i] for k, v in views.items()})
        for i in np.array_split(order, 8)
    ]
    eight = class_counts.merge_all(parts[::-1])
    assert eight.blocks == 8 and eight.rows == len(y)
    for name in ("confusion", "bin_rows", "bin_labels", "auc"):
        np.testing.assert_array_equal(getattr(one, name), getattr(eight, name))
    np.testing.assert_allclose(eight.bin_scores, one.bin_scores, rtol=1e-9)
    assert eight.loss_sum == pytest.approx(one.loss_sum, rel=1e-9)
    a, b = performance.summary(one, classes), performance.summary(eight, classes)
    assert b.pop("log_loss") == pytest.approx(a.pop("log_loss"), rel=1e-9)
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)  # NaN precision included
    assert accuracy_from_counts(one.groups) == accuracy_from_counts(eight.groups)
    margin = dict(margin=0.05, max_share=0.98, classes=classes)
    assert performance.degeneracy_of(one.confusion, **margin) == performance.degeneracy_of(eight.confusion, **margin)
