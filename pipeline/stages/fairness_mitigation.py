"""Mitigation part of the fairness stage: fit on train/validation, audit on test like the original."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline import paths
from pipeline.audit import fairness, mitigation
from pipeline.config import Config

STAND_IN = "LogisticRegression(max_iter=200) on the same encoded features stands in for the network in ExponentiatedGradient"


def run(cfg: Config, meta: dict, dec: fairness.Decisions, views: dict, s: fairness.AuditSettings, weights: np.ndarray) -> dict:
    """ThresholdOptimizer and ExponentiatedGradient under both constraints, audited on test."""
    from pipeline.models.predict import load_trained, predict_proba

    fav, main = meta["favourable_index"], meta["sensitive"][0]
    val = np.load(paths.split_arrays("val"))
    train = np.load(paths.split_arrays("train"))
    test = np.load(paths.split_arrays("test"))
    sens = {split: pd.read_csv(paths.split_groups(split), dtype=str, keep_default_na=False)[main].to_numpy() for split in ("train", "val", "test")}
    model = load_trained()
    score_val = predict_proba(model, val["X"])[:, fav]
    y_val, y_train = fairness.binary(val["y"], fav), fairness.binary(train["y"], fav)
    rows = _subsample(len(y_train), cfg.audit.mitigation_max_rows, cfg.seed)
    models = []
    for constraint in mitigation.CONSTRAINTS:
        out = mitigation.threshold_optimizer(constraint, score_val, y_val, sens["val"], dec.score, sens["test"], cfg.seed)
        models.append(_entry("ThresholdOptimizer", constraint, "validation split, network probabilities", out, dec, views, s, weights, cfg))
    for constraint in mitigation.CONSTRAINTS:
        out = mitigation.exponentiated_gradient(constraint, train["X"][rows], y_train[rows], sens["train"][rows], test["X"], cfg.seed)
        models.append(_entry("ExponentiatedGradient", constraint, f"training split ({len(rows)} rows), LogisticRegression stand-in", out, dec, views, s, weights, cfg))
    return {"sensitive_feature": main, "main_disparity": "demographic_parity_difference", "note": STAND_IN, "models": models,
            "unmitigated": {"accuracy": fairness.overall_accuracy(dec)}}  # fmt: skip


def _entry(method, constraint, fitted_on, out, dec, views, s, weights, cfg: Config) -> dict:
    from pipeline.stages.fairness import audited

    entry = {"method": method, "constraint": constraint, "fitted_on": fitted_on, "name": f"{method} ({constraint})"}
    if "error" in out:
        print(f"fairness: mitigation {entry['name']} not fitted: {out['error']}")
        return entry | {"error": out["error"]}
    mitigated = fairness.Decisions(dec.y_true, out["y_pred"], out.get("score"))
    return entry | audited(mitigated, views, s, weights, cfg)


def _subsample(n: int, limit: int, seed: int) -> np.ndarray:
    """At most ``limit`` training rows (seeded): ExponentiatedGradient refits ~50 times."""
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=limit, replace=False))
