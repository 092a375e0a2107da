"""Synthetic audit data and the comparisons that say two audits are the same (local vs Ray, 1 vs 8 blocks)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from pipeline.stats import counts


def audit_data(n=3_000, seed=0):
    rng = np.random.default_rng(seed)
    sex = rng.choice(["F", "M"], size=n, p=[0.3, 0.7])
    race = rng.choice(["a", "b", "c", "tiny"], size=n, p=[0.6, 0.25, 0.14, 0.01])
    score = 1 / (1 + np.exp(-(rng.normal(size=n) + (sex == "M") * 0.5)))
    y = (rng.random(n) < score).astype(int)
    score[:5] = [0.0, 1.0, 0.3, 0.5, 1e-9]  # edges and a bin boundary
    groups = pd.DataFrame({"sex": sex, "race": race})
    return y, (score >= 0.5).astype(int), score, groups, np.arange(n, dtype=np.int64) * 3 + 1


def assert_same_tables(a: counts.CountTables, b: counts.CountTables):
    assert a.rows == b.rows and list(a.views) == list(b.views)
    for view in a.views:
        assert a.names(view) == b.names(view)
        for g in a.names(view):
            ta, tb = a.views[view][g], b.views[view][g]
            for f in ("cells", "bin_rows", "bin_labels", "auc", "boot"):
                assert getattr(ta, f).dtype == np.int64
                np.testing.assert_array_equal(getattr(ta, f), getattr(tb, f))
            np.testing.assert_allclose(ta.bin_scores, tb.bin_scores, rtol=1e-9)
            np.testing.assert_allclose(ta.residual, tb.residual, rtol=1e-9)


def assert_same_audit(a: dict, b: dict) -> None:
    """Counts, rates, intervals and verdicts identical to 1e-12; ECE and calibration sums to 1e-9 relative
    (float sums added in another order)."""
    assert a["policy"] == b["policy"]
    assert _close(_strip_calibration(a["verdicts"]), _strip_calibration(b["verdicts"]))
    for view, block in a["features"].items():
        other = b["features"][view]
        assert block["reference"] == other["reference"]
        for key, value in block["disparities"].items():
            assert _close(value, other["disparities"][key]), (view, key)
        assert list(block["groups"]) == list(other["groups"])
        for g, entry in block["groups"].items():
            there = other["groups"][g]
            for key in ("count", "cells", "flags", "eligible"):
                assert entry[key] == there[key], (view, g, key)
            for key in ("selection_rate", "tpr", "fpr", "precision", "roc_auc", "ci", "vs_reference"):
                assert _close(entry.get(key), there.get(key)), (view, g, key)
            assert entry["ece"] == pytest.approx(there["ece"], rel=1e-9)
            calib, calib_there = entry["calibration"], there["calibration"]
            assert (calib["n"], calib["events"]) == (calib_there["n"], calib_there["events"])
            assert [calib["sum"], calib["sumsq"]] == pytest.approx([calib_there["sum"], calib_there["sumsq"]], rel=1e-9)


def _close(a, b, tol: float = 1e-12) -> bool:
    """Equal structure and text; numbers within ``tol`` (NaN equals NaN)."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_close(a[k], b[k], tol) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(_close(x, y, tol) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, (int, float)):
        return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= tol
    return a == b


def _strip_calibration(verdicts: list[dict]) -> list:
    """Verdicts as comparable data; a calibration criterion's figures come from float sums (1e-9 relative)."""
    out = []
    for v in verdicts:
        keep = {k: val for k, val in v.items() if k != "comparisons"}
        if "calibration" in v["metric"]:
            keep = {k: val for k, val in keep.items() if k in ("check", "status", "gating", "group")}
        out.append(keep)
    return out


def class_rows(n=2_000, k=3, seed=0):
    """Class indices, predictions (the last class never predicted), probabilities and two views."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, k))
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = np.array([rng.choice(k, p=p) for p in proba])
    y_pred = proba.argmax(axis=1)
    y_pred[y_pred == k - 1] = 0  # the last class is never predicted: its precision is 0/0 (NaN)
    views = {"sex": rng.choice(["F", "M"], size=n), "race": rng.choice(["a", "b", "c"], size=n, p=[0.8, 0.15, 0.05])}
    return y, y_pred, proba, views
