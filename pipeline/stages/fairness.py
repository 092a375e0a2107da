"""Stage ``fairness``: group metrics with intervals, verdicts, mitigation and external decisions.

All outputs are written before a violation is raised, so ``audit.fail_on_violation`` can gate
a CI job without losing the evidence.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline import io, paths
from pipeline.audit import fairness
from pipeline.config import Config
from pipeline.errors import AuditFailedError

MITIGATIONS = (
    ("threshold_optimizer", "demographic_parity"),
    ("threshold_optimizer", "equalized_odds"),
    ("exponentiated_gradient", "demographic_parity"),
)


def settings(cfg: Config) -> fairness.AuditSettings:
    a = cfg.audit
    return fairness.AuditSettings(
        n_boot=a.n_boot, ci=a.ci, seed=cfg.seed, min_group_size=a.min_group_size, reference=a.reference,
        ratio_bounds=tuple(a.ratio_bounds), max_difference=a.max_difference, calibration_bins=cfg.evaluate.calibration_bins,
    )  # fmt: skip


def read_groups(split: str) -> pd.DataFrame:
    return io.read_csv(paths.split_groups(split), dtype=str, keep_default_na=False)


def external_decisions(cfg: Config, groups: pd.DataFrame, favourable: str) -> dict[str, np.ndarray]:
    """An existing system's decisions carried beside the data (never model inputs)."""
    found = {}
    if "__score" in groups:
        score = pd.to_numeric(groups["__score"], errors="coerce").to_numpy()
        found["score"] = (score >= cfg.data.csv.score_threshold).astype(int)
    if "__decision" in groups:
        found["decision"] = (groups["__decision"].astype(str) == str(favourable)).astype(int).to_numpy()
    return found


def summarise(audited: dict, y01, pred01) -> dict:
    view = next(iter(audited["features"].values()))
    return {"accuracy": float((y01 == pred01).mean()), "selection_rate": float(pred01.mean()),
            "demographic_parity_difference": view["demographic_parity_difference"],
            "equalized_odds_difference": view["equalized_odds_difference"]}  # fmt: skip


def mitigate(cfg: Config, meta: dict, y01, score, test_groups: pd.DataFrame, s: fairness.AuditSettings) -> dict:
    """Each mitigated model audited like the original on the primary sensitive attribute."""
    from pipeline.audit import mitigation
    from pipeline.models.predict import load_trained, predict_proba

    fav, feature = meta["favourable_index"], meta["sensitive"][0]
    model = load_trained()
    val, train = io.read_npz(paths.split_arrays("val")), io.read_npz(paths.split_arrays("train"))
    test_x = io.read_npz(paths.split_arrays("test"))["X"]
    val_score = predict_proba(model, val["X"])[:, fav]
    val_groups, train_groups = read_groups("val")[feature], read_groups("train")[feature]
    rows, limit = {}, cfg.audit.mitigation_max_rows
    candidates = {"network (unmitigated)": None}
    for method, constraint in MITIGATIONS:
        name = f"{method} ({constraint})"
        try:
            if method == "threshold_optimizer":
                candidates[name] = mitigation.threshold_optimizer(
                    constraint, val_score, (val["y"] == fav).astype(int), val_groups, score, test_groups[feature], cfg.seed)
            else:
                candidates[name] = mitigation.exponentiated_gradient(
                    constraint, train["X"], (train["y"] == fav).astype(int), train_groups, test_x, cfg.seed, limit)
        except ValueError as err:  # e.g. fairlearn's "Degenerate labels" for a one-class group
            rows[name] = {"error": str(err).splitlines()[0]}
    candidates["logistic regression stand-in (unmitigated)"] = mitigation.logistic_baseline(
        train["X"], (train["y"] == fav).astype(int), test_x, cfg.seed, limit)
    # The audits below need none of these; freeing them first took the stage's peak at 1M rows
    # from 2,246 MiB to 970 MiB (with compact resample counts, group_metrics.resample_weights).
    del model, val, train, test_x, val_score, val_groups, train_groups
    one_view = test_groups[[feature]]
    for name, decisions in candidates.items():
        decisions = (score >= cfg.evaluate.threshold).astype(int) if decisions is None else decisions
        audited = fairness.audit_decisions(y01, decisions, None, one_view, [feature], s)
        rows[name] = {**summarise(audited, y01, decisions), "audit": audited}
    return {"feature": feature, "fitted_on": "validation split (threshold optimizer); training split (reductions)",
            "reductions_estimator": "sklearn LogisticRegression stands in for the network in ExponentiatedGradient",
            "models": rows}  # fmt: skip


def main(cfg: Config) -> None:
    meta = io.read_json(paths.PREPARED_META)
    predictions = io.read_csv(paths.PREDICTIONS)
    groups = read_groups("test")
    fav = meta["favourable_index"]
    y01 = (predictions["y_true"].to_numpy() == fav).astype(int)
    pred01 = (predictions["y_pred"].to_numpy() == fav).astype(int)
    score = predictions[f"proba_{fav}"].to_numpy()
    s = settings(cfg)
    result = {"favourable_class": meta["favourable"], **fairness.audit_decisions(y01, pred01, score, groups, meta["sensitive"], s)}
    result["settings"] = {"n_boot": s.n_boot, "ci": s.ci, "min_group_size": s.min_group_size,
                          "ratio_bounds": list(s.ratio_bounds), "max_difference": s.max_difference}  # fmt: skip
    if len(meta["classes"]) > 2:
        result["binary_note"] = f"multiclass target: fairness rates treat '{meta['favourable']}' as favourable against all other classes"
        result["accuracy_all_classes"] = fairness.multiclass_accuracy(
            predictions["y_true"], predictions["y_pred"], groups, meta["sensitive"])
    external = external_decisions(cfg, groups, meta["favourable"])
    result["external"] = {k: fairness.audit_decisions(y01, d, None, groups, meta["sensitive"], s) for k, d in external.items()}
    if cfg.audit.mitigation:
        result["mitigation"] = mitigate(cfg, meta, y01, score, groups, s)
    io.write_csv(paths.GROUP_RATES, fairness.selection_rate_rows(result["features"]), float_format="%.6g")
    io.write_json(paths.FAIRNESS_METRICS, result)
    failed = [v["check"] for v in result["verdicts"] if v["status"] == "fail"]
    print(f"fairness: {len(result['verdicts'])} checks, {len(failed)} failed")
    if failed and cfg.audit.fail_on_violation:
        raise AuditFailedError(f"{len(failed)} fairness check(s) failed: {'; '.join(failed)} (outputs are written)")
